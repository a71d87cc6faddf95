/**
 * `deno task start`: brings the cluster up if needed, then runs the whole
 * flow at a chosen rate until Ctrl-C (or `--duration`), with a live view;
 * stops every stage cleanly (generators first, then waits for the movers to
 * drain) and prints the reconciliation of the run (`deno task verify`).
 *
 * @module
 */
import {
  clickhouseCredentials,
  type CommandSpec,
  createKafka,
  createLogger,
  DEFAULT_ENDPOINTS,
  PipelineError,
  runPipeline,
  sleep,
} from "../pipelines/runtime/mod.ts";
import { KAFKA_BOOTSTRAP, POSTGRES } from "../schemas/topology.ts";
import { groupLag, highWatermarks } from "./flow/kafka_ranges.ts";
import { renderView, type Scrapes, stageLines } from "./flow/live_view.ts";
import {
  eventsDir,
  FLOW_PORTS,
  flowPlan,
  isGenerator,
  withSecrets,
} from "./flow/plan.ts";
import { scrape } from "./flow/prom_text.ts";
import {
  FLOW_TOPICS,
  HTTP_TOPICS,
  type RunManifest,
} from "./flow/reconcile.ts";
import { Supervised } from "./flow/supervisor.ts";
import { launchTask } from "./_launch.ts";
import { verifyRun } from "./verify.ts";
import { freshnessFromScrape } from "./flow/freshness.ts";
import { hopsFromScrape } from "./flow/hops.ts";
import {
  behind,
  type DrainState,
  drainState,
  formatLsn,
  type Lsn,
} from "./flow/drain.ts";
import { readWalTarget } from "./flow/drain_wal.ts";

const SPEC = {
  name: "start",
  summary:
    "Run the whole flow (generators → shipper → Kafka → sink → ClickHouse, and PostgreSQL → CDC → mirror) with a live view",
  options: {
    rate: {
      type: "number",
      description: "Security + http events per second (split evenly)",
      default: 2000,
      min: 1,
    },
    "cdc-rate": {
      type: "number",
      description: "PostgreSQL row changes per second",
      default: 200,
      min: 0,
    },
    duration: {
      type: "integer",
      description: "Stop after this many seconds (default: until Ctrl-C)",
      min: 1,
    },
    chaos: {
      type: "boolean",
      description:
        "kill -9 every pipeline process once at a random moment and restart it (proves recovery)",
      default: false,
    },
    "no-up": {
      type: "boolean",
      description: "Do not run `deno task up` first",
      default: false,
    },
    "drain-timeout": {
      type: "integer",
      description:
        "Seconds to wait for the stages to drain after the generators stop",
      default: 180,
      min: 1,
    },
  },
  epilog: [
    "Examples:",
    "  deno task start                       # until Ctrl-C, 2,000 events/s + 200 changes/s",
    "  deno task start --duration 60 --chaos # one kill -9 per process, then verify",
  ].join("\n"),
} satisfies CommandSpec;

if (import.meta.main) {
  await runPipeline(SPEC, async ({ options, log, shutdown }) => {
    const runId = new Date().toISOString().replace(/[-:]/g, "").replace(
      /\..*/,
      "",
    );
    const runDir = `.data/runs/${runId}`;
    await Deno.mkdir(`${runDir}/logs`, { recursive: true });
    const settings = {
      runId,
      runDir,
      rate: options.rate,
      cdcRate: options["cdc-rate"],
    };
    await Deno.mkdir(eventsDir(settings), { recursive: true });

    if (!options["no-up"]) {
      console.error("==> deno task up");
      // The launcher runs up with its own flags from deno.json, checked.
      const up = await launchTask("up", [], {
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (up.code !== 0) {
        throw new PipelineError(
          "the cluster did not come up",
          "see `deno task status` and .cluster/*/log",
        );
      }
    }

    const kafka = createKafka({
      brokers: [...KAFKA_BOOTSTRAP],
      clientId: "start",
      log: createLogger("start", "error"),
    });
    const cdcTopics = ["customers.public.users", "customers.public.orders"];
    const before = await highWatermarks(kafka, FLOW_TOPICS);
    const startedAt = new Date();

    await ensurePortsFree();
    const pgPassword = Deno.env.get("PGPASSWORD") ?? POSTGRES.password;
    // From env, else .cluster/secrets.env; in the children's environment
    // (readable by this user only), never on their command lines.
    const ch = clickhouseCredentials("admin");
    const chEnv: Record<string, string> = ch.source === "none" ? {} : {
      CLICKHOUSE_USER: ch.username,
      CLICKHOUSE_PASSWORD: ch.password,
    };
    const plan = withSecrets(flowPlan(settings), {
      ...chEnv,
      PGPASSWORD: pgPassword,
    });
    const procs = plan.map((spec) =>
      new Supervised(
        spec,
        `${runDir}/logs/${spec.name}.log`,
      )
    );
    // Whatever happens (Ctrl-C, an error), no child outlives this process.
    shutdown.add("flow processes", async () => {
      await Promise.all(procs.map((p) => p.stop(10_000)));
    });
    for (const p of procs) await p.start();
    console.error(
      `==> run ${runId}: ${procs.length} processes, logs in ${runDir}/logs`,
    );

    // Chaos: one SIGKILL per process at a random moment in the middle of the run.
    const durationS = options.duration;
    const kills: RunManifest["kills"] = [];
    const chaosPlan = new Map<string, number>();
    if (options.chaos) {
      const span = durationS ?? 60;
      for (const p of procs) {
        chaosPlan.set(p.spec.name, span * (0.2 + Math.random() * 0.6));
      }
    }

    const tty = Deno.stderr.isTerminal();
    const previous = new Map<string, number>();
    let lastLines = 0;
    let lastDraw = 0;
    const t0 = Date.now();
    while (!shutdown.stopping) {
      const elapsed = (Date.now() - t0) / 1000;
      if (durationS !== undefined && elapsed >= durationS) break;
      for (const p of procs) {
        const at = chaosPlan.get(p.spec.name);
        if (at !== undefined && elapsed >= at) {
          chaosPlan.delete(p.spec.name);
          p.kill("SIGKILL");
          await p.exited;
          kills.push({ process: p.spec.name, atS: Math.round(elapsed) });
          console.error(
            `!! kill -9 ${p.spec.name} at ${elapsed.toFixed(0)} s; restarting`,
          );
          await p.start();
        }
      }
      for (const p of procs) {
        if (p.exitedEarly && p.starts <= 3) {
          log.error("process exited unexpectedly; restarting it", {
            process: p.spec.name,
            log: p.logPath,
          });
          await p.start();
        }
      }
      if (Date.now() - lastDraw >= (tty ? 1000 : 10_000)) {
        const view = renderView(
          stageLines(await scrapeAll(procs)),
          previous,
          elapsed,
          (Date.now() - (lastDraw || t0)) / 1000,
        );
        lastDraw = Date.now();
        if (tty && lastLines) {
          Deno.stderr.writeSync(
            new TextEncoder().encode(`\x1b[${lastLines}A\x1b[J`),
          );
        }
        console.error(view);
        lastLines = view.split("\n").length;
      }
      await sleep(250, shutdown.signal);
    }

    console.error("==> stopping generators");
    // Their write hop: the final scrape comes after they stopped.
    const generatorScrapes = await scrapeAll(
      procs.filter((p) => isGenerator(p.spec.name)),
    );
    for (const p of procs.filter((p) => isGenerator(p.spec.name))) {
      await p.stop();
    }

    console.error("==> waiting for the shipper, sinks and CDC relay to drain");
    const drainDeadline = Date.now() + options["drain-timeout"] * 1000;
    await drain(procs, kafka, cdcTopics, drainDeadline, log, {
      url: DEFAULT_ENDPOINTS.postgresUrl,
      password: pgPassword,
    });

    const finalScrapes = await scrapeAll(procs);
    const after = await highWatermarks(kafka, FLOW_TOPICS);
    console.error("==> stopping shipper, sinks and CDC relay");
    for (
      const p of [...procs].reverse().filter((p) => !isGenerator(p.spec.name))
    ) {
      const status = await p.stop();
      if (status && status.code !== 0 && status.signal === null) {
        log.warn("process exited with an error", {
          process: p.spec.name,
          code: status.code,
        });
      }
    }

    const manifest: RunManifest = {
      runId,
      runDir,
      eventsDir: eventsDir(settings),
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      settings: {
        rate: options.rate,
        cdcRate: options["cdc-rate"],
        durationS,
        chaos: options.chaos,
      },
      before,
      after,
      kills,
      freshness: freshnessFromScrape(finalScrapes),
      hops: hopsFromScrape({ ...finalScrapes, ...generatorScrapes }),
    };
    await Deno.writeTextFile(
      `${runDir}/manifest.json`,
      JSON.stringify(manifest, null, 2),
    );
    await Deno.writeTextFile(
      ".data/runs/latest.json",
      JSON.stringify({ runDir }),
    );
    console.error(
      `==> run finished; verifying (again any time: deno task verify)`,
    );
    return await verifyRun(manifest);
  });
}

/** Fails clearly when another run or pipeline holds a port the flow needs. */
async function ensurePortsFree(): Promise<void> {
  for (const [name, port] of Object.entries(FLOW_PORTS)) {
    try {
      const l = Deno.listen({ hostname: "127.0.0.1", port });
      l.close();
    } catch {
      throw new PipelineError(
        `port ${port} (metrics of ${name}) is already in use`,
        "is another `deno task start` or a pipeline task running? stop it first",
      );
    }
  }
  await Promise.resolve();
}

async function scrapeAll(procs: Supervised[]): Promise<Scrapes> {
  const out: Scrapes = {};
  await Promise.all(procs.map(async (p) => {
    out[p.spec.name] = p.spec.metricsUrl
      ? await scrape(p.spec.metricsUrl)
      : undefined;
  }));
  return out;
}

/**
 * Waits until the shipper has shipped every byte, both sink groups have
 * committed everything, and the CDC relay has confirmed PostgreSQL's WAL
 * position of the moment the generators stopped (read here, first).
 */
async function drain(
  procs: Supervised[],
  kafka: ReturnType<typeof createKafka>,
  cdcTopics: string[],
  deadline: number,
  log: ReturnType<typeof createLogger>,
  postgres: { url: string; password: string },
): Promise<void> {
  const t0 = Date.now();
  let target: Lsn | undefined = await readWalTarget(postgres);
  log.info("draining", {
    cdc_wal_target: target === undefined ? "unknown" : formatLsn(target),
  });
  let stable = 0;
  let last: DrainState | undefined;
  let lagging: string[] = ["no check completed"];
  let lastLog = t0;
  while (Date.now() < deadline) {
    try {
      const now = await checkOnce();
      lagging = behind(now, last);
      last = now;
      if (lagging.length === 0) stable++;
      else stable = 0;
    } catch (err) {
      // Leader elections and broker restarts make admin calls fail for a
      // moment: not settled, try again.
      log.debug("drain check failed", { err });
      lagging = [`check failed: ${String(err)}`];
      stable = 0;
    }
    if (stable >= 3) {
      log.info("stages drained", {
        seconds: (Date.now() - t0) / 1000,
        cdc_confirmed: last?.cdcLsn === undefined
          ? "unknown"
          : formatLsn(last.cdcLsn),
      });
      return;
    }
    if (Date.now() - lastLog >= 15_000) {
      lastLog = Date.now();
      log.info("draining", { behind: lagging.join("; ") });
    }
    await sleep(1000);
  }
  log.warn("stages did not drain before the deadline; verifying anyway", {
    behind: lagging.join("; "),
    waited_s: Math.round((Date.now() - t0) / 1000),
  });

  async function checkOnce(): Promise<DrainState> {
    // Unreachable when draining began: a later target is still one every
    // change of the run is below.
    target ??= await readWalTarget(postgres);
    const s = await scrapeAll(procs);
    const sinkLag = await groupLag(kafka, "flow-sink", [
      "security.events",
      ...HTTP_TOPICS,
      "logs.error",
    ]);
    const mirrorLag = await groupLag(kafka, "flow-sink-cdc", cdcTopics);
    const ends = JSON.stringify(
      await highWatermarks(kafka, [...FLOW_TOPICS, ...cdcTopics]),
    );
    return drainState(s, { sinkLag, mirrorLag, ends }, target);
  }
}
