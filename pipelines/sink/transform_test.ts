import assert from "node:assert/strict";
import { AnyTables, commonColumns, distributedArgs } from "./any_table.ts";
import { buildRowConverter } from "./row.ts";
import { compileSchema, parseRouteFile } from "./route_file.ts";
import { parseRoutes, shardOfPartition } from "./routes.ts";
import { EVENT_TABLES } from "./tables.ts";
import {
  type SinkMessage,
  type TableSink,
  transformMessage,
} from "./transform.ts";

const msg = (value: string | null, over: Partial<SinkMessage> = {}) => ({
  topic: "app.events",
  partition: 1,
  offset: 42,
  value,
  key: "k1",
  timestampMs: 1709280000123,
  ...over,
});

const table = (over: Partial<TableSink> = {}): TableSink => ({
  kind: "table",
  insertTable: "db.events_local",
  converter: buildRowConverter([
    { name: "id", type: "UInt64" },
    { name: "level", type: "Enum8('info' = 1, 'error' = 2)" },
    { name: "_partition", type: "UInt32" },
    { name: "_offset", type: "UInt64" },
    { name: "_key", type: "String" },
    { name: "_ingested_at", type: "DateTime" },
  ]),
  ...over,
});

Deno.test("transform: no route → dead letter naming the topic", () => {
  assert.deepEqual(transformMessage(undefined, msg("{}"), 2, 0), {
    kind: "dead",
    reason: "no table is mapped to topic app.events",
    original: "{}",
  });
});

Deno.test("transform: any table → complete row on the partition's shard", () => {
  const out = transformMessage(
    table(),
    msg('{"id":"7","level":"error","other":1}'),
    2,
    1709280001,
  );
  assert.deepEqual(out, {
    kind: "row",
    table: "db.events_local",
    shard: shardOfPartition("app.events", 1, 2),
    line:
      '{"id":7,"level":"error","_partition":1,"_offset":42,"_key":"k1","_ingested_at":1709280001}',
    closed: true,
    unknown: 1,
  });
});

Deno.test("transform: type failures, bad JSON, tombstones → dead letters", () => {
  const t = table();
  const reason = (v: string | null) => {
    const o = transformMessage(t, msg(v), 2, 0);
    assert.equal(o.kind, "dead");
    return (o as { reason: string }).reason;
  };
  assert.match(
    reason('{"id":1,"level":"warn"}'),
    /^column "level": expected one of info\|error/,
  );
  assert.match(reason('{"id":-1}'), /^column "id"/);
  assert.match(reason("{nope"), /invalid JSON/);
  assert.match(reason("[1]"), /not a JSON object/);
  assert.match(reason(null), /null value/);
});

Deno.test("transform: per-route JSON Schema and strict mode", () => {
  const validate = compileSchema({
    type: "object",
    required: ["id"],
    properties: { id: { type: "integer" } },
  }, "test");
  const t = table({ validate });
  const o = transformMessage(t, msg('{"level":"info"}'), 2, 0);
  assert.equal(o.kind, "dead");
  assert.match((o as { reason: string }).reason, /^schema: .*required.*id/);
  assert.equal(transformMessage(t, msg('{"id":1}'), 2, 0).kind, "row");
  const strict = transformMessage(
    table({ strict: true }),
    msg('{"id":1,"surprise":2}'),
    2,
    0,
  );
  assert.match(
    (strict as { reason: string }).reason,
    /unknown field\(s\) surprise/,
  );
});

Deno.test("transform: built-in event route is unchanged (open line)", () => {
  const ev = {
    event_id: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    timestamp: "2024-03-01T08:00:00.000Z",
    event_type: "auth_success",
    severity: "low",
    src_ip: "10.0.0.1",
    src_port: 1,
    dst_ip: "10.0.0.2",
    dst_port: 2,
    protocol: "tcp",
    action: "allowed",
  };
  const o = transformMessage(
    { kind: "event", table: EVENT_TABLES.security_events },
    msg(JSON.stringify(ev)),
    2,
    0,
  );
  assert.equal(o.kind, "row", JSON.stringify(o));
  if (o.kind !== "row") return;
  assert.equal(o.closed, false);
  assert.equal(o.table, "security_events");
  assert.match(o.line, /"_offset":42$/);
});

Deno.test("config file routes: validated with the route named", () => {
  const r = parseRouteFile(
    JSON.stringify({
      routes: [{ topic: "app.*", table: "mydb.t", strict: true }, {
        topic: "x",
        table: "fact_log",
      }],
    }),
    "analytics",
  );
  assert.deepEqual(r.map((x) => x.target), [
    { kind: "table", database: "mydb", table: "t", strict: true },
    "fact_log",
  ]);
  assert.throws(
    () => parseRouteFile('{"routes":[{"topic":"a","table":"a.b.c"}]}', "d"),
    /routes\[0\] \(a=a\.b\.c\)/,
  );
  assert.throws(
    () => parseRouteFile('{"routes":[{"table":"t"}]}', "d"),
    /topic/,
  );
  assert.throws(() => parseRouteFile("[]", "d"), /routes/);
});

Deno.test("Distributed definitions and columns common to all shards", () => {
  assert.deepEqual(
    distributedArgs(
      "Distributed(analytics_cluster, analytics, fact_log_local, rand())",
    ),
    {
      cluster: "analytics_cluster",
      database: "analytics",
      table: "fact_log_local",
    },
  );
  assert.deepEqual(distributedArgs("Distributed('c', 'd', 't')"), {
    cluster: "c",
    database: "d",
    table: "t",
  });
  assert.equal(distributedArgs("MergeTree"), undefined);
  const a = [{ name: "x", type: "UInt8" }, { name: "y", type: "String" }];
  assert.deepEqual(commonColumns([a, [a[0]]]), [a[0]]);
  assert.deepEqual(commonColumns([a, [{ name: "y", type: "UInt8" }, a[0]]]), [
    a[0],
  ]);
});

/** A fake of the two ClickHouseService members AnyTables uses. */
function fakeService(
  shards: number,
  answer: (shard: number, sql: string) => unknown[] | undefined,
) {
  return {
    shardCount: shards,
    queryOnce: (shard: number, sql: string) =>
      Promise.resolve(answer(shard, sql)),
  } as unknown as ConstructorParameters<typeof AnyTables>[0];
}

const quiet = {
  debug() {},
  info() {},
  warn() {},
  error() {},
} as unknown as ConstructorParameters<typeof AnyTables>[1];

Deno.test("any table: Distributed resolved to locals, ADD COLUMN picked up", async () => {
  let cols = [{ name: "id", type: "UInt64", default_kind: "" }];
  const svc = fakeService(2, (_s, sql) => {
    if (sql.includes("engine_full")) {
      return [{
        engine: "Distributed",
        engine_full: "Distributed(c, db, ev_local, rand())",
      }];
    }
    if (sql.includes("system.clusters")) return [{ n: "2" }];
    if (sql.includes("SELECT engine FROM")) {
      return [{ engine: "ReplicatedMergeTree" }];
    }
    if (sql.includes("system.columns")) {
      assert.match(sql, /table = 'ev_local'/);
      return cols;
    }
    throw new Error(sql);
  });
  const tables = new AnyTables(svc, quiet);
  const routes = parseRoutes(["app.*=db.ev"], "events");
  await tables.resolveAll(routes, new Map());
  const t = tables.get({ kind: "table", database: "db", table: "ev" })!;
  assert.equal(t.insertTable, "db.ev_local");
  assert.equal(t.replicated, true);
  assert.equal(tables.byInsertTable("db.ev_local"), t);
  const before = t.converter;
  await tables.refresh();
  assert.equal(t.converter, before, "unchanged table keeps its converter");
  cols = [...cols, { name: "extra", type: "String", default_kind: "" }];
  await tables.refresh();
  assert.notEqual(t.converter, before);
  const r = t.converter.convert({ id: 1, extra: "x" }, {
    topic: "app.x",
    partition: 0,
    offset: 0,
    key: null,
    timestampMs: 0,
  }, 0);
  assert.deepEqual(r, { ok: true, line: '{"id":1,"extra":"x"}', unknown: 0 });
});

Deno.test("any table: missing table, shard mismatch → errors naming the route", async () => {
  const missing = new AnyTables(fakeService(1, () => []), quiet);
  await assert.rejects(
    () => missing.resolveAll(parseRoutes(["t=db.nope"], "events"), new Map()),
    /route t=db\.nope: table db\.nope does not exist/,
  );
  const svc = fakeService(
    2,
    (_s, sql) =>
      sql.includes("engine_full")
        ? [{ engine: "Distributed", engine_full: "Distributed(c, db, l)" }]
        : [{ n: "3" }],
  );
  await assert.rejects(
    () =>
      new AnyTables(svc, quiet).resolveAll(
        parseRoutes(["t=db.d"], "events"),
        new Map(),
      ),
    /route t=db\.d: Distributed cluster c has 3 shard\(s\), --clickhouse-shards lists 2/,
  );
  const partial = fakeService(
    2,
    (s, sql) =>
      sql.includes("engine_full")
        ? [{ engine: "MergeTree", engine_full: "MergeTree ORDER BY x" }]
        : sql.includes("system.columns")
        ? (s === 0 ? [{ name: "x", type: "UInt8" }] : [])
        : [{ engine: "MergeTree" }],
  );
  await assert.rejects(
    () =>
      new AnyTables(partial, quiet).resolveAll(
        parseRoutes(["t=db.p"], "events"),
        new Map(),
      ),
    /route t=db\.p: table db\.p does not exist on shard 2/,
  );
});
