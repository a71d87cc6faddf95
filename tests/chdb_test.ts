/**
 * The sink's converter against a current ClickHouse (chDB 26.x in-process,
 * no server): for every column type the sink converts, the rows it builds
 * from the table's own `system.columns` are accepted by
 * `INSERT … FORMAT JSONEachRow` into a MergeTree table and read back equal.
 * Also runs every `CREATE TABLE` of `schemas/clickhouse/` (Replicated engines
 * mapped to plain MergeTree, the Distributed ones to Merge tables), so the
 * compose path's DDL is proven on a current server too. And runs every
 * ClickHouse query of the dashboards (from the generated Grafana JSON, macros
 * and variables expanded as the plugin does) and of `deno task verify`
 * against those tables.
 *
 * Run (FFI for this test alone; the first run fetches chDB into .cache/chdb
 * with npm, ~180 MB):
 *   deno test --allow-ffi --allow-read=. \
 *     --allow-write=.cache/chdb,.data --allow-run=npm,tar tests/chdb_test.ts
 */
import assert from "node:assert/strict";
import { requirePermissions } from "./_gate.ts";
import { Chdb, CHDB_DIR, ensureChdb } from "./_chdb.ts";
import { buildRowConverter, type ColumnInfo } from "../pipelines/sink/row.ts";
import {
  expandClickHouseMacros,
  interpolate,
  panelTargets,
  type VariableValues,
} from "../dashboards/src/inspect.ts";
import {
  CLICKHOUSE_ID_READS,
  clickhouseIdsQuery,
  MIRROR_QUERIES,
  type RunManifest,
} from "../tasks/flow/reconcile.ts";

const ROOT = new URL("../", import.meta.url).pathname;
requirePermissions(
  import.meta,
  // Pointer calls need --allow-ffi unscoped (Deno checks no path for them).
  { name: "ffi" },
  { name: "read", path: ROOT },
  { name: "write", path: `${ROOT}${CHDB_DIR}` },
  { name: "write", path: `${ROOT}.data` },
  { name: "run", command: "npm" },
  { name: "run", command: "tar" },
);

/** One case: column type, JSON input, value expected back (JSONEachRow). */
type Case = [type: string, input: unknown, expected: unknown];

const CASES: Case[] = [
  ["String", 'a"b\\c ü', 'a"b\\c ü'],
  ["String", { nested: [1, "x"] }, '{"nested":[1,"x"]}'],
  ["FixedString(4)", "ab", "ab\u0000\u0000"],
  ["Int8", -128, -128],
  ["UInt8", true, 1],
  ["Int16", "-300", -300],
  ["UInt16", 65535, 65535],
  ["Int32", -2147483648, -2147483648],
  ["UInt32", "4294967295", 4294967295],
  ["Int64", "-9223372036854775808", "-9223372036854775808"],
  ["UInt64", "18446744073709551615", "18446744073709551615"],
  [
    "Int128",
    "-170141183460469231731687303715884105728",
    "-170141183460469231731687303715884105728",
  ],
  [
    "UInt256",
    "115792089237316195423570985008687907853269984665640564039457584007913129639935",
    "115792089237316195423570985008687907853269984665640564039457584007913129639935",
  ],
  ["Float32", 1.5, 1.5],
  ["Float64", "0.1", 0.1],
  ["Decimal(10, 2)", 12.34, "12.34"],
  [
    "Decimal(38, 10)",
    "-12345678901234567890.0123456789",
    "-12345678901234567890.0123456789",
  ],
  ["Decimal256(20)", "1e30", "1000000000000000000000000000000"],
  ["Bool", true, true],
  ["Bool", 0, false],
  ["Date", "2024-03-01T23:30:00-01:00", "2024-03-02"],
  ["Date32", "1950-01-01", "1950-01-01"],
  ["DateTime('UTC')", "2024-03-01T10:00:00+02:00", "2024-03-01 08:00:00"],
  ["DateTime('Asia/Tokyo')", 1709280000123, "2024-03-01 17:00:00"],
  [
    "DateTime64(3, 'UTC')",
    "2024-03-01T08:00:00.123Z",
    "2024-03-01 08:00:00.123",
  ],
  [
    "DateTime64(9, 'UTC')",
    "2024-03-01T08:00:00.123456789Z",
    "2024-03-01 08:00:00.123456789",
  ],
  ["DateTime64(6, 'UTC')", 1.5, "1970-01-01 00:00:01.500000"],
  [
    "UUID",
    "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
    "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
  ],
  ["IPv4", "10.1.2.3", "10.1.2.3"],
  ["IPv6", "2001:DB8::1", "2001:db8::1"],
  ["IPv6", "1.2.3.4", "::ffff:1.2.3.4"],
  ["Enum8('low' = 1, 'high' = 2)", "high", "high"],
  ["Enum16('a' = 1, 'b' = 1000)", 1000, "b"],
  ["Nullable(Int32)", null, null],
  ["Nullable(String)", "x", "x"],
  ["LowCardinality(String)", "lc", "lc"],
  ["LowCardinality(Nullable(String))", null, null],
  ["Array(Nullable(UInt8))", [1, null, 3], [1, null, 3]],
  ["Array(Array(String))", [["a"], []], [["a"], []]],
  ["Map(String, UInt64)", { a: "1", b: 2 }, { a: "1", b: "2" }],
  ["Map(String, Array(String))", { k: ["v"] }, { k: ["v"] }],
  ["Tuple(UInt8, String)", [1, "a"], [1, "a"]],
  ["Tuple(x UInt8, y String)", { x: 2, y: "b" }, { x: 2, y: "b" }],
];

const META = {
  topic: "t",
  partition: 1,
  offset: 9,
  key: "k",
  timestampMs: 1709280000123,
};

let chdb: Chdb | undefined;
async function session(): Promise<Chdb> {
  if (chdb) return chdb;
  const lib = await ensureChdb();
  const dir = `${ROOT}.data/chdb_test/${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir, { recursive: true });
  chdb = new Chdb(lib, dir);
  return chdb;
}

function columnsOf(c: Chdb, table: string): ColumnInfo[] {
  return c.query(
    `SELECT name, type, default_kind FROM system.columns WHERE database = currentDatabase() AND table = '${table}' ORDER BY position`,
    "JSONEachRow",
  ).split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const T = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  ...T,
  name: "chdb: converter rows for every type are accepted and read back equal",
  fn: async () => {
    const c = await session();
    assert.match(c.query("SELECT version()"), /^2\d\./);
    const cols = CASES.map(([type], i) => `c${i} ${type}`);
    c.query("DROP TABLE IF EXISTS types");
    c.query(
      `CREATE TABLE types (k UInt32, ${
        cols.join(", ")
      }, dflt String DEFAULT 'filled', _topic String, _offset UInt64, _key String, _timestamp DateTime64(3, 'UTC'), _ingested_at DateTime('UTC')) ENGINE = MergeTree ORDER BY k`,
    );
    // Typed from the table itself, as the sink does.
    const conv = buildRowConverter(columnsOf(c, "types"));
    const lines = CASES.map(([, input], i) => {
      const r = conv.convert({ k: i, [`c${i}`]: input }, META, 1709280001);
      assert.ok(r.ok, `case ${i} ${CASES[i][0]}: ${JSON.stringify(r)}`);
      return r.line;
    });
    c.query(`INSERT INTO types FORMAT JSONEachRow\n${lines.join("\n")}`);
    const back = c.query(
      "SELECT * FROM types ORDER BY k SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_quote_decimals = 1, output_format_json_named_tuples_as_objects = 1",
      "JSONEachRow",
    ).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(back.length, CASES.length);
    const wrong: string[] = [];
    CASES.forEach(([type, input, expected], i) => {
      const got = back[i][`c${i}`];
      try {
        assert.deepEqual(got, expected);
      } catch {
        wrong.push(
          `${type} ${JSON.stringify(input)}: got ${
            JSON.stringify(got)
          }, expected ${JSON.stringify(expected)}`,
        );
      }
    });
    assert.deepEqual(wrong, []);
    // Missing field → the column's DEFAULT; metadata columns filled.
    assert.deepEqual(
      [back[0].dflt, back[0]._topic, back[0]._offset, back[0]._key],
      ["filled", "t", "9", "k"],
    );
    assert.equal(back[0]._timestamp, "2024-03-01 08:00:00.123");
    assert.equal(back[0]._ingested_at, "2024-03-01 08:00:01");
  },
});

/** `CREATE` statements of a schema file, made to run on a single server. */
export function localDdl(sql: string): string[] {
  const noComments = sql.split("\n").filter((l) => !l.trim().startsWith("--"))
    .join("\n");
  return noComments.split(/;\s*$/m).map((s) => s.trim()).filter(Boolean).map(
    (s) =>
      s.replace(/\bON CLUSTER\s+\S+/g, "")
        // Replicated*MergeTree('/path', '{replica}'[, args]) → *MergeTree(args)
        .replace(
          /Replicated(\w*)MergeTree\(\s*'[^']*'\s*,\s*'[^']*'\s*(?:,\s*)?/g,
          "$1MergeTree(",
        )
        // A Distributed table over one server's locals: a Merge table.
        .replace(
          /Distributed\(\s*analytics_cluster\s*,\s*(\w+)\s*,\s*(\w+)[^\n]*/g,
          (_m, db, table) => `Merge(${db}, '^${table}$')`,
        ),
  );
}

let schemaTables: number | undefined;

/** Applies every schema file once per session; the tables it created. */
function applySchemas(c: Chdb): number {
  if (schemaTables !== undefined) return schemaTables;
  const dir = `${ROOT}schemas/clickhouse`;
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n.endsWith(".sql")
  ).sort();
  assert.ok(files.length >= 5);
  let created = 0;
  for (const f of files) {
    for (const stmt of localDdl(Deno.readTextFileSync(`${dir}/${f}`))) {
      try {
        c.query(stmt);
      } catch (err) {
        throw new Error(`${f}: ${(err as Error).message}\n${stmt}`);
      }
      if (/^CREATE TABLE/i.test(stmt)) created++;
    }
  }
  schemaTables = created;
  return created;
}

Deno.test({
  ...T,
  name: "chdb: every CREATE in schemas/clickhouse runs on a current server",
  fn: async () => {
    const c = await session();
    const created = applySchemas(c);
    const tables = c.query(
      "SELECT count() FROM system.tables WHERE database = 'analytics'",
    ).trim();
    assert.equal(Number(tables), created);
  },
});

/**
 * A cluster query made to run on one server: `cluster('all_nodes',
 * system.x)` (or `remote('<the 4 nodes>', system.x)`) reads this server's
 * `system.x`.
 */
export function localQuery(sql: string): string {
  return sql.replace(
    /(?:remote|cluster)\(\s*'[^']*'\s*,\s*(system\.\w+)\s*\)/g,
    "$1",
  );
}

type Json = Record<string, unknown>;

/** The dashboard's variables at their defaults ("All" = every option). */
function defaultVariables(d: Json): VariableValues {
  const vars: VariableValues = {};
  const list = ((d.templating as Json | undefined)?.list ?? []) as Json[];
  for (const v of list) {
    const options = v.type === "custom"
      ? String(v.query).split(",").map((x) => x.trim())
      : ["x"];
    const cur = (v.current as Json | undefined)?.value;
    const all = Array.isArray(cur) && cur.includes("$__all");
    vars[String(v.name)] = all
      ? { values: options, all: true, allValue: v.allValue as string }
      : { values: [cur === undefined ? options[0] : String(cur)], all: false };
  }
  return vars;
}

/** Every ClickHouse query of the generated dashboards, ready to run. */
function dashboardQueries(): Array<
  { what: string; sql: string; series: boolean }
> {
  const dir = `${ROOT}dashboards/grafana/dashboards`;
  const out = [];
  const range = {
    from: new Date("2026-11-20T00:00:00Z"),
    to: new Date("2026-11-20T06:00:00Z"),
    intervalS: 60,
  };
  for (const f of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) {
    if (!f.endsWith(".json")) continue;
    const d = JSON.parse(Deno.readTextFileSync(`${dir}/${f}`)) as Json;
    const vars = defaultVariables(d);
    for (const t of panelTargets(d)) {
      if (!t.datasource.type.includes("clickhouse")) continue;
      out.push({
        what: `${f} panel ${t.panelId} "${t.panelTitle}" ${t.refId}`,
        sql: localQuery(
          expandClickHouseMacros(interpolate(t.query, vars), range),
        ),
        series: t.format === 0,
      });
    }
  }
  return out;
}

/** Every ClickHouse query of `deno task verify`, for a run with ranges. */
function verifyQueries(): Array<{ what: string; sql: string }> {
  const topics = Object.values(CLICKHOUSE_ID_READS).flatMap((r) => r.topics);
  const m = {
    before: Object.fromEntries(topics.map((t) => [t, { 0: 5, 1: 0 }])),
    after: Object.fromEntries(topics.map((t) => [t, { 0: 9, 1: 4, 2: 3 }])),
  } as unknown as RunManifest;
  return [
    ...Object.entries(CLICKHOUSE_ID_READS).map(([k, r]) => ({
      what: `verify ids ${k}`,
      sql: clickhouseIdsQuery(r.table, m, [...r.topics]),
    })),
    ...MIRROR_QUERIES.map((q) => ({
      what: `verify mirror ${q.name}`,
      sql: q.ch,
    })),
  ];
}

Deno.test({
  ...T,
  name:
    "chdb: every ClickHouse query of the dashboards and of verify runs on a current server",
  fn: async () => {
    const c = await session();
    applySchemas(c);
    const queries = [...dashboardQueries(), ...verifyQueries()];
    // 41 panel queries in 5 dashboards + 5 of verify: none skipped.
    assert.ok(queries.length >= 46, `only ${queries.length} queries found`);
    const failed: string[] = [];
    for (const q of queries) {
      assert.doesNotMatch(q.sql, /\$\{?\w|\[\[/, `${q.what}: unexpanded`);
      try {
        const out = JSON.parse(c.query(q.sql, "JSONCompact")) as {
          meta: Array<{ name: string }>;
        };
        if (
          "series" in q && q.series && !out.meta.some((x) => x.name === "time")
        ) {
          failed.push(`${q.what}: time series without a "time" column`);
        }
      } catch (err) {
        failed.push(
          `${q.what}: ${(err as Error).message.slice(0, 300)}\n  ${q.sql}`,
        );
      }
    }
    assert.deepEqual(failed, []);
    console.log(`${queries.length} dashboard and verify queries ran`);
  },
});
