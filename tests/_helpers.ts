/**
 * Shared helpers for integration tests against the real cluster started by
 * `deno task up`: spawn a task exactly as `deno.json` defines it (same
 * permissions), poll with a deadline, count Kafka messages, query ClickHouse
 * and PostgreSQL.
 *
 * @module
 */
import { ignoreAllTests, integrationBlocker } from "./_gate.ts";
import { DEFAULT_ENDPOINTS } from "../pipelines/runtime/endpoints.ts";
import {
  createKafka,
  ensureTopics as ensureTopicsAt,
  type Kafka,
} from "../pipelines/runtime/kafka.ts";
import { createLogger } from "../pipelines/runtime/log.ts";
import {
  clickhouseAuthHeaders,
  clickhouseCredentials,
  type ClickHouseRole,
} from "../pipelines/runtime/credentials.ts";
import { createPgClient, type pg } from "../pipelines/runtime/postgres.ts";
import { taskArgv as taskArgvAt } from "../tasks/flow/supervisor.ts";

/** Repository root (tests run from anywhere). */
export const ROOT = new URL("../", import.meta.url).pathname;

// Every file that imports these helpers talks to the cluster: without the
// cluster or the permissions of `deno task test`, its tests are ignored with
// one line saying why (a plain `deno test` still passes on a fresh clone).
const blocker = await integrationBlocker();
/** Whether this run may use the cluster (else every test here is ignored). */
export const CLUSTER_READY: boolean = blocker === undefined;
if (blocker) {
  ignoreAllTests(blocker, new URL(Deno.mainModule).pathname.replace(ROOT, ""));
}

/** `T` without its falsy members (what {@link pollUntil} can return). */
export type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function pollUntil<T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what: string },
): Promise<Truthy<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as Truthy<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
  throw new Error(
    `timed out after ${
      opts.timeoutMs ?? 30_000
    } ms waiting for ${opts.what}; last: ${
      last instanceof Error ? last.message : JSON.stringify(last)
    }`,
  );
}

/** The argv of a `deno.json` task (`deno run <flags> <script>`), split. */
export function taskArgv(name: string): string[] {
  return taskArgvAt(name, ROOT);
}

/** A pipeline process started from its task definition. */
export interface TaskProcess {
  child: Deno.ChildProcess;
  pid: number;
  /** Sends a signal (default SIGTERM). */
  kill(signal?: Deno.Signal): void;
  /** Waits for exit; returns code and all output captured so far. */
  wait(): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Output captured so far (stderr holds the JSON logs). */
  stderrText(): string;
  stdoutText(): string;
}

/**
 * Starts `deno task <name>` directly (no task runner in between, so the pid
 * is the pipeline's own and `kill -9` hits it), with the task's permissions.
 */
export function startTask(
  name: string,
  args: string[] = [],
  opts: { env?: Record<string, string>; stdin?: "piped" | "null" } = {},
): TaskProcess {
  const [cmd, ...rest] = taskArgv(name);
  const child = new Deno.Command(cmd, {
    args: [...rest, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  const pump = async (
    s: ReadableStream<Uint8Array>,
    into: (t: string) => void,
  ) => {
    for await (const chunk of s) into(dec.decode(chunk, { stream: true }));
  };
  const pumps = Promise.all([
    pump(child.stdout, (t) => out += t),
    pump(child.stderr, (t) => err += t),
  ]);
  return {
    child,
    pid: child.pid,
    kill: (signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
    wait: async () => {
      const status = await child.status;
      await pumps;
      return { code: status.code, stdout: out, stderr: err };
    },
    stderrText: () => err,
    stdoutText: () => out,
  };
}

/** Runs a task to completion and returns its exit code and output. */
export async function runTask(
  name: string,
  args: string[] = [],
  opts: { env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return await startTask(name, args, opts).wait();
}

/** A KafkaJS client for tests (quiet logs). */
export function testKafka(clientId = "tests"): Kafka {
  return createKafka({
    brokers: [...DEFAULT_ENDPOINTS.kafkaBrokers],
    clientId,
    log: createLogger("test", "error"),
  });
}

/**
 * Creates a fresh topic (3 partitions, RF 3) with a unique name and waits
 * until every partition has a leader and a full ISR. KafkaJS's own
 * `waitForLeaders` can fail while brokers catch up, so we poll metadata.
 */
export async function freshTopic(
  prefix: string,
  partitions = 3,
): Promise<string> {
  const topic = `test.${prefix}.${crypto.randomUUID().slice(0, 8)}`;
  await ensureTopics([topic], partitions);
  return topic;
}

/**
 * Creates the topics if missing and waits until they are fully usable: every
 * partition has a leader and an ISR of at least 2, and every broker knows
 * them (KRaft propagates metadata asynchronously, and a pipeline or kcat may
 * ask any broker).
 */
export async function ensureTopics(
  topics: string[],
  partitions = 3,
): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await ensureTopicsAt(admin, topics, {
      create: true,
      partitions,
      timeoutMs: 60_000,
      brokers: [...DEFAULT_ENDPOINTS.kafkaBrokers],
      log: createLogger("test", "error"),
    });
  } finally {
    await admin.disconnect();
  }
}

/** Number of messages in a topic (sum of high − low watermarks). */
export async function topicMessageCount(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce(
      (n, p) => n + Number(p.high) - Number(p.low),
      0,
    );
  } finally {
    await admin.disconnect();
  }
}

/** Reads every message currently in `topic` (values as text). */
export async function readTopic(
  topic: string,
  opts: { timeoutMs?: number } = {},
): Promise<
  Array<
    {
      key: string | null;
      value: string | null;
      partition: number;
      offset: string;
    }
  >
> {
  const expected = await topicMessageCount(topic);
  const out: Array<
    {
      key: string | null;
      value: string | null;
      partition: number;
      offset: string;
    }
  > = [];
  if (expected === 0) return out;
  const consumer = testKafka().consumer({
    groupId: `test-reader-${crypto.randomUUID()}`,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          out.push({
            key: m.key?.toString() ?? null,
            value: m.value?.toString() ?? null,
            partition: batch.partition,
            offset: m.offset,
          });
        }
        await Promise.resolve();
      },
    });
    await pollUntil(() => out.length >= expected, {
      timeoutMs: opts.timeoutMs ?? 60_000,
      what: `${expected} messages from ${topic} (have ${out.length})`,
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/**
 * Headers that log a test's ClickHouse request in: env CLICKHOUSE_PASSWORD,
 * else `.cluster/secrets.env`, else none (a cluster without passwords).
 */
export function chHeaders(role: ClickHouseRole = "admin"): HeadersInit {
  return clickhouseAuthHeaders(clickhouseCredentials(role));
}

/** Runs a query over ClickHouse HTTP and returns JSONEachRow rows. */
export async function chQuery<T = Record<string, unknown>>(
  sql: string,
  url: string = DEFAULT_ENDPOINTS.clickhouseUrl,
): Promise<T[]> {
  const res = await fetch(
    `${url}/?default_format=JSONEachRow`,
    { method: "POST", body: sql, headers: chHeaders() },
  );
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text.trim()}`);
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as T);
}

/** Connects a PostgreSQL client to the cluster's instance (as superuser). */
export async function testPg(): Promise<pg.Client> {
  const c = createPgClient({
    url: "postgres://postgres:postgres@127.0.0.1:15432/shop",
    applicationName: "tests",
  });
  await c.connect();
  return c;
}

/** A temporary directory under `.data/tests` (inside pipelines' scopes). */
export async function tempDataDir(prefix: string): Promise<string> {
  const dir = `${ROOT}.data/tests/${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/** Sum over partitions of (high watermark − committed offset) of `group`. */
export async function groupLag(group: string, topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const high = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({
      groupId: group,
      topics: [topic],
    });
    let lag = 0;
    for (const h of high) {
      const c = committed.partitions.find((p) => p.partition === h.partition);
      const off = c && Number(c.offset) >= 0 ? Number(c.offset) : 0;
      lag += Number(h.high) - off;
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Makes Prometheus re-read its config and rules. The cluster runs it
 * without --web.enable-lifecycle (a web page could POST /-/quit), so natively
 * this is SIGHUP to its pid; the HTTP reload is tried first for a cluster
 * started before that change.
 */
export async function reloadPrometheus(
  url = "http://127.0.0.1:19090",
): Promise<void> {
  const res = await fetch(`${url}/-/reload`, { method: "POST" });
  await res.body?.cancel();
  if (res.ok) return;
  const pid = (await Deno.readTextFile(`${ROOT}.cluster/prometheus/pid`))
    .trim();
  const out = await new Deno.Command("kill", { args: ["-HUP", pid] }).output();
  if (!out.success) throw new Error(`kill -HUP ${pid} (Prometheus) failed`);
}

/**
 * Produces `lines` to `topic` with kcat (fast; partitions by key hash, or at
 * random without keys), acks=all. With `keyDelimiter`, each line is
 * `key<delimiter>value`.
 */
export async function kcatProduce(
  topic: string,
  lines: string[],
  opts: { keyDelimiter?: string } = {},
): Promise<void> {
  const dir = await tempDataDir("kcat");
  const file = `${dir}/lines.ndjson`;
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  const key = opts.keyDelimiter === undefined ? [] : ["-K", opts.keyDelimiter];
  const out = await new Deno.Command("kcat", {
    args: [
      "-P",
      "-b",
      DEFAULT_ENDPOINTS.kafkaBrokers.join(","),
      "-t",
      topic,
      ...key,
      "-X",
      "acks=all",
      "-l",
      file,
    ],
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  if (out.code !== 0) {
    throw new Error(
      `kcat -P ${topic} exited ${out.code}: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
}

/**
 * Stops a task with SIGTERM and returns its exit code; on a non-zero code
 * prints the last lines of its log (info lines left out) to explain it.
 */
export async function stopTask(p: TaskProcess): Promise<number> {
  p.kill("SIGTERM");
  const r = await p.wait();
  if (r.code !== 0) {
    console.error(
      r.stderr.split("\n").filter((l) => !l.includes('"info"')).slice(-15)
        .join("\n"),
    );
  }
  return r.code;
}

/** Rows of `topic` in `analytics.<table>` (on `url`, default HAProxy). */
export async function countRows(
  table: string,
  topic: string,
  url?: string,
): Promise<number> {
  const [row] = await chQuery<{ c: string }>(
    `SELECT count() AS c FROM analytics.${table} WHERE _topic = '${topic}'`,
    url,
  );
  return Number(row.c);
}

/** Waits until `p` has logged `text` `times` times; fails with its log. */
export async function waitForLog(
  p: TaskProcess,
  text: string,
  opts: { times?: number; what?: string; timeoutMs?: number } = {},
): Promise<void> {
  const times = opts.times ?? 1;
  await pollUntil(
    () => p.stderrText().split(text).length - 1 >= times,
    { what: opts.what ?? `log ${text}`, timeoutMs: opts.timeoutMs ?? 60_000 },
  ).catch((err) => {
    throw new Error(`${err.message}\nstderr:\n${p.stderrText()}`);
  });
}

/** A Kafka record with key and value parsed as JSON. */
export interface JsonRecord {
  // Debezium envelopes are checked field by field by the tests.
  // deno-lint-ignore no-explicit-any
  key: any;
  // deno-lint-ignore no-explicit-any
  value: any;
  partition: number;
  offset: number;
}

/**
 * Every record of `topic` once it holds at least `n`, key and value parsed,
 * in (partition, offset) order.
 */
export async function jsonRecords(
  topic: string,
  n: number,
  opts: { what?: string; timeoutMs?: number } = {},
): Promise<JsonRecord[]> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  await pollUntil(async () => (await topicMessageCount(topic)) >= n, {
    what: opts.what ?? `${n} records in ${topic}`,
    timeoutMs,
  });
  const raw = await readTopic(topic, { timeoutMs });
  return raw.map((m) => ({
    key: m.key === null ? null : JSON.parse(m.key),
    value: m.value === null ? null : JSON.parse(m.value),
    partition: m.partition,
    offset: Number(m.offset),
  })).sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/**
 * Removes what a CDC test created: kills its relays, drops the slot (once
 * inactive), the publication and the schema, the snapshot state (file and
 * table row) and the topics (with `prefix`, also the heartbeat topic a relay
 * run with --create-topics true made), so no slot retains WAL.
 */
export async function dropCdcTest(env: {
  slot: string;
  publication: string;
  schema: string;
  topics: string[];
  relays: TaskProcess[];
  prefix?: string;
}): Promise<void> {
  for (const r of env.relays) {
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
    const topics = [...env.topics];
    // Only when it exists: deleting an unknown topic makes KafkaJS retry.
    const heartbeat = `__debezium-heartbeat.${env.prefix}`;
    if (env.prefix && (await admin.listTopics()).includes(heartbeat)) {
      topics.push(heartbeat);
    }
    await admin.deleteTopics({ topics, timeout: 30_000 });
  } catch (err) {
    console.warn(`could not delete topics ${env.topics}: ${err}`);
  } finally {
    await admin.disconnect();
  }
}

/** Deletes test topics, best effort (a topic may already be gone). */
export async function deleteTopics(names: string[]): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: names, timeout: 10_000 });
  } catch {
    /* best effort */
  } finally {
    await admin.disconnect();
  }
}
