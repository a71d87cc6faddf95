// Debezium envelopes are parsed JSON checked field by field; `any` keeps
// those assertions readable.
// deno-lint-ignore-file no-explicit-any
/**
 * Acceptance tests of the CDC relay (`deno task cdc`) against the real
 * PostgreSQL and Kafka of the cluster. Each test works in its own schema,
 * publication, slot and topic prefix, and drops them at the end, so parallel
 * users of the same PostgreSQL are not disturbed (and no slot retains WAL).
 *
 * @module
 */
import assert from "node:assert/strict";
import { checkServer, serverInfo } from "../pipelines/cdc/catalog.ts";
import { createPgClient } from "../pipelines/runtime/postgres.ts";
import {
  CLUSTER_READY,
  dropCdcTest,
  ensureTopics,
  type JsonRecord,
  jsonRecords,
  pollUntil,
  readTopic,
  ROOT,
  startTask,
  taskArgv,
  type TaskProcess,
  testPg,
  topicMessageCount,
  waitForLog,
} from "./_helpers.ts";

const PG_ENV = { PGPASSWORD: "postgres" };

/** One isolated CDC environment: schema, publication, slot, topics. */
interface Env {
  tag: string;
  schema: string;
  publication: string;
  slot: string;
  prefix: string;
  tables: string[];
  topic: (table: string) => string;
  args: (extra?: string[]) => string[];
}

async function setup(
  name: string,
  ddl: (schema: string) => string,
  tables: string[],
): Promise<Env> {
  const tag = `${name}_${crypto.randomUUID().slice(0, 6)}`;
  const schema = `t_${tag}`;
  const env: Env = {
    tag,
    schema,
    publication: `pub_${tag}`,
    slot: `slot_${tag}`,
    prefix: `cdct_${tag}`,
    tables: tables.map((t) => `${schema}.${t}`),
    topic: (t) => `cdct_${tag}.${schema}.${t}`,
    args: (extra = []) => [
      "--slot",
      `slot_${tag}`,
      "--publication",
      `pub_${tag}`,
      "--tables",
      tables.map((t) => `${schema}.${t}`).join(","),
      "--topic-prefix",
      `cdct_${tag}`,
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
    await pg.query(ddl(schema));
    await pg.query(
      `CREATE PUBLICATION ${env.publication} FOR TABLE ${
        env.tables.join(", ")
      }`,
    );
  } finally {
    await pg.end();
  }
  // Auto-creation is off: the topics must exist before the relay produces.
  try {
    await ensureTopics(tables.map(env.topic));
  } catch (err) {
    await teardown(env, []); // leave nothing behind
    throw err;
  }
  return env;
}

async function teardown(env: Env, relays: TaskProcess[]): Promise<void> {
  await dropCdcTest({
    ...env,
    topics: env.tables.map((t) => env.topic(t.split(".")[1])),
    relays,
  });
}

function startRelay(env: Env, extra: string[] = []): TaskProcess {
  return startTask("cdc", env.args(extra), { env: PG_ENV });
}

async function waitStreaming(relay: TaskProcess, times = 1): Promise<void> {
  await waitForLog(relay, '"msg":"streaming"', {
    times,
    what: "relay streaming",
  });
}

type Rec = JsonRecord;

/** Every record of a topic in (partition, offset) order, parsed. */
async function records(topic: string, expected: number): Promise<Rec[]> {
  return await jsonRecords(topic, expected, { timeoutMs: 120_000 });
}

/** Folds change events into the final row per key (per-key order = partition order). */
function finalState(recs: Rec[]): Map<string, Record<string, unknown>> {
  const rows = new Map<string, Record<string, unknown>>();
  for (const r of recs) {
    if (!r.value || r.key === null) continue; // tombstone / truncate
    const k = JSON.stringify(r.key);
    const v = r.value as { op: string; after: Record<string, unknown> };
    if (v.op === "d") rows.delete(k);
    else rows.set(k, v.after);
  }
  return rows;
}

const USERS_ORDERS = (s: string) => `
  CREATE TABLE ${s}.users (id SERIAL PRIMARY KEY, name VARCHAR(100), email VARCHAR(100),
                           created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
  CREATE TABLE ${s}.orders (id SERIAL PRIMARY KEY, user_id INT REFERENCES ${s}.users(id),
                            product_name VARCHAR(100), quantity INT,
                            order_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP);`;

/** PostgreSQL users as the relay should render them. */
async function pgUsers(
  schema: string,
): Promise<Map<string, Record<string, unknown>>> {
  const pg = await testPg();
  try {
    const r = await pg.query(
      `SELECT id, name, email,
              (extract(epoch from created_at) * 1000000)::bigint::text AS created_at
         FROM ${schema}.users`,
    );
    return new Map(r.rows.map((x) => [
      JSON.stringify({ id: x.id }),
      {
        id: x.id,
        name: x.name,
        email: x.email,
        created_at: Number(x.created_at),
      },
    ]));
  } finally {
    await pg.end();
  }
}

Deno.test({
  name:
    "cdc: scripted inserts/updates/deletes/truncate → Debezium envelopes, keys, tombstones, types",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = await setup("script", (s) =>
      USERS_ORDERS(s) + `
      CREATE TABLE ${s}.kinds (id BIGINT PRIMARY KEY, n NUMERIC(10,2), f FLOAT8, b BOOL,
        ts TIMESTAMP, tstz TIMESTAMPTZ, d DATE, t TIME, j JSON, jb JSONB, arr INT[],
        tarr TEXT[], by BYTEA, iv INTERVAL, u UUID, nul TEXT);
      ALTER TABLE ${s}.kinds REPLICA IDENTITY FULL;
      CREATE TABLE ${s}.docs (id INT PRIMARY KEY, body TEXT, v INT);
      INSERT INTO ${s}.users (id, name, email, created_at)
        VALUES (1, 'Zed', 'z@x', '2026-01-02 03:04:05.123456');`, [
      "users",
      "orders",
      "kinds",
      "docs",
    ]);
    const relays: TaskProcess[] = [];
    const pg = await testPg();
    try {
      const relay = startRelay(env);
      relays.push(relay);
      await waitStreaming(relay);
      const s = env.schema;
      // tx1: two users and an order in one transaction
      await pg.query("BEGIN");
      const xid1 = Number(
        (await pg.query("SELECT txid_current()::text AS x")).rows[0].x,
      );
      await pg.query(
        `INSERT INTO ${s}.users (id, name, email, created_at) VALUES
           (2, 'Alice', 'a@x', '2026-11-21 23:27:54.5'),
           (3, 'Bob', 'b@x', '1969-12-31 23:59:59')`,
      );
      await pg.query(
        `INSERT INTO ${s}.orders (id, user_id, product_name, quantity, order_date)
           VALUES (1, 2, 'Laptop', 2, '2026-11-22 00:00:00')`,
      );
      await pg.query("COMMIT");
      await pg.query(`UPDATE ${s}.users SET email = 'alice@new' WHERE id = 2`);
      await pg.query(`DELETE FROM ${s}.orders WHERE id = 1`);
      await pg.query(`UPDATE ${s}.users SET id = 30 WHERE id = 3`); // key change
      await pg.query(
        `INSERT INTO ${s}.orders (id, user_id, product_name, quantity) VALUES (2, 2, 'Mouse', 1)`,
      );
      await pg.query(`TRUNCATE ${s}.orders`);
      // types, REPLICA IDENTITY FULL before-images
      await pg.query(
        `INSERT INTO ${s}.kinds VALUES (9007199254740993, 12.50, 1.5, true,
           '2026-11-21 23:27:54.123456', '2026-11-22 01:27:54.5+02', '2024-02-29',
           '13:45:30.25', '{"a": 1}', '{"b": [1, 2]}', '{1,NULL,3}', '{"x y",z}',
           '\\x00ff10', '1 day 2 hours', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL)`,
      );
      await pg.query(`UPDATE ${s}.kinds SET n = 13.75, b = false`);
      await pg.query(`DELETE FROM ${s}.kinds`);
      // TOAST: a large value that does not change in an update
      await pg.query(
        `INSERT INTO ${s}.docs VALUES (1, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i), 1)`,
      );
      await pg.query(`UPDATE ${s}.docs SET v = 2 WHERE id = 1`);

      // users: r(1), c(2), c(3), u(2), d(3)+tombstone, c(30) = 7
      const users = await records(env.topic("users"), 7);
      const orders = await records(env.topic("orders"), 5);
      const kinds = await records(env.topic("kinds"), 4);
      const docs = await records(env.topic("docs"), 2);
      assert.equal(users.length, 7, JSON.stringify(users.map((r) => r.key)));
      assert.equal(orders.length, 5);
      assert.equal(kinds.length, 4);
      assert.equal(docs.length, 2);

      const byKey = (recs: Rec[], id: number) =>
        recs.filter((r) => JSON.stringify(r.key) === JSON.stringify({ id }));
      // snapshot row
      const snap = byKey(users, 1)[0].value as Record<string, any>;
      assert.equal(snap.op, "r");
      assert.equal(snap.before, null);
      assert.deepEqual(snap.after, {
        id: 1,
        name: "Zed",
        email: "z@x",
        created_at: Date.UTC(2026, 0, 2, 3, 4, 5, 123) * 1000 + 456,
      });
      assert.equal(snap.source.snapshot, "last");
      assert.equal(snap.transaction, null);

      // tx1 inserts, with source and transaction metadata
      const alice = byKey(users, 2);
      assert.equal(alice.length, 2);
      assert.equal(
        new Set(alice.map((r) => r.partition)).size,
        1,
        "one partition per key",
      );
      const c2 = alice[0].value as Record<string, any>;
      assert.equal(c2.op, "c");
      assert.equal(c2.before, null);
      assert.deepEqual(c2.after, {
        id: 2,
        name: "Alice",
        email: "a@x",
        created_at: Date.UTC(2026, 10, 21, 23, 27, 54, 500) * 1000,
      });
      const src = c2.source;
      assert.equal(src.connector, "postgresql");
      assert.equal(src.name, env.prefix);
      assert.equal(src.db, "shop");
      assert.equal(src.schema, s);
      assert.equal(src.table, "users");
      assert.equal(src.snapshot, "false");
      assert.equal(src.txId, xid1);
      assert.equal(typeof src.lsn, "number");
      assert.equal(src.xmin, null);
      assert.ok(typeof src.version === "string" && src.version.length > 0);
      const seq = JSON.parse(src.sequence);
      assert.equal(seq.length, 2);
      assert.equal(seq[1], String(src.lsn));
      assert.ok(Math.abs(src.ts_ms - Date.now()) < 120_000, "commit time");
      assert.ok(typeof c2.ts_ms === "number" && c2.ts_ms >= src.ts_ms);
      assert.match(c2.transaction.id, new RegExp(`^${xid1}:\\d+$`));
      assert.equal(c2.transaction.total_order, 1);
      assert.equal(c2.transaction.data_collection_order, 1);
      const bob = byKey(users, 3);
      const c3 = bob[0].value as Record<string, any>;
      assert.equal(c3.after.created_at, -1_000_000);
      assert.equal(c3.transaction.total_order, 2);
      assert.equal(c3.transaction.data_collection_order, 2);
      const o1 = byKey(orders, 1);
      const oc = o1[0].value as Record<string, any>;
      assert.equal(oc.op, "c");
      assert.equal(oc.transaction.id, c2.transaction.id);
      assert.equal(oc.transaction.total_order, 3);
      assert.equal(oc.transaction.data_collection_order, 1);
      assert.deepEqual(oc.after, {
        id: 1,
        user_id: 2,
        product_name: "Laptop",
        quantity: 2,
        order_date: Date.UTC(2026, 10, 22) * 1000,
      });

      // update (default replica identity: no before image)
      const u2 = alice[1].value as Record<string, any>;
      assert.equal(u2.op, "u");
      assert.equal(u2.before, null);
      assert.equal(u2.after.email, "alice@new");
      assert.ok(u2.source.lsn > src.lsn, "LSN grows per row");

      // delete + tombstone right after it, same partition
      assert.equal(o1.length, 3);
      const od = o1[1].value as Record<string, any>;
      assert.equal(od.op, "d");
      assert.equal(od.after, null);
      assert.deepEqual(od.before, {
        id: 1,
        user_id: null,
        product_name: null,
        quantity: null,
        order_date: null,
      });
      assert.equal(o1[2].value, null, "tombstone");
      assert.equal(o1[2].partition, o1[1].partition);
      assert.equal(o1[2].offset, o1[1].offset + 1);

      // primary key change: delete(3) + tombstone, create(30)
      assert.equal(bob.length, 3);
      assert.equal((bob[1].value as any).op, "d");
      assert.equal(bob[2].value, null);
      const c30 = byKey(users, 30);
      assert.equal(c30.length, 1);
      assert.equal((c30[0].value as any).op, "c");
      assert.equal((c30[0].value as any).after.name, "Bob");

      // truncate: op t, no key, no images
      const t = orders.filter((r) => (r.value as any)?.op === "t");
      assert.equal(t.length, 1);
      assert.equal(t[0].key, null);
      assert.equal((t[0].value as any).before, null);
      assert.equal((t[0].value as any).after, null);
      assert.equal((t[0].value as any).source.table, "orders");

      // type mapping
      const kc = kinds[0].value as Record<string, any>;
      const expected = {
        n: "12.50",
        f: 1.5,
        b: true,
        ts: Date.UTC(2026, 10, 21, 23, 27, 54, 123) * 1000 + 456,
        tstz: "2026-11-21T23:27:54.500000Z", // Debezium 3.6: the column precision (6)
        d: 19782,
        t: 49530250000,
        j: '{"a": 1}',
        jb: '{"b": [1, 2]}',
        arr: [1, null, 3],
        tarr: ["x y", "z"],
        by: "AP8Q",
        iv: 93600000000,
        u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        nul: null,
      };
      const raw = await readTopic(env.topic("kinds"));
      assert.ok(
        raw.every((m) => m.key === '{"id":9007199254740993}'),
        "int8 beyond 2^53 is exact in the key's JSON text",
      );
      assert.ok(
        raw.filter((m) => m.value !== null).every((m) =>
          m.value!.includes('"id":9007199254740993')
        ),
        "... and in the value's",
      );
      const { id: _gotId, ...gotRest } = kc.after;
      assert.deepEqual(gotRest, expected);
      // FULL replica identity: full before-images on update and delete
      const ku = kinds[1].value as Record<string, any>;
      assert.equal(ku.op, "u");
      assert.deepEqual({ ...ku.before, id: 0 }, { ...kc.after, id: 0 });
      assert.equal(ku.after.n, "13.75");
      assert.equal(ku.after.b, false);
      const kd = kinds[2].value as Record<string, any>;
      assert.equal(kd.op, "d");
      assert.deepEqual({ ...kd.before, id: 0 }, { ...ku.after, id: 0 });
      assert.equal(kinds[3].value, null);

      // TOAST: unchanged large value → Debezium's placeholder
      const dc = docs[0].value as Record<string, any>;
      assert.equal(dc.after.body.length, 400 * 32);
      const du = docs[1].value as Record<string, any>;
      assert.equal(du.op, "u");
      assert.equal(du.after.v, 2);
      assert.equal(du.after.body, "__debezium_unavailable_value");
    } finally {
      await pg.end();
      await teardown(env, relays);
    }
  },
});

/** Runs a workload of SQL statements as individual transactions. */
async function runSql(statements: string[]): Promise<void> {
  const pg = await testPg();
  try {
    for (const s of statements) await pg.query(s);
  } finally {
    await pg.end();
  }
}

Deno.test({
  name:
    "cdc: snapshot of 50k rows + 50k changes during the snapshot → final state in Kafka equals PostgreSQL",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = await setup(
      "snap",
      (s) =>
        USERS_ORDERS(s) + `
      INSERT INTO ${s}.users (name, email)
        SELECT 'user' || i, 'user' || i || '@x' FROM generate_series(1, 50000) i;`,
      [
        "users",
        "orders",
      ],
    );
    const relays: TaskProcess[] = [];
    try {
      const s = env.schema;
      // Small pages slow the snapshot down so the changes overlap it.
      const relay = startRelay(env, ["--snapshot-fetch-size", "200"]);
      relays.push(relay);
      await pollUntil(() => relay.stderrText().includes('"slot created"'), {
        what: "slot created",
        timeoutMs: 30_000,
      });
      // 50k row changes: 100 transactions of 500 (updates, inserts, deletes)
      const work: string[] = [];
      for (let i = 0; i < 100; i++) {
        const lo = i * 400 + 1;
        if (i % 3 === 0) {
          work.push(
            `INSERT INTO ${s}.users (name, email) SELECT 'new' || g, 'n@x' FROM generate_series(1, 500) g`,
          );
        } else if (i % 3 === 1) {
          work.push(
            `UPDATE ${s}.users SET name = name || '+', email = 'u${i}@x' WHERE id BETWEEN ${lo} AND ${
              lo + 499
            }`,
          );
        } else {
          work.push(
            `DELETE FROM ${s}.users WHERE id BETWEEN ${lo} AND ${lo + 499}`,
          );
        }
      }
      await runSql(work);
      await pollUntil(
        () => relay.stderrText().includes('"snapshot completed"'),
        {
          what: "snapshot completed",
          timeoutMs: 120_000,
        },
      );
      const completedAt = Date.parse(
        JSON.parse(
          relay.stderrText().split("\n").find((l) =>
            l.includes('"snapshot completed"')
          )!,
        ).ts,
      );
      const want = await pgUsers(s);
      let got = new Map<string, Record<string, unknown>>();
      let recs: Rec[] = [];
      await pollUntil(async () => {
        recs = await records(env.topic("users"), 1);
        got = finalState(recs);
        return got.size === want.size &&
          [...want].every(([k, v]) =>
            JSON.stringify(got.get(k)) === JSON.stringify(v)
          );
      }, { what: "Kafka final state equal to PostgreSQL", timeoutMs: 120_000 })
        .catch((err) => {
          throw new Error(
            `${err.message}: kafka rows ${got.size}, pg rows ${want.size}`,
          );
        });
      const snapshotRows = recs.filter((r) => (r.value as any)?.op === "r");
      assert.equal(snapshotRows.length, 50000, "each pre-existing row once");
      const streamed = recs.filter((r) =>
        (r.value as any)?.source?.snapshot === "false"
      );
      assert.ok(
        streamed.some((r) => (r.value as any).source.ts_ms < completedAt),
        "some changes were committed while the snapshot ran",
      );
      assert.deepEqual(got, want);
    } finally {
      await teardown(env, relays);
    }
  },
});

Deno.test({
  name: "cdc: kill -9 three times during 100k changes → no change missing",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = await setup("kill", USERS_ORDERS, ["users", "orders"]);
    const relays: TaskProcess[] = [];
    try {
      const s = env.schema;
      let relay = startRelay(env);
      relays.push(relay);
      await waitStreaming(relay);
      // 10k inserts (version 0) + 9 rounds of updates of every row
      // (versions 1..9) = 100k changes, in transactions of 100 rows.
      const work: string[] = [];
      for (let i = 0; i < 100; i++) {
        work.push(
          `INSERT INTO ${s}.users (id, name, email) SELECT g, 'v0', 'e@x' FROM generate_series(${
            i * 100 + 1
          }, ${i * 100 + 100}) g`,
        );
      }
      for (let v = 1; v <= 9; v++) {
        for (let i = 0; i < 100; i++) {
          work.push(
            `UPDATE ${s}.users SET name = 'v${v}' WHERE id BETWEEN ${
              i * 100 + 1
            } AND ${i * 100 + 100}`,
          );
        }
      }
      const load = runSql(work);
      // Kill when the relay is a fifth, half and three quarters through the
      // changes (by records in Kafka), so each kill lands mid-stream.
      for (const threshold of [20_000, 45_000, 70_000]) {
        let seen = 0;
        await pollUntil(async () => {
          seen = await topicMessageCount(env.topic("users"));
          return seen >= threshold;
        }, {
          what: `${threshold} records`,
          timeoutMs: 120_000,
          intervalMs: 50,
        });
        relay.kill("SIGKILL");
        await relay.wait();
        assert.ok(seen < 100_000, `killed mid-stream (${seen} records so far)`);
        relay = startRelay(env);
        relays.push(relay);
        await waitStreaming(relay);
      }
      await load;
      // Duplicates (the unacknowledged window) can make the count reach 100k
      // before the last changes arrive, so poll until every version is there.
      let recs: Rec[] = [];
      let missing = -1;
      await pollUntil(async () => {
        recs = await records(env.topic("users"), 100_000);
        const versions = new Map<number, Set<string>>();
        for (const r of recs) {
          const v = r.value as any;
          if (!v?.after) continue;
          let set = versions.get(v.after.id);
          if (!set) versions.set(v.after.id, set = new Set());
          set.add(v.after.name);
        }
        missing = 0;
        for (let id = 1; id <= 10_000; id++) {
          const set = versions.get(id);
          for (let v = 0; v <= 9; v++) if (!set?.has(`v${v}`)) missing++;
        }
        return missing === 0;
      }, { what: "every version of every row in Kafka", timeoutMs: 90_000 })
        .catch((err) => {
          throw new Error(
            `${err.message}: ${missing} versions missing of 100000 (${recs.length} records)\n${
              relays.map((r) => r.stderrText()).join("\n---\n")
            }`,
          );
        });
      const want = await pgUsers(s);
      const got = finalState(recs);
      assert.deepEqual(got, want, "final state equals PostgreSQL");
      // The kills happened mid-stream: some duplicates are allowed, loss is not.
      assert.ok(recs.length >= 100_000);
    } finally {
      await teardown(env, relays);
    }
  },
});

Deno.test({
  name:
    "cdc: Debezium-named metrics with plugin/name/context labels on /metrics",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const env = await setup(
      "metrics",
      (s) =>
        USERS_ORDERS(s) +
        `INSERT INTO ${s}.users (name) SELECT 'u' || g FROM generate_series(1, 25) g;`,
      [
        "users",
        "orders",
      ],
    );
    const relays: TaskProcess[] = [];
    try {
      // The task may only listen on its own port (19467); another run of the
      // relay (e.g. a developer's) may hold it for a while: wait for it.
      await pollUntil(() => {
        try {
          Deno.listen({ hostname: "127.0.0.1", port: 19467 }).close();
          return true;
        } catch {
          return false;
        }
      }, { what: "metrics port 19467 free", timeoutMs: 120_000 });
      const relay = startRelay(env, ["--metrics-port", "19467"]);
      relays.push(relay);
      await waitStreaming(relay);
      await runSql([
        `INSERT INTO ${env.schema}.users (name) VALUES ('a'), ('b')`,
      ]);
      await records(env.topic("users"), 27);
      const base = { plugin: "postgres", name: env.prefix };
      let text = "";
      /** Value of the sample `name` whose labels include `want`. */
      const value = (name: string, want: Record<string, string> = {}) => {
        for (const line of text.split("\n")) {
          const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
          if (!m || m[1] !== name) continue;
          const labels = Object.fromEntries(
            [...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((
              x,
            ) => [x[1], x[2]]),
          );
          if (Object.entries(want).every(([k, v]) => labels[k] === v)) {
            return Number(m[3]);
          }
        }
        return undefined;
      };
      const dbz = (
        n: string,
        ctx: string,
        extra: Record<string, string> = {},
      ) => value(`debezium_metrics_${n}`, { ...base, context: ctx, ...extra });
      await pollUntil(async () => {
        text = await (await fetch("http://127.0.0.1:19467/metrics")).text();
        return dbz("TotalNumberOfEventsSeen", "streaming") === 2 &&
          value("cdc_end_to_end_lag_seconds_count") === 2 &&
          value("cdc_caught_up") === 1;
      }, { what: "streaming metrics", timeoutMs: 20_000 }).catch((err) => {
        throw new Error(`${err.message}\n${text}`);
      });
      const expectations: Array<[string, string, (v: number) => boolean]> = [
        [
          "MilliSecondsSinceLastEvent",
          "streaming",
          (v) => v >= 0 && v < 60_000,
        ],
        ["TotalNumberOfEventsSeen", "streaming", (v) => v === 2],
        ["NumberOfEventsSkipped", "streaming", (v) => v === 0],
        ["Connected", "streaming", (v) => v === 1],
        ["TotalTableCount", "snapshot", (v) => v === 2],
        ["RemainingTableCount", "snapshot", (v) => v === 0],
        ["SnapshotRunning", "snapshot", (v) => v === 0],
        ["SnapshotCompleted", "snapshot", (v) => v === 1],
        ["SnapshotAborted", "snapshot", (v) => v === 0],
        ["TotalNumberOfEventsSeen", "snapshot", (v) => v === 25],
      ];
      for (const [name, ctx, ok] of expectations) {
        const v = dbz(name, ctx);
        assert.ok(v !== undefined && ok(v), `${name}{context=${ctx}} = ${v}`);
      }
      assert.equal(
        dbz("RowsScanned", "snapshot", { table: `${env.schema}.users` }),
        25,
      );
      assert.ok((value("cdc_slot_lag_bytes") ?? -1) >= 0);
      assert.ok((value("cdc_slot_retained_wal_bytes") ?? -1) >= 0);
      assert.equal(value("cdc_slot_retained_wal_warning"), 0);
      assert.equal(
        value("cdc_end_to_end_lag_seconds_bucket", { le: "+Inf" }),
        2,
      );
      assert.equal(value("cdc_records_produced_total"), 27);
      // The session reached the server's WAL position of its start (the
      // slot was new: at most the WAL written since its creation).
      const catchUpS = value("cdc_catch_up_seconds") ?? -1;
      assert.ok(catchUpS >= 0 && catchUpS < 20, `catch-up ${catchUpS} s`);
      const catchUpB = value("cdc_catch_up_bytes") ?? -1;
      assert.ok(
        catchUpB >= 0 && catchUpB < 64 * 1024 * 1024,
        `catch-up ${catchUpB} B`,
      );
    } finally {
      await teardown(env, relays);
    }
  },
});

/** The single error line a failed run printed. */
function errorLine(stderr: string): Record<string, string> {
  const errors = stderr.split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l)).filter((l) => l.level === "error");
  assert.equal(errors.length, 1, `exactly one error line:\n${stderr}`);
  assert.ok(!("stack" in errors[0]), "no stack trace");
  return errors[0];
}

const CLUSTER_PG_URL = "postgres://postgres:postgres@127.0.0.1:15432/shop";
const LOCAL_PG_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * The wal_level of the machine's own PostgreSQL on 5432 (postgres/postgres),
 * or why the "not logical" case cannot run against it (shown in the step's
 * name, so a skipped case is visible and never passes unchecked).
 */
async function localPgWalLevel(): Promise<
  { level: string; reason?: undefined } | { level?: undefined; reason: string }
> {
  if (!CLUSTER_READY) return { reason: "needs the cluster" };
  const c = createPgClient({
    url: LOCAL_PG_URL,
    password: "postgres",
    applicationName: "tests",
  });
  try {
    await c.connect();
  } catch (err) {
    return {
      reason: `no PostgreSQL accepting postgres/postgres on 127.0.0.1:5432 (${
        err instanceof Error ? err.message : err
      })`,
    };
  }
  try {
    const { rows } = await c.query("SHOW wal_level");
    const level = String(rows[0].wal_level);
    return level === "logical"
      ? { reason: "127.0.0.1:5432 runs wal_level=logical" }
      : { level };
  } finally {
    await c.end().catch(() => {});
  }
}
const localPg = await localPgWalLevel();

Deno.test({
  name:
    "cdc: misconfigurations exit non-zero with one clear line naming the fix",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const env = await setup(
      "misconf",
      (s) => USERS_ORDERS(s) + `CREATE TABLE ${s}.nopk (a INT, b TEXT);`,
      [
        "users",
        "orders",
      ],
    );
    const relays: TaskProcess[] = [];
    try {
      await t.step("role without REPLICATION (app_ro)", async () => {
        const r = await startTask("cdc", env.args(), {
          env: {
            PGPASSWORD: "app_ro",
            POSTGRES_URL: "postgres://app_ro@127.0.0.1:15432/shop",
          },
        }).wait();
        assert.equal(r.code, 1);
        const e = errorLine(r.stderr);
        assert.match(e.msg, /role "app_ro" lacks the REPLICATION privilege/);
        assert.match(e.hint, /ALTER ROLE "app_ro" WITH REPLICATION/);
      });

      await t.step("table without primary key", async () => {
        const args = env.args();
        args[args.indexOf("--tables") + 1] = `${env.schema}.nopk`;
        const r = await startTask("cdc", args, { env: PG_ENV }).wait();
        assert.equal(r.code, 1);
        const e = errorLine(r.stderr);
        assert.match(
          e.msg,
          new RegExp(`table ${env.schema}.nopk has no primary key`),
        );
        assert.match(e.hint, /ADD PRIMARY KEY/);
      });

      await t.step("slot already in use by another relay", async () => {
        const first = startRelay(env);
        relays.push(first);
        await waitStreaming(first);
        const r = await startRelay(env).wait();
        assert.equal(r.code, 1);
        const e = errorLine(r.stderr);
        assert.match(e.msg, new RegExp(`slot "${env.slot}" is already in use`));
        assert.match(e.hint, /own --slot/);
      });

      await t.step(
        "wal_level check fed the cluster's real server settings",
        async () => {
          const pg = await testPg();
          try {
            const info = await serverInfo(pg);
            const { rows } = await pg.query("SHOW wal_level");
            assert.equal(info.walLevel, rows[0].wal_level);
            assert.equal(info.walLevel, "logical");
            checkServer(info, CLUSTER_PG_URL); // passes on the cluster's server
            assert.throws(
              () =>
                checkServer({ ...info, walLevel: "replica" }, CLUSTER_PG_URL),
              /wal_level is 'replica' on postgres:\/\/postgres:\*\*\*@/,
            );
          } finally {
            await pg.end();
          }
        },
      );

      await t.step({
        name: `wal_level not logical (the machine's own PostgreSQL on 5432)${
          localPg.level ? "" : `: ignored, ${localPg.reason}`
        }`,
        ignore: !localPg.level,
        fn: async () => {
          // The same program and flags as `deno task cdc`, with one more host
          // allowed: the local PostgreSQL on 5432.
          const [cmd, ...argv] = taskArgv("cdc");
          const args = argv.map((a) =>
            a.startsWith("--allow-net=") ? `${a},127.0.0.1:5432` : a
          );
          const out = await new Deno.Command(cmd, {
            args: [...args, ...env.args()],
            cwd: ROOT,
            env: { PGPASSWORD: "postgres", POSTGRES_URL: LOCAL_PG_URL },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const stderr = new TextDecoder().decode(out.stderr);
          assert.equal(out.code, 1, stderr);
          const e = errorLine(stderr);
          assert.match(e.msg, new RegExp(`wal_level is '${localPg.level}'`));
          assert.match(e.hint, /wal_level = logical/);
        },
      });
    } finally {
      await teardown(env, relays);
    }
  },
});
