/**
 * The relay's heartbeat against the real PostgreSQL and Kafka (issue 12):
 * with `--heartbeat-interval`, an idle relay writes Debezium's heartbeat
 * record to `__debezium-heartbeat.<prefix>` (a topic it creates), key
 * `{"serverName": prefix}`, value `{"ts_ms": …}`, and still streams changes.
 * Its own schema, publication, slot and topics, dropped at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  dropCdcTest,
  ensureTopics,
  jsonRecords,
  startTask,
  stopTask,
  type TaskProcess,
  testPg,
  waitForLog,
} from "./_helpers.ts";

const PG_ENV = { PGPASSWORD: "postgres" };

async function sql(text: string): Promise<void> {
  const pg = await testPg();
  try {
    await pg.query(text);
  } finally {
    await pg.end();
  }
}

async function withRelayEnv(
  name: string,
  fn: (
    env: { schema: string; prefix: string; topic: string; hbTopic: string },
    start: (extra: string[]) => TaskProcess,
  ) => Promise<void>,
): Promise<void> {
  const tag = `${name}_${crypto.randomUUID().slice(0, 6)}`;
  const env = {
    schema: `relay12_${tag}`,
    publication: `relay12_pub_${tag}`,
    slot: `relay12_slot_${tag}`,
    prefix: `relay12_${tag}`,
    topic: `relay12_${tag}.relay12_${tag}.beats`,
    hbTopic: `__debezium-heartbeat.relay12_${tag}`,
  };
  const relays: TaskProcess[] = [];
  await sql(`CREATE SCHEMA ${env.schema}`);
  await sql(`CREATE TABLE ${env.schema}.beats (id INT PRIMARY KEY, v TEXT)`);
  try {
    await ensureTopics([env.topic]);
    await fn(env, (extra) => {
      const relay = startTask("cdc", [
        "--slot",
        env.slot,
        "--publication",
        env.publication,
        "--tables",
        `${env.schema}.beats`,
        "--topic-prefix",
        env.prefix,
        "--metrics-port",
        "0",
        "--create-topics",
        "true",
        "--heartbeat-interval",
        "1s",
        ...extra,
      ], { env: PG_ENV });
      relays.push(relay);
      return relay;
    });
  } finally {
    await dropCdcTest({ ...env, topics: [env.topic], relays });
  }
}

Deno.test({
  name:
    "cdc heartbeat: an idle relay writes {serverName} / {ts_ms} records to __debezium-heartbeat.<prefix>, changes still stream",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withRelayEnv("plain", async (env, start) => {
      const relay = start([]);
      await waitForLog(relay, '"msg":"streaming"');
      const startedAt = Date.now();
      const beats = await jsonRecords(env.hbTopic, 2, {
        what: "two heartbeat records",
        timeoutMs: 30_000,
      }).catch((err) => {
        throw new Error(`${err.message}\nrelay stderr:\n${relay.stderrText()}`);
      });
      for (const b of beats) {
        assert.deepEqual(b.key, { serverName: env.prefix });
        assert.deepEqual(Object.keys(b.value), ["ts_ms"]);
        assert.ok(Number.isInteger(b.value.ts_ms));
        // Written after the relay started streaming (a little slack for
        // the two clocks being the same machine's but read at different times).
        assert.ok(b.value.ts_ms >= startedAt - 5_000, `${b.value.ts_ms}`);
        assert.ok(b.value.ts_ms <= Date.now());
      }
      // One key: one partition, in order, at least the interval apart.
      assert.equal(beats[1].partition, beats[0].partition);
      assert.ok(
        beats[1].value.ts_ms - beats[0].value.ts_ms >= 1_000,
        `${beats[0].value.ts_ms} → ${beats[1].value.ts_ms}`,
      );
      await sql(`INSERT INTO ${env.schema}.beats VALUES (1, 'after beats')`);
      const recs = await jsonRecords(env.topic, 1, { what: "the insert" });
      assert.equal(recs[0].value.op, "c");
      assert.deepEqual(recs[0].value.after, { id: 1, v: "after beats" });
      assert.equal(await stopTask(relay), 0);
    }),
});

Deno.test({
  name:
    "cdc heartbeat: with --schemas true the heartbeat carries Debezium's ServerNameKey / Heartbeat schemas",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withRelayEnv("schemas", async (env, start) => {
      const relay = start(["--schemas", "true"]);
      await waitForLog(relay, '"msg":"streaming"');
      const [beat] = await jsonRecords(env.hbTopic, 1, {
        what: "a heartbeat record",
        timeoutMs: 30_000,
      });
      assert.deepEqual(beat.key.payload, { serverName: env.prefix });
      assert.equal(
        beat.key.schema.name,
        "io.debezium.connector.common.ServerNameKey",
      );
      assert.equal(
        beat.value.schema.name,
        "io.debezium.connector.common.Heartbeat",
      );
      assert.deepEqual(beat.value.schema.fields, [
        { type: "int64", optional: false, field: "ts_ms" },
      ]);
      assert.ok(Number.isInteger(beat.value.payload.ts_ms));
      assert.equal(await stopTask(relay), 0);
    }),
});
