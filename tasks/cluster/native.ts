/**
 * Native mode: every service of the topology as a detached local process
 * under `.cluster/<service>/` (config, data, `log`, `pid`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  ALERTMANAGER,
  ALERTMANAGER_URL,
  CLICKHOUSE_NODES,
  HOST,
  KAFKA_BROKERS,
  KAFKA_CLUSTER_ID,
  KAFKA_VERSION,
  POSTGRES,
  POSTGRES_EXPORTER,
  PROMETHEUS,
  PROMETHEUS_RULE_GLOBS,
  type Service,
  SERVICES,
  STATE_DIR,
  ZOOKEEPER,
  ZOOKEEPER_JMX_CONFIG,
} from "./topology.ts";
import {
  alertmanagerYml,
  clickhouseConfig,
  clickhouseUsers,
  haproxyCfg,
  jmxExporterYaml,
  kafkaProperties,
  log4jProperties,
  pgHba,
  postgresConf,
  postgresExporterDsn,
  prometheusYml,
  zooCfg,
} from "./configs.ts";
import {
  ALERTMANAGER_TEMPLATE,
  alertWebhookUrl,
} from "../../dashboards/alertmanager/render.ts";

/** Absolute path of the repository root (no trailing slash). */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url))
  .replace(/\/$/, "");

/** Absolute path of a repo-relative path. */
export function abs(rel: string): string {
  return `${ROOT}/${rel}`;
}

/** Kafka jars folder (filled by tasks/install.sh). */
export const KAFKA_LIBS = ".cache/kafka/libs";
/** Optional JMX agent jar. */
export const JMX_AGENT =
  ".cache/kafka/agent/jmx_prometheus_javaagent-1.0.1.jar";
/** PostgreSQL binaries folder. */
export const PG_BIN = `/usr/lib/postgresql/${POSTGRES.version}/bin`;

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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

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

/** Prefix running a command as the `postgres` user when we are root. */
function asPostgres(bins: Binaries): string[] {
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

/** How to run one service natively. */
export interface NativeSpec {
  /** Absolute binary and arguments. */
  argv: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** A string that must appear in `/proc/<pid>/cmdline` (guards against pid reuse). */
  marker: string;
  /** Graceful stop signal. */
  stopSignal: "TERM" | "INT";
  /** How long a graceful stop may take before SIGKILL (default 30 s). */
  stopGraceMs?: number;
  /**
   * Config files the process reads only when it starts (absolute path ->
   * generated content). `prepare` writes them; a running process whose file
   * differs from the generated one is restarted by `up` (see {@link configDrift}).
   */
  startupFiles?: Record<string, string>;
  /**
   * False when the running command line cannot be compared with `argv`
   * (PostgreSQL is started through setpriv).
   */
  compareArgv?: boolean;
  /**
   * Seamless restart: extra arguments that make a new process take over from
   * the running one (HAProxy `-sf <old pid>`: the new process binds the same
   * ports, then the old one finishes its connections and exits).
   */
  takeOverArgs?: (oldPid: number) => string[];
  /** Write configs, create folders, format storage... (idempotent). */
  prepare: () => Promise<void>;
}

/** Write every startup file of a spec (only those whose content changed). */
async function writeStartupFiles(spec: NativeSpec): Promise<void> {
  for (const [path, content] of Object.entries(spec.startupFiles ?? {})) {
    await write(path, content);
  }
}

/** Write a file only when its content changes; returns true when it changed. */
async function write(path: string, content: string): Promise<boolean> {
  try {
    if (await Deno.readTextFile(path) === content) return false;
  } catch { /* missing */ }
  await Deno.writeTextFile(path, content);
  return true;
}

async function run(cmd: string, args: string[], what: string): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) +
      new TextDecoder().decode(out.stdout);
    throw new Error(
      `${what} failed (exit ${out.code}):\n${
        text.trim().split("\n").slice(-15).join("\n")
      }`,
    );
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

/**
 * The Alertmanager config: dashboards/alertmanager/alertmanager.yml rendered
 * with env `ALERT_WEBHOOK_URL` (default: the alert test's local webhook).
 * Throws a one-line error for an invalid URL.
 */
export async function alertmanagerConfig(
  webhookUrl = Deno.env.get("ALERT_WEBHOOK_URL"),
): Promise<string> {
  return alertmanagerYml(
    await Deno.readTextFile(abs(ALERTMANAGER_TEMPLATE)),
    alertWebhookUrl(webhookUrl),
  );
}

/** Build the native spec of a service. */
export function nativeSpec(svc: Service, bins: Binaries): NativeSpec {
  const dir = abs(svc.dir);
  const libs = `${abs(KAFKA_LIBS)}/*`;
  switch (svc.kind) {
    case "zookeeper": {
      const spec: NativeSpec = {
        argv: [
          bins.java,
          "-Xms64m",
          "-Xmx128m",
          "-Djava.awt.headless=true",
          `-Dlog4j.configuration=file:${dir}/log4j.properties`,
          // Metrics: Debian's ZooKeeper has no Prometheus provider, so the
          // JMX agent exports its MBeans with dashboards/' rules.
          ...(bins.jmxAgent
            ? [
              `-javaagent:${abs(JMX_AGENT)}=${HOST}:${ZOOKEEPER.jmxPort}:${
                abs(ZOOKEEPER_JMX_CONFIG)
              }`,
            ]
            : []),
          "-cp",
          libs,
          "org.apache.zookeeper.server.ZooKeeperServerMain",
          `${dir}/zoo.cfg`,
        ],
        marker: `${dir}/zoo.cfg`,
        stopSignal: "TERM",
        startupFiles: {
          [`${dir}/zoo.cfg`]: zooCfg(`${dir}/data`),
          [`${dir}/log4j.properties`]: log4jProperties(),
        },
        prepare: async () => {
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await writeStartupFiles(spec);
        },
      };
      return spec;
    }
    case "kafka": {
      const broker = KAFKA_BROKERS.find((b) => b.name === svc.name)!;
      const agent = abs(JMX_AGENT);
      const spec: NativeSpec = {
        argv: [
          bins.java,
          "-Xms128m",
          "-Xmx384m",
          "-XX:+UseG1GC",
          "-XX:MaxGCPauseMillis=20",
          "-Djava.awt.headless=true",
          `-Dlog4j.configuration=file:${dir}/log4j.properties`,
          `-Dkafka.logs.dir=${dir}`,
          ...(bins.jmxAgent
            ? [
              `-javaagent:${agent}=${HOST}:${broker.jmxPort}:${dir}/jmx_exporter.yml`,
            ]
            : []),
          "-cp",
          libs,
          "kafka.Kafka",
          `${dir}/server.properties`,
        ],
        marker: `${dir}/server.properties`,
        stopSignal: "TERM",
        // When the whole cluster stops, the last broker's controlled shutdown
        // waits for a controller quorum that is gone: KILL it after 15 s.
        stopGraceMs: 15_000,
        startupFiles: {
          [`${dir}/server.properties`]: kafkaProperties(broker, `${dir}/data`),
          [`${dir}/log4j.properties`]: log4jProperties(),
        },
        prepare: async () => {
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await writeStartupFiles(spec);
          // The agent re-reads this file by itself: not a startup file.
          if (bins.jmxAgent) {
            await write(`${dir}/jmx_exporter.yml`, jmxExporterYaml());
          }
          if (!(await exists(`${dir}/data/meta.properties`))) {
            await run(bins.java, [
              "-Xmx256m",
              `-Dlog4j.configuration=file:${dir}/log4j.properties`,
              "-cp",
              libs,
              "kafka.tools.StorageTool",
              "format",
              "-t",
              KAFKA_CLUSTER_ID,
              "-c",
              `${dir}/server.properties`,
              "--ignore-formatted",
            ], `formatting Kafka storage of ${svc.name}`);
          }
        },
      };
      return spec;
    }
    case "clickhouse": {
      const node = CLICKHOUSE_NODES.find((n) => n.name === svc.name)!;
      const spec: NativeSpec = {
        argv: [bins.clickhouse, `--config-file=${dir}/config.xml`],
        marker: `${dir}/config.xml`,
        stopSignal: "TERM",
        startupFiles: {
          [`${dir}/config.xml`]: clickhouseConfig(node, {
            data: `${dir}/data`,
            log: `${dir}/log`,
            errorLog: `${dir}/err.log`,
          }),
          [`${dir}/users.xml`]: clickhouseUsers(),
        },
        prepare: async () => {
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await writeStartupFiles(spec);
        },
      };
      return spec;
    }
    case "haproxy": {
      const spec: NativeSpec = {
        argv: [bins.haproxy, "-db", "-f", `${dir}/haproxy.cfg`],
        marker: `${dir}/haproxy.cfg`,
        stopSignal: "TERM",
        startupFiles: { [`${dir}/haproxy.cfg`]: haproxyCfg() },
        takeOverArgs: (oldPid) => ["-sf", String(oldPid)],
        prepare: async () => {
          await Deno.mkdir(dir, { recursive: true });
          await writeStartupFiles(spec);
        },
      };
      return spec;
    }
    case "postgres":
      return {
        argv: [...asPostgres(bins), bins.postgres, "-D", `${dir}/data`],
        marker: `${dir}/data`,
        stopSignal: "INT", // fast shutdown
        // Runs through setpriv, and its settings are applied by PostgreSQL
        // itself: never restarted by `up` (the CDC slot users would notice).
        compareArgv: false,
        prepare: () => preparePostgres(dir, bins),
      };
    case "postgres_exporter":
      return {
        argv: [
          bins.postgresExporter,
          `--web.listen-address=${HOST}:${POSTGRES_EXPORTER.port}`,
        ],
        env: { DATA_SOURCE_NAME: postgresExporterDsn() },
        marker: `${HOST}:${POSTGRES_EXPORTER.port}`,
        stopSignal: "TERM",
        prepare: async () => {
          await Deno.mkdir(dir, { recursive: true });
        },
      };
    case "prometheus":
      return {
        argv: [
          bins.prometheus,
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/data`,
          `--web.listen-address=${HOST}:${PROMETHEUS.port}`,
          "--web.enable-lifecycle",
          "--storage.tsdb.retention.time=7d",
        ],
        marker: `${dir}/prometheus.yml`,
        stopSignal: "TERM",
        prepare: async () => {
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await write(
            `${dir}/prometheus.yml`,
            prometheusYml({
              ruleFiles: PROMETHEUS_RULE_GLOBS.map((g) => abs(g)),
              kafkaJmx: bins.jmxAgent,
              zookeeperJmx: bins.jmxAgent,
            }),
          );
        },
      };
    case "alertmanager":
      return {
        argv: [
          bins.alertmanager,
          `--config.file=${dir}/alertmanager.yml`,
          `--storage.path=${dir}/data`,
          `--web.listen-address=${HOST}:${ALERTMANAGER.port}`,
          // Links in notifications point at this Alertmanager.
          `--web.external-url=${ALERTMANAGER_URL}`,
          "--cluster.listen-address=",
        ],
        marker: `${dir}/alertmanager.yml`,
        stopSignal: "TERM",
        prepare: async () => {
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await write(`${dir}/alertmanager.yml`, await alertmanagerConfig());
        },
      };
  }
}

async function preparePostgres(dir: string, bins: Binaries): Promise<void> {
  // As root, files belong to the postgres user; otherwise to us.
  const ids = bins.root ? (await postgresUid())! : undefined;
  const chown = async (path: string) => {
    if (ids) await Deno.chown(path, ids.uid, ids.gid);
  };
  const data = `${dir}/data`;
  await Deno.mkdir(dir, { recursive: true });
  if (!(await exists(`${data}/PG_VERSION`))) {
    await Deno.mkdir(data, { recursive: true });
    await chown(data);
    await Deno.chmod(data, 0o700);
    const pwfile = `${dir}/.pwfile`;
    await Deno.writeTextFile(pwfile, POSTGRES.password + "\n", { mode: 0o600 });
    await chown(pwfile);
    try {
      const [cmd, ...pre] = [...asPostgres(bins), bins.initdb];
      await run(cmd, [
        ...pre,
        "-D",
        data,
        `--username=${POSTGRES.user}`,
        `--pwfile=${pwfile}`,
        "--auth-host=scram-sha-256",
        "--auth-local=peer",
        "--encoding=UTF8",
        "--locale=C",
      ], "initdb (PostgreSQL)");
    } finally {
      await Deno.remove(pwfile).catch(() => {});
    }
  }
  // Unix socket inside the state folder, so we never touch the machine's /var/run/postgresql.
  await Deno.mkdir(`${dir}/run`, { recursive: true });
  await chown(`${dir}/run`);
  await write(
    `${data}/postgresql.conf`,
    postgresConf({
      unix_socket_directories: `${dir}/run`,
      dynamic_shared_memory_type: "posix",
      lc_messages: "C",
      datestyle: "iso, mdy",
    }),
  );
  await write(`${data}/pg_hba.conf`, pgHba());
  for (const f of ["postgresql.conf", "pg_hba.conf"]) {
    await chown(`${data}/${f}`);
  }
}

/** `.cluster/<svc>/pid` path (absolute). */
export function pidFile(svc: Service): string {
  return abs(`${svc.dir}/pid`);
}

/** `.cluster/<svc>/log` path (repo-relative, for messages). */
export function logFile(svc: Service): string {
  return `${svc.dir}/log`;
}

/** Pid of a running service process, or undefined when it is not running. */
export async function runningPid(
  svc: Service,
  spec: NativeSpec,
): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile(svc))).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return (await processAlive(pid, spec.marker)) ? pid : undefined;
}

/**
 * True when `pid` exists, is not a zombie and its command line contains `marker`.
 * Uses `ps` (Deno requires --allow-all to read /proc/<pid>/*).
 */
export async function processAlive(
  pid: number,
  marker?: string,
): Promise<boolean> {
  const args = await processArgs(pid);
  return args !== undefined && (marker === undefined || args.includes(marker));
}

/**
 * Command line (`ps args`, arguments joined by spaces) of a live process, or
 * undefined when it does not exist or is a zombie.
 */
export async function processArgs(pid: number): Promise<string | undefined> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "stat=,args=", "-ww", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return undefined;
  const line = new TextDecoder().decode(out.stdout).trim();
  const m = /^(\S+)\s+(.*)$/.exec(line);
  if (!m || m[1].startsWith("Z") || m[1].startsWith("X")) return undefined;
  return m[2];
}

/** Start a service detached (new session, log appended to `.cluster/<svc>/log`). */
export async function startService(
  svc: Service,
  spec: NativeSpec,
): Promise<void> {
  await spec.prepare();
  await Deno.mkdir(abs(svc.dir), { recursive: true });
  const logPath = abs(logFile(svc));
  await Deno.writeTextFile(
    logPath,
    `\n=== ${new Date().toISOString()} starting ${svc.name}\n`,
    { append: true },
  );
  const out = await new Deno.Command(abs("tasks/cluster/daemonize.sh"), {
    args: [pidFile(svc), logPath, ...spec.argv],
    cwd: ROOT,
    env: spec.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `could not start ${svc.name}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/** Send a signal with the `kill` binary (Deno.kill would need unscoped --allow-run). */
export async function signal(
  pid: number,
  sig: "TERM" | "INT" | "KILL",
): Promise<void> {
  await new Deno.Command("kill", {
    args: [`-${sig}`, String(pid)],
    stdout: "null",
    stderr: "null",
  })
    .output();
}

/** Stop a service: graceful signal, then KILL after the deadline. Returns true if it was running. */
export async function stopService(
  svc: Service,
  spec: NativeSpec,
  graceMs = spec.stopGraceMs ?? 30_000,
): Promise<boolean> {
  const pid = await runningPid(svc, spec);
  if (pid === undefined) return false;
  await signal(pid, spec.stopSignal);
  const deadline = Date.now() + graceMs;
  while (await processAlive(pid)) {
    if (Date.now() > deadline) {
      await signal(pid, "KILL");
      await new Promise((r) => setTimeout(r, 200));
      if (!(await processAlive(pid))) break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await Deno.remove(pidFile(svc)).catch(() => {});
  return true;
}

/** Last lines of a service log, for error messages. */
export async function tailLog(svc: Service, lines = 12): Promise<string> {
  try {
    const text = await Deno.readTextFile(abs(logFile(svc)));
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Regenerate the Prometheus and Alertmanager configs of a running native
 * cluster and hot-reload them (Prometheus always, for its rule files;
 * Alertmanager when its config changed), so topology edits such as new
 * scrape targets apply on the next `up` without a restart.
 */
export async function reloadMonitoringConfigs(): Promise<string[]> {
  const reloaded: string[] = [];
  const prom = SERVICES.find((s) => s.kind === "prometheus")!;
  const am = SERVICES.find((s) => s.kind === "alertmanager")!;
  const jmx = await exists(abs(JMX_AGENT));
  await write(
    `${abs(prom.dir)}/prometheus.yml`,
    prometheusYml({
      ruleFiles: PROMETHEUS_RULE_GLOBS.map((g) => abs(g)),
      kafkaJmx: jmx,
      zookeeperJmx: jmx,
    }),
  );
  const amChanged = await write(
    `${abs(am.dir)}/alertmanager.yml`,
    await alertmanagerConfig(),
  );
  // The JMX agent re-reads its config file by itself when it changes.
  for (const k of SERVICES.filter((s) => s.kind === "kafka")) {
    if (await exists(`${abs(k.dir)}/jmx_exporter.yml`)) {
      await write(`${abs(k.dir)}/jmx_exporter.yml`, jmxExporterYaml());
    }
  }
  for (
    const [changed, name, port] of [
      // Always reload Prometheus: rule files (dashboards/alerts/*.yml) may have changed.
      [true, prom.name, PROMETHEUS.port],
      [amChanged, am.name, ALERTMANAGER.port],
    ] as const
  ) {
    if (!changed) continue;
    const res = await fetch(`http://${HOST}:${port}/-/reload`, {
      method: "POST",
    });
    await res.body?.cancel();
    if (!res.ok) {
      throw new Error(
        `${name} rejected its new config (HTTP ${res.status}); see its log`,
      );
    }
    reloaded.push(name);
  }
  return reloaded;
}

/** True when a running command line is `spec.argv` (possibly plus take-over args). */
export function argvMatches(args: string, spec: NativeSpec): boolean {
  const want = spec.argv.join(" ");
  if (args === want) return true;
  if (!spec.takeOverArgs || !args.startsWith(want + " ")) return false;
  const pid = /(\d+)$/.exec(args)?.[1];
  return pid !== undefined &&
    args === [...spec.argv, ...spec.takeOverArgs(Number(pid))].join(" ");
}

/**
 * Why a running service no longer matches its spec: its command line differs
 * from `argv` (e.g. the JMX agent or a flag was added), or a startup config
 * file differs from the generated one. Empty when it matches or is not
 * running. Nothing is written.
 */
export async function configDrift(
  svc: Service,
  spec: NativeSpec,
): Promise<string[]> {
  const pid = await runningPid(svc, spec);
  if (pid === undefined) return [];
  const reasons: string[] = [];
  if (spec.compareArgv !== false) {
    const args = await processArgs(pid);
    if (args !== undefined && !argvMatches(args, spec)) {
      reasons.push("command line changed");
    }
  }
  for (const [path, content] of Object.entries(spec.startupFiles ?? {})) {
    let old: string | undefined;
    try {
      old = await Deno.readTextFile(path);
    } catch { /* missing */ }
    if (old !== content) {
      reasons.push(`${path.slice(path.lastIndexOf("/") + 1)} changed`);
    }
  }
  return reasons;
}

/**
 * Restart a running service with its current spec: a seamless take-over when
 * the spec supports it (HAProxy), else stop then start. Waiting for health
 * is the caller's job.
 */
export async function restartService(
  svc: Service,
  spec: NativeSpec,
): Promise<void> {
  const old = await runningPid(svc, spec);
  if (old === undefined || !spec.takeOverArgs) {
    await stopService(svc, spec);
    await startService(svc, spec);
    return;
  }
  await startService(svc, {
    ...spec,
    argv: [...spec.argv, ...spec.takeOverArgs(old)],
  });
  // A new process that cannot start (bad config) exits at once and leaves
  // the old one serving: keep tracking the old one and report.
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    const fresh = await runningPid(svc, spec);
    if (fresh === undefined) {
      await Deno.writeTextFile(pidFile(svc), `${old}\n`);
      throw new Error(
        `the new ${svc.name} process exited; the old one (pid ${old}) keeps serving. See ${
          logFile(svc)
        }`,
      );
    }
    if (!(await processAlive(old))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  // Still alive: the old process drains open connections, then exits.
}
