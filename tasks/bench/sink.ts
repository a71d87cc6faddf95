/**
 * Benchmark of the sink against a peer, in one run:
 *
 * - pre-load a fresh topic with N security events (default 1M) via kcat;
 * - ours: `deno task sink` (default settings) into `sink_bench.security_events_local`
 *   on both shards (validation, enrichment, manifest, dedup-safe inserts);
 * - peer: `kcat -C … | clickhouse-client --query "INSERT … FORMAT JSONEachRow"`
 *   into an identical table on one node (no validation or enrichment; its
 *   `timestamp` column is String because ClickHouse 18.16 cannot parse ISO
 *   timestamps with milliseconds into DateTime).
 *
 * Prints rows/s for both and the ratio (ours / peer).
 *
 * Usage: deno run <perms> tasks/bench/sink.ts [--events 1000000] [--keep]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { taskArgv } from "../_launch.ts";
import { createKafka } from "../../pipelines/runtime/kafka.ts";
import { createLogger } from "../../pipelines/runtime/log.ts";
import {
  clickhouseAuthHeaders,
  clickhouseCredentials,
} from "../../pipelines/runtime/credentials.ts";
import {
  CLICKHOUSE_NODES,
  clickhouseUrl,
  KAFKA_BOOTSTRAP,
} from "../../schemas/topology.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "1000000" },
    keep: { type: "boolean", default: false },
  },
});
const N = Number(values.events);
if (!Number.isInteger(N) || N <= 0) {
  console.error("error: --events must be a positive integer");
  Deno.exit(2);
}
const BROKERS = [...KAFKA_BOOTSTRAP];
const NODES = CLICKHOUSE_NODES.map((n) => ({
  port: n.tcpPort,
  http: clickhouseUrl(n),
}));
const DB = "sink_bench";
const DATA = ".data/bench";

/** Env CLICKHOUSE_PASSWORD, else .cluster/secrets.env, else none. */
const CREDS = clickhouseCredentials("admin");

async function ch(sql: string, url = NODES[0].http): Promise<string> {
  const res = await fetch(url, {
    method: "POST",
    body: sql,
    headers: clickhouseAuthHeaders(CREDS),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text.trim()}`);
  return text.trim();
}

/** The sink tables' DDL re-targeted at the bench database (own ZK paths). */
async function benchDdl(): Promise<string[]> {
  const out: string[] = [];
  for (const f of ["010_security_events.sql", "030_dead_letter.sql"]) {
    const text = await Deno.readTextFile(`schemas/clickhouse/${f}`);
    const body = text.split("\n").filter((l) => !l.startsWith("--")).join(
      "\n",
    );
    for (const stmt of body.split(/;\s*$/m).map((s) => s.trim())) {
      if (!stmt || stmt.includes("Distributed")) continue;
      out.push(
        stmt.replaceAll("analytics.", `${DB}.`).replaceAll(
          "/analytics/",
          `/${DB}/`,
        ),
      );
    }
  }
  return out;
}

function events(n: number): string {
  const types = ["auth_failure", "port_scan", "brute_force", "firewall_block"];
  const lines: string[] = [];
  const t0 = Date.now() - n;
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({
      event_id: crypto.randomUUID(),
      timestamp: new Date(t0 + i).toISOString(),
      event_type: types[i % 4],
      severity: "high",
      src_ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
      src_port: i % 65536,
      dst_ip: "192.168.1.10",
      dst_port: 443,
      protocol: "https",
      user: i % 3 ? `user${i % 997}` : "",
      host: `web-${i % 7}`,
      action: "blocked",
      message: `blocked request ${i} from scanner`,
      scenario_id: i % 10 ? "" : `scn-${i % 101}`,
    }));
  }
  return lines.join("\n") + "\n";
}

async function run(cmd: string, args: string[]): Promise<void> {
  const o = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (o.code !== 0) {
    throw new Error(`${cmd} failed: ${new TextDecoder().decode(o.stderr)}`);
  }
}

// 1. Data and topic.
await Deno.mkdir(DATA, { recursive: true });
const file = `${DATA}/sink-${N}.ndjson`;
try {
  await Deno.stat(file);
} catch {
  console.error(`generating ${N} events → ${file}`);
  await Deno.writeTextFile(file, events(N));
}
const topic = `bench.sink.${crypto.randomUUID().slice(0, 8)}`;
const kafka = createKafka({
  brokers: BROKERS,
  clientId: "bench-sink",
  log: createLogger("bench", "error"),
});
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({
  waitForLeaders: false,
  topics: [{ topic, numPartitions: 3, replicationFactor: 3 }],
});
for (let i = 0; i < 100; i++) {
  const md = await admin.fetchTopicMetadata({ topics: [topic] }).catch(
    () => undefined,
  );
  const ps = md?.topics[0]?.partitions ?? [];
  if (ps.length === 3 && ps.every((p) => p.leader >= 0)) break;
  await new Promise((r) => setTimeout(r, 200));
}
console.error(`pre-loading ${topic}`);
await run("kcat", ["-P", "-b", BROKERS.join(","), "-t", topic, "-l", file]);

// 2. Tables: ours on every node, the peer's on one node.
await ch(`CREATE DATABASE IF NOT EXISTS ${DB}`);
for (const n of NODES) {
  await ch(`CREATE DATABASE IF NOT EXISTS ${DB}`, n.http);
  for (const stmt of await benchDdl()) await ch(stmt, n.http);
}
await ch(`DROP TABLE IF EXISTS ${DB}.peer_local`);
// Same DDL as ours (ReplicatedMergeTree, same keys), `timestamp` as String.
const peerDdl = (await benchDdl())[0]
  .replaceAll("security_events_local", "peer_local")
  .replace("timestamp DateTime('UTC')", "timestamp String");
await ch(peerDdl);

/** Rows of the run, counted on a reachable replica of each shard. */
async function oursCount(): Promise<number> {
  let total = 0;
  for (const replicas of [[NODES[0], NODES[1]], [NODES[2], NODES[3]]]) {
    let n: number | undefined;
    for (const r of replicas) {
      try {
        n = Number(
          await ch(
            `SELECT count() FROM ${DB}.security_events_local WHERE _topic = '${topic}'`,
            r.http,
          ),
        );
        break;
      } catch {
        // The other replica then (another engineer may be restarting nodes).
      }
    }
    total += n ?? 0;
  }
  return total;
}

/**
 * clickhouse-client 18.16 takes a password only from --password (visible in
 * ps) or its config file: a 0600 file under .data/bench, removed after.
 */
async function clientConfigArgs(): Promise<string[]> {
  if (CREDS.password === "" && CREDS.username === "default") return [];
  const esc = (s: string) =>
    s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  await Deno.mkdir(DATA, { recursive: true });
  await Deno.writeTextFile(
    CLIENT_CONFIG,
    `<config><user>${esc(CREDS.username)}</user><password>${
      esc(CREDS.password)
    }</password></config>\n`,
    { mode: 0o600 },
  );
  await Deno.chmod(CLIENT_CONFIG, 0o600);
  return ["--config-file", CLIENT_CONFIG];
}
const CLIENT_CONFIG = `${DATA}/clickhouse-client.xml`;

// 3. Peer: kcat | clickhouse-client.
let peerRate = 0;
let oursRate = 0;
let oursSteady = 0;
{
  const clientArgs = await clientConfigArgs();
  const t0 = performance.now();
  // No shell: kcat's stdout is piped into clickhouse-client's stdin here.
  const kcat = new Deno.Command("kcat", {
    args: [
      "-C",
      "-b",
      BROKERS.join(","),
      "-t",
      topic,
      "-e",
      "-q",
      "-o",
      "beginning",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const client = new Deno.Command("clickhouse-client", {
    args: [
      ...clientArgs,
      "--port",
      String(NODES[0].port),
      "--query",
      `INSERT INTO ${DB}.peer_local FORMAT JSONEachRow`,
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const text = (s: ReadableStream<Uint8Array>) => new Response(s).text();
  const [, kcatDone, clientDone, kcatErr, clientErr] = await Promise.all([
    kcat.stdout.pipeTo(client.stdin),
    kcat.status,
    client.status,
    text(kcat.stderr),
    text(client.stderr),
  ]);
  const secs = (performance.now() - t0) / 1000;
  if (!kcatDone.success || !clientDone.success) {
    throw new Error(`kcat | clickhouse-client failed: ${kcatErr}${clientErr}`);
  }
  const rows = Number(await ch(`SELECT count() FROM ${DB}.peer_local`));
  peerRate = rows / secs;
  console.log(
    `peer (kcat | clickhouse-client): ${rows} rows in ${secs.toFixed(2)} s = ${
      Math.round(peerRate)
    } rows/s`,
  );
}

// 4. Ours: the sink with default settings.
{
  // The sink task's exact flags from deno.json, checked by the launcher.
  const argv = taskArgv("sink");
  const t0 = performance.now();
  const child = new Deno.Command(argv[0], {
    args: [
      ...argv.slice(1),
      "--topics",
      topic,
      "--map",
      `${topic}=security_events`,
      "--database",
      DB,
      "--group",
      `bench-${topic}`,
      "--dlq-topic",
      "",
      "--metrics-port",
      "0",
      "--exit-when-idle",
      "1s",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Read its logs (an unread pipe would block it) to see when the group
  // assigned the partitions: the start of the steady-state measurement.
  let assignedAt = 0;
  const logs = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      if (!assignedAt && dec.decode(chunk).includes('"partitions assigned"')) {
        assignedAt = performance.now();
      }
    }
  })();
  let rows = 0;
  while (rows < N) {
    await new Promise((r) => setTimeout(r, 100));
    rows = await oursCount();
  }
  const done = performance.now();
  const status = await child.status;
  await logs;
  const wall = (done - t0) / 1000;
  const steady = (done - (assignedAt || t0)) / 1000;
  oursRate = rows / wall;
  oursSteady = rows / steady;
  console.log(
    `ours (deno task sink): ${rows} rows in ${wall.toFixed(2)} s = ${
      Math.round(oursRate)
    } rows/s wall clock (incl. start-up and group join); ${
      Math.round(oursSteady)
    } rows/s after the group assigned the partitions; exit ${status.code}`,
  );
}

console.log(
  `ratio ours/peer (wall clock): ${(oursRate / peerRate).toFixed(2)}`,
);
console.log(
  `ratio ours/peer (steady state): ${(oursSteady / peerRate).toFixed(2)}`,
);

if (!values.keep) {
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await ch(`DROP TABLE IF EXISTS ${DB}.peer_local`);
  for (const n of NODES) {
    for (const t of ["security_events_local", "dead_letter_local"]) {
      await ch(`DROP TABLE IF EXISTS ${DB}.${t}`, n.http).catch(() => {});
    }
  }
}
await admin.disconnect();
