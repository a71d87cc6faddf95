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
 * Both for the built-in route and for a user-table route: `--map` into a
 * table this bench creates (`sink_bench.user_events`, Distributed over
 * ReplicatedMergeTree locals partitioned by day, ordered by its own keys,
 * typed from `system.columns`); its peer inserts into the same DDL.
 *
 * Prints rows/s for both and the ratios (ours / peer) per route.
 *
 * Usage: deno run <perms> tasks/bench/sink.ts [--events 1000000]
 *   [--route builtin|user|both] [--workers N[,M…]] [--keep]
 *   [--processes N] [--v8-prof <log file>]
 *
 * `--processes N` runs N sink processes in one consumer group (they split
 * the topic's 3 partitions; the peer, kcat and clickhouse-client, is two
 * processes too). A member left without partitions is stopped (SIGTERM,
 * which flushes and commits) 3 s after the last row arrived.
 *
 * `--v8-prof` runs our sink with V8's sampling profiler (`--prof`), one log
 * per isolate (main thread and each decode worker) named
 * `isolate-<address>-<pid>-<log file>`; read them with `node --prof-process`.
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
    route: { type: "string", default: "both" },
    // Empty: the sink's default. Several (`--workers 0,2`): one run each.
    workers: { type: "string", default: "" },
    "v8-prof": { type: "string" },
    // Sink processes in one consumer group (the peer is two processes).
    processes: { type: "string", default: "1" },
  },
});
const N = Number(values.events);
if (!Number.isInteger(N) || N <= 0) {
  console.error("error: --events must be a positive integer");
  Deno.exit(2);
}
const WORKERS = values.workers === ""
  ? [undefined]
  : values.workers.split(",").map(Number);
if (WORKERS.some((w) => w !== undefined && !(Number.isInteger(w) && w >= 0))) {
  console.error("error: --workers must be integers >= 0, e.g. 0,1,2");
  Deno.exit(2);
}
const PROCESSES = Number(values.processes);
if (!Number.isInteger(PROCESSES) || PROCESSES < 1) {
  console.error("error: --processes must be a positive integer");
  Deno.exit(2);
}
if (!["builtin", "user", "both"].includes(values.route)) {
  console.error("error: --route must be builtin, user or both");
  Deno.exit(2);
}
const BROKERS = [...KAFKA_BOOTSTRAP];
const NODES = CLICKHOUSE_NODES.map((n) => ({
  port: n.tcpPort,
  http: clickhouseUrl(n),
}));
/** The bench database of the current run (one per `--workers` value). */
let DB = "sink_bench";
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

/** Each broker's own metadata has the topic's 3 partitions with leaders. */
async function knownEverywhere(topic: string): Promise<boolean> {
  for (const b of BROKERS) {
    const o = await new Deno.Command("kcat", {
      args: ["-L", "-J", "-b", b, "-t", topic],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (o.code !== 0) return false;
    const md = JSON.parse(new TextDecoder().decode(o.stdout)) as {
      topics: { partitions?: { leader: number }[] }[];
    };
    const ps = md.topics[0]?.partitions ?? [];
    if (ps.length !== 3 || ps.some((p) => p.leader < 0)) return false;
  }
  return true;
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
// Every broker must know the topic before kcat produces: one that does not
// yet answers kcat's metadata with 0 partitions and the load fails.
for (let i = 0; i < 100 && !(await knownEverywhere(topic)); i++) {
  await new Promise((r) => setTimeout(r, 200));
}
console.error(`pre-loading ${topic}`);
await run("kcat", ["-P", "-b", BROKERS.join(","), "-t", topic, "-l", file]);

/**
 * A user's own table, not from schemas/: its own columns, day partitions and
 * ORDER BY. `timestamp` is `String` for the peer (see the module docs).
 */
function userDdl(table: string, timestamp = "DateTime('UTC')"): string {
  return `CREATE TABLE ${DB}.${table} (
    event_id UUID, timestamp ${timestamp}, event_type String,
    severity Enum8('info' = 1, 'low' = 2, 'medium' = 3, 'high' = 4, 'critical' = 5),
    src_ip String, src_port UInt16, dst_ip String, dst_port UInt16,
    protocol String, user String, host String, action String, message String,
    scenario_id String, _partition UInt32, _offset UInt64,
    _ingested_at DateTime('UTC')
  ) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/${table}_${topic}', '{replica}')
  PARTITION BY toYYYYMMDD(${
    timestamp === "String" ? "_ingested_at" : "timestamp"
  }) ORDER BY (event_type, src_port)`;
}
const useBuiltin = values.route !== "user";
const useUser = values.route !== "builtin";
/** 2. Tables: ours on every node, the peers' on one node. */
async function createTables(): Promise<void> {
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

  if (useUser) {
    for (const n of NODES) {
      for (const t of ["user_events", "user_events_local"]) {
        await ch(`DROP TABLE IF EXISTS ${DB}.${t}`, n.http);
      }
      await ch(userDdl("user_events_local"), n.http);
      await ch(
        `CREATE TABLE ${DB}.user_events AS ${DB}.user_events_local ENGINE = Distributed(analytics_cluster, ${DB}, user_events_local, rand())`,
        n.http,
      );
    }
    await ch(`DROP TABLE IF EXISTS ${DB}.peer_user_local`);
    await ch(userDdl("peer_user_local", "String"));
  }
}

/** Rows of `table` matching `where`, on a reachable replica of each shard. */
async function oursCount(table: string, where: string): Promise<number> {
  let total = 0;
  for (const replicas of [[NODES[0], NODES[1]], [NODES[2], NODES[3]]]) {
    let n: number | undefined;
    for (const r of replicas) {
      try {
        n = Number(
          await ch(
            `SELECT count() FROM ${DB}.${table} WHERE ${where}`,
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

/** The peer: `kcat | clickhouse-client` into `table`; rows/s. */
async function peer(table: string): Promise<number> {
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
      `INSERT INTO ${DB}.${table} FORMAT JSONEachRow`,
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
  ]).finally(() => Deno.remove(CLIENT_CONFIG).catch(() => {}));
  const secs = (performance.now() - t0) / 1000;
  if (!kcatDone.success || !clientDone.success) {
    throw new Error(`kcat | clickhouse-client failed: ${kcatErr}${clientErr}`);
  }
  const rows = Number(await ch(`SELECT count() FROM ${DB}.${table}`));
  const rate = rows / secs;
  console.log(
    `peer (kcat | clickhouse-client) → ${table}: ${rows} rows in ${
      secs.toFixed(2)
    } s = ${Math.round(rate)} rows/s`,
  );
  return rate;
}

/** Ours: `--processes` sinks in one group, `--map topic=<target>`. */
async function ours(
  label: string,
  target: string,
  count: { table: string; where: string },
  workers?: number,
): Promise<{ wall: number; steady: number }> {
  // The sink task's exact flags from deno.json, checked by the launcher.
  const [cmd, run, ...own] = taskArgv("sink");
  const prof = values["v8-prof"];
  const group = `bench-${label}-w${workers ?? "d"}-p${PROCESSES}-${topic}`;
  const t0 = performance.now();
  const children = Array.from(
    { length: PROCESSES },
    () =>
      new Deno.Command(cmd, {
        args: [
          run,
          // V8 writes the logs itself (outside Deno's permission checks).
          ...(prof ? [`--v8-flags=--prof,--logfile=${prof}`] : []),
          ...own,
          "--topics",
          topic,
          "--map",
          `${topic}=${target}`,
          "--database",
          DB,
          "--group",
          group,
          "--dlq-topic",
          "",
          "--metrics-port",
          "0",
          "--exit-when-idle",
          "1s",
          ...(workers === undefined ? [] : ["--workers", String(workers)]),
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn(),
  );
  // Read their logs (an unread pipe would block them) to see when the group
  // first assigned the partitions: the start of the steady-state measurement.
  let assignedAt = 0;
  const logs = children.map(async (child) => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      if (!assignedAt && dec.decode(chunk).includes('"partitions assigned"')) {
        assignedAt = performance.now();
      }
    }
  });
  let rows = 0;
  while (rows < N) {
    await new Promise((r) => setTimeout(r, 100));
    rows = await oursCount(count.table, count.where);
  }
  const done = performance.now();
  // A member left without partitions (more processes than partitions, or
  // the last rebalance) never sees a message, so never idles out: stop it.
  const stopper = setTimeout(() => {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch {
        // Already exited.
      }
    }
  }, 3_000);
  const statuses = await Promise.all(children.map((c) => c.status));
  clearTimeout(stopper);
  await Promise.all(logs);
  const wall = rows / ((done - t0) / 1000);
  const steady = rows / ((done - (assignedAt || t0)) / 1000);
  console.log(
    `ours (deno task sink${
      PROCESSES > 1 ? ` ×${PROCESSES} processes` : ""
    }, ${label} route → ${target}): ${rows} rows in ${
      ((done - t0) / 1000).toFixed(2)
    } s = ${
      Math.round(wall)
    } rows/s wall clock (incl. start-up and group join); ${
      Math.round(steady)
    } rows/s after the group assigned the partitions; exit ${
      statuses.map((st) => st.code).join(",")
    }`,
  );
  return { wall, steady };
}

/** Prints the two ratio lines of one route. */
function ratios(label: string, o: { wall: number; steady: number }, p: number) {
  console.log(
    `ratio ours/peer ${label} route (wall clock): ${(o.wall / p).toFixed(2)}`,
  );
  console.log(
    `ratio ours/peer ${label} route (steady state): ${
      (o.steady / p).toFixed(2)
    }`,
  );
}

for (const w of WORKERS) {
  DB = w === undefined ? "sink_bench" : `sink_bench_w${w}`;
  console.log(`--- sink ${w === undefined ? "defaults" : `--workers ${w}`}`);
  await createTables();
  // 3. Built-in route: peer, then ours.
  if (useBuiltin) {
    const p = await peer("peer_local");
    const o = await ours("built-in", "security_events", {
      table: "security_events_local",
      where: `_topic = '${topic}'`,
    }, w);
    ratios("built-in", o, p);
  }
  // 4. User-table route: peer into the same DDL, then ours through --map.
  if (useUser) {
    const p = await peer("peer_user_local");
    // The table is new in this run: every row is this run's.
    const o = await ours("user-table", `${DB}.user_events`, {
      table: "user_events_local",
      where: "1",
    }, w);
    ratios("user-table", o, p);
  }

  if (!values.keep) {
    await ch(`DROP TABLE IF EXISTS ${DB}.peer_local`);
    await ch(`DROP TABLE IF EXISTS ${DB}.peer_user_local`);
    for (const n of NODES) {
      for (
        const t of [
          "security_events_local",
          "dead_letter_local",
          "user_events",
          "user_events_local",
        ]
      ) {
        await ch(`DROP TABLE IF EXISTS ${DB}.${t}`, n.http).catch(() => {});
      }
    }
  }
}
if (!values.keep) {
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
}
await admin.disconnect();
