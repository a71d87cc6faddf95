/**
 * The issue 12 mirror load, shared by `cdc_mirror_test.ts` (acceptance 1)
 * and `cdc_mirror_chaos_test.ts` (acceptance 2, the same load under
 * `kill -9`): three tables with 30 PostgreSQL types between them, the load's
 * steps, the relay and sink command lines, and the value-for-value
 * comparison of PostgreSQL with ClickHouse `FINAL`.
 *
 * Both sides are rendered to text by SQL so representations compare exactly;
 * the deliberate differences (README "CDC mirrors of any table") are encoded
 * in the PostgreSQL expressions: float NaN → NULL, NULL arrays → `[]`,
 * timestamps/dates as exact µs/days plus the DateTime/Date column (NULL
 * outside its range), `±infinity` as Int64/Int32 sentinels, bytea as base64.
 *
 * @module
 */
import {
  chQuery,
  dropCdcTest,
  pollUntil,
  startTask,
  type TaskProcess,
  testPg,
} from "./_helpers.ts";

/** A PostgreSQL client of the tests. */
export type Pg = Awaited<ReturnType<typeof testPg>>;

/** Column → [PostgreSQL text expression, ClickHouse text expression]. */
export type Cols = Record<string, [string, string]>;

/** The tables of the load. */
export const TABLES = ["nums", "times", "docs"] as const;

/** Names of one run (random tag: runs never collide). */
export interface MirrorEnv {
  schema: string;
  prefix: string;
  slot: string;
  publication: string;
  group: string;
  /** Compared columns per table (the load adds `docs.extra`). */
  cols: Record<string, Cols>;
}

/** Fresh names under `label` and the compared columns. */
export function mirrorEnv(label: string): MirrorEnv {
  const tag = crypto.randomUUID().slice(0, 6);
  return {
    schema: `${label}_${tag}`,
    prefix: `${label}_${tag}`,
    slot: `${label}_slot_${tag}`,
    publication: `${label}_pub_${tag}`,
    group: `${label}-${tag}`,
    cols: columns(),
  };
}

/** Kafka topic of a table. */
export const topicOf = (e: MirrorEnv, t: string) =>
  `${e.prefix}.${e.schema}.${t}`;
/** ClickHouse mirror (Distributed) of a table. */
export const mirrorOf = (e: MirrorEnv, t: string) =>
  `analytics.pg_${e.schema}_${t}`;

const plain = (c: string): [string, string] => [`${c}::text`, `toString(${c})`];
const arr = (c: string): [string, string] => [
  // A NULL array is [] in ClickHouse (no Nullable(Array)).
  `COALESCE(array_to_string(${c}, ',', 'NULL'), '')`,
  `arrayStringConcat(arrayMap(x -> ifNull(toString(x), 'NULL'), ${c}), ',')`,
];
const micros = (c: string) =>
  `CASE WHEN ${c} = 'infinity' THEN '9223372036854775807'
        WHEN ${c} = '-infinity' THEN '-9223372036854775808'
        ELSE (extract(epoch FROM ${c}) * 1000000)::bigint::text END`;
const ts = (c: string): [string, string] => [
  `${micros(c)} || '|' || CASE WHEN ${c} >= '1970-01-01' AND ${c} < '2106-01-01'
     THEN floor(extract(epoch FROM ${c}))::bigint::text ELSE 'N' END`,
  `concat(toString(${c}_us), '|', ifNull(toString(toUnixTimestamp(${c})), 'N'))`,
];
const date = (c: string): [string, string] => [
  `CASE WHEN ${c} = 'infinity' THEN '2147483647'
        WHEN ${c} = '-infinity' THEN '-2147483648'
        ELSE (${c} - DATE '1970-01-01')::text END || '|' ||
   CASE WHEN ${c} >= '1970-01-01' AND ${c} <= '2105-12-31' THEN ${c}::text ELSE 'N' END`,
  `concat(toString(${c}_days), '|', ifNull(toString(${c}), 'N'))`,
];

function columns(): Record<string, Cols> {
  return {
    nums: {
      id: plain("id"),
      i2: plain("i2"),
      i8: plain("i8"),
      f4: plain("f4"),
      f8: [`CASE WHEN f8 = 'NaN' THEN NULL ELSE f8::text END`, `toString(f8)`],
      n_scaled: plain("n_scaled"),
      n_free: [`n_free::text`, `n_free`],
      cash: [`cash::numeric::text`, `toString(cash)`],
      flag: [`flag::int::text`, `toString(flag)`],
      u: plain("u"),
      mood: [`mood::text`, `mood`],
      pos: plain("pos"),
      label: [`label`, `label`],
      code: [`rpad(code::text, 4)`, `code`],
    },
    times: {
      id: plain("id"),
      ts: ts("ts"),
      tstz: ts("tstz"),
      d: date("d"),
      t: [`(extract(epoch FROM t) * 1000000)::bigint::text`, `toString(t)`],
      ttz: [`((ttz AT TIME ZONE 'UTC')::time)::text || 'Z'`, `ttz`],
      span: [
        `(extract(epoch FROM span) * 1000000)::bigint::text`,
        `toString(span)`,
      ],
      addr: [`abbrev(addr)`, `addr`],
      net: [`net::text`, `net`],
      mac: [`mac::text`, `mac`],
      bits: [`bits::text`, `bits`],
      vbits: [`vbits::text`, `vbits`],
      r: [`r::text`, `r`],
      x: [`x::text`, `x`],
      note: [`note`, `note`],
    },
    docs: {
      id: plain("id"),
      title: [`title`, `title`],
      body: [`body`, `body`],
      j: [`j::text`, `j`],
      jb: [`jb::text`, `jb`],
      raw: [`replace(encode(raw, 'base64'), E'\\n', '')`, `raw`],
      ints: arr("ints"),
      tags: arr("tags"),
    },
  };
}

/** The schema, types and tables of a run. */
export function ddl(e: MirrorEnv): string[] {
  const s = e.schema;
  return [
    `CREATE SCHEMA ${s}`,
    `CREATE TYPE ${s}.mood AS ENUM ('sad', 'ok', 'happy')`,
    `CREATE DOMAIN ${s}.posint AS integer CHECK (VALUE > 0)`,
    `CREATE TABLE ${s}.nums (id int PRIMARY KEY, i2 smallint, i8 bigint,
     f4 real, f8 double precision, n_scaled numeric(12,3), n_free numeric,
     cash money, flag boolean, u uuid, mood ${s}.mood,
     pos ${s}.posint, label varchar(40), code char(4))`,
    `CREATE TABLE ${s}.times (id bigint PRIMARY KEY, ts timestamp,
     tstz timestamptz, d date, t time, ttz timetz, span interval, addr inet,
     net cidr, mac macaddr, bits bit(4), vbits varbit(8), r int4range,
     x xml, note text)`,
    `ALTER TABLE ${s}.times REPLICA IDENTITY FULL`,
    `CREATE TABLE ${s}.docs (id int PRIMARY KEY, title text, body text,
     j json, jb jsonb, raw bytea, ints int[], tags text[])`,
  ];
}

/** Incompressible text well over the 8 kB TOAST limit. */
export function bigText(seed: number): string {
  const bytes = new Uint8Array(12_000);
  crypto.getRandomValues(bytes);
  return `${seed}:` + btoa(String.fromCharCode(...bytes));
}

/** One `nums` row (id `i`, variant `v`) as a VALUES tuple. */
export function numsRow(i: number, v: number): string {
  return `(${i}, ${(i * 7 + v) % 30000}, ${9007199254740993n + BigInt(i)},
    ${i + 0.25}, ${i % 10 === 0 ? "'NaN'" : -i - 0.5},
    ${i * 2 + v}.125, ${i}.${v}00${i}, '${i * 10}.75', ${(i + v) % 2 === 0},
    '${crypto.randomUUID()}', '${["sad", "ok", "happy"][(i + v) % 3]}',
    ${i + 1}, 'label ${i} v${v}', 'c${i % 100}')`;
}

/** One `times` row as a VALUES tuple. */
export function timesRow(i: number, v: number): string {
  const special = i % 9 === 0;
  return `(${i},
    ${
    special
      ? "'infinity'::timestamp"
      : `'2024-02-29 12:34:56.${100000 + (i % 900000)}'::timestamp`
  } + interval '${v} hours',
    ${
    special
      ? "'-infinity'::timestamptz"
      : `'1969-12-31 23:59:58.5+02'::timestamptz`
  } + interval '${i % 100000} days',
    ${
    special ? "'infinity'::date" : `'1960-01-01'::date + ${(i % 1000) * 400}`
  },
    '13:45:30.25'::time + interval '${i % 3600} seconds', '12:30:05.5+02',
    interval '${i} days ${v} hours 3.25 seconds',
    '10.0.${i % 250}.1', '10.${i % 250}.0.0/16', '08:00:2b:01:02:${
    (i % 100).toString().padStart(2, "0")
  }',
    B'${(i % 16).toString(2).padStart(4, "0")}', B'${(i % 200).toString(2)}',
    int4range(${i}, ${i + 10 + v}), '<a n="${i}">v${v}</a>', 'note ${i}')`;
}

/** One `docs` row as a VALUES tuple. */
export function docsRow(i: number, v: number): string {
  return `(${i}, 'title ${i} v${v}', 'body ${i}',
    '{"a": ${i}, "b": [1, 2]}', '{"k": "v${v}", "n": ${i}}',
    '\\x00ff${(i % 256).toString(16).padStart(2, "0")}'::bytea,
    ${i % 4 === 0 ? "NULL" : `ARRAY[${i}, NULL, ${v}]`},
    ARRAY['t${i}', 'v${v}'])`;
}

const ROWS = { nums: numsRow, times: timesRow, docs: docsRow };

/**
 * Inserts ids `from..to` (variant `v`) into every table, `perStatement`
 * rows to a statement.
 */
export async function insertRows(
  pg: Pg,
  e: MirrorEnv,
  from: number,
  to: number,
  v: number,
  perStatement = 1,
): Promise<void> {
  for (let i = from; i <= to; i += perStatement) {
    const last = Math.min(to, i + perStatement - 1);
    for (const t of TABLES) {
      const values = [];
      for (let j = i; j <= last; j++) values.push(ROWS[t](j, v));
      await pg.query(`INSERT INTO ${e.schema}.${t} VALUES ${values.join(",")}`);
    }
  }
}

/** Before the relay starts: tables, ids 1..30, a TOASTed body on docs 1. */
export async function loadSnapshot(pg: Pg, e: MirrorEnv): Promise<void> {
  for (const s of ddl(e)) await pg.query(s);
  await insertRows(pg, e, 1, 30, 0);
  await pg.query(
    `UPDATE ${e.schema}.docs SET body = '${bigText(1)}' WHERE id = 1`,
  );
}

/** Streaming: inserts, updates, deletes, a PK update, TOASTed updates. */
export async function loadChanges(pg: Pg, e: MirrorEnv): Promise<void> {
  const s = e.schema;
  await insertRows(pg, e, 31, 60, 1);
  await pg.query(
    `BEGIN; DELETE FROM ${s}.nums WHERE id % 5 = 0;
    UPDATE ${s}.nums SET label = 'upd ' || id, cash = cash + 1::money
      WHERE id % 3 = 0; COMMIT`,
  );
  await pg.query(
    `UPDATE ${s}.times SET span = span + interval '1 hour',
    addr = '192.168.0.1' WHERE id % 4 = 0`,
  );
  await pg.query(`DELETE FROM ${s}.times WHERE id IN (7, 8)`);
  await pg.query(`UPDATE ${s}.docs SET id = 1000 + id WHERE id = 3`);
  // TOASTed: the sink merges (default identity), the relay fills (FULL).
  await pg.query(`UPDATE ${s}.docs SET body = '${bigText(2)}' WHERE id = 2`);
  await pg.query(
    `UPDATE ${s}.docs SET title = 'toast kept' WHERE id IN (1, 2)`,
  );
  await pg.query(`UPDATE ${s}.times SET note = '${bigText(3)}' WHERE id = 5`);
}

/**
 * More updates, `ADD COLUMN` mid-stream with rows that carry it, a
 * truncate and rows after it. Adds `docs.extra` to the compared columns.
 */
export async function loadSchemaChange(pg: Pg, e: MirrorEnv): Promise<void> {
  const s = e.schema;
  await pg.query(`UPDATE ${s}.times SET bits = B'1111' WHERE id = 5`);
  await pg.query(`UPDATE ${s}.docs SET tags = ARRAY['again'] WHERE id = 1`);
  await pg.query(`ALTER TABLE ${s}.docs ADD COLUMN extra numeric(12,3)`);
  await pg.query(`UPDATE ${s}.docs SET extra = id * 1.5 WHERE id % 2 = 0`);
  await pg.query(
    `INSERT INTO ${s}.docs VALUES ${docsRow(61, 2).slice(0, -1)}, 7.125)`,
  );
  e.cols.docs.extra = plain("extra");
  await pg.query(`TRUNCATE ${s}.nums`);
  for (let i = 100; i < 105; i++) {
    await pg.query(`INSERT INTO ${s}.nums VALUES ${numsRow(i, 3)}`);
  }
}

/** Live rows per table after the whole load (plus `extra` more each). */
export function expectedCounts(extra = 0): number[] {
  return [5, 58 + extra, 61 + extra];
}

/** The relay's flags for a run. */
export function relayArgs(e: MirrorEnv, more: string[] = []): string[] {
  return [
    "--slot",
    e.slot,
    "--publication",
    e.publication,
    "--tables",
    TABLES.map((t) => `${e.schema}.${t}`).join(","),
    "--topic-prefix",
    e.prefix,
    "--schemas",
    "--metrics-port",
    "0",
    "--create-topics",
    "false",
    "--heartbeat-interval",
    "1s",
    ...more,
  ];
}

/** Starts the relay of a run. */
export function startRelay(e: MirrorEnv, more: string[] = []): TaskProcess {
  return startTask("cdc", relayArgs(e, more), {
    env: { PGPASSWORD: "postgres" },
  });
}

/** Starts `sink --mode cdc` of a run. */
export function startSink(e: MirrorEnv, more: string[] = []): TaskProcess {
  return startTask("sink", [
    "--mode",
    "cdc",
    "--topics",
    `${e.prefix}.*`,
    "--group",
    e.group,
    "--metrics-port",
    "0",
    ...more,
  ]);
}

/** Every live row of a table as `key → [column texts]`, both sides. */
export async function pgRows(
  pg: Pg,
  e: MirrorEnv,
  table: string,
): Promise<Map<string, string[]>> {
  const cols = Object.entries(e.cols[table]);
  const r = await pg.query(
    `SELECT id::text AS k, ARRAY[${
      cols.map(([, [x]]) => `COALESCE((${x})::text, '\\N')`).join(", ")
    }] AS v FROM ${e.schema}.${table}`,
  );
  return new Map(r.rows.map((x) => [x.k as string, x.v as string[]]));
}

async function chRows(
  e: MirrorEnv,
  table: string,
): Promise<Map<string, string[]>> {
  const cols = Object.entries(e.cols[table]);
  const rows = await chQuery<{ k: string; v: string[]; del: number }>(
    `SELECT toString(id) AS k, _deleted AS del, [${
      cols.map(([, [, x]]) => `ifNull(${x}, '\\\\N')`).join(", ")
    }] AS v FROM ${mirrorOf(e, table)} FINAL`,
  );
  return new Map(rows.filter((r) => r.del === 0).map((r) => [r.k, r.v]));
}

/** A description of the first differences of one table (empty: equal). */
export async function diff(
  pg: Pg,
  e: MirrorEnv,
  table: string,
): Promise<string> {
  const [a, b] = [await pgRows(pg, e, table), await chRows(e, table)];
  const names = Object.keys(e.cols[table]);
  const out: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w) out.push(`${table} ${k}: missing in ClickHouse`);
    else {
      v.forEach((x, i) => {
        if (x !== w[i]) {
          out.push(
            `${table} ${k}.${names[i]}: pg ${x.slice(0, 60)} ch ${
              w[i].slice(0, 60)
            }`,
          );
        }
      });
    }
  }
  for (const k of b.keys()) {
    if (!a.has(k)) out.push(`${table} ${k}: only in ClickHouse`);
  }
  return out.slice(0, 8).join("\n");
}

/**
 * Waits until every table equals its mirror value for value; on timeout
 * fails with the differences and the tail of each process' log.
 */
export async function settle(
  pg: Pg,
  e: MirrorEnv,
  what: string,
  procs: () => Record<string, TaskProcess>,
  timeoutMs = 120_000,
): Promise<void> {
  await pollUntil(async () => {
    const d = [];
    for (const t of TABLES) d.push(await diff(pg, e, t));
    const all = d.filter(Boolean).join("\n");
    if (all !== "") throw new Error(all);
    return true;
  }, { what, timeoutMs, intervalMs: 1000 }).catch((err) => {
    const logs = Object.entries(procs()).map(([name, p]) =>
      `${name}:\n${p.stderrText().slice(-3000)}`
    );
    throw new Error(`${err.message}\n${logs.join("\n")}`);
  });
}

/** Removes the run: processes, slot, publication, schema, topics, mirrors. */
export async function teardown(
  e: MirrorEnv,
  procs: TaskProcess[],
): Promise<void> {
  await dropCdcTest({
    slot: e.slot,
    publication: e.publication,
    schema: e.schema,
    topics: TABLES.map((t) => topicOf(e, t)),
    relays: procs,
  });
  for (const t of TABLES) {
    for (const name of [mirrorOf(e, t), `${mirrorOf(e, t)}_local`]) {
      await chQuery(`DROP TABLE IF EXISTS ${name} ON CLUSTER analytics_cluster`)
        .catch((err) => console.warn(`drop ${name}: ${err}`));
    }
  }
}
