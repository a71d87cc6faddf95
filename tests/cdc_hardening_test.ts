// Debezium envelopes are parsed JSON checked field by field.
// deno-lint-ignore-file no-explicit-any
/**
 * Fault tests of the CDC relay for issue 13 (items 2, 4, 8) against the real
 * PostgreSQL and Kafka: a record larger than the broker accepts, a
 * mixed-case publication name, a lost or corrupt snapshot-state file. Every
 * test works in its own `hardening_` schema, publication, slot and topics and
 * removes them at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  ensureTopics,
  pollUntil,
  readTopic,
  ROOT,
  startTask,
  type TaskProcess,
  testKafka,
  testPg,
  topicMessageCount,
} from "./_helpers.ts";

const PG_ENV = { PGPASSWORD: "postgres" };

interface Env {
  tag: string;
  schema: string;
  publication: string;
  slot: string;
  prefix: string;
  dlq: string;
  topic: string;
  args: (extra?: string[]) => string[];
}

/** Schema with one `docs` table, its topic and a DLQ topic; no publication. */
async function setup(name: string, publication?: string): Promise<Env> {
  const tag = `${name}_${crypto.randomUUID().slice(0, 6)}`;
  const schema = `hardening_${tag}`;
  const env: Env = {
    tag,
    schema,
    publication: publication ?? `hardening_pub_${tag}`,
    slot: `hardening_slot_${tag}`,
    prefix: `hardening_${tag}`,
    dlq: `hardening_${tag}.dlq`,
    topic: `hardening_${tag}.${schema}.docs`,
    args: (extra = []) => [
      "--slot",
      `hardening_slot_${tag}`,
      "--publication",
      publication ?? `hardening_pub_${tag}`,
      "--tables",
      `${schema}.docs`,
      "--topic-prefix",
      `hardening_${tag}`,
      "--metrics-port",
      "0",
      "--create-topics",
      "false",
      "--heartbeat-interval",
      "1s",
      ...extra,
    ],
  };
  const pg = await testPg();
  try {
    await pg.query(`CREATE SCHEMA ${schema}`);
    await pg.query(
      `CREATE TABLE ${schema}.docs (id INT PRIMARY KEY, body TEXT)`,
    );
  } finally {
    await pg.end();
  }
  await ensureTopics([env.topic, env.dlq]);
  return env;
}

async function teardown(env: Env, relays: TaskProcess[]): Promise<void> {
  for (const r of relays) {
    r.kill("SIGKILL");
    await r.wait().catch(() => {});
  }
  const pg = await testPg();
  try {
    await pollUntil(async () => {
      const r = await pg.query(
        "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
        [env.slot],
      );
      if (r.rows.length === 0) return true;
      if (r.rows[0].active) return false;
      await pg.query("SELECT pg_drop_replication_slot($1)", [env.slot]);
      return true;
    }, { what: `slot ${env.slot} dropped`, timeoutMs: 20_000 });
    await pg.query(
      `DROP PUBLICATION IF EXISTS "${env.publication.replace(/"/g, '""')}"`,
    );
    await pg.query(`DROP SCHEMA IF EXISTS ${env.schema} CASCADE`);
    await pg.query(
      `DELETE FROM public.deno_cdc_snapshots WHERE slot = $1`,
      [env.slot],
    ).catch(() => {});
  } finally {
    await pg.end();
  }
  await Deno.remove(`${ROOT}.data/cdc/${env.slot}.snapshot.json`).catch(
    () => {},
  );
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [env.topic, env.dlq], timeout: 30_000 });
  } catch (err) {
    console.warn(`could not delete topics of ${env.prefix}: ${err}`);
  } finally {
    await admin.disconnect();
  }
}

function startRelay(env: Env, extra: string[] = []): TaskProcess {
  return startTask("cdc", env.args(extra), { env: PG_ENV });
}

async function waitLog(relay: TaskProcess, text: string, times = 1) {
  await pollUntil(
    () => relay.stderrText().split(text).length - 1 >= times,
    { what: `relay log ${text}`, timeoutMs: 60_000 },
  ).catch((err) => {
    throw new Error(`${err.message}\nrelay stderr:\n${relay.stderrText()}`);
  });
}

async function sql(text: string, params: unknown[] = []): Promise<void> {
  const pg = await testPg();
  try {
    await pg.query(text, params);
  } finally {
    await pg.end();
  }
}

/** The parsed records of `topic` once it holds at least `n`. */
async function recordsOf(topic: string, n: number, what: string) {
  await pollUntil(async () => (await topicMessageCount(topic)) >= n, {
    what,
    timeoutMs: 60_000,
  });
  return (await readTopic(topic)).map((m) => ({
    key: m.key === null ? null : JSON.parse(m.key),
    value: m.value === null ? null : JSON.parse(m.value),
  }));
}

async function stopRelay(relay: TaskProcess): Promise<number> {
  relay.kill("SIGTERM");
  return (await relay.wait()).code;
}

Deno.test({
  name:
    "cdc hardening: a mixed-case --publication streams changes (quoted consistently)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tag = crypto.randomUUID().slice(0, 6);
    const env = await setup(`mixed_${tag}`, `Hardening_MixedPub_${tag}`);
    const relays: TaskProcess[] = [];
    try {
      const relay = startRelay(env);
      relays.push(relay);
      await waitLog(relay, '"msg":"streaming"');
      await sql(`INSERT INTO ${env.schema}.docs VALUES (1, 'after start')`);
      const recs = await recordsOf(
        env.topic,
        1,
        "the insert streamed through the mixed-case publication",
      ).catch((err) => {
        throw new Error(`${err.message}\nrelay stderr:\n${relay.stderrText()}`);
      });
      assert.equal(recs[0].value.op, "c");
      assert.equal(recs[0].value.after.body, "after start");
      assert.doesNotMatch(relay.stderrText(), /does not exist/);
      assert.equal(await stopRelay(relay), 0);
    } finally {
      await teardown(env, relays);
    }
  },
});
