import assert from "node:assert/strict";
import { createLogger } from "../runtime/log.ts";
import type { OutRecord } from "./envelope.ts";
import {
  Heartbeat,
  heartbeatDue,
  heartbeatRecord,
  heartbeatTopic,
} from "./heartbeat.ts";

Deno.test("heartbeatRecord is Debezium's: topic, key serverName, value ts_ms", () => {
  assert.equal(heartbeatTopic("customers"), "__debezium-heartbeat.customers");
  assert.deepEqual(heartbeatRecord("customers", 1_700_000_000_123, false), {
    topic: "__debezium-heartbeat.customers",
    key: '{"serverName":"customers"}',
    value: '{"ts_ms":1700000000123}',
  });
  const wrapped = heartbeatRecord("p", 5, true);
  const key = JSON.parse(wrapped.key!);
  const value = JSON.parse(wrapped.value!);
  assert.deepEqual(key.payload, { serverName: "p" });
  assert.equal(key.schema.name, "io.debezium.connector.common.ServerNameKey");
  assert.deepEqual(key.schema.fields, [
    { type: "string", optional: false, field: "serverName" },
  ]);
  assert.deepEqual(value.payload, { ts_ms: 5 });
  assert.equal(value.schema.name, "io.debezium.connector.common.Heartbeat");
  assert.deepEqual(value.schema.fields, [
    { type: "int64", optional: false, field: "ts_ms" },
  ]);
});

Deno.test("heartbeatDue after the interval since the last activity", () => {
  assert.equal(heartbeatDue(1_000, 0, 1_000), true);
  assert.equal(heartbeatDue(999, 0, 1_000), false);
});

function setup(failWal = false) {
  let now = 0;
  const events: string[] = [];
  const records: OutRecord[] = [];
  const lines: string[] = [];
  const hb = new Heartbeat({
    intervalMs: 10_000,
    topicPrefix: "pfx",
    schemas: false,
    emitWal: () => {
      events.push("wal");
      return failWal
        ? Promise.reject(new Error("read-only"))
        : Promise.resolve();
    },
    onWal: () => events.push("counted"),
    publish: (r) => {
      records.push(r);
      return Promise.resolve();
    },
    log: createLogger("test", "warn", (l) => lines.push(l)),
    now: () => now,
  });
  return { hb, events, records, lines, at: (t: number) => now = t };
}

Deno.test("Heartbeat fires only after the interval of idleness, then once per interval", async () => {
  const { hb, events, records, at } = setup();
  assert.equal(hb.tickMs, 5_000);
  at(9_999);
  await hb.tick();
  assert.deepEqual(events, []);
  at(5_000);
  hb.sawData();
  at(14_999);
  await hb.tick(); // data at 5 s: not idle long enough
  assert.deepEqual(events, []);
  at(15_000);
  await hb.tick();
  assert.deepEqual(events, ["wal", "counted"]);
  assert.deepEqual(records, [heartbeatRecord("pfx", 15_000, false)]);
  at(20_000);
  await hb.tick(); // 5 s after the beat: not again yet
  assert.equal(records.length, 1);
  at(25_000);
  await hb.tick();
  assert.equal(records.length, 2);
  assert.equal(records[1].value, '{"ts_ms":25000}');
});

Deno.test("Heartbeat: a failed WAL message stops WAL beats, Kafka beats go on", async () => {
  const { hb, events, records, lines, at } = setup(true);
  at(10_000);
  await hb.tick();
  at(20_000);
  await hb.tick();
  assert.deepEqual(events, ["wal"]); // tried once, never counted
  assert.equal(records.length, 2);
  assert.equal(lines.length, 1);
  assert.equal(
    JSON.parse(lines[0]).msg,
    "heartbeat message failed; relying on keepalives",
  );
});

Deno.test("Heartbeat never overlaps a beat still in progress", async () => {
  let release!: () => void;
  let now = 0;
  let walls = 0;
  const hb = new Heartbeat({
    intervalMs: 1_000,
    topicPrefix: "p",
    schemas: false,
    emitWal: () => {
      walls++;
      return new Promise<void>((r) => release = r);
    },
    log: createLogger("test", "error"),
    now: () => now,
  });
  now = 10_000;
  const first = hb.tick();
  now = 20_000;
  await hb.tick(); // skipped: the first is still waiting
  release();
  await first;
  assert.equal(walls, 1);
});
