/**
 * Cluster status: every service with address, pid (native) and health, plus
 * the connection facts scripts need (`status --json`).
 *
 * @module
 */

import {
  ALERTMANAGER_URL,
  CLICKHOUSE_HAPROXY_URL,
  CLICKHOUSE_NODES,
  clickhouseUrl,
  COMPOSE_ONLY_SERVICES,
  HOST,
  KAFKA_BOOTSTRAP,
  POSTGRES_URL,
  PROMETHEUS_URL,
  type Service,
  SERVICES,
  ZOOKEEPER,
} from "../../schemas/topology.ts";
import { probe } from "./health.ts";
import { CLUSTER_SECRETS_FILE } from "./secrets.ts";
import { nativeMarker } from "./specs.ts";
import { logFile, processArgs, runningPid } from "./processes.ts";

/** Cluster mode. */
export type Mode = "native" | "compose";

/** Status of one service. */
export interface ServiceStatus {
  /** Service name. */
  name: string;
  /** Service kind. */
  kind: Service["kind"];
  /** `host:port`. */
  address: string;
  /** Process id (native mode, when running). */
  pid: number | null;
  /** Health verdict. */
  healthy: boolean;
  /** Probe detail. */
  detail: string;
  /** Log file (native: repo-relative path; compose: `docker compose logs <svc>`). */
  log: string;
}

/** What `status --json` prints. */
export interface ClusterStatus {
  /** Mode the cluster was last brought up in. */
  mode: Mode;
  /** True when every service is healthy. */
  healthy: boolean;
  /** Per-service status, in start order. */
  services: ServiceStatus[];
  /** Kafka bootstrap list. */
  kafka: { bootstrap: string[] };
  /** ClickHouse HTTP URLs per node and via HAProxy. */
  clickhouse: { nodes: Record<string, string>; haproxy: string };
  /**
   * PostgreSQL URL (database `shop`, superuser), password masked: set it
   * from `PGPASSWORD` (the dev cluster's is in README "Ports").
   */
  postgres: { url: string };
  /** Where the ClickHouse passwords are (`KEY=value` lines, 0600). */
  secretsFile: string;
  /** ZooKeeper address. */
  zookeeper: { address: string };
  /** Prometheus URL. */
  prometheus: { url: string };
  /** Alertmanager URL. */
  alertmanager: { url: string };
  /**
   * Services compose runs besides the cluster (Grafana, Kafka UI); not
   * probed, and not run at all in native mode.
   */
  composeOnly: Array<{ name: string; url: string; running: boolean }>;
}

/**
 * Status of one service (probe + native pid). The pid is found by the
 * service's marker alone: no config is rendered.
 */
export async function serviceStatus(
  svc: Service,
  mode: Mode,
): Promise<ServiceStatus> {
  const [health, pid] = await Promise.all([
    probe(svc),
    mode === "native"
      ? runningPid(svc, { marker: nativeMarker(svc) })
      : Promise.resolve(undefined),
  ]);
  const running = mode !== "native" || pid !== undefined;
  let detail = !running && health.healthy
    ? `port answers but no ${svc.name} process of ours`
    : health.detail;
  // ZooKeeper's metrics come from the JMX agent inside its JVM.
  if (svc.kind === "zookeeper" && pid !== undefined) {
    if ((await processArgs(pid))?.includes("-javaagent:")) {
      detail += `; metrics ${HOST}:${ZOOKEEPER.jmxPort}`;
    }
  }
  return {
    name: svc.name,
    kind: svc.kind,
    address: svc.address,
    pid: pid ?? null,
    healthy: health.healthy && running,
    detail,
    log: mode === "native" ? logFile(svc) : `docker compose logs ${svc.name}`,
  };
}

/** A URL with its password (if any) replaced by `***`. */
export function maskPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === "") return url;
    u.password = "***";
    return u.href;
  } catch {
    // Not a URL: hide anything between "://user:" and "@".
    return url.replace(/(\/\/[^/:@]*:)[^@]*@/, "$1***@");
  }
}

/** Full cluster status. */
export async function clusterStatus(mode: Mode): Promise<ClusterStatus> {
  const services = await Promise.all(
    SERVICES.map((s) => serviceStatus(s, mode)),
  );
  return {
    mode,
    healthy: services.every((s) => s.healthy),
    services,
    kafka: { bootstrap: [...KAFKA_BOOTSTRAP] },
    clickhouse: {
      nodes: Object.fromEntries(
        CLICKHOUSE_NODES.map((n) => [n.name, clickhouseUrl(n)]),
      ),
      haproxy: CLICKHOUSE_HAPROXY_URL,
    },
    postgres: { url: maskPassword(POSTGRES_URL) },
    secretsFile: CLUSTER_SECRETS_FILE,
    zookeeper: { address: `${HOST}:${ZOOKEEPER.clientPort}` },
    prometheus: { url: PROMETHEUS_URL },
    alertmanager: { url: ALERTMANAGER_URL },
    composeOnly: COMPOSE_ONLY_SERVICES.map((s) => ({
      name: s.name,
      url: s.url,
      running: mode === "compose",
    })),
  };
}

/** Render the status as a text table. */
export function formatStatus(st: ClusterStatus): string {
  const rows = [
    ["SERVICE", "ADDRESS", "PID", "HEALTH", "DETAIL"],
    ...st.services.map((s) => [
      s.name,
      s.address,
      s.pid === null ? "-" : String(s.pid),
      s.healthy ? "healthy" : "DOWN",
      s.detail,
    ]),
  ];
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((r) => r[i].length))
  );
  const lines = rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ")
  );
  lines.push(
    "",
    `mode: ${st.mode}   overall: ${st.healthy ? "healthy" : "NOT healthy"}`,
    `kafka: ${st.kafka.bootstrap.join(",")}`,
    `clickhouse: ${
      Object.values(st.clickhouse.nodes).join(" ")
    }  haproxy: ${st.clickhouse.haproxy}`,
    `postgres: ${st.postgres.url}   clickhouse passwords: ${st.secretsFile}`,
    `prometheus: ${st.prometheus.url}  alertmanager: ${st.alertmanager.url}`,
    `${st.mode === "compose" ? "also in compose" : "compose only"}: ${
      st.composeOnly.map((s) => `${s.name} ${s.url}`).join("  ")
    }`,
  );
  return lines.join("\n");
}
