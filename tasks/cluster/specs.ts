/**
 * Native service specs: for each service of the topology, the command line
 * that runs it, its stop signal, and the config files it needs, rendered from
 * the topology by ./configs.ts. Nothing here starts or signals a process
 * (see ./processes.ts).
 *
 * @module
 */

import {
  ALERTMANAGER,
  ALERTMANAGER_URL,
  CLICKHOUSE_NODES,
  HOST,
  KAFKA_BROKERS,
  KAFKA_CLUSTER_ID,
  POSTGRES,
  POSTGRES_EXPORTER,
  PROMETHEUS,
  PROMETHEUS_RULE_GLOBS,
  type Service,
  SERVICES,
  ZOOKEEPER,
  ZOOKEEPER_JMX_CONFIG,
} from "../../schemas/topology.ts";
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
import { ALERTMANAGER_TEMPLATE, alertWebhookUrl } from "./alertmanager.ts";
import {
  abs,
  exists,
  JMX_AGENT,
  KAFKA_LIBS,
  privateDir,
  ROOT,
  writeIfChanged,
} from "./paths.ts";
import { loadClusterSecretsSync, nativeClickHouseAuth } from "./secrets.ts";
import { runningPid, signal } from "./processes.ts";
import { asPostgres, type Binaries, postgresUid } from "./binaries.ts";
import type { NativeSpec } from "./spec.ts";
export type { NativeSpec } from "./spec.ts";

/** Write every startup file of a spec (only those whose content changed). */
async function writeStartupFiles(spec: NativeSpec): Promise<void> {
  for (const [path, content] of Object.entries(spec.startupFiles ?? {})) {
    await writeIfChanged(
      path,
      content,
      spec.secretFiles?.includes(path) ? 0o600 : undefined,
    );
  }
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

/**
 * The string that identifies a service's process in its command line (see
 * {@link NativeSpec.marker}), without rendering any config: `status` and
 * `down` use it to find the process.
 */
export function nativeMarker(svc: Service): string {
  const dir = abs(svc.dir);
  switch (svc.kind) {
    case "zookeeper":
      return `${dir}/zoo.cfg`;
    case "kafka":
      return `${dir}/server.properties`;
    case "clickhouse":
      return `${dir}/config.xml`;
    case "haproxy":
      return `${dir}/haproxy.cfg`;
    case "postgres":
      return `${dir}/data`;
    case "postgres_exporter":
      return `${HOST}:${POSTGRES_EXPORTER.port}`;
    case "prometheus":
      return `${dir}/prometheus.yml`;
    case "alertmanager":
      return `${dir}/alertmanager.yml`;
  }
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
        marker: nativeMarker(svc),
        stopSignal: "TERM",
        startupFiles: {
          [`${dir}/zoo.cfg`]: zooCfg(`${dir}/data`),
          [`${dir}/log4j.properties`]: log4jProperties(),
        },
        prepare: async () => {
          await privateDir(dir);
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
        marker: nativeMarker(svc),
        stopSignal: "TERM",
        // When the whole cluster stops, the last broker's controlled shutdown
        // waits for a controller quorum that is gone: KILL it after 15 s.
        stopGraceMs: 15_000,
        startupFiles: {
          [`${dir}/server.properties`]: kafkaProperties(broker, `${dir}/data`),
          [`${dir}/log4j.properties`]: log4jProperties(),
        },
        prepare: async () => {
          await privateDir(dir);
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await writeStartupFiles(spec);
          // The agent re-reads this file by itself: not a startup file.
          if (bins.jmxAgent) {
            await writeIfChanged(`${dir}/jmx_exporter.yml`, jmxExporterYaml());
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
      // `up` writes .cluster/secrets.env before any spec is rendered.
      const auth = nativeClickHouseAuth(loadClusterSecretsSync());
      const spec: NativeSpec = {
        argv: [bins.clickhouse, `--config-file=${dir}/config.xml`],
        marker: nativeMarker(svc),
        stopSignal: "TERM",
        startupFiles: {
          [`${dir}/config.xml`]: clickhouseConfig(node, {
            data: `${dir}/data`,
            log: `${dir}/log`,
            errorLog: `${dir}/err.log`,
          }, auth.remote),
          [`${dir}/users.xml`]: clickhouseUsers(auth.users),
        },
        // remote_servers holds the passwords themselves.
        secretFiles: [`${dir}/config.xml`, `${dir}/users.xml`],
        prepare: async () => {
          await privateDir(dir);
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await writeStartupFiles(spec);
        },
      };
      return spec;
    }
    case "haproxy": {
      const spec: NativeSpec = {
        argv: [bins.haproxy, "-db", "-f", `${dir}/haproxy.cfg`],
        marker: nativeMarker(svc),
        stopSignal: "TERM",
        startupFiles: { [`${dir}/haproxy.cfg`]: haproxyCfg() },
        takeOverArgs: (oldPid) => ["-sf", String(oldPid)],
        prepare: async () => {
          await privateDir(dir);
          await writeStartupFiles(spec);
        },
      };
      return spec;
    }
    case "postgres":
      return {
        argv: [...asPostgres(bins), bins.postgres, "-D", `${dir}/data`],
        marker: nativeMarker(svc),
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
        marker: nativeMarker(svc),
        stopSignal: "TERM",
        prepare: async () => {
          await privateDir(dir);
        },
      };
    case "prometheus":
      return {
        argv: [
          bins.prometheus,
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/data`,
          `--web.listen-address=${HOST}:${PROMETHEUS.port}`,
          // No --web.enable-lifecycle: any local web page could POST
          // /-/quit. `up` reloads it with SIGHUP instead.
          "--storage.tsdb.retention.time=7d",
        ],
        marker: nativeMarker(svc),
        stopSignal: "TERM",
        prepare: async () => {
          await privateDir(dir);
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          await writeIfChanged(
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
        marker: nativeMarker(svc),
        stopSignal: "TERM",
        prepare: async () => {
          await privateDir(dir);
          await Deno.mkdir(`${dir}/data`, { recursive: true });
          // It holds the webhook URL (a Slack URL is a credential).
          await writeIfChanged(
            `${dir}/alertmanager.yml`,
            await alertmanagerConfig(),
            0o600,
          );
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
  await privateDir(dir);
  await chown(dir);
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
  await writeIfChanged(
    `${data}/postgresql.conf`,
    postgresConf({
      unix_socket_directories: `${dir}/run`,
      dynamic_shared_memory_type: "posix",
      lc_messages: "C",
      datestyle: "iso, mdy",
    }),
  );
  await writeIfChanged(`${data}/pg_hba.conf`, pgHba());
  for (const f of ["postgresql.conf", "pg_hba.conf"]) {
    await chown(`${data}/${f}`);
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
  await writeIfChanged(
    `${abs(prom.dir)}/prometheus.yml`,
    prometheusYml({
      ruleFiles: PROMETHEUS_RULE_GLOBS.map((g) => abs(g)),
      kafkaJmx: jmx,
      zookeeperJmx: jmx,
    }),
  );
  const amChanged = await writeIfChanged(
    `${abs(am.dir)}/alertmanager.yml`,
    await alertmanagerConfig(),
    0o600,
  );
  // The JMX agent re-reads its config file by itself when it changes.
  for (const k of SERVICES.filter((s) => s.kind === "kafka")) {
    if (await exists(`${abs(k.dir)}/jmx_exporter.yml`)) {
      await writeIfChanged(`${abs(k.dir)}/jmx_exporter.yml`, jmxExporterYaml());
    }
  }
  // Always reload Prometheus: rule files (dashboards/alerts/*.yml) may have changed.
  await reloadPrometheus(prom);
  reloaded.push(prom.name);
  if (amChanged) {
    const res = await fetch(`http://${HOST}:${ALERTMANAGER.port}/-/reload`, {
      method: "POST",
    });
    await res.body?.cancel();
    if (!res.ok) {
      throw new Error(
        `${am.name} rejected its new config (HTTP ${res.status}); see its log`,
      );
    }
    reloaded.push(am.name);
  }
  return reloaded;
}

/** Prometheus' own metric for the last reload (1 = it succeeded). */
async function lastReload(): Promise<{ ok: boolean; at: number }> {
  const res = await fetch(`http://${HOST}:${PROMETHEUS.port}/metrics`);
  const text = await res.text();
  const value = (name: string) =>
    Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return {
    ok: value("prometheus_config_last_reload_successful") === 1,
    at: value("prometheus_config_last_reload_success_timestamp_seconds"),
  };
}

/**
 * SIGHUP, since the HTTP reload needs --web.enable-lifecycle; success is read
 * back from Prometheus' reload metrics (a bad config keeps the old one).
 */
async function reloadPrometheus(prom: Service): Promise<void> {
  const pid = await runningPid(prom, { marker: nativeMarker(prom) });
  if (pid === undefined) throw new Error(`${prom.name} is not running`);
  // The metric has whole seconds: a (re)load in the second of the signal
  // or later counts (a start that same second has read the same files).
  const sent = Math.floor(Date.now() / 1000);
  await signal(pid, "HUP");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await lastReload();
    if (!now.ok) break;
    if (now.at >= sent) return;
  }
  throw new Error(
    `${prom.name} did not reload its config after SIGHUP; see its log`,
  );
}
