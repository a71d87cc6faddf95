/**
 * Benchmark: ship the same pre-generated NDJSON file of security events to
 * the 3-broker cluster with the shipper (`deno task ship --once`, its own
 * permissions) and with `kcat -P` (librdkafka), each into a fresh topic.
 * Like with like: both use acks=all, an idempotent producer, gzip at zlib's
 * default level 6, the key `src_ip` with the Java-compatible murmur2
 * partitioner (same partition for every event), the same linger, and the
 * same batch size: the shipper's batch is one request over all partitions,
 * so kcat gets its per-partition share (`batch.size`, `batch.num.messages`).
 * Prints events/s of both, peak RSS, and the ratio ours/peer (with
 * `--runs N`, every run and then the median).
 *
 * Usage:
 *   deno run --allow-run=deno,kcat,ps --allow-read=deno.json,.data \
 *     --allow-write=.data \
 *     --allow-net=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094 \
 *     --allow-env=LOG_LEVEL,KAFKA_BROKERS,NODE_ENV,KAFKAJS_LOG_LEVEL,KAFKAJS_NO_PARTITIONER_WARNING,KAFKAJS_DEBUG_PROTOCOL_BUFFERS,KAFKAJS_DEBUG_EXTENDED_PROTOCOL_BUFFERS \
 *     tasks/bench/ship.ts [--count N] [--runs N] [--batch-events N]
 *       [--batch-bytes B] [--linger D] [--keep] [-- extra shipper flags]
 *
 * The file is written once by a seeded writer (same bytes every time) to
 * `.data/bench/ship/security-<N>.ndjson`, plus a `src_ip<TAB>line` copy for
 * kcat's `-K` key delimiter; both are reused by later runs.
 *
 * @module
 */
import {
  ACTIONS,
  PROTOCOLS,
  SECURITY_EVENT_TYPES,
  SEVERITIES,
} from "../../pipelines/runtime/contract.ts";
import { parseArgs } from "node:util";
import { taskArgv } from "../_launch.ts";
import { createKafka } from "../../pipelines/runtime/kafka.ts";
import { createLogger } from "../../pipelines/runtime/log.ts";
import { KAFKA_BOOTSTRAP } from "../../schemas/topology.ts";
import { parseBytes, parseDuration } from "../../pipelines/runtime/cli.ts";
import { Rng } from "../../pipelines/generator/prng.ts";

const USAGE =
  "usage: ship.ts [--count N] [--runs N] [--batch-events N] [--batch-bytes B] [--linger D] [--keep] [-- extra shipper flags]";
let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    options: {
      count: { type: "string", default: "1000000" },
      runs: { type: "string", default: "1" },
      // The shipper's defaults (gzip): one batch = one request.
      "batch-events": { type: "string", default: "20000" },
      "batch-bytes": { type: "string", default: "4MiB" },
      linger: { type: "string", default: "50ms" },
      keep: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  Deno.exit(2);
}
const { values, positionals } = parsed;
const N = Number(values.count);
const RUNS = Number(values.runs);
let batchEvents = 0, batchBytes = 0, lingerMs = 0;
try {
  batchEvents = Number(values["batch-events"]);
  batchBytes = parseBytes(values["batch-bytes"]);
  lingerMs = parseDuration(values.linger);
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  Deno.exit(2);
}
if (
  !Number.isInteger(N) || N < 1 || !Number.isInteger(RUNS) || RUNS < 1 ||
  !Number.isInteger(batchEvents) || batchEvents < 1
) {
  console.error(USAGE);
  Deno.exit(2);
}
const PARTITIONS = 3;
const brokers = [...KAFKA_BOOTSTRAP];
const dir = ".data/bench/ship";
const file = `${dir}/security-${N}.ndjson`;
const keyed = `${dir}/security-${N}.keyed.tsv`;

/** Seeded floats in [0, 1), from the generator's PRNG. */
function rng(seed: number): () => number {
  const r = new Rng(`bench-ship/${seed}`);
  return () => r.float();
}

const TYPES = SECURITY_EVENT_TYPES;
const SEV = SEVERITIES;
const PROTO = PROTOCOLS;
const ACTION = ACTIONS;

/** Writes the data file (and kcat's keyed copy) with a seeded writer. */
async function prepare(): Promise<void> {
  try {
    if ((await Deno.stat(file)).size > 0 && (await Deno.stat(keyed)).size > 0) {
      return;
    }
  } catch { /* not there yet */ }
  await Deno.mkdir(dir, { recursive: true });
  const r = rng(1);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
  const hex = (n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += Math.floor(r() * 16).toString(16);
    return s;
  };
  const ip = () =>
    `${10 + Math.floor(r() * 200)}.${Math.floor(r() * 256)}.${
      Math.floor(r() * 256)
    }.${1 + Math.floor(r() * 254)}`;
  const out = await Deno.open(file, {
    write: true,
    create: true,
    truncate: true,
  });
  const outK = await Deno.open(keyed, {
    write: true,
    create: true,
    truncate: true,
  });
  const enc = new TextEncoder();
  let t = Date.UTC(2026, 0, 1);
  let a = "";
  let b = "";
  const flush = async () => {
    await out.write(enc.encode(a));
    await outK.write(enc.encode(b));
    a = b = "";
  };
  for (let i = 0; i < N; i++) {
    t += Math.floor(r() * 50);
    const src = ip();
    const line = JSON.stringify({
      event_id: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
      timestamp: new Date(t).toISOString(),
      event_type: pick(TYPES),
      severity: pick(SEV),
      src_ip: src,
      src_port: Math.floor(r() * 65536),
      dst_ip: ip(),
      dst_port: pick([22, 53, 80, 443, 445, 3389, 8080]),
      protocol: pick(PROTO),
      user: r() < 0.3 ? "" : `user${Math.floor(r() * 500)}`,
      host: `srv-${Math.floor(r() * 40)}`,
      action: pick(ACTION),
      message: `event ${i} observed from ${src} on sensor ${
        Math.floor(r() * 16)
      }`,
      scenario_id: r() < 0.8 ? "" : `sc-${hex(8)}`,
    });
    a += line + "\n";
    b += `${src}\t${line}\n`;
    if (a.length > 1 << 20) await flush();
  }
  await flush();
  out.close();
  outK.close();
}

const kafka = createKafka({
  brokers,
  clientId: "bench-ship",
  log: createLogger("bench", "error", () => {}),
});
const admin = kafka.admin();

async function freshTopic(name: string): Promise<string> {
  const topic = `bench.${name}.${crypto.randomUUID().slice(0, 8)}`;
  await admin.createTopics({
    waitForLeaders: false,
    topics: [{
      topic,
      numPartitions: PARTITIONS,
      replicationFactor: 3,
      configEntries: [{ name: "min.insync.replicas", value: "2" }],
    }],
  });
  for (let i = 0; i < 100; i++) {
    try {
      await count(topic);
      return topic;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`topic ${topic} not ready`);
}

async function count(topic: string): Promise<number> {
  const offs = await admin.fetchTopicOffsets(topic);
  return offs.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
}

/** Resident memory of `pid` now (kB), from `ps` (Deno guards /proc). */
async function rssKb(pid: number): Promise<number> {
  try {
    const out = await new Deno.Command("ps", {
      args: ["-o", "rss=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    return Number(new TextDecoder().decode(out.stdout).trim()) || 0;
  } catch {
    return 0;
  }
}

async function timed(
  cmd: string,
  args: string[],
): Promise<{ seconds: number; peakMb: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  const timer = setInterval(async () => {
    peak = Math.max(peak, await rssKb(child.pid));
  }, 200);
  const out = await child.output();
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  if (!out.success) {
    console.error(new TextDecoder().decode(out.stderr).slice(-3000));
    throw new Error(`${cmd} exited with ${out.code}`);
  }
  return { seconds, peakMb: peak / 1024 };
}

/** The ship task's argv from deno.json (its exact permissions, checked). */
function shipArgv(): string[] {
  return taskArgv("ship").slice(1);
}

await prepare();
const size = (await Deno.stat(file)).size;
// kcat's batches are per partition: give it the shipper's per-partition share.
const kcatBatchBytes = Math.ceil(batchBytes / PARTITIONS);
const kcatBatchMessages = Math.ceil(batchEvents / PARTITIONS);
console.log(
  `file: ${file}, ${N} events, ${(size / 1e6).toFixed(0)} MB (seeded writer)`,
);
console.log(
  `both: acks=all, idempotent, gzip level 6, key src_ip (murmur2), ${PARTITIONS} partitions, linger ${lingerMs} ms; ` +
    `batch ${batchEvents} events / ${batchBytes} B per shipper request = ` +
    `${kcatBatchMessages} messages / ${kcatBatchBytes} B per kcat partition batch`,
);

interface Run {
  seconds: number;
  peakMb: number;
  count: number;
}

async function runShipper(): Promise<Run> {
  const topic = await freshTopic("ship");
  topics.push(topic);
  const state = `.data/shipper/bench-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const r = await timed("deno", [
      ...shipArgv(),
      "--path",
      file,
      "--topic",
      topic,
      "--key-field",
      "src_ip",
      "--once",
      "--metrics-port",
      "0",
      "--state-dir",
      state,
      "--compression",
      "gzip",
      "--batch-events",
      String(batchEvents),
      "--batch-bytes",
      String(batchBytes),
      "--linger",
      `${lingerMs}ms`,
      ...positionals,
    ]);
    return { ...r, count: await count(topic) };
  } finally {
    await Deno.remove(state, { recursive: true }).catch(() => {});
  }
}

async function runKcat(): Promise<Run> {
  const topic = await freshTopic("kcat");
  topics.push(topic);
  const x = (kv: string) => ["-X", kv];
  const r = await timed("kcat", [
    "-P",
    "-b",
    brokers.join(","),
    "-t",
    topic,
    "-K",
    "\t",
    "-z",
    "gzip",
    ...x("compression.level=6"),
    ...x("acks=all"),
    ...x("enable.idempotence=true"),
    ...x("partitioner=murmur2_random"), // Java's (and KafkaJS's) partitioner
    ...x(`linger.ms=${lingerMs}`),
    ...x(`batch.num.messages=${kcatBatchMessages}`),
    ...x(`batch.size=${kcatBatchBytes}`),
    // batch.size is capped by message.max.bytes (1 MB by default).
    ...x(`message.max.bytes=${Math.max(1_000_000, 2 * kcatBatchBytes)}`),
    "-l",
    keyed,
  ]);
  return { ...r, count: await count(topic) };
}

function line(name: string, r: Run): string {
  return `${name} ${r.count} events in ${r.seconds.toFixed(2)} s = ${
    Math.round(N / r.seconds)
  } events/s (${(size / 1e6 / r.seconds).toFixed(1)} MB/s, peak RSS ${
    r.peakMb.toFixed(0)
  } MB)`;
}

await admin.connect();
const topics: string[] = [];
try {
  const ratios: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    // Alternate who goes first, so a load change on the shared machine does
    // not always favour the same side.
    let ours: Run, peer: Run;
    if (run % 2 === 1) {
      ours = await runShipper();
      peer = await runKcat();
    } else {
      peer = await runKcat();
      ours = await runShipper();
    }
    const ratio = peer.seconds / ours.seconds;
    ratios.push(ratio);
    if (RUNS > 1) console.log(`run ${run}/${RUNS}:`);
    console.log(line("shipper:", ours));
    console.log(line("kcat:   ", peer));
    if (RUNS > 1) console.log(`  run ratio ${ratio.toFixed(2)}`);
    if (ours.count < N || peer.count < N) {
      console.error(
        `incomplete: shipper ${ours.count}, kcat ${peer.count} of ${N}`,
      );
      Deno.exitCode = 1;
    }
    if (!values.keep) {
      await admin.deleteTopics({ topics: topics.splice(0) }).catch(() => {});
    }
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  console.log(
    RUNS > 1
      ? `ratio ours/peer: ${median.toFixed(2)} (median of ${RUNS} runs; min ${
        sorted[0].toFixed(2)
      }, max ${sorted[sorted.length - 1].toFixed(2)})`
      : `ratio ours/peer: ${median.toFixed(2)}`,
  );
} finally {
  if (!values.keep && topics.length) {
    await admin.deleteTopics({ topics }).catch(() => {});
  }
  await admin.disconnect();
}
