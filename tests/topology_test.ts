/**
 * The topology (schemas/topology.ts) is the one source of every address and
 * version: the `--allow-net` lists of deno.json, the compose file, the
 * installer's pinned versions and the pipelines' defaults must agree with it.
 * No cluster needed.
 */
import assert from "node:assert/strict";
import {
  ALERTMANAGER,
  CLICKHOUSE_NODES,
  clickhouseShardUrls,
  clickhouseUrl,
  DEFAULT_ALERT_WEBHOOK_URL,
  DENO_VERSION,
  FLOW_PORTS,
  GRAFANA,
  HAPROXY,
  HOST,
  JMX_AGENT_VERSION,
  KAFKA_BOOTSTRAP,
  KAFKA_BROKERS,
  KAFKA_UI,
  KAFKA_VERSION,
  PIPELINE_METRICS_PORTS,
  POSTGRES,
  POSTGRES_EXPORTER,
  PROMETHEUS,
  SERVICES,
  SHIPPER_INGEST_PORT,
  ZOOKEEPER,
} from "../schemas/topology.ts";
import {
  DEFAULT_ENDPOINTS,
  METRICS_PORTS,
} from "../pipelines/runtime/endpoints.ts";
import { SPEC as SHIPPER_SPEC } from "../pipelines/shipper/config.ts";
import { COMPOSE_FILE, composeDrift } from "../tasks/cluster/compose.ts";
import { requirePermissions } from "./_gate.ts";

// Reads deno.json, compose/ and the installer.
requirePermissions(import.meta, { name: "read", path: "." });

const ROOT = new URL("../", import.meta.url);
const read = (rel: string) => Deno.readTextFile(new URL(rel, ROOT));

const at = (port: number) => `${HOST}:${port}`;
const PG = at(POSTGRES.port);
const LB = at(HAPROXY.port);
const CH_NODES = CLICKHOUSE_NODES.map((n) => at(n.httpPort));
const LAUNCHER = SERVICES.map((s) => s.address);

/** What each deno.json task may reach, from the topology alone. */
const EXPECTED_NET: Record<string, string[]> = {
  up: LAUNCHER,
  down: LAUNCHER,
  status: LAUNCHER,
  "compose:gen": LAUNCHER,
  start: [...KAFKA_BOOTSTRAP, LB, PG, ...Object.values(FLOW_PORTS).map(at)],
  verify: [...KAFKA_BOOTSTRAP, LB, PG],
  generate: [
    ...KAFKA_BOOTSTRAP,
    PG,
    at(FLOW_PORTS["generator-security"]),
    at(FLOW_PORTS["generator-http"]),
    at(FLOW_PORTS["generator-cdc"]),
  ],
  ship: [
    ...KAFKA_BOOTSTRAP,
    at(FLOW_PORTS.shipper),
    at(SHIPPER_INGEST_PORT),
  ],
  sink: [
    ...KAFKA_BOOTSTRAP,
    ...CH_NODES,
    at(FLOW_PORTS.sink),
    at(FLOW_PORTS["sink-cdc"]),
  ],
  cdc: [...KAFKA_BOOTSTRAP, PG, at(FLOW_PORTS.cdc)],
  "bench:cdc": [...KAFKA_BOOTSTRAP, PG],
  "bench:parity": [...KAFKA_BOOTSTRAP, PG],
  "bench:ship": [...KAFKA_BOOTSTRAP],
  "bench:sink": [...KAFKA_BOOTSTRAP, ...CH_NODES],
  dashboards: [at(PROMETHEUS.port), LB],
  // The test suite reaches every local port (fixtures, webhooks, the cluster).
  test: [HOST, "localhost"],
};

/** The `--allow-net=` list of a task command line (undefined when none). */
function allowNet(cmd: string): string[] | undefined {
  const flag = cmd.split(/\s+/).find((a) => a.startsWith("--allow-net="));
  return flag?.slice("--allow-net=".length).split(",");
}

Deno.test("topology: every deno.json --allow-net list is the topology's addresses for that task", async () => {
  const cfg = JSON.parse(await read("deno.json")) as {
    tasks: Record<string, string>;
  };
  for (const [name, cmd] of Object.entries(cfg.tasks)) {
    const net = allowNet(cmd);
    if (net === undefined) continue;
    const want = EXPECTED_NET[name];
    assert.ok(
      want,
      `task ${name} has --allow-net but no entry in this test: add what it reaches, from schemas/topology.ts`,
    );
    assert.deepEqual(
      [...net].sort(),
      [...new Set(want)].sort(),
      `task ${name}: --allow-net differs from the topology`,
    );
  }
  for (const name of Object.keys(EXPECTED_NET)) {
    assert.ok(cfg.tasks[name], `task ${name} missing from deno.json`);
  }
});

Deno.test("topology: compose/ is generated from it and runs the one Deno version", async () => {
  assert.deepEqual(await composeDrift(), [], "run `deno task compose:gen`");
  const yml = await read(COMPOSE_FILE);
  const denoImages = [...yml.matchAll(/image: denoland\/deno:(\S+)/g)].map((
    m,
  ) => m[1]);
  assert.ok(denoImages.length > 0, "compose runs the pipelines on Deno");
  assert.deepEqual(new Set(denoImages), new Set([DENO_VERSION]));
});

Deno.test("topology: tasks/install.sh pins the topology's versions", async () => {
  const sh = await read("tasks/install.sh");
  const pinned = (name: string) =>
    new RegExp(`^${name}="([^"]+)"$`, "m").exec(sh)?.[1];
  assert.equal(pinned("DENO_VERSION"), DENO_VERSION);
  assert.equal(pinned("KAFKA_VERSION"), KAFKA_VERSION);
  assert.equal(pinned("JMX_AGENT_VERSION"), JMX_AGENT_VERSION);
  // Every Deno version the installer mentions (comments, messages) is the one.
  for (const m of sh.matchAll(/[Dd]eno[ @]v?(\d+\.\d+\.\d+)/g)) {
    assert.equal(m[1], DENO_VERSION, m[0]);
  }
  const pgPackages = [...sh.matchAll(/\bpostgresql-(\d+)\b/g)].map((m) =>
    Number(m[1])
  );
  assert.ok(pgPackages.length > 0);
  assert.deepEqual(new Set(pgPackages), new Set([POSTGRES.version]));
});

Deno.test("topology: the pipelines' default endpoints are the topology's", () => {
  assert.deepEqual(DEFAULT_ENDPOINTS.kafkaBrokers, KAFKA_BOOTSTRAP);
  assert.equal(DEFAULT_ENDPOINTS.clickhouseUrl, `http://${LB}`);
  assert.deepEqual(
    DEFAULT_ENDPOINTS.clickhouseShards.map((s) => s.split("|")),
    clickhouseShardUrls(),
  );
  assert.deepEqual(
    clickhouseShardUrls().flat().sort(),
    CLICKHOUSE_NODES.map(clickhouseUrl).sort(),
  );
  assert.equal(
    new URL(DEFAULT_ENDPOINTS.postgresUrl).host,
    PG,
  );
  assert.deepEqual(METRICS_PORTS, PIPELINE_METRICS_PORTS);
  const httpPort = SHIPPER_SPEC.options["http-port"] as { default?: unknown };
  assert.equal(httpPort.default, SHIPPER_INGEST_PORT);
});

Deno.test("topology: no port is declared twice", () => {
  const ports = [
    ZOOKEEPER.clientPort,
    ZOOKEEPER.jmxPort,
    POSTGRES.port,
    POSTGRES_EXPORTER.port,
    HAPROXY.port,
    HAPROXY.metricsPort,
    PROMETHEUS.port,
    ALERTMANAGER.port,
    GRAFANA.port,
    KAFKA_UI.port,
    SHIPPER_INGEST_PORT,
    Number(new URL(DEFAULT_ALERT_WEBHOOK_URL).port),
    ...Object.values(FLOW_PORTS),
    ...KAFKA_BROKERS.flatMap((b) => [b.port, b.controllerPort, b.jmxPort]),
    ...CLICKHOUSE_NODES.flatMap((n) => [
      n.httpPort,
      n.tcpPort,
      n.interserverPort,
    ]),
  ];
  const seen = new Set<number>();
  for (const p of ports) {
    assert.ok(!seen.has(p), `port ${p} is declared twice`);
    seen.add(p);
  }
});
