/**
 * Cluster launcher CLI.
 *
 *   up [--native|--compose] [--timeout=SEC] [--write-compose]
 *   down [--purge]
 *   status [--json]
 *   compose:gen [--check]
 *   schemas
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  COMPOSE_ONLY_SERVICES,
  type Service,
  SERVICES,
  STATE_DIR,
} from "../../schemas/topology.ts";
import {
  abs,
  alertmanagerConfig,
  type Binaries,
  checkPrerequisites,
  configDrift,
  logFile,
  MissingPrerequisite,
  nativeSpec,
  reloadMonitoringConfigs,
  restartService,
  startService,
  stopService,
  tailLog,
  UNRESOLVED_BINARIES,
} from "./native.ts";
import { portOpen } from "./health.ts";
import {
  CLUSTER_SECRETS_FILE,
  composeSecretsEnv,
  prepareClusterState,
} from "./secrets.ts";
import {
  clusterStatus,
  formatStatus,
  type Mode,
  type ServiceStatus,
  serviceStatus,
} from "./status.ts";
import {
  applyClickHouse,
  applyKafkaTopics,
  applyPostgres,
  underReplicatedPartitions,
} from "./schemas.ts";
import {
  compose,
  composeDrift,
  composeEnv,
  dockerEngineAvailable,
  writeComposeFiles,
} from "./compose.ts";

const USAGE = `Usage: deno task <up|down|status|compose:gen> [options]

  up [--native|--compose] [--timeout=SEC] [--write-compose]
      Start the cluster (compose when a Docker engine answers, else native
      processes under ${STATE_DIR}/), wait until healthy, apply schemas/.
      Idempotent: only services that are down are started; natively, a
      running service whose command line or startup config changed is
      restarted, one at a time (HAProxy seamlessly), and Prometheus and
      Alertmanager reload theirs. Env ALERT_WEBHOOK_URL: where Alertmanager
      posts (default http://127.0.0.1:19096/alert).
  down [--purge]        Stop the cluster (data kept); --purge also deletes its data.
  status [--json]       Every service with address, pid and health.
  compose:gen [--check] (Re)generate compose/ from schemas/topology.ts;
                        --check exits 1 when the committed files differ.
  schemas               Apply schemas/ to a running cluster.
`;

/** Usage error (exit 2). */
class UsageError extends Error {}

/** Failure with a clear message (exit 1, no stack trace). */
class ClusterError extends Error {}

const MODE_FILE = `${STATE_DIR}/mode`;

async function readMode(): Promise<Mode> {
  try {
    const m = (await Deno.readTextFile(abs(MODE_FILE))).trim();
    return m === "compose" ? "compose" : "native";
  } catch {
    return "native";
  }
}

async function writeMode(mode: Mode): Promise<void> {
  await Deno.mkdir(abs(STATE_DIR), { recursive: true });
  await Deno.writeTextFile(abs(MODE_FILE), mode + "\n");
}

function log(msg: string): void {
  console.log(`[cluster] ${msg}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function chooseMode(
  flags: { native?: boolean; compose?: boolean },
): Promise<Mode> {
  if (flags.native && flags.compose) {
    throw new UsageError("--native and --compose are exclusive");
  }
  if (flags.native) {
    log("mode: native (forced by --native)");
    return "native";
  }
  if (flags.compose) {
    log("mode: compose (forced by --compose)");
    return "compose";
  }
  const docker = await dockerEngineAvailable();
  const mode: Mode = docker.ok ? "compose" : "native";
  log(`mode: ${mode} (${docker.why})`);
  return mode;
}

async function describeFailure(
  svc: Service,
  st: ServiceStatus | undefined,
  mode: Mode,
): Promise<string> {
  const where = mode === "native"
    ? logFile(svc)
    : `docker compose -f compose/docker-compose.yml logs ${svc.name}`;
  const tail = mode === "native"
    ? `\n--- last lines of ${logFile(svc)} ---\n${await tailLog(svc)}`
    : "";
  return `${svc.name} (${svc.address}) not healthy: ${
    st?.detail ?? "not started"
  }; log: ${where}${tail}`;
}

/** A running process unhealthy this long is considered wedged and restarted. */
const STUCK_MS = 90_000;

/** How often `up` (re)starts a service that exits during startup before giving up. */
const MAX_START_ATTEMPTS = 3;

/** Start what is down and wait until every service is healthy. */
async function waitHealthy(
  mode: Mode,
  bins: Binaries | undefined,
  deadline: number,
): Promise<void> {
  const started = new Map<string, number>();
  const unhealthySince = new Map<string, number>();
  const restarting = new Set<string>();
  const deps = new Map(SERVICES.map((s) => [s.name, s.dependsOn]));
  let last = new Map<string, ServiceStatus>();
  let reported = "";
  while (true) {
    const list = await Promise.all(
      SERVICES.map((s) => serviceStatus(s, mode)),
    );
    last = new Map(list.map((s) => [s.name, s]));
    const unhealthy = list.filter((s) => !s.healthy);
    for (const s of list) if (s.healthy) unhealthySince.delete(s.name);
    if (unhealthy.length === 0) return;
    if (mode === "native" && bins) {
      const toStart: Service[] = [];
      for (const st of unhealthy) {
        const svc = SERVICES.find((s) => s.name === st.name)!;
        if (st.pid !== null) {
          // Running, maybe still starting; a process wedged too long is restarted.
          const since = unhealthySince.get(svc.name) ?? Date.now();
          unhealthySince.set(svc.name, since);
          if (Date.now() - since > STUCK_MS) {
            log(
              `${svc.name} alive but unhealthy for ${
                STUCK_MS / 1000
              }s (${st.detail}); restarting`,
            );
            await stopService(svc, nativeSpec(svc, bins), 10_000);
            unhealthySince.delete(svc.name);
            restarting.add(svc.name);
          }
          continue;
        }
        unhealthySince.delete(svc.name);
        const attempts = started.get(svc.name) ?? 0;
        if (attempts >= MAX_START_ATTEMPTS) {
          const why = await describeFailure(svc, st, mode);
          throw new ClusterError(
            `${svc.name} exited during startup (${attempts} attempts).\n${why}`,
          );
        }
        if (attempts > 0 && !restarting.delete(svc.name)) {
          log(
            `${svc.name} exited during startup; retrying (see ${logFile(svc)})`,
          );
        }
        if (!deps.get(svc.name)!.every((d) => last.get(d)?.healthy)) continue;
        if (await portOpen(Number(svc.address.split(":")[1]))) {
          throw new ClusterError(
            `port ${svc.address} of ${svc.name} is taken by another process (not ours). ` +
              `Stop it (or the compose stack: deno task down --compose) and retry.`,
          );
        }
        toStart.push(svc);
      }
      if (toStart.length > 0) {
        log(`starting ${toStart.map((s) => s.name).join(", ")}`);
        await Promise.all(toStart.map(async (svc) => {
          try {
            await startService(svc, nativeSpec(svc, bins));
          } catch (e) {
            throw new ClusterError(
              `${svc.name}: ${(e as Error).message}\nlog: ${logFile(svc)}`,
            );
          }
          started.set(svc.name, (started.get(svc.name) ?? 0) + 1);
        }));
        continue;
      }
    }
    const waiting = unhealthy.map((s) => s.name).join(", ");
    if (waiting !== reported) {
      log(`waiting for ${waiting}`);
      reported = waiting;
    }
    if (Date.now() > deadline) {
      const msgs = await Promise.all(
        unhealthy.map((st) =>
          describeFailure(SERVICES.find((s) => s.name === st.name)!, st, mode)
        ),
      );
      throw new ClusterError(
        `timed out waiting for a healthy cluster:\n${msgs.join("\n")}`,
      );
    }
    await sleep(500);
  }
}

/** How long one service may take to be healthy again after a restart. */
const RESTART_HEALTHY_MS = 120_000;

/** Poll until one service is healthy; throws with its log tail otherwise. */
async function waitServiceHealthy(
  svc: Service,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const st = await serviceStatus(svc, "native");
    if (st.healthy) return;
    if (Date.now() > deadline) {
      throw new ClusterError(
        `${svc.name} not healthy after its restart:\n${await describeFailure(
          svc,
          st,
          "native",
        )}`,
      );
    }
    await sleep(500);
  }
}

/**
 * Natively, restart the running services whose command line or startup
 * config no longer matches the topology, one at a time: each must be healthy
 * again (a broker: every partition back in sync) before the next one goes.
 * Returns the restarted names.
 */
async function applyConfigChanges(bins: Binaries): Promise<string[]> {
  const restarted: string[] = [];
  for (const svc of SERVICES) {
    const spec = nativeSpec(svc, bins);
    const why = await configDrift(svc, spec);
    if (why.length === 0) continue;
    log(`restarting ${svc.name}: ${why.join(", ")}`);
    try {
      await restartService(svc, spec);
    } catch (e) {
      throw new ClusterError(`${svc.name}: ${(e as Error).message}`);
    }
    await waitServiceHealthy(svc, RESTART_HEALTHY_MS);
    if (svc.kind === "kafka") {
      const deadline = Date.now() + RESTART_HEALTHY_MS;
      let lagging = -1;
      while (
        (lagging = await underReplicatedPartitions().catch(() => -1)) !== 0
      ) {
        if (Date.now() > deadline) {
          throw new ClusterError(
            `${svc.name} restarted but ${lagging} partitions are still under-replicated`,
          );
        }
        await sleep(1000);
      }
    }
    restarted.push(svc.name);
  }
  return restarted;
}

/** Apply every schema, retrying transient errors until the deadline. */
async function applySchemas(deadline: number): Promise<void> {
  for (
    const [name, fn] of [
      ["kafka", applyKafkaTopics],
      ["clickhouse", applyClickHouse],
      ["postgres", applyPostgres],
    ] as const
  ) {
    let lastError = "";
    while (true) {
      try {
        log(await fn());
        break;
      } catch (e) {
        const msg = (e as Error).message;
        if (msg !== lastError) {
          log(`${name} schemas: ${msg.split("\n")[0]} (retrying)`);
          lastError = msg;
        }
        if (Date.now() > deadline) {
          throw new ClusterError(
            `applying ${name} schemas failed: ${(e as Error).message}`,
          );
        }
        await sleep(1000);
      }
    }
  }
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      native: { type: "boolean" },
      compose: { type: "boolean" },
      timeout: { type: "string", default: "240" },
      "write-compose": { type: "boolean" },
      "no-schemas": { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  const timeoutSec = Number(values.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
    throw new UsageError(`bad --timeout: ${values.timeout}`);
  }
  const t0 = Date.now();
  const deadline = t0 + timeoutSec * 1000;
  if (values["write-compose"]) {
    const changed = await writeComposeFiles();
    log(`compose files: ${changed.length ? changed.join(", ") : "unchanged"}`);
  }
  const mode = await chooseMode(values);
  // Render it first: an invalid ALERT_WEBHOOK_URL fails before anything starts.
  const amConfig = await alertmanagerConfig();
  let bins: Binaries | undefined;
  if (mode === "native") bins = await checkPrerequisites();
  // Before any config is rendered: ClickHouse's users.xml needs the hashes.
  const state = await prepareClusterState(abs(STATE_DIR), !!bins?.root);
  if (state.created) {
    log(`generated the ClickHouse passwords: ${CLUSTER_SECRETS_FILE} (0600)`);
  }
  if (mode === "native") {
    log(
      `compose only (not run natively): ${
        COMPOSE_ONLY_SERVICES.map((s) => s.name).join(", ")
      }`,
    );
  } else {
    await writeComposeFiles();
    await compose(["up", "-d"], {
      ...await composeEnv(amConfig),
      ...composeSecretsEnv(state.secrets),
    });
  }
  await writeMode(mode);
  await waitHealthy(mode, bins, deadline);
  log(
    `all ${SERVICES.length} services healthy after ${
      ((Date.now() - t0) / 1000).toFixed(1)
    }s`,
  );
  if (mode === "native") {
    const restarted = await applyConfigChanges(bins!);
    if (restarted.length) log(`restarted ${restarted.join(", ")}`);
    const reloaded = await reloadMonitoringConfigs();
    if (reloaded.length) log(`reloaded config of ${reloaded.join(", ")}`);
  }
  if (!values["no-schemas"]) await applySchemas(deadline);
  const st = await clusterStatus(mode);
  console.log(formatStatus(st));
  log(`up done in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  if (!st.healthy) {
    throw new ClusterError("cluster not healthy after schemas were applied");
  }
}

async function down(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      purge: { type: "boolean" },
      native: { type: "boolean" },
      compose: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  const mode: Mode = values.compose
    ? "compose"
    : values.native
    ? "native"
    : await readMode();
  if (mode === "compose") {
    await compose(values.purge ? ["down", "-v"] : ["stop"]);
  } else {
    const bins = UNRESOLVED_BINARIES;
    const stages: Service["kind"][][] = [
      ["prometheus", "alertmanager", "postgres_exporter", "haproxy"],
      ["clickhouse", "kafka"],
      ["zookeeper", "postgres"],
    ];
    for (const kinds of stages) {
      const svcs = SERVICES.filter((s) => kinds.includes(s.kind));
      const stopped = await Promise.all(
        svcs.map((s) => stopService(s, nativeSpec(s, bins))),
      );
      const names = svcs.filter((_, i) => stopped[i]).map((s) => s.name);
      if (names.length) log(`stopped ${names.join(", ")}`);
    }
  }
  if (values.purge) {
    await Deno.remove(abs(STATE_DIR), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    log(`purged ${STATE_DIR}/`);
  } else {
    log(`cluster stopped (data kept in ${STATE_DIR}/)`);
  }
}

async function status(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { json: { type: "boolean" } },
    strict: true,
    allowPositionals: false,
  });
  const mode = await readMode();
  const st = await clusterStatus(mode);
  console.log(values.json ? JSON.stringify(st, null, 2) : formatStatus(st));
  if (!st.healthy) Deno.exitCode = 3;
}

async function composeGen(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { check: { type: "boolean" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.check) {
    const drift = await composeDrift();
    if (drift.length) {
      throw new ClusterError(
        `compose/ is stale (run deno task compose:gen): ${drift.join(", ")}`,
      );
    }
    log("compose/ matches schemas/topology.ts");
    return;
  }
  const changed = await writeComposeFiles();
  log(
    changed.length
      ? `wrote ${changed.join(", ")}`
      : "compose/ already up to date",
  );
}

/** CLI entry point. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (
      rest.includes("--help") || rest.includes("-h") || cmd === "--help" ||
      cmd === "-h"
    ) {
      console.log(USAGE);
      return 0;
    }
    switch (cmd) {
      case "up":
        await up(rest);
        break;
      case "down":
        await down(rest);
        break;
      case "status":
        await status(rest);
        break;
      case "compose:gen":
        await composeGen(rest);
        break;
      case "schemas":
        await applySchemas(Date.now() + 60_000);
        break;
      default:
        throw new UsageError(
          cmd ? `unknown command: ${cmd}` : "missing command",
        );
    }
    return Number(Deno.exitCode ?? 0);
  } catch (e) {
    if (
      e instanceof UsageError ||
      (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`error: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof MissingPrerequisite || e instanceof ClusterError) {
      console.error(`[cluster] error: ${e.message}`);
      return 1;
    }
    console.error(
      `[cluster] error: ${e instanceof Error ? e.message : String(e)}`,
    );
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
