// Debezium envelopes are parsed JSON checked field by field.
// deno-lint-ignore-file no-explicit-any
/**
 * Incremental snapshots of the CDC relay against the real PostgreSQL and
 * Kafka (issue 12, acceptance 4): a table added to the publication later is
 * snapshotted alone while changes go on, and so is a table named by an
 * `execute-snapshot` signal; the other tables are not read again. Each test
 * has its own schema, publication, slot and topic prefix, dropped at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  dropCdcTest,
  type JsonRecord,
  pollUntil,
  readTopic,
  startTask,
  type TaskProcess,
  testKafka,
  testPg,
  waitForLog,
} from "./_helpers.ts";
import type { pg } from "../pipelines/runtime/postgres.ts";

const PG_ENV = { PGPASSWORD: "postgres" };

interface Env {
  schema: string;
  publication: string;
  slot: string;
  prefix: string;
  topic: (t: string) => string;
}

function newEnv(name: string): Env {
  const tag = `isnap12_${name}_${crypto.randomUUID().slice(0, 6)}`;
  return {
    schema: `s_${tag}`,
    publication: `pub_${tag}`,
    slot: `slot_${tag}`,
    prefix: `cdct_${tag}`,
    topic: (t) => `cdct_${tag}.s_${tag}.${t}`,
  };
}

function startRelay(env: Env, extra: string[]): TaskProcess {
  return startTask("cdc", [
    "--slot",
    env.slot,
    "--publication",
    env.publication,
    "--tables",
    `${env.schema}.*`,
    "--topic-prefix",
    env.prefix,
    "--signal-table",
    `${env.schema}.dbz_signal`,
    "--incremental-chunk-size",
    "250",
    "--new-table-poll",
    "1s",
    "--metrics-port",
    "0",
    "--heartbeat-interval",
    "1s",
    ...extra,
  ], { env: { ...PG_ENV, LOG_LEVEL: "info" } });
}

/** Creates `name (id int pk, v int, note text)` with `rows` rows. */
function tableDdl(s: string, name: string, rows: number): string {
  return `CREATE TABLE ${s}.${name} (id INT PRIMARY KEY, v INT NOT NULL, note TEXT);
    INSERT INTO ${s}.${name} SELECT i, 0, 'n' || i FROM generate_series(1, ${rows}) i;`;
}

async function records(topic: string): Promise<JsonRecord[]> {
  const raw = await readTopic(topic, { timeoutMs: 60_000 });
  return raw.map((m) => ({
    key: m.key === null ? null : JSON.parse(m.key),
    value: m.value === null ? null : JSON.parse(m.value),
    partition: m.partition,
    offset: Number(m.offset),
  })).sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** The final row per key, folding events in partition order. */
function fold(recs: JsonRecord[]): Map<number, any> {
  const rows = new Map<number, any>();
  for (const r of recs) {
    if (!r.value || r.key === null) continue;
    if (r.value.op === "d") rows.delete(r.key.id);
    else rows.set(r.key.id, r.value.after);
  }
  return rows;
}

async function pgRows(c: pg.Client, table: string): Promise<Map<number, any>> {
  const r = await c.query(`SELECT id, v, note FROM ${table} ORDER BY id`);
  return new Map(r.rows.map((x) => [x.id, { id: x.id, v: x.v, note: x.note }]));
}

/** Waits until Kafka's folded state of `table` equals PostgreSQL's. */
async function waitEqual(c: pg.Client, env: Env, table: string) {
  let last = "";
  await pollUntil(async () => {
    const want = await pgRows(c, `${env.schema}.${table}`);
    const have = fold(await records(env.topic(table)));
    const diff = [...new Set([...want.keys(), ...have.keys()])].filter((k) =>
      JSON.stringify(want.get(k)) !== JSON.stringify(have.get(k))
    );
    last = `${diff.length} keys differ, e.g. ${
      diff.slice(0, 3).map((k) =>
        `${k}: pg ${JSON.stringify(want.get(k))} kafka ${
          JSON.stringify(have.get(k))
        }`
      )
    }`;
    return diff.length === 0;
  }, { what: `Kafka = PostgreSQL for ${table}`, timeoutMs: 60_000 }).catch(
    (err) => {
      // The last difference seen, not the empty one of the first call.
      throw new Error(`${err.message}: ${last}`);
    },
  );
}

/**
 * Changes rows of the given tables until stopped: updates of random keys,
 * a few deletes and inserts of new keys; records every key it touched.
 */
function writer(c: pg.Client, schema: string, tables: () => string[]) {
  const touched = new Map<string, Set<number>>();
  let stop = false;
  let n = 0;
  let failure: unknown;
  const done = (async () => {
    while (!stop && !failure) {
      for (const t of tables()) {
        const set = touched.get(t) ?? new Set<number>();
        touched.set(t, set);
        const id = 1 + Math.floor(Math.random() * 1000);
        n++;
        if (n % 23 === 0) {
          await c.query(`DELETE FROM ${schema}.${t} WHERE id = $1`, [id]);
        } else if (n % 17 === 0) {
          const fresh = 5000 + n;
          set.add(fresh);
          await c.query(
            `INSERT INTO ${schema}.${t} VALUES ($1, $2, 'new')`,
            [fresh, n],
          );
        } else {
          await c.query(
            `UPDATE ${schema}.${t} SET v = $2::int, note = 'u' || $2::text WHERE id = $1`,
            [id, n],
          );
        }
        set.add(id);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })().catch((err) => failure = err);
  return {
    touched,
    stop: async () => {
      stop = true;
      await done.finally(() => c.end());
      if (failure) throw failure;
    },
  };
}

async function topicExists(topic: string): Promise<boolean> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect();
  }
}

const rOf = (recs: JsonRecord[]) => recs.filter((r) => r.value?.op === "r");

/** Snapshot rows per key: each pre-existing key once, unless changed. */
function checkSnapshotRows(
  recs: JsonRecord[],
  preexisting: number,
  touched: Set<number>,
) {
  const perKey = new Map<number, number>();
  for (const r of rOf(recs)) {
    perKey.set(r.key.id, (perKey.get(r.key.id) ?? 0) + 1);
    assert.equal(r.value.source.snapshot, "incremental");
    assert.equal(r.value.before, null);
  }
  for (const [id, n] of perKey) {
    assert.equal(n, 1, `key ${id} snapshotted ${n} times`);
    // Rows the writer inserted before the snapshot began are read too.
    assert.ok(
      (id >= 1 && id <= preexisting) || touched.has(id),
      `key ${id} never existed`,
    );
  }
  let untouched = 0;
  for (let id = 1; id <= preexisting; id++) {
    if (touched.has(id)) continue;
    untouched++;
    assert.equal(perKey.get(id), 1, `untouched key ${id} not snapshotted`);
  }
  assert.ok(untouched > preexisting / 2, `only ${untouched} keys untouched`);
}

async function teardown(env: Env, tables: string[], relays: TaskProcess[]) {
  await dropCdcTest({
    slot: env.slot,
    publication: env.publication,
    schema: env.schema,
    topics: tables.map(env.topic),
    relays,
  });
  const c = await testPg();
  await c.query(
    "DELETE FROM public.deno_cdc_snapshots_tables WHERE slot = $1",
    [env.slot],
  ).catch(() => {}).finally(() => c.end());
}

Deno.test({
  name:
    "cdc incremental: a table added to the publication later is snapshotted alone while changes go on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = newEnv("add");
    const s = env.schema;
    const relays: TaskProcess[] = [];
    const c = await testPg();
    try {
      await c.query(`CREATE SCHEMA ${s};
        ${tableDdl(s, "a", 300)} ${tableDdl(s, "b", 300)}
        CREATE TABLE ${s}.dbz_signal (id text PRIMARY KEY, type text NOT NULL, data text);
        CREATE PUBLICATION ${env.publication} FOR TABLE ${s}.a, ${s}.b, ${s}.dbz_signal;`);
      const relay = startRelay(env, []);
      relays.push(relay);
      await waitForLog(relay, '"msg":"streaming"');
      await pollUntil(
        async () =>
          rOf(await records(env.topic("a"))).length === 300 &&
          rOf(await records(env.topic("b"))).length === 300,
        {
          what: "initial snapshot of a and b",
        },
      );

      // c exists with rows before the publication covers it: those rows
      // reach Kafka only through the incremental snapshot.
      await c.query(tableDdl(s, "c", 1000));
      let live = ["a", "b"];
      const w = writer(await testPg(), s, () => live);
      await new Promise((r) => setTimeout(r, 300));
      await c.query(`ALTER PUBLICATION ${env.publication} ADD TABLE ${s}.c`);
      live = ["a", "b", "c"];
      await waitForLog(relay, `"table":"${s}.c","rows":`, {
        timeoutMs: 90_000,
      }).catch(async (err) => {
        await w.stop();
        throw err;
      });
      await new Promise((r) => setTimeout(r, 500));
      await w.stop();

      for (const t of ["a", "b", "c"]) await waitEqual(c, env, t);
      const cRecs = await records(env.topic("c"));
      checkSnapshotRows(cRecs, 1000, w.touched.get("c")!);
      // Changes of c went on during its snapshot and are all there.
      assert.ok(cRecs.some((r) => r.value?.op === "u"));
      // a and b were not read again: exactly their initial snapshot rows.
      for (const t of ["a", "b"]) {
        const r = rOf(await records(env.topic(t)));
        assert.equal(r.length, 300, `${t} re-read`);
        assert.ok(r.every((x) => x.value.source.snapshot !== "incremental"));
      }
      // The signal table's rows (watermarks) are not published.
      assert.equal(await topicExists(env.topic("dbz_signal")), false);
      const left = await c.query(
        `SELECT count(*)::int AS n FROM ${s}.dbz_signal`,
      );
      assert.equal(left.rows[0].n, 0, "watermark rows are removed");
    } finally {
      await c.end();
      await teardown(env, ["a", "b", "c"], relays);
    }
  },
});

Deno.test({
  name:
    "cdc incremental: an execute-snapshot signal snapshots the named table alone while changes go on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = newEnv("sig");
    const s = env.schema;
    const relays: TaskProcess[] = [];
    const c = await testPg();
    try {
      await c.query(`CREATE SCHEMA ${s};
        ${tableDdl(s, "a", 1000)} ${tableDdl(s, "b", 300)}`);
      // No publication yet: the relay creates it FOR TABLES IN SCHEMA and
      // the signal table inside it; --snapshot-mode never: no initial reads.
      const relay = startRelay(env, ["--snapshot-mode", "never"]);
      relays.push(relay);
      await waitForLog(relay, '"msg":"streaming"');
      const pub = await c.query(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1",
        [env.publication],
      );
      assert.deepEqual(pub.rows.map((r) => r.tablename), [
        "a",
        "b",
        "dbz_signal",
      ]);
      const w = writer(await testPg(), s, () => ["a", "b"]);
      await new Promise((r) => setTimeout(r, 300));
      await c.query(
        `INSERT INTO ${s}.dbz_signal VALUES ('ad-hoc-1', 'execute-snapshot',
          '{"data-collections": ["${s}.a"], "type": "incremental"}')`,
      );
      await waitForLog(relay, `"table":"${s}.a","rows":`, {
        timeoutMs: 90_000,
      }).catch(async (err) => {
        await w.stop();
        throw err;
      });
      await new Promise((r) => setTimeout(r, 500));
      await w.stop();
      await waitEqual(c, env, "a");
      checkSnapshotRows(
        await records(env.topic("a")),
        1000,
        w.touched.get("a")!,
      );
      assert.equal(rOf(await records(env.topic("b"))).length, 0, "b was read");
      assert.equal(await topicExists(env.topic("dbz_signal")), false);
    } finally {
      await c.end();
      await teardown(env, ["a", "b"], relays);
    }
  },
});

Deno.test({
  name:
    "cdc incremental: after kill -9 mid-snapshot the restart resumes after the last recorded chunk",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = newEnv("kill");
    const s = env.schema;
    const relays: TaskProcess[] = [];
    const c = await testPg();
    try {
      await c.query(`CREATE SCHEMA ${s}; ${tableDdl(s, "a", 10)}`);
      const args = ["--incremental-chunk-size", "20"];
      const first = startRelay(env, args);
      relays.push(first);
      await waitForLog(first, '"msg":"streaming"');
      await c.query(tableDdl(s, "c", 4000)); // FOR TABLES IN SCHEMA: covered
      // Kill once a chunk's last key is recorded (Kafka holds it).
      const progress = await pollUntil(async () => {
        const r = await c.query(
          `SELECT last_key FROM public.deno_cdc_snapshots_tables
            WHERE slot = $1 AND table_name = $2 AND status = 'running'`,
          [env.slot, `${s}.c`],
        );
        return r.rows[0]?.last_key as string | undefined;
      }, { what: "a recorded chunk of c", intervalMs: 20, timeoutMs: 60_000 });
      first.kill("SIGKILL");
      await first.wait();
      const killedAt = Number(JSON.parse(progress)[0]);
      assert.ok(killedAt < 4000, "killed before the end");
      const second = startRelay(env, args);
      relays.push(second);
      await waitForLog(second, `"table":"${s}.c","rows":`, {
        timeoutMs: 90_000,
      });
      await waitEqual(c, env, "c");
      const perKey = new Map<number, number>();
      for (const r of rOf(await records(env.topic("c")))) {
        perKey.set(r.key.id, (perKey.get(r.key.id) ?? 0) + 1);
      }
      for (let id = 1; id <= 4000; id++) {
        const n = perKey.get(id) ?? 0;
        // Recorded chunks are not read again; the one in flight may be.
        if (id <= killedAt) assert.equal(n, 1, `key ${id}: ${n} rows`);
        else assert.ok(n >= 1, `key ${id} missing`);
      }
    } finally {
      await c.end();
      await teardown(env, ["a", "c"], relays);
    }
  },
});
