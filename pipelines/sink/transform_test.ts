import assert from "node:assert/strict";
import { commonColumns, distributedArgs } from "./any_table.ts";
import { buildRowConverter } from "./row.ts";
import { compileSchema, parseRouteFile } from "./route_file.ts";
import { shardOfPartition } from "./routes.ts";
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
