/**
 * The binaries native mode runs, and the check that they are installed
 * (`up --native` fails fast with a {@link MissingPrerequisite} naming the
 * Debian package).
 *
 * @module
 */

import { KAFKA_VERSION, POSTGRES, STATE_DIR } from "../../schemas/topology.ts";
import { abs, exists, JMX_AGENT, KAFKA_LIBS, PG_BIN } from "./paths.ts";

/** A prerequisite is missing: message names what to install. */
export class MissingPrerequisite extends Error {}

const BIN_DIRS = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

/** Resolve a binary name to an absolute path, or throw {@link MissingPrerequisite}. */
export async function which(name: string, pkg: string): Promise<string> {
  if (name.startsWith("/")) {
    if (await exists(name)) return name;
  } else {
    for (const d of BIN_DIRS) {
      if (await exists(`${d}/${name}`)) return `${d}/${name}`;
    }
  }
  throw new MissingPrerequisite(
    `missing prerequisite: ${name} (Debian package ${pkg}); run tasks/install.sh`,
  );
}

/** Absolute paths of every binary native mode needs. */
export interface Binaries {
  /** JDK 17 `java` (Kafka, ZooKeeper). */
  java: string;
  /** `clickhouse-server`. */
  clickhouse: string;
  /** `haproxy`. */
  haproxy: string;
  /** `prometheus`. */
  prometheus: string;
  /** `prometheus-alertmanager`. */
  alertmanager: string;
  /** `prometheus-postgres-exporter`. */
  postgresExporter: string;
  /** PostgreSQL server binary. */
  postgres: string;
  /** PostgreSQL `initdb`. */
  initdb: string;
  /** util-linux `setpriv` (run postgres as the postgres user). */
  setpriv: string;
  /** util-linux `setsid` (detach services). */
  setsid: string;
  /** Running as root: PostgreSQL then runs as the `postgres` user (it refuses root). */
  root: boolean;
  /** The JMX Prometheus agent jar is installed (Kafka and ZooKeeper metrics). */
  jmxAgent: boolean;
}

/**
 * Placeholder binaries for commands that only inspect or signal running
 * processes (`status`, `down`): pid checks use the spec markers, not argv.
 */
export const UNRESOLVED_BINARIES: Binaries = {
  java: "java",
  clickhouse: "clickhouse-server",
  haproxy: "haproxy",
  prometheus: "prometheus",
  alertmanager: "prometheus-alertmanager",
  postgresExporter: "prometheus-postgres-exporter",
  postgres: `${PG_BIN}/postgres`,
  initdb: `${PG_BIN}/initdb`,
  setpriv: "setpriv",
  setsid: "setsid",
  root: true,
  jmxAgent: false,
};

/** Check every native prerequisite; throws {@link MissingPrerequisite} naming the first missing one. */
export async function checkPrerequisites(): Promise<Binaries> {
  const bins: Binaries = {
    java: await which("java", "openjdk-17-jre-headless"),
    clickhouse: await which("clickhouse-server", "clickhouse-server"),
    haproxy: await which("haproxy", "haproxy"),
    prometheus: await which("prometheus", "prometheus"),
    alertmanager: await which(
      "prometheus-alertmanager",
      "prometheus-alertmanager",
    ),
    postgresExporter: await which(
      "prometheus-postgres-exporter",
      "prometheus-postgres-exporter",
    ),
    postgres: await which(
      `${PG_BIN}/postgres`,
      `postgresql-${POSTGRES.version}`,
    ),
    initdb: await which(`${PG_BIN}/initdb`, `postgresql-${POSTGRES.version}`),
    setpriv: await which("setpriv", "util-linux"),
    setsid: await which("setsid", "util-linux"),
    root: false,
    jmxAgent: await exists(abs(JMX_AGENT)),
  };
  if (!(await exists(abs(`${KAFKA_LIBS}/kafka_2.13-${KAFKA_VERSION}.jar`)))) {
    throw new MissingPrerequisite(
      `missing prerequisite: Kafka ${KAFKA_VERSION} jars in ${KAFKA_LIBS}; run tasks/install.sh`,
    );
  }
  bins.root = await effectiveUid() === 0;
  if (bins.root && await postgresUid() === undefined) {
    throw new MissingPrerequisite(
      `missing prerequisite: system user 'postgres' (Debian package postgresql-${POSTGRES.version}); run tasks/install.sh`,
    );
  }
  return bins;
}

/** Our effective uid: the owner of a file we just created (no --allow-sys needed). */
async function effectiveUid(): Promise<number | null> {
  await Deno.mkdir(abs(STATE_DIR), { recursive: true });
  const probe = abs(`${STATE_DIR}/.uid`);
  await Deno.writeTextFile(probe, "");
  try {
    return (await Deno.stat(probe)).uid;
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

let pgIds: { uid: number; gid: number } | undefined | null = null;

/** uid/gid of the `postgres` system user (PostgreSQL refuses to run as root). */
export async function postgresUid(): Promise<
  { uid: number; gid: number } | undefined
> {
  if (pgIds !== null) return pgIds;
  const passwd = await Deno.readTextFile("/etc/passwd");
  const line = passwd.split("\n").find((l) => l.startsWith("postgres:"));
  pgIds = line
    ? { uid: Number(line.split(":")[2]), gid: Number(line.split(":")[3]) }
    : undefined;
  return pgIds;
}

/** Prefix running a command as the `postgres` user when we are root. */
export function asPostgres(bins: Binaries): string[] {
  return bins.root
    ? [
      bins.setpriv,
      "--reuid=postgres",
      "--regid=postgres",
      "--init-groups",
      "--",
    ]
    : [];
}
