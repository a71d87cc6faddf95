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
  dropCdcTest,
  ensureTopics,
  jsonRecords,
  pollUntil,
  ROOT,
  startTask,
  stopTask,
  type TaskProcess,
  testPg,
  waitForLog,
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
      "--dlq-topic",
      `hardening_${tag}.dlq`,
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
  await dropCdcTest({ ...env, topics: [env.topic, env.dlq], relays });
}

function startRelay(env: Env, extra: string[] = []): TaskProcess {
  return startTask("cdc", env.args(extra), { env: PG_ENV });
}

async function sql(text: string, params: unknown[] = []): Promise<void> {
  const pg = await testPg();
  try {
    await pg.query(text, params);
  } finally {
    await pg.end();
  }
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
      await waitForLog(relay, '"msg":"streaming"');
      await sql(`INSERT INTO ${env.schema}.docs VALUES (1, 'after start')`);
      const recs = await jsonRecords(env.topic, 1, {
        what: "the insert streamed through the mixed-case publication",
      }).catch((err) => {
        throw new Error(`${err.message}\nrelay stderr:\n${relay.stderrText()}`);
      });
      assert.equal(recs[0].value.op, "c");
      assert.equal(recs[0].value.after.body, "after start");
      assert.doesNotMatch(relay.stderrText(), /does not exist/);
      assert.equal(await stopTask(relay), 0);
    } finally {
      await teardown(env, relays);
    }
  },
});

Deno.test({
  name:
    "cdc hardening: a row larger than the broker accepts goes to the dead-letter topic; later changes and the slot move on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = await setup("big");
    const relays: TaskProcess[] = [];
    try {
      const relay = startRelay(env);
      relays.push(relay);
      await waitForLog(relay, '"msg":"streaming"');
      // 600k characters but 1.2 MB in UTF-8: over the broker's 1 MB limit.
      await sql(`INSERT INTO ${env.schema}.docs VALUES (1, 'small')`);
      await sql(
        `INSERT INTO ${env.schema}.docs VALUES (2, repeat('é', 600000))`,
      );
      await sql(`INSERT INTO ${env.schema}.docs VALUES (3, 'after')`);
      const recs = await jsonRecords(env.topic, 2, {
        what: "rows 1 and 3 in Kafka",
      })
        .catch((err) => {
          throw new Error(
            `${err.message}\nrelay stderr:\n${relay.stderrText()}`,
          );
        });
      assert.deepEqual(
        recs.map((r) => r.key.id).sort(),
        [1, 3],
        "the rows around the big one, each once",
      );
      const dlq = await jsonRecords(env.dlq, 1, { what: "the dead letter" });
      assert.equal(dlq.length, 1);
      assert.deepEqual(dlq[0].key, { id: 2 });
      const v = dlq[0].value as any;
      assert.equal(v.pipeline, "cdc");
      assert.match(v.reason, new RegExp(`${env.topic.replaceAll(".", "\\.")}`));
      assert.ok(
        v.original_bytes > 1_200_000,
        `size recorded: ${v.original_bytes}`,
      );
      assert.ok(v.original.length <= 16 * 1024, "original truncated");
      assert.match(relay.stderrText(), /record too large for Kafka/);
      // The slot confirms past the big transaction (WAL is released).
      const pg = await testPg();
      try {
        const lsn = (await pg.query("SELECT pg_current_wal_lsn()::text AS l"))
          .rows[0].l;
        await pollUntil(async () => {
          const r = await pg.query(
            "SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1",
            [env.slot, lsn],
          );
          return r.rows[0]?.ok === true;
        }, { what: "slot confirmed past the big row", timeoutMs: 30_000 });
      } finally {
        await pg.end();
      }
      assert.equal(await stopTask(relay), 0);
    } finally {
      await teardown(env, relays);
    }
  },
});

Deno.test({
  name:
    "cdc hardening: a lost or corrupt snapshot file never drops a healthy slot; an unrecorded slot is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = await setup("state");
    const relays: TaskProcess[] = [];
    const file = `${ROOT}.data/cdc/${env.slot}.snapshot.json`;
    try {
      const first = startRelay(env);
      relays.push(first);
      await waitForLog(first, '"msg":"streaming"');
      await sql(`INSERT INTO ${env.schema}.docs VALUES (1, 'one'), (2, 'two')`);
      await jsonRecords(env.topic, 2, { what: "the first two inserts" });
      assert.equal(await stopTask(first), 0);

      // While the relay is down: changes wait in the slot; the file is gone bad.
      await sql(`DELETE FROM ${env.schema}.docs WHERE id = 1`);
      await sql(`INSERT INTO ${env.schema}.docs VALUES (3, 'three')`);
      await Deno.mkdir(`${ROOT}.data/cdc`, { recursive: true });
      await Deno.writeTextFile(file, "{ not json");

      const second = startRelay(env);
      relays.push(second);
      await waitForLog(second, '"msg":"streaming"');
      // 2 inserts + delete + tombstone + insert.
      const recs = await jsonRecords(env.topic, 5, {
        what: "the changes made while down",
      })
        .catch((err) => {
          throw new Error(
            `${err.message}\nrelay stderr:\n${second.stderrText()}`,
          );
        });
      const ops = recs.filter((r) => r.value).map((r) =>
        `${r.value.op}${r.key.id}`
      ).sort();
      assert.deepEqual(
        ops,
        ["c1", "c2", "c3", "d1"],
        "nothing re-snapshotted, nothing lost",
      );
      assert.match(second.stderrText(), /resuming from existing slot/);
      assert.doesNotMatch(second.stderrText(), /dropping it/);
      assert.equal(await stopTask(second), 0);

      // No record anywhere: refuse, keep the slot, name the recovery.
      await Deno.remove(file).catch(() => {});
      await sql(`DELETE FROM public.deno_cdc_snapshots WHERE slot = $1`, [
        env.slot,
      ]);
      const third = await startRelay(env).wait();
      assert.equal(third.code, 1, third.stderr);
      const err = third.stderr.split("\n").filter(Boolean).map((l) =>
        JSON.parse(l)
      ).find((l) => l.level === "error");
      assert.match(err.msg, new RegExp(`slot "${env.slot}" exists but`));
      assert.match(err.hint, /--snapshot-mode never/);
      const pg = await testPg();
      try {
        const r = await pg.query(
          "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
          [env.slot],
        );
        assert.equal(r.rows.length, 1, "the slot is still there");
      } finally {
        await pg.end();
      }
      // The documented recovery resumes it.
      const fourth = startRelay(env, ["--snapshot-mode", "never"]);
      relays.push(fourth);
      await waitForLog(fourth, "resuming from existing slot");
      assert.equal(await stopTask(fourth), 0);
    } finally {
      await teardown(env, relays);
    }
  },
});

Deno.test({
  name:
    "cdc: without PGPASSWORD the relay stops at once with one line naming the variable (issue 13, item 14)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A plain `deno task cdc` on the dev cluster. The runner's own
    // PGPASSWORD, if any, is blanked (a child cannot unset one variable).
    const env: Record<string, string> = { LOG_LEVEL: "info" };
    if (Deno.env.get("PGPASSWORD") !== undefined) env.PGPASSWORD = "";
    const t0 = performance.now();
    const r = await startTask("cdc", ["--metrics-port", "0"], { env }).wait();
    const ms = performance.now() - t0;
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    const line = JSON.parse(lines[0]);
    assert.equal(line.level, "error");
    assert.match(line.msg, /^PGPASSWORD is not set/);
    assert.match(line.hint, /PGPASSWORD=/);
    assert.equal(line.stack, undefined, "no stack trace");
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    // Before any connection attempt (pg's connect timeout is 5 s).
    assert.ok(ms < 4_000, `took ${Math.round(ms)} ms`);
  },
});
