/**
 * The process frame every pipeline runs in: parse and validate config, set up
 * logging, metrics and shutdown, run the pipeline, and turn failures into one
 * clear line and an exit code.
 *
 * Exit codes: 0 done, 1 runtime failure, 2 usage error.
 *
 * @module
 */
import {
  type CommandSpec,
  HelpRequested,
  type OptionSpec,
  parseCommand,
  type ParsedOptions,
  usage,
  UsageError,
} from "./cli.ts";
import { createLogger, type Logger } from "./log.ts";
import {
  createRegistry,
  type HealthReport,
  type MetricsServer,
  prom,
  serveMetrics,
} from "./metrics.ts";
import { Shutdown } from "./shutdown.ts";

/**
 * A failure the user can fix (bad setup, unreachable service): printed as one
 * line with its hint, no stack trace, exit 1.
 */
export class PipelineError extends Error {
  /** Creates the error; `hint` says how to fix it. */
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "PipelineError";
  }
}

/** What a pipeline's main function receives. */
export interface PipelineContext<O extends Record<string, OptionSpec>> {
  options: ParsedOptions<O>;
  positionals: string[];
  log: Logger;
  registry: prom.Registry;
  shutdown: Shutdown;
  /** Set the function `/health` calls. */
  setHealth(fn: () => HealthReport | Promise<HealthReport>): void;
  /** The metrics server, if enabled by a `metrics-port` option. */
  metricsServer?: MetricsServer;
}

/** Settings for {@link runPipeline}. */
export interface RunSettings {
  /** Arguments to parse (default `Deno.args`). */
  args?: string[];
  /** Shutdown deadline in ms (default 15 s). */
  shutdownDeadlineMs?: number;
  /** Exit the process when done (default true; tests pass false). */
  exit?: boolean;
}

/**
 * Runs `main` inside the shared frame and returns (or exits with) its code.
 * If the spec has a `metrics-port` option, `/metrics` and `/health` are served.
 */
export async function runPipeline<O extends Record<string, OptionSpec>>(
  spec: CommandSpec & { options: O },
  main: (ctx: PipelineContext<O>) => Promise<number | void>,
  settings: RunSettings = {},
): Promise<number> {
  const code = await runInner(spec, main, settings);
  if (settings.exit ?? true) Deno.exit(code);
  return code;
}

async function runInner<O extends Record<string, OptionSpec>>(
  spec: CommandSpec & { options: O },
  main: (ctx: PipelineContext<O>) => Promise<number | void>,
  settings: RunSettings,
): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(spec, settings.args ?? Deno.args);
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(err.text);
      return 0;
    }
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n\n${usage(spec)}`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(spec.name);
  const shutdown = new Shutdown(log, settings.shutdownDeadlineMs ?? 15_000)
    .listen();
  const registry = createRegistry(spec.name);
  let health: () => HealthReport | Promise<HealthReport> = () => ({
    ok: !shutdown.stopping,
  });
  const ctx: PipelineContext<O> = {
    options: parsed.options,
    positionals: parsed.positionals,
    log,
    registry,
    shutdown,
    setHealth: (fn) => {
      health = fn;
    },
  };
  try {
    const port = (parsed.options as Record<string, unknown>)["metrics-port"];
    if (typeof port === "number") {
      try {
        ctx.metricsServer = serveMetrics(registry, {
          port,
          health: () => health(),
        });
      } catch (err) {
        throw new PipelineError(
          `cannot serve metrics on port ${port}: ${(err as Error).message}`,
          "choose another --metrics-port (0 disables it)",
        );
      }
      if (ctx.metricsServer) {
        const server = ctx.metricsServer;
        shutdown.add("metrics server", () => server.close());
      }
    }
    const code = (await main(ctx)) ?? 0;
    await shutdown.run();
    return code;
  } catch (err) {
    await shutdown.run();
    return reportFailure(log, err);
  }
}

/** Logs a failure as one line; returns the exit code. */
export function reportFailure(log: Logger, err: unknown): number {
  if (err instanceof PipelineError) {
    log.error(err.message, err.hint ? { hint: err.hint } : undefined);
    return 1;
  }
  if (err instanceof UsageError) {
    log.error(err.message);
    return 2;
  }
  if (err instanceof Deno.errors.NotCapable) {
    log.error("permission denied", {
      detail: err.message,
      hint: "this task runs with least privilege; see README 'Permissions'",
    });
    return 1;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  log.error(e.message, { error: e.name, stack: e.stack });
  return 1;
}
