/**
 * The cluster topology, in ONE place: pure data, no imports, on the ground
 * floor so that every part of the repository can read it. Everything else is
 * derived from these constants: the launcher's native processes and config
 * files (ClickHouse XML, HAProxy, Prometheus, compose/docker-compose.yml) in
 * tasks/cluster/, the pipelines' default endpoints
 * (pipelines/runtime/endpoints.ts) and the dashboards' node lists
 * (dashboards/src/). tests/topology_test.ts checks that the `--allow-net`
 * lists of deno.json, the compose file and tasks/install.sh agree with it.
 *
 * All services listen on 127.0.0.1 only (compose uses host networking so the
 * same addresses hold in both modes).
 *
 * @module
 */

/** The one Deno version: installed by tasks/install.sh, run by compose. */
export const DENO_VERSION = "2.9.6";

/** Version of the JMX Prometheus agent tasks/install.sh fetches (optional). */
export const JMX_AGENT_VERSION = "1.0.1";

/** The only interface every service binds to. */
export const HOST = "127.0.0.1";

/**
 * ZooKeeper (used by ClickHouse replication). `jmxPort` serves its metrics
 * through the JMX Prometheus agent (Debian's ZooKeeper has no built-in
 * Prometheus provider), when tasks/install.sh fetched the agent.
 */
export const ZOOKEEPER = {
  name: "zookeeper",
  clientPort: 12181,
  jmxPort: 19290,
} as const;

/** JMX exporter rules of ZooKeeper (repo-relative; owned by dashboards/). */
export const ZOOKEEPER_JMX_CONFIG = "dashboards/exporters/zookeeper_jmx.yml";

/** One Kafka broker (KRaft combined broker+controller). */
export interface KafkaBroker {
  /** Service name, e.g. `kafka1`. */
  name: string;
  /** KRaft node.id (1..3). */
  nodeId: number;
  /** Client (PLAINTEXT) port. */
  port: number;
  /** KRaft controller port. */
  controllerPort: number;
  /** JMX Prometheus exporter port (when the agent jar is installed). */
  jmxPort: number;
}

/** The three Kafka brokers. */
export const KAFKA_BROKERS: readonly KafkaBroker[] = [1, 2, 3].map((id) => ({
  name: `kafka${id}`,
  nodeId: id,
  port: 19091 + id,
  controllerPort: 19191 + id,
  jmxPort: 19291 + id,
}));

/** Fixed KRaft cluster id (base64url of 16 bytes), used to format storage. */
export const KAFKA_CLUSTER_ID = "q1Sh-9_ISia_zwGINzRvyQ";

/** Apache Kafka version (jars from Maven Central natively, image in compose). */
export const KAFKA_VERSION = "3.9.1";

/** Broker defaults shared by every broker. */
export const KAFKA_DEFAULTS = {
  numPartitions: 3,
  replicationFactor: 3,
  minInsyncReplicas: 2,
} as const;

/** Comma-separated Kafka bootstrap list. */
export const KAFKA_BOOTSTRAP: readonly string[] = KAFKA_BROKERS.map((b) =>
  `${HOST}:${b.port}`
);

/** One ClickHouse node. */
export interface ClickHouseNode {
  /** Service name and `{replica}` macro, e.g. `ch1`. */
  name: string;
  /** Shard number (1-based). */
  shard: number;
  /** HTTP port. */
  httpPort: number;
  /** Native TCP port. */
  tcpPort: number;
  /** Interserver HTTP port (replication fetches). */
  interserverPort: number;
}

/** ClickHouse cluster name used by `Distributed` tables. */
export const CLICKHOUSE_CLUSTER = "analytics_cluster";

/**
 * A second `remote_servers` cluster with every node as its own shard, for
 * dashboards reading `system.*` of all four nodes (`cluster()`), as the
 * read-only user: `remote()` could not authenticate without a password in
 * the query.
 */
export const CLICKHOUSE_ALL_NODES_CLUSTER = "all_nodes";

/** Four ClickHouse nodes: 2 shards x 2 replicas. */
export const CLICKHOUSE_NODES: readonly ClickHouseNode[] = [
  {
    name: "ch1",
    shard: 1,
    httpPort: 18123,
    tcpPort: 19001,
    interserverPort: 19011,
  },
  {
    name: "ch2",
    shard: 1,
    httpPort: 18124,
    tcpPort: 19002,
    interserverPort: 19012,
  },
  {
    name: "ch3",
    shard: 2,
    httpPort: 18125,
    tcpPort: 19003,
    interserverPort: 19013,
  },
  {
    name: "ch4",
    shard: 2,
    httpPort: 18126,
    tcpPort: 19004,
    interserverPort: 19014,
  },
];

/** `{shard}` macro value for a shard number: `01`, `02`. */
export function shardMacro(shard: number): string {
  return String(shard).padStart(2, "0");
}

/** Image used in compose mode (natively the Debian 18.16 server runs). */
export const CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:24.8";

/**
 * HAProxy in front of the ClickHouse HTTP ports; `metricsPort` serves its
 * built-in Prometheus exporter (`/metrics`).
 */
export const HAPROXY = {
  name: "haproxy",
  port: 18120,
  metricsPort: 18404,
} as const;

/** PostgreSQL (its own instance, never the machine's 5432). */
export const POSTGRES = {
  name: "postgres",
  port: 15432,
  database: "shop",
  user: "postgres",
  password: "postgres",
  /** Read-only login role without REPLICATION (for negative tests). */
  readOnlyUser: "app_ro",
  readOnlyPassword: "app_ro",
  version: 15,
} as const;

/** Prometheus server. */
export const PROMETHEUS = { name: "prometheus", port: 19090 } as const;

/** Alertmanager (cluster listener disabled). */
export const ALERTMANAGER = { name: "alertmanager", port: 19095 } as const;

/** prometheus-postgres-exporter. */
export const POSTGRES_EXPORTER = {
  name: "postgres_exporter",
  port: 19187,
} as const;

/** A static Prometheus scrape target. */
export interface ScrapeTarget {
  /** Prometheus job name. */
  job: string;
  /** `host:port` targets. */
  targets: string[];
  /** Metrics path (default `/metrics`). */
  metricsPath?: string;
  /** Scrape interval (default: the global 5s). */
  interval?: string;
}

/**
 * Metrics port of each process of the `deno task start` flow (one pipeline
 * may run several times: three generators, two sinks).
 */
export const FLOW_PORTS = {
  "generator-security": 19464,
  "generator-http": 19470,
  "generator-cdc": 19471,
  shipper: 19465,
  sink: 19466,
  "sink-cdc": 19472,
  cdc: 19467,
} as const;

/** Default metrics port of each pipeline (its `--metrics-port`). */
export const PIPELINE_METRICS_PORTS = {
  generator: FLOW_PORTS["generator-security"],
  shipper: FLOW_PORTS.shipper,
  sink: FLOW_PORTS.sink,
  cdc: FLOW_PORTS.cdc,
} as const;

/** The shipper's HTTP ingest port (`POST /v1/logs`). */
export const SHIPPER_INGEST_PORT = 18080;

/** Pipeline metrics endpoints (static targets; the pipelines may be down). */
export const PIPELINE_TARGETS: readonly ScrapeTarget[] = [
  {
    job: "generator",
    // security, http and cdc generators of `deno task start`
    targets: [
      FLOW_PORTS["generator-security"],
      FLOW_PORTS["generator-http"],
      FLOW_PORTS["generator-cdc"],
    ].map((p) => `${HOST}:${p}`),
  },
  { job: "shipper", targets: [`${HOST}:${FLOW_PORTS.shipper}`] },
  {
    job: "sink",
    // events sink and the CDC mirror sink of `deno task start`
    targets: [FLOW_PORTS.sink, FLOW_PORTS["sink-cdc"]].map((p) =>
      `${HOST}:${p}`
    ),
  },
  { job: "cdc", targets: [`${HOST}:${FLOW_PORTS.cdc}`] },
];

/**
 * Extra scrape targets; the observability work appends here (the generated
 * Prometheus config and compose files follow). ZooKeeper's JMX exporter is
 * added by the config generator, only when the agent is installed.
 */
export const EXTRA_SCRAPE_TARGETS: readonly ScrapeTarget[] = [
  { job: "haproxy", targets: [`${HOST}:${HAPROXY.metricsPort}`] },
];

/** Rule files Prometheus loads, relative to the repository root (globs allowed, may match nothing). */
export const PROMETHEUS_RULE_GLOBS: readonly string[] = [
  "dashboards/alerts/*.yml",
];

/** A service that runs in compose mode only (no native package here). */
export interface ComposeOnlyService {
  /** Compose service name. */
  name: string;
  /** What it is for. */
  description: string;
  /** `host:port`. */
  address: string;
  /** URL to open. */
  url: string;
}

/** Grafana (compose only; the dashboards are provisioned from dashboards/grafana). */
export const GRAFANA = {
  name: "grafana",
  port: 13000,
  image: "grafana/grafana-oss:11.3.0",
} as const;

/** Kafka UI (compose only). */
export const KAFKA_UI = {
  name: "kafka-ui",
  port: 18081,
  image: "provectuslabs/kafka-ui:v0.7.2",
} as const;

/**
 * Compose-only services: not in {@link SERVICES} (native mode neither runs
 * nor probes them; `status` lists them as "compose only").
 */
export const COMPOSE_ONLY_SERVICES: readonly ComposeOnlyService[] = [
  {
    name: GRAFANA.name,
    description: "Grafana (dashboards/grafana)",
    address: `${HOST}:${GRAFANA.port}`,
    url: `http://${HOST}:${GRAFANA.port}`,
  },
  {
    name: KAFKA_UI.name,
    description: "Kafka UI",
    address: `${HOST}:${KAFKA_UI.port}`,
    url: `http://${HOST}:${KAFKA_UI.port}`,
  },
];

/** Service kinds. */
export type ServiceKind =
  | "zookeeper"
  | "kafka"
  | "clickhouse"
  | "haproxy"
  | "postgres"
  | "postgres_exporter"
  | "prometheus"
  | "alertmanager";

/** A service of the cluster, as the launcher and status see it. */
export interface Service {
  /** Unique service name (compose service name too). */
  name: string;
  /** What it is. */
  kind: ServiceKind;
  /** Primary `host:port`. */
  address: string;
  /** State folder relative to the repo root (`.cluster/...`): log, pid, data. */
  dir: string;
  /** Services that must be healthy before this one starts. */
  dependsOn: string[];
}

/** Root of the native state folder, relative to the repo root. */
export const STATE_DIR = ".cluster";

/** Every service, in start order. */
export const SERVICES: readonly Service[] = [
  {
    name: ZOOKEEPER.name,
    kind: "zookeeper",
    address: `${HOST}:${ZOOKEEPER.clientPort}`,
    dir: `${STATE_DIR}/zookeeper`,
    dependsOn: [],
  },
  {
    name: POSTGRES.name,
    kind: "postgres",
    address: `${HOST}:${POSTGRES.port}`,
    dir: `${STATE_DIR}/postgres`,
    dependsOn: [],
  },
  ...KAFKA_BROKERS.map((b): Service => ({
    name: b.name,
    kind: "kafka",
    address: `${HOST}:${b.port}`,
    dir: `${STATE_DIR}/${b.name}`,
    dependsOn: [],
  })),
  ...CLICKHOUSE_NODES.map((n): Service => ({
    name: n.name,
    kind: "clickhouse",
    address: `${HOST}:${n.httpPort}`,
    dir: `${STATE_DIR}/clickhouse/${n.name}`,
    dependsOn: [ZOOKEEPER.name],
  })),
  {
    name: HAPROXY.name,
    kind: "haproxy",
    address: `${HOST}:${HAPROXY.port}`,
    dir: `${STATE_DIR}/haproxy`,
    dependsOn: [],
  },
  {
    name: POSTGRES_EXPORTER.name,
    kind: "postgres_exporter",
    address: `${HOST}:${POSTGRES_EXPORTER.port}`,
    dir: `${STATE_DIR}/postgres_exporter`,
    dependsOn: [POSTGRES.name],
  },
  {
    name: ALERTMANAGER.name,
    kind: "alertmanager",
    address: `${HOST}:${ALERTMANAGER.port}`,
    dir: `${STATE_DIR}/alertmanager`,
    dependsOn: [],
  },
  {
    name: PROMETHEUS.name,
    kind: "prometheus",
    address: `${HOST}:${PROMETHEUS.port}`,
    dir: `${STATE_DIR}/prometheus`,
    dependsOn: [],
  },
];

/** PostgreSQL superuser URL for the `shop` database. */
export const POSTGRES_URL =
  `postgres://${POSTGRES.user}:${POSTGRES.password}@${HOST}:${POSTGRES.port}/${POSTGRES.database}`;

/** ClickHouse HTTP URL through HAProxy. */
export const CLICKHOUSE_HAPROXY_URL = `http://${HOST}:${HAPROXY.port}`;

/** ClickHouse HTTP URL of a node. */
export function clickhouseUrl(node: ClickHouseNode): string {
  return `http://${HOST}:${node.httpPort}`;
}

/** Prometheus URL. */
export const PROMETHEUS_URL = `http://${HOST}:${PROMETHEUS.port}`;

/** Alertmanager URL. */
export const ALERTMANAGER_URL = `http://${HOST}:${ALERTMANAGER.port}`;

/** Grafana URL (compose mode only). */
export const GRAFANA_URL = `http://${HOST}:${GRAFANA.port}`;

/** ClickHouse HTTP URLs grouped by shard (replicas of a shard together), in shard order. */
export function clickhouseShardUrls(): string[][] {
  const shards = [...new Set(CLICKHOUSE_NODES.map((n) => n.shard))].sort((
    a,
    b,
  ) => a - b);
  return shards.map((shard) =>
    CLICKHOUSE_NODES.filter((n) => n.shard === shard).map(clickhouseUrl)
  );
}

/**
 * Where Alertmanager posts alerts when `ALERT_WEBHOOK_URL` is unset
 * (tests/alerts_test.ts listens here).
 */
export const DEFAULT_ALERT_WEBHOOK_URL = `http://${HOST}:19096/alert`;
