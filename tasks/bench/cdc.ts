/**
 * Benchmark of the CDC relay against Debezium's PostgreSQL connector on Kafka
 * Connect standalone (`_debezium.ts`: jars from Maven Central, fetched once
 * into `.cache/debezium/<version>/lib`), in one run,
 * same PostgreSQL, same Kafka, one system at a time (2 cores), each with its
 * own schema, publication, slot and topic:
 *
 * 1. snapshot: N rows (default 100k) exist before the start → rows/s from the
 *    first to the last snapshot record readable in Kafka;
 * 2. streaming: M row changes (default 200k: inserts and updates in
 *    transactions of 1000, 100, 10 and 1 rows) committed as fast as one
 *    client can → events/s from the first to the last change readable in Kafka;
 * 3. latency: single-row transactions paced at a steady rate (default 2000 at
 *    200/s) → commit (`source.ts_ms`) to record readable by a consumer, p50/p99.
 *
 * Both run with their defaults (Debezium: JsonConverter without schemas,
 * `decimal.handling.mode=string`, tombstones on; Connect's producer acks=all).
 *
 * Usage: deno run <perms> tasks/bench/cdc.ts [--snapshot-rows 100000]
 *        [--changes 200000] [--latency-txns 2000] [--latency-rate 200]
 *        [--only ours|debezium] [--v8-prof <log file>]
 *
 * `--v8-prof` runs our relay with V8's sampling profiler (`--prof`), written
 * to the given file (read it with `node --prof-process`). The latency phase
 * also prints where the time goes per stage, for both systems, from fields
 * both fill: commit (`source.ts_ms`) → envelope built (`ts_ms`) → producer
 * send (the Kafka record's CreateTime) → read by the consumer.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { taskArgv } from "../_launch.ts";
import { createKafka } from "../../pipelines/runtime/kafka.ts";
import { createLogger } from "../../pipelines/runtime/log.ts";
import { pg } from "../../pipelines/runtime/postgres.ts";
import { KAFKA_BOOTSTRAP, POSTGRES_URL } from "../../schemas/topology.ts";
import { debeziumJars, startDebezium } from "./_debezium.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "snapshot-rows": { type: "string", default: "100000" },
    changes: { type: "string", default: "200000" },
    "latency-txns": { type: "string", default: "2000" },
    "latency-rate": { type: "string", default: "200" },
    only: { type: "string" },
    "v8-prof": { type: "string" },
  },
});
const SNAPSHOT_ROWS = Number(values["snapshot-rows"]);
const CHANGES = Number(values.changes);
const LAT_TXNS = Number(values["latency-txns"]);
const LAT_RATE = Number(values["latency-rate"]);
for (
  const [k, v] of Object.entries({ SNAPSHOT_ROWS, CHANGES, LAT_TXNS, LAT_RATE })
) {
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`error: ${k} must be a positive integer`);
    Deno.exit(2);
  }
}
const BROKERS = [...KAFKA_BOOTSTRAP];
const PG_URL = POSTGRES_URL;
const CONNECT_REST_PORT = 18083;
const log = createLogger("bench-cdc", "error");
const kafka = createKafka({ brokers: BROKERS, clientId: "bench-cdc", log });

interface Result {
  snapshotRowsPerSec: number;
  streamEventsPerSec: number;
  /** The same events over their Kafka CreateTime span (the producer's pace). */
  streamSentPerSec: number;
  p50: number;
  p99: number;
  startupMs: number;
  /** Latency phase, per stage: [p50, p99] ms. */
  stages: Record<LatencyStage, [number, number]>;
}

/** The latency phase's stages (see the module docs). */
const LATENCY_STAGES = ["commit→built", "built→send", "send→read"] as const;
type LatencyStage = typeof LATENCY_STAGES[number];

/** A client with explicit settings (pg reads env fallbacks otherwise). */
function pgClient(): pg.Client {
  return new pg.Client({
    connectionString: PG_URL,
    application_name: "bench-cdc",
    connectionTimeoutMillis: 5_000,
  });
}

async function sql(text: string): Promise<void> {
  const c = pgClient();
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** Fresh schema with a users table (N rows), its publication and topic. */
async function prepare(tag: string): Promise<
  { schema: string; pub: string; slot: string; prefix: string; topic: string }
> {
  const schema = `bench_${tag}`;
  const env = {
    schema,
    pub: `pub_${schema}`,
    slot: `slot_${schema}`,
    prefix: `benchcdc_${tag}`,
    topic: `benchcdc_${tag}.${schema}.users`,
  };
  await cleanup(env);
  await sql(`
    CREATE SCHEMA ${schema};
    CREATE TABLE ${schema}.users (id SERIAL PRIMARY KEY, name VARCHAR(100),
      email VARCHAR(100), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
    INSERT INTO ${schema}.users (name, email)
      SELECT 'user' || g, 'user' || g || '@example.com' FROM generate_series(1, ${SNAPSHOT_ROWS}) g;
    CREATE PUBLICATION ${env.pub} FOR TABLE ${schema}.users;`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: false,
      topics: [{
        topic: env.topic,
        numPartitions: 3,
        replicationFactor: 3,
        configEntries: [{ name: "min.insync.replicas", value: "2" }],
      }],
    });
    // Leaders appear a moment after creation (waitForLeaders can fail early).
    for (let i = 0;; i++) {
      try {
        const md = await admin.fetchTopicMetadata({ topics: [env.topic] });
        if (md.topics[0].partitions.every((p) => p.leader >= 0)) break;
      } catch (err) {
        if (i > 60) throw err;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.disconnect();
  }
  return env;
}

async function cleanup(
  env: { schema: string; pub: string; slot: string; topic: string },
): Promise<void> {
  const c = pgClient();
  await c.connect();
  try {
    for (let i = 0; i < 40; i++) {
      const r = await c.query(
        "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
        [env.slot],
      );
      if (r.rows.length === 0) break;
      if (!r.rows[0].active) {
        await c.query("SELECT pg_drop_replication_slot($1)", [env.slot]);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await c.query(`DROP PUBLICATION IF EXISTS ${env.pub}`);
    await c.query(`DROP SCHEMA IF EXISTS ${env.schema} CASCADE`);
  } finally {
    await c.end();
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (topics.includes(env.topic)) {
      await admin.deleteTopics({ topics: [env.topic] });
    }
  } finally {
    await admin.disconnect();
  }
  await Deno.remove(`.data/cdc/${env.slot}.snapshot.json`).catch(() => {});
}

/** Records as they become readable: op, commit time, receive time. */
class Watcher {
  snapshot: number[] = [];
  stream: number[] = [];
  /** CreateTime of each streaming record (when the producer sent it). */
  streamSent: number[] = [];
  latency: number[] = [];
  /** Per latency record: the three stage durations, ms. */
  stages: number[][] = [];
  #consumer = kafka.consumer({
    groupId: `bench-cdc-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 100,
  });

  async start(topic: string): Promise<void> {
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic, fromBeginning: true });
    await this.#consumer.run({
      // Offsets are irrelevant here; committing them only adds round trips.
      autoCommit: false,
      partitionsConsumedConcurrently: 3,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        for (const m of batch.messages) {
          if (!m.value) continue;
          const v = JSON.parse(m.value.toString());
          if (v.op === "r") this.snapshot.push(now);
          else if (v.op === "c" || v.op === "u") {
            if (v.after?.name?.startsWith("lat")) {
              this.latency.push(now - v.source.ts_ms);
              const sent = Number(m.timestamp);
              this.stages.push([
                v.ts_ms - v.source.ts_ms,
                sent - v.ts_ms,
                now - sent,
              ]);
            } else {
              this.stream.push(now);
              this.streamSent.push(Number(m.timestamp));
            }
          }
        }
        await Promise.resolve();
      },
    });
  }

  async until(what: string, fn: () => boolean, timeoutMs = 600_000) {
    const deadline = Date.now() + timeoutMs;
    while (!fn()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await this.#consumer.disconnect();
  }
}

/** 200k row changes in transactions of 1000, 100, 10 and 1 rows. */
async function streamingWorkload(schema: string): Promise<void> {
  const c = pgClient();
  await c.connect();
  try {
    let done = 0;
    let nextId = SNAPSHOT_ROWS;
    const sizes = [1000, 100, 10, 1];
    for (let i = 0; done < CHANGES; i++) {
      const n = Math.min(sizes[i % sizes.length], CHANGES - done);
      if (i % 2 === 0) {
        await c.query(
          `INSERT INTO ${schema}.users (name, email) SELECT 'ins' || g, 'x@example.com' FROM generate_series(1, ${n}) g`,
        );
        nextId += n;
      } else {
        const lo = 1 + (i * 997) % Math.max(1, nextId - n);
        await c.query(
          `UPDATE ${schema}.users SET name = 'upd${i}' WHERE id BETWEEN ${lo} AND ${
            lo + n - 1
          }`,
        );
      }
      done += n;
    }
  } finally {
    await c.end();
  }
}

/** Single-row transactions at a steady rate. */
async function latencyWorkload(schema: string): Promise<void> {
  const c = pgClient();
  await c.connect();
  try {
    const start = performance.now();
    for (let i = 0; i < LAT_TXNS; i++) {
      const due = start + (i * 1000) / LAT_RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await c.query(
        `INSERT INTO ${schema}.users (name, email) VALUES ('lat${i}', 'l@example.com')`,
      );
    }
  } finally {
    await c.end();
  }
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function rate(times: number[], n: number): number {
  const span = (times[n - 1] - times[0]) / 1000;
  return span > 0 ? n / span : n;
}

/** Runs the three phases against a started system. */
async function measure(
  name: string,
  schema: string,
  topic: string,
  start: () => Promise<{ stop: () => Promise<void> }>,
): Promise<Result> {
  const w = new Watcher();
  await w.start(topic);
  const t0 = Date.now();
  const sys = await start();
  try {
    await w.until(`${name} snapshot`, () => w.snapshot.length >= SNAPSHOT_ROWS);
    const startupMs = w.snapshot[0] - t0;
    const snapshotRowsPerSec = rate(w.snapshot, SNAPSHOT_ROWS);
    console.error(`${name}: snapshot done`);
    await new Promise((r) => setTimeout(r, 2000));
    await streamingWorkload(schema);
    await w.until(`${name} streaming`, () => w.stream.length >= CHANGES);
    const streamEventsPerSec = rate(w.stream, CHANGES);
    // Partitions are read concurrently: send times arrive out of order.
    const sent = w.streamSent.slice(0, CHANGES).sort((a, b) => a - b);
    const streamSentPerSec = rate(sent, CHANGES);
    console.error(`${name}: streaming done`);
    await latencyWorkload(schema);
    await w.until(`${name} latency`, () => w.latency.length >= LAT_TXNS);
    return {
      snapshotRowsPerSec,
      streamEventsPerSec,
      streamSentPerSec,
      p50: percentile(w.latency, 50),
      p99: percentile(w.latency, 99),
      startupMs,
      stages: Object.fromEntries(LATENCY_STAGES.map((st, i) => {
        const xs = w.stages.map((d) => d[i]);
        return [st, [percentile(xs, 50), percentile(xs, 99)]];
      })) as Result["stages"],
    };
  } finally {
    await sys.stop();
    await w.stop();
  }
}

async function runOurs(): Promise<Result> {
  const env = await prepare("ours");
  try {
    return await measure("ours", env.schema, env.topic, () => {
      const [cmd, run, ...args] = taskArgv("cdc");
      const prof = values["v8-prof"];
      const child = new Deno.Command(cmd, {
        args: [
          run,
          // V8 writes the log itself (outside Deno's permission checks).
          ...(prof
            ? [`--v8-flags=--prof,--logfile=${prof},--no-logfile-per-isolate`]
            : []),
          ...args,
          "--slot",
          env.slot,
          "--publication",
          env.pub,
          "--tables",
          `${env.schema}.users`,
          "--topic-prefix",
          env.prefix,
          "--metrics-port",
          "0",
          "--create-topics",
          "false",
        ],
        env: { PGPASSWORD: "postgres", LOG_LEVEL: "warn" },
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      return Promise.resolve({
        stop: async () => {
          child.kill("SIGTERM");
          await child.status;
        },
      });
    });
  } finally {
    await cleanup(env);
  }
}

async function runDebezium(): Promise<Result> {
  await debeziumJars();
  const env = await prepare("dbz");
  try {
    return await measure(
      "debezium",
      env.schema,
      env.topic,
      () =>
        startDebezium({
          name: "bench-postgres",
          brokers: BROKERS,
          restPort: CONNECT_REST_PORT,
          connector: {
            "topic.prefix": env.prefix,
            "slot.name": env.slot,
            "publication.name": env.pub,
            "table.include.list": `${env.schema}.users`,
          },
        }),
    );
  } finally {
    await cleanup(env);
  }
}

function report(name: string, r: Result): void {
  console.log(
    `${name.padEnd(9)} snapshot ${r.snapshotRowsPerSec.toFixed(0)} rows/s | ` +
      `streaming ${r.streamEventsPerSec.toFixed(0)} events/s ` +
      `(${r.streamSentPerSec.toFixed(0)}/s by send time) | ` +
      `latency p50 ${r.p50} ms p99 ${r.p99} ms | first snapshot record after ${r.startupMs} ms`,
  );
  console.log(
    `${name.padEnd(9)} latency stages p50/p99 ms: ` +
      LATENCY_STAGES.map((st) => `${st} ${r.stages[st].join("/")}`).join(
        ", ",
      ),
  );
}

console.log(
  `workload: ${SNAPSHOT_ROWS} rows snapshot, ${CHANGES} changes (txns of 1000/100/10/1 rows), ` +
    `${LAT_TXNS} single-row txns at ${LAT_RATE}/s for latency`,
);
const ours = values.only === "debezium" ? undefined : await runOurs();
if (ours) report("ours", ours);
const dbz = values.only === "ours" ? undefined : await runDebezium();
if (dbz) report("debezium", dbz);
if (ours && dbz) {
  console.log(
    `ratio snapshot rows/s ours/debezium ${
      (ours.snapshotRowsPerSec / dbz.snapshotRowsPerSec).toFixed(2)
    }`,
  );
  console.log(
    `ratio latency p50 ours/debezium ${(ours.p50 / dbz.p50).toFixed(2)}, p99 ${
      (ours.p99 / dbz.p99).toFixed(2)
    } (lower is better)`,
  );
  console.log(
    `ratio streaming events/s ours/debezium ${
      (ours.streamEventsPerSec / dbz.streamEventsPerSec).toFixed(2)
    }`,
  );
}
Deno.exit(0);
