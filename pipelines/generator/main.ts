/**
 * `deno task generate`: security events, HTTP service logs or PostgreSQL row
 * changes — to rotating NDJSON files, Kafka, stdout or PostgreSQL.
 *
 * Flow: options → config → model + clock → output → paced loop → summary.
 *
 * @module
 */
import {
  type PipelineContext,
  PipelineError,
  runPipeline,
  usage,
  UsageError,
} from "../runtime/mod.ts";
import { GENERATOR_SPEC, toConfig } from "./config.ts";
import { WallClock } from "./clock.ts";
import { GeneratorMetrics } from "./metrics.ts";
import { randomSeed } from "./prng.ts";
import {
  cdcSummary,
  eventSummary,
  humanSummary,
  ProgressLine,
  type Summary,
} from "./report.ts";
import { type LoopOptions, runCdcLoop, runEventLoop } from "./run.ts";
import {
  createClock,
  createEventModel,
  openCdc,
  openEventOutput,
} from "./setup.ts";

type Ctx = PipelineContext<typeof GENERATOR_SPEC.options>;

await runPipeline(GENERATOR_SPEC, generate);

async function generate({ options, log, registry, shutdown }: Ctx) {
  let cfg;
  try {
    cfg = toConfig(options, randomSeed);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}\n\n${usage(GENERATOR_SPEC)}`);
    return 2;
  }
  const base = {
    kind: cfg.kind,
    to: cfg.to,
    seed: cfg.seed,
    seeded: cfg.seeded,
  };
  log.info("starting", { ...base, rate: cfg.rate, count: cfg.count });
  const metrics = new GeneratorMetrics(registry, cfg.kind);
  metrics.targetRate.set({ kind: cfg.kind }, cfg.rate);
  const clock = createClock(cfg);
  const progress = new ProgressLine(
    cfg.progress ?? Deno.stderr.isTerminal(),
    `generate ${cfg.kind} → ${cfg.to}`,
  );
  const limits: LoopOptions = {
    count: cfg.count,
    durationMs: cfg.durationMs,
    rate: cfg.rate,
    curve: cfg.curve,
    signal: shutdown.signal,
  };
  // Registered after the outputs' closers, so on SIGINT/SIGTERM it runs
  // first: outputs close only once the loop has stopped and flushed.
  let loopDone: Promise<unknown> = Promise.resolve();
  const waitForLoop = () => loopDone.then(() => {}, () => {});

  let summary: Summary;
  let failure: unknown;
  if (cfg.kind === "cdc") {
    const { model, sink } = await openCdc(cfg, log, shutdown);
    shutdown.add("generator loop", waitForLoop);
    const out = sink.outputStats;
    const onTick = () => {
      metrics.syncCdc(sink.applied, sink.transactions, sink.skipped);
      if (out) metrics.sync(sink.name, out);
      const a = sink.applied;
      progress.update(
        a.users.insert + a.users.update + a.users.delete + a.orders.insert +
          a.orders.update + a.orders.delete,
        sink.errors,
      );
    };
    const loop = runCdcLoop(model, clock, sink, { ...limits, onTick });
    loopDone = loop;
    const result = await loop;
    failure = result.error;
    summary = cdcSummary(base, result, sink, out);
  } else {
    const model = createEventModel(cfg);
    const out = await openEventOutput(cfg, log, shutdown);
    shutdown.add("generator loop", waitForLoop);
    const onTick = () => {
      metrics.sync(out.name, out.stats);
      progress.update(out.stats.events, out.stats.errors);
    };
    // The write hop needs real event times and a file (Kafka: not acked yet).
    const hops = clock instanceof WallClock && cfg.to === "file"
      ? metrics.hops
      : undefined;
    // Kafka batches by --batch-size and its own tick; lines go out sooner.
    const flushMs = cfg.to === "kafka" ? undefined : cfg.flushMs;
    const loop = runEventLoop(model, clock, out, {
      ...limits,
      onTick,
      hops,
      flushMs,
    });
    loopDone = loop;
    const result = await loop;
    failure = result.error;
    if (failure === undefined) await out.close();
    onTick();
    summary = eventSummary(base, result, out.stats);
  }
  progress.end();
  log.info("summary", { ...summary });
  console.error(humanSummary(summary));
  if (failure !== undefined) throw asPipelineError(failure, cfg.to);
  return summary.errors > 0 ? 1 : 0;
}

/** Output failures as one clear line (permission errors keep their own). */
function asPipelineError(err: unknown, to: string): unknown {
  if (err instanceof PipelineError || err instanceof Deno.errors.NotCapable) {
    return err;
  }
  const hints: Record<string, string> = {
    kafka:
      "is the cluster up? (`deno task up`); events acknowledged before the failure are in the summary",
    postgres:
      "the failed transaction was rolled back; earlier ones are committed (see the summary)",
    file: "is the disk full, or the directory not writable?",
    stdout: "writing to stdout failed",
  };
  return new PipelineError(
    `${to} output failed: ${(err as Error)?.message ?? String(err)}`,
    hints[to],
  );
}
