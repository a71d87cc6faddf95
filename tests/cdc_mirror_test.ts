/**
 * Issue 12, acceptance 1: three tables (not in schemas/) with 30 PostgreSQL
 * types between them, captured by the relay with `--schemas` and mirrored by
 * `sink --mode cdc` into ClickHouse tables the sink creates itself. After a
 * snapshot, inserts, updates, deletes, a primary-key update, TOASTed updates
 * (one merged by the sink, one filled by the relay from a REPLICA IDENTITY
 * FULL old tuple), an `ADD COLUMN` mid-stream and a truncate, PostgreSQL
 * equals ClickHouse `FINAL` value for value in every column.
 *
 * Both sides are rendered to text by SQL so representations compare exactly;
 * the deliberate differences (README "CDC mirrors of any table") are encoded
 * in the PostgreSQL expressions: float NaN → NULL, NULL arrays → `[]`,
 * timestamps/dates as exact µs/days plus the DateTime/Date column (NULL
 * outside its range), `±infinity` as Int64/Int32 sentinels, bytea as base64.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  chQuery,
  ensureTopics,
  pollUntil,
  startTask,
  type TaskProcess,
  testKafka,
  testPg,
} from "./_helpers.ts";

const tag = crypto.randomUUID().slice(0, 6);
const SCHEMA = `cdcmirror_${tag}`;
const PREFIX = `cdcmirror_${tag}`;
const SLOT = `cdcmirror_slot_${tag}`;
const PUB = `cdcmirror_pub_${tag}`;
const GROUP = `cdcmirror-${tag}`;
const TABLES = ["nums", "times", "docs"];
const topic = (t: string) => `${PREFIX}.${SCHEMA}.${t}`;
const mirror = (t: string) => `analytics.pg_${SCHEMA}_${t}`;

/** Column → [PostgreSQL text expression, ClickHouse text expression]. */
type Cols = Record<string, [string, string]>;

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

const COLS: Record<string, Cols> = {
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

const DDL = [
  `CREATE SCHEMA ${SCHEMA}`,
  `CREATE TYPE ${SCHEMA}.mood AS ENUM ('sad', 'ok', 'happy')`,
  `CREATE DOMAIN ${SCHEMA}.posint AS integer CHECK (VALUE > 0)`,
  `CREATE TABLE ${SCHEMA}.nums (id int PRIMARY KEY, i2 smallint, i8 bigint,
     f4 real, f8 double precision, n_scaled numeric(12,3), n_free numeric,
     cash money, flag boolean, u uuid, mood ${SCHEMA}.mood,
     pos ${SCHEMA}.posint, label varchar(40), code char(4))`,
  `CREATE TABLE ${SCHEMA}.times (id bigint PRIMARY KEY, ts timestamp,
     tstz timestamptz, d date, t time, ttz timetz, span interval, addr inet,
     net cidr, mac macaddr, bits bit(4), vbits varbit(8), r int4range,
     x xml, note text)`,
  `ALTER TABLE ${SCHEMA}.times REPLICA IDENTITY FULL`,
  `CREATE TABLE ${SCHEMA}.docs (id int PRIMARY KEY, title text, body text,
     j json, jb jsonb, raw bytea, ints int[], tags text[])`,
];

/** Incompressible text well over the 8 kB TOAST limit. */
function bigText(seed: number): string {
  const bytes = new Uint8Array(12_000);
  crypto.getRandomValues(bytes);
  return `${seed}:` + btoa(String.fromCharCode(...bytes));
}

function numsRow(i: number, v: number): string {
  return `(${i}, ${(i * 7 + v) % 30000}, ${9007199254740993n + BigInt(i)},
    ${i + 0.25}, ${i % 10 === 0 ? "'NaN'" : -i - 0.5},
    ${i * 2 + v}.125, ${i}.${v}00${i}, '${i * 10}.75', ${(i + v) % 2 === 0},
    '${crypto.randomUUID()}', '${["sad", "ok", "happy"][(i + v) % 3]}',
    ${i + 1}, 'label ${i} v${v}', 'c${i % 100}')`;
}

function timesRow(i: number, v: number): string {
  const special = i % 9 === 0;
  return `(${i},
    ${
    special
      ? "'infinity'::timestamp"
      : `'2024-02-29 12:34:56.${100000 + i}'::timestamp`
  } + interval '${v} hours',
    ${
    special
      ? "'-infinity'::timestamptz"
      : `'1969-12-31 23:59:58.5+02'::timestamptz`
  } + interval '${i} days',
    ${special ? "'infinity'::date" : `'1960-01-01'::date + ${i * 400}`},
    '13:45:30.25'::time + interval '${i} seconds', '12:30:05.5+02',
    interval '${i} days ${v} hours 3.25 seconds',
    '10.0.${i % 250}.1', '10.${i % 250}.0.0/16', '08:00:2b:01:02:${
    (i % 100).toString().padStart(2, "0")
  }',
    B'${(i % 16).toString(2).padStart(4, "0")}', B'${(i % 200).toString(2)}',
    int4range(${i}, ${i + 10 + v}), '<a n="${i}">v${v}</a>', 'note ${i}')`;
}

function docsRow(i: number, v: number): string {
  return `(${i}, 'title ${i} v${v}', 'body ${i}',
    '{"a": ${i}, "b": [1, 2]}', '{"k": "v${v}", "n": ${i}}',
    '\\x00ff${(i % 256).toString(16).padStart(2, "0")}'::bytea,
    ${i % 4 === 0 ? "NULL" : `ARRAY[${i}, NULL, ${v}]`},
    ARRAY['t${i}', 'v${v}'])`;
}

async function sql(pg: Awaited<ReturnType<typeof testPg>>, text: string) {
  await pg.query(text);
}

/** Every live row of a table as `key → [column texts]`, both sides. */
async function pgRows(
  pg: Awaited<ReturnType<typeof testPg>>,
  table: string,
): Promise<Map<string, string[]>> {
  const cols = Object.entries(COLS[table]);
  const r = await pg.query(
    `SELECT id::text AS k, ARRAY[${
      cols.map(([, [e]]) => `COALESCE((${e})::text, '\\N')`).join(", ")
    }] AS v FROM ${SCHEMA}.${table}`,
  );
  return new Map(r.rows.map((x) => [x.k as string, x.v as string[]]));
}

async function chRows(table: string): Promise<Map<string, string[]>> {
  const cols = Object.entries(COLS[table]);
  const rows = await chQuery<{ k: string; v: string[]; del: number }>(
    `SELECT toString(id) AS k, _deleted AS del, [${
      cols.map(([, [, e]]) => `ifNull(${e}, '\\\\N')`).join(", ")
    }] AS v FROM ${mirror(table)} FINAL`,
  );
  return new Map(rows.filter((r) => r.del === 0).map((r) => [r.k, r.v]));
}

/** A description of the first differences (empty when equal). */
async function diff(
  pg: Awaited<ReturnType<typeof testPg>>,
  table: string,
): Promise<string> {
  const [a, b] = [await pgRows(pg, table), await chRows(table)];
  const names = Object.keys(COLS[table]);
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

async function teardown(procs: TaskProcess[]) {
  for (const p of procs) {
    p.kill("SIGKILL");
    await p.wait().catch(() => {});
  }
  const pg = await testPg();
  try {
    await pollUntil(async () => {
      const r = await pg.query(
        "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
        [SLOT],
      );
      if (r.rows.length === 0) return true;
      if (r.rows[0].active) return false;
      await pg.query("SELECT pg_drop_replication_slot($1)", [SLOT]);
      return true;
    }, { what: `slot ${SLOT} dropped`, timeoutMs: 20_000 });
    await pg.query(`DROP PUBLICATION IF EXISTS ${PUB}`);
    await pg.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await pg.query(`DELETE FROM public.deno_cdc_snapshots WHERE slot = $1`, [
      SLOT,
    ]).catch(() => {});
  } finally {
    await pg.end();
  }
  for (const t of TABLES) {
    for (const name of [mirror(t), `${mirror(t)}_local`]) {
      await chQuery(`DROP TABLE IF EXISTS ${name} ON CLUSTER analytics_cluster`)
        .catch((err) => console.warn(`drop ${name}: ${err}`));
    }
  }
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: TABLES.map(topic), timeout: 30_000 });
  } catch (err) {
    console.warn(`could not delete topics of ${PREFIX}: ${err}`);
  } finally {
    await admin.disconnect();
  }
}

Deno.test({
  name:
    "cdc mirror: 30 types over 3 new tables, PG equals ClickHouse FINAL value for value",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const pg = await testPg();
    const procs: TaskProcess[] = [];
    try {
      for (const s of DDL) await sql(pg, s);
      // Snapshot rows.
      for (let i = 1; i <= 30; i++) {
        await sql(pg, `INSERT INTO ${SCHEMA}.nums VALUES ${numsRow(i, 0)}`);
        await sql(pg, `INSERT INTO ${SCHEMA}.times VALUES ${timesRow(i, 0)}`);
        await sql(pg, `INSERT INTO ${SCHEMA}.docs VALUES ${docsRow(i, 0)}`);
      }
      await sql(
        pg,
        `UPDATE ${SCHEMA}.docs SET body = '${bigText(1)}' WHERE id = 1`,
      );
      await ensureTopics(TABLES.map(topic));
      procs.push(startTask("cdc", [
        "--slot",
        SLOT,
        "--publication",
        PUB,
        "--tables",
        TABLES.map((t) => `${SCHEMA}.${t}`).join(","),
        "--topic-prefix",
        PREFIX,
        "--schemas",
        "true",
        "--metrics-port",
        "0",
        "--create-topics",
        "false",
        "--heartbeat-interval",
        "1s",
      ], { env: { PGPASSWORD: "postgres" } }));
      procs.push(startTask("sink", [
        "--mode",
        "cdc",
        "--topics",
        `${PREFIX}.*`,
        "--group",
        GROUP,
        "--metrics-port",
        "0",
      ]));
      const settle = async (what: string) => {
        await pollUntil(async () => {
          const d = [];
          for (const t of TABLES) d.push(await diff(pg, t));
          const all = d.filter(Boolean).join("\n");
          return all === "" ? true : (() => {
            throw new Error(all);
          })();
        }, { what, timeoutMs: 120_000, intervalMs: 1000 }).catch((err) => {
          throw new Error(
            `${err.message}\nrelay:\n${
              procs[0].stderrText().slice(-3000)
            }\nsink:\n${procs[1].stderrText().slice(-3000)}`,
          );
        });
      };
      await settle("snapshot mirrored");

      // Streaming: inserts, updates, deletes, a PK update, TOAST.
      for (let i = 31; i <= 60; i++) {
        await sql(pg, `INSERT INTO ${SCHEMA}.nums VALUES ${numsRow(i, 1)}`);
        await sql(pg, `INSERT INTO ${SCHEMA}.times VALUES ${timesRow(i, 1)}`);
        await sql(pg, `INSERT INTO ${SCHEMA}.docs VALUES ${docsRow(i, 1)}`);
      }
      await sql(
        pg,
        `BEGIN; DELETE FROM ${SCHEMA}.nums WHERE id % 5 = 0;
        UPDATE ${SCHEMA}.nums SET label = 'upd ' || id, cash = cash + 1::money
          WHERE id % 3 = 0; COMMIT`,
      );
      await sql(
        pg,
        `UPDATE ${SCHEMA}.times SET span = span + interval '1 hour',
        addr = '192.168.0.1' WHERE id % 4 = 0`,
      );
      await sql(pg, `DELETE FROM ${SCHEMA}.times WHERE id IN (7, 8)`);
      await sql(pg, `UPDATE ${SCHEMA}.docs SET id = 1000 + id WHERE id = 3`);
      // TOASTed: sink merges (default identity) and relay fills (FULL).
      await sql(
        pg,
        `UPDATE ${SCHEMA}.docs SET body = '${bigText(2)}' WHERE id = 2`,
      );
      await sql(
        pg,
        `UPDATE ${SCHEMA}.docs SET title = 'toast kept' WHERE id IN (1, 2)`,
      );
      await sql(
        pg,
        `UPDATE ${SCHEMA}.times SET note = '${bigText(3)}' WHERE id = 5`,
      );
      await settle("changes mirrored");
      await sql(pg, `UPDATE ${SCHEMA}.times SET bits = B'1111' WHERE id = 5`);
      await sql(
        pg,
        `UPDATE ${SCHEMA}.docs SET tags = ARRAY['again'] WHERE id = 1`,
      );

      // ADD COLUMN mid-stream, then rows that carry it.
      await sql(
        pg,
        `ALTER TABLE ${SCHEMA}.docs ADD COLUMN extra numeric(12,3)`,
      );
      await sql(
        pg,
        `UPDATE ${SCHEMA}.docs SET extra = id * 1.5 WHERE id % 2 = 0`,
      );
      await sql(
        pg,
        `INSERT INTO ${SCHEMA}.docs VALUES ${
          docsRow(61, 2).slice(0, -1)
        }, 7.125)`,
      );
      COLS.docs.extra = plain("extra");
      // A truncate, then rows after it.
      await sql(pg, `TRUNCATE ${SCHEMA}.nums`);
      for (let i = 100; i < 105; i++) {
        await sql(pg, `INSERT INTO ${SCHEMA}.nums VALUES ${numsRow(i, 3)}`);
      }
      await settle("ADD COLUMN, TOAST and truncate mirrored");

      const counts = await Promise.all(
        TABLES.map(async (t) => (await pgRows(pg, t)).size),
      );
      assert.deepEqual(counts, [5, 58, 61]);
      const cols = await chQuery<{ name: string; type: string }>(
        `SELECT name, type FROM system.columns WHERE database = 'analytics'
           AND table = 'pg_${SCHEMA}_docs' AND name = 'extra'`,
      );
      assert.deepEqual(cols, [{
        name: "extra",
        type: "Nullable(Decimal(12, 3))",
      }]);
      const toast = await chQuery<{ n: string }>(
        `SELECT count() AS n FROM ${mirror("docs")} FINAL
          WHERE id IN (1, 2) AND length(body) > 8000 AND title = 'toast kept'`,
      );
      assert.equal(Number(toast[0].n), 2);
    } finally {
      await pg.end();
      await teardown(procs);
    }
  },
});
