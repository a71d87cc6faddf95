import assert from "node:assert/strict";
import {
  buildSpec,
  createStatements,
  encodeAutoRow,
  mirrorName,
  schemaText,
} from "./cdc_auto.ts";
import { isoMicros, mapField } from "./cdc_types.ts";
import { placeholderColumns, rawField, resolveToast } from "./cdc_toast.ts";
import type { InsertRequest, TakenRange } from "./encoder.ts";

const p = (type: string, len?: number, scale?: number) => ({
  "__debezium.source.column.type": type,
  ...(len === undefined
    ? {}
    : { "__debezium.source.column.length": String(len) }),
  ...(scale === undefined
    ? {}
    : { "__debezium.source.column.scale": String(scale) }),
});

Deno.test("types: Debezium field schema → ClickHouse columns and values", () => {
  const cases: Array<[Record<string, unknown>, unknown, string[], string]> = [
    [{ type: "int32", field: "a", optional: false }, 7, ["a Int32"], `"a":"7"`],
    [
      { type: "int64", field: "a" },
      9007199254740993n,
      ["a Nullable(Int64)"],
      `"a":"9007199254740993"`,
    ],
    [{ type: "boolean", field: "a" }, true, ["a Nullable(UInt8)"], `"a":1`],
    [
      { type: "double", field: "a" },
      "NaN",
      ["a Nullable(Float64)"],
      `"a":null`,
    ],
    [
      { type: "string", field: "a", parameters: p("NUMERIC", 10, 2) },
      "-12.50",
      ["a Nullable(Decimal(10, 2))"],
      `"a":-12.50`,
    ],
    [{ type: "string", field: "a", parameters: p("NUMERIC", 0) }, "1.5", [
      "a Nullable(String)",
    ], `"a":"1.5"`],
    [{ type: "string", field: "a", parameters: p("MONEY") }, "1234.56", [
      "a Nullable(Decimal(20, 2))",
    ], `"a":1234.56`],
    [
      { type: "string", field: "a", name: "io.debezium.data.Uuid" },
      "0b5e2d3c-1111-2222-3333-444455556666",
      ["a Nullable(UUID)"],
      `"a":"0b5e2d3c-1111-2222-3333-444455556666"`,
    ],
    [{ type: "int32", field: "a", name: "io.debezium.time.Date" }, 19782, [
      "a Nullable(Date)",
      "a_days Nullable(Int32)",
    ], `"a":"2024-02-29","a_days":19782`],
    [{ type: "int32", field: "a", name: "io.debezium.time.Date" }, "infinity", [
      "a Nullable(Date)",
      "a_days Nullable(Int32)",
    ], `"a":null,"a_days":2147483647`],
    [
      { type: "int64", field: "a", name: "io.debezium.time.MicroTimestamp" },
      1795303674123456,
      ["a Nullable(DateTime('UTC'))", "a_us Nullable(Int64)"],
      `"a":1795303674,"a_us":"1795303674123456"`,
    ],
    [
      { type: "int64", field: "a", name: "io.debezium.time.MicroTimestamp" },
      "-infinity",
      ["a Nullable(DateTime('UTC'))", "a_us Nullable(Int64)"],
      `"a":null,"a_us":"-9223372036854775808"`,
    ],
    [
      { type: "string", field: "a", name: "io.debezium.time.ZonedTimestamp" },
      "2026-11-21T23:27:54.5Z",
      ["a Nullable(DateTime('UTC'))", "a_us Nullable(Int64)"],
      `"a":1795303674,"a_us":"1795303674500000"`,
    ],
    [{ type: "array", field: "a", items: { type: "int32" } }, [1, null], [
      "a Array(Nullable(Int32))",
    ], `"a":["1",null]`],
    [{ type: "array", field: "a", items: { type: "string" } }, null, [
      "a Array(Nullable(String))",
    ], `"a":[]`],
  ];
  for (const [f, v, cols, frag] of cases) {
    const m = mapField(f as never);
    assert.deepEqual(
      m.columns.map(([n, t]) => `${n} ${t}`),
      cols,
      JSON.stringify(f),
    );
    assert.equal(m.encode(v), frag, JSON.stringify(f));
  }
  assert.equal(isoMicros("2024-02-29T00:00:00.000001Z"), 1709164800000001n);
  assert.equal(isoMicros("1969-12-31T23:59:59Z"), -1000000n);
  assert.deepEqual(
    mapField({ type: "int32", field: "a" }).encode("x"),
    { reason: `column "a": value does not fit Int32` },
  );
});

const valueSchema = {
  type: "struct",
  fields: [
    { field: "before", type: "struct", fields: [] },
    {
      field: "after",
      type: "struct",
      fields: [
        { type: "int32", optional: false, field: "id" },
        { type: "string", optional: true, field: "body" },
      ],
    },
  ],
};

Deno.test("auto mirror: names, DDL on the cluster, row line with key hash", () => {
  assert.equal(mirrorName("public", "t"), "pg_t");
  assert.equal(mirrorName("s", "t"), "pg_s_t");
  assert.equal(schemaText('{"schema":{"a":1},"payload":{"x":2}}'), '{"a":1}');
  assert.equal(schemaText('{"before":null}'), undefined);
  const spec = buildSpec("pg_t", valueSchema, ["id"]);
  assert.ok("table" in spec);
  const [local, dist] = createStatements("analytics", spec);
  assert.match(local, /ON CLUSTER analytics_cluster/);
  assert.match(
    local,
    /ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/analytics\/pg_t_local', '\{replica\}', _version\) ORDER BY \(`id`\)/,
  );
  assert.match(local, /`body` Nullable\(String\)/);
  assert.match(
    dist,
    /Distributed\(analytics_cluster, analytics, `pg_t_local`, _key_hash\)/,
  );
  const r = encodeAutoRow(spec, { id: 3, body: "x" }, 42, "u");
  assert.ok("line" in r);
  const row = JSON.parse(r.line + "}");
  assert.equal(row.id, "3");
  assert.equal(row._key, "[3]");
  assert.equal(row._key_hash, r.hash);
  assert.equal(row._version, 42);
  assert.equal(row._deleted, 0);
  assert.deepEqual(buildSpec("pg_t", valueSchema, ["nope"]), {
    reason: "key field nope is not a column",
  });
  assert.deepEqual(
    encodeAutoRow({ ...spec, conflict: "type changed" }, { id: 1 }, 1, "c"),
    { reason: "type changed" },
  );
});

Deno.test("TOAST: placeholders filled from the batch, then from the mirror", async () => {
  const spec = buildSpec("pg_t", valueSchema, ["id"]);
  assert.ok("table" in spec);
  const line = (id: number, body: unknown, v: number, op = "u") => {
    const r = encodeAutoRow(spec, { id, body }, v, op);
    assert.ok("line" in r);
    return r.line + "}";
  };
  const lines = [
    line(1, "__debezium_unavailable_value", 10), // from the mirror
    line(2, "two", 11, "c"),
    line(2, "__debezium_unavailable_value", 12), // from the row before
    line(3, "__debezium_unavailable_value", 13), // nowhere: dead letter
  ];
  assert.deepEqual(placeholderColumns(lines[0]), ["body"]);
  const req: InsertRequest = {
    table: "pg_t",
    shard: 0,
    rows: 4,
    parts: [{ taken: {} as TakenRange, lines, offsets: [0, 1, 2, 3] }],
  };
  let sql = "";
  const bad = await resolveToast(req, "analytics.pg_t_local", (_s, q) => {
    sql = q;
    return Promise.resolve(
      '{"_key":"[1]","_deleted":0,"body":"big \\/ one"}\n{"_key":"[3]","_deleted":1,"body":"gone"}\n',
    );
  });
  assert.match(
    sql,
    /FROM analytics\.pg_t_local FINAL WHERE _key IN \('\[1\]','\[3\]'\)/,
  );
  assert.equal(JSON.parse(lines[0]).body, "big / one");
  assert.equal(JSON.parse(lines[2]).body, "two");
  assert.equal(rawField(lines[3], "body"), '"__debezium_unavailable_value"');
  assert.equal(bad.length, 1);
  assert.equal(bad[0].index, 3);
  assert.match(bad[0].reason, /TOASTed column\(s\) body/);
});

Deno.test("auto mirror: first sight creates, a new column is added on the cluster", async () => {
  const { AutoMirrors } = await import("./cdc_auto.ts");
  const commands: string[] = [];
  let cols: Array<{ name: string; type: string }> = [];
  const service = {
    query: () => Promise.resolve(cols),
    command: (_s: number, sql: string) => {
      commands.push(sql);
      if (sql.startsWith("CREATE") && sql.includes("ReplicatedReplacing")) {
        cols = [{ name: "id", type: "Int32" }, {
          name: "body",
          type: "Nullable(String)",
        }];
      }
      if (sql.includes("ADD COLUMN")) {
        cols = [...cols, { name: "extra", type: "Nullable(Int64)" }];
      }
      return Promise.resolve();
    },
  };
  const log = { info() {}, warn() {} };
  const auto = new AutoMirrors(service as never, "analytics", log as never);
  const schema = (extra: boolean) => ({
    type: "struct",
    fields: [{
      field: "after",
      type: "struct",
      fields: [
        { type: "int32", optional: false, field: "id" },
        { type: "string", optional: true, field: "body" },
        ...(extra ? [{ type: "int64", optional: true, field: "extra" }] : []),
      ],
    }],
  });
  const msg = (extra: boolean) => ({
    key: JSON.stringify({
      schema: { fields: [{ type: "int32", field: "id" }] },
      payload: { id: 1 },
    }),
    value: JSON.stringify({
      schema: schema(extra),
      payload: { source: { schema: "public", table: "t" } },
    }),
  });
  const signal = new AbortController().signal;
  await auto.prepare([msg(false)], signal);
  assert.equal(commands.length, 2);
  assert.ok(auto.exists("pg_t"));
  await auto.prepare([msg(false), msg(true)], signal);
  assert.deepEqual(commands.slice(2).map((c) => c.split(" (")[0]), [
    "ALTER TABLE `analytics`.`pg_t_local` ON CLUSTER analytics_cluster ADD COLUMN `extra` Nullable(Int64)",
    "DROP TABLE IF EXISTS `analytics`.`pg_t` ON CLUSTER analytics_cluster",
    "CREATE TABLE IF NOT EXISTS `analytics`.`pg_t` ON CLUSTER analytics_cluster AS `analytics`.`pg_t_local` ENGINE = Distributed(analytics_cluster, analytics, `pg_t_local`, _key_hash)",
  ]);
  // A type the mirror cannot take: the schema version is a conflict.
  cols = cols.map((c) =>
    c.name === "extra" ? { ...c, type: "Nullable(String)" } : c
  );
  const a = new AutoMirrors(service as never, "analytics", log as never);
  await a.prepare([msg(true)], signal);
  const spec = a.spec(JSON.stringify(schema(true)));
  assert.ok(
    spec && "table" in spec &&
      /extra of pg_t is Nullable\(String\)/.test(spec.conflict ?? ""),
  );
});

Deno.test("auto mirror: at start, a missing or stale Distributed table is re-created", async () => {
  const { AutoMirrors } = await import("./cdc_auto.ts");
  const commands: string[] = [];
  let dist: string | undefined; // the Distributed table's columns, if any
  const local = "_deleted UInt8,id Int32";
  const service = {
    query: (_s: number, sql: string) =>
      Promise.resolve(
        sql.includes("GROUP BY table")
          ? [
            { table: "pg_t_local", cols: local },
            ...(
              dist === undefined ? [] : [{ table: "pg_t", cols: dist }]
            ),
          ]
          : [{ name: "id", type: "Int32" }, {
            name: "_deleted",
            type: "UInt8",
          }],
      ),
    command: (_s: number, sql: string) => {
      commands.push(sql.split(" ON CLUSTER")[0]);
      return Promise.resolve();
    },
  };
  const log = { info() {}, warn() {} };
  const msg = (table: string) => ({
    key: JSON.stringify({
      schema: { fields: [{ type: "int32", field: "id" }] },
      payload: { id: 1 },
    }),
    value: JSON.stringify({
      schema: {
        type: "struct",
        fields: [{
          field: "after",
          type: "struct",
          fields: [{ type: "int32", optional: false, field: "id" }],
        }],
      },
      payload: { source: { schema: "public", table } },
    }),
  });
  const signal = new AbortController().signal;
  const recreate = [
    "DROP TABLE IF EXISTS `analytics`.`pg_t`",
    "CREATE TABLE IF NOT EXISTS `analytics`.`pg_t`",
  ];
  for (
    const [state, want] of [[undefined, recreate], ["id Int32", recreate], [
      local,
      [],
    ]] as const
  ) {
    dist = state;
    commands.length = 0;
    const auto = new AutoMirrors(service as never, "analytics", log as never);
    await auto.prepare([msg("t")], signal);
    assert.deepEqual(commands, want, `Distributed ${state}`);
  }
});
