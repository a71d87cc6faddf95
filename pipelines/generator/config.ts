/**
 * The generator's options (one table, rendered by `--help`) and their
 * validation into a {@link GeneratorConfig}. Every mistake is a
 * `UsageError`: one line, the usage, exit code 2.
 *
 * @module
 */
import {
  brokersOption,
  type CommandSpec,
  METRICS_PORTS,
  metricsPortOption,
  parseBytes,
  type ParsedOptions,
  parseDuration,
  postgresUrlOption,
  UsageError,
} from "../runtime/mod.ts";
import type { Curve } from "./clock.ts";
import { type OpNumbers, quotaProblem, quotasFor } from "./models/cdc.ts";
import {
  DEFAULT_ERROR_RATES,
  DEFAULT_SERVICE_MIX,
  DEFAULT_WARN_RATES,
  type PerService,
  SERVICES,
} from "./models/http.ts";

/** Default start of simulated time for seeded runs without `--start`. */
export const SEEDED_EPOCH = "2025-01-01T00:00:00.000Z";

const perService = (v: PerService) => SERVICES.map((s) => `${s}=${v[s]}`);

/** The command table. */
export const GENERATOR_SPEC = {
  name: "generate",
  summary:
    "Generate security events, HTTP service logs or PostgreSQL row changes",
  options: {
    kind: {
      type: "string",
      description: "What to generate",
      choices: ["security", "http", "cdc"],
      default: "security",
    },
    to: {
      type: "string",
      description:
        "Where it goes (postgres only for cdc; kafka not for cdc — the CDC relay makes those)",
      choices: ["file", "kafka", "stdout", "postgres"],
      default: "file",
    },
    rate: {
      type: "number",
      description:
        "Events/s (peak rate with --curve daily); 0 = as fast as possible",
      default: 1000,
      min: 0,
    },
    curve: {
      type: "string",
      description: "Rate over the day: flat, or daily time-of-day weights",
      choices: ["flat", "daily"],
      default: "flat",
    },
    count: {
      type: "integer",
      description: "Stop after this many events (cdc: row changes)",
      min: 1,
    },
    duration: {
      type: "string",
      description: "Stop after this long (e.g. 30s, 5m); wall-clock time",
    },
    seed: {
      type: "string",
      description:
        `Seed: same seed and flags → byte-identical output; timestamps start at --start or ${SEEDED_EPOCH}`,
    },
    start: {
      type: "string",
      description:
        "Simulated start time (ISO-8601); event time then runs at --rate, not wall time",
    },
    dir: {
      type: "string",
      description:
        "Directory of --to file (default .data/events; cdc: .data/cdc-events)",
    },
    "max-file-bytes": {
      type: "string",
      description: "Rotate files at this size (e.g. 64MiB)",
      default: "64MiB",
    },
    "max-file-age": {
      type: "string",
      description: "Rotate files at this age (e.g. 5m); 0 = never",
      default: "5m",
    },
    "flush-interval": {
      type: "string",
      description:
        "file/stdout: write buffered lines out this often (the shipper sees them no later); at most 250ms",
      default: "50ms",
    },
    brokers: brokersOption,
    topic: {
      type: "string",
      description: "Kafka topic of security events",
      default: "security.events",
    },
    "topic-prefix": {
      type: "string",
      description:
        "Kafka topic prefix of http logs: <prefix>.<service> and <prefix>.error",
      default: "logs",
    },
    "create-topics": {
      type: "boolean",
      description: "Create missing Kafka topics (3 partitions, RF 3)",
      default: false,
    },
    "batch-size": {
      type: "integer",
      description: "Kafka messages per send",
      default: 2000,
      min: 1,
      max: 100_000,
    },
    "postgres-url": postgresUrlOption,
    mix: {
      type: "list",
      description: "cdc: operation mix, weights",
      default: ["insert=60", "update=30", "delete=10"],
    },
    "max-tx-size": {
      type: "integer",
      description: "cdc: largest transaction (sizes vary from 1 up to this)",
      default: 5,
      min: 1,
      max: 1000,
    },
    tag: {
      type: "string",
      description:
        "cdc: marker appended to generated names/products (find a run's rows)",
    },
    "service-mix": {
      type: "list",
      description: "http: traffic mix per service, weights",
      default: perService(DEFAULT_SERVICE_MIX),
    },
    "error-rates": {
      type: "list",
      description: "http: share of 5xx (level error) per service",
      default: perService(DEFAULT_ERROR_RATES),
    },
    "warn-rates": {
      type: "list",
      description: "http: share of 4xx (level warn) per service",
      default: perService(DEFAULT_WARN_RATES),
    },
    "attack-ratio": {
      type: "number",
      description: "security: share of events that belong to attack bursts",
      default: 0.25,
      min: 0,
      max: 1,
    },
    progress: {
      type: "boolean",
      description:
        "Live progress line on stderr (default: only when stderr is a terminal)",
    },
    "metrics-port": metricsPortOption(METRICS_PORTS.generator),
  },
  epilog: [
    "Examples:",
    "  deno task generate --kind security --rate 5000            # to .data/events, rotating",
    "  deno task generate --kind http --to kafka --curve daily",
    "  deno task generate --kind cdc --to postgres --count 1000 --mix insert=50,update=30,delete=20",
    "  deno task generate --kind http --to stdout --count 10 --seed 42",
  ].join("\n"),
} satisfies CommandSpec;

/** Parsed option values. */
export type GeneratorOptions = ParsedOptions<typeof GENERATOR_SPEC.options>;

/** Validated settings. */
export interface GeneratorConfig {
  kind: "security" | "http" | "cdc";
  to: "file" | "kafka" | "stdout" | "postgres";
  rate: number;
  curve: Curve;
  count?: number;
  durationMs?: number;
  /** Seed text (random when not given; reported in the summary). */
  seed: string;
  seeded: boolean;
  /** Simulated clock start (epoch ms), or undefined for wall time. */
  startMs?: number;
  dir: string;
  maxFileBytes: number;
  maxFileAgeMs: number;
  /** file/stdout: write-out interval (ms), 1..250. */
  flushMs: number;
  brokers: string[];
  topic: string;
  topicPrefix: string;
  createTopics: boolean;
  batchSize: number;
  postgresUrl: string;
  mix: OpNumbers;
  /** Exact cdc numbers (with --count). */
  quotas?: OpNumbers;
  maxTxSize: number;
  tag?: string;
  serviceMix: PerService;
  errorRates: PerService;
  warnRates: PerService;
  attackRatio: number;
  progress?: boolean;
  metricsPort: number;
}

/** Parses `k=v` pairs with known keys; all keys required when `complete`. */
export function parsePairs<K extends string>(
  flag: string,
  items: string[],
  keys: readonly K[],
  opts: { complete: boolean; max?: number; defaults?: Record<K, number> },
): Record<K, number> {
  const out: Partial<Record<K, number>> = { ...opts.defaults };
  for (const item of items) {
    const m = /^([a-z_]+)=([0-9]*\.?[0-9]+)$/.exec(item.trim());
    if (!m) {
      throw new UsageError(
        `--${flag}: "${item}" is not key=number (keys: ${keys.join(", ")})`,
      );
    }
    const key = m[1] as K;
    if (!keys.includes(key)) {
      throw new UsageError(
        `--${flag}: unknown key "${m[1]}" (keys: ${keys.join(", ")})`,
      );
    }
    const v = Number(m[2]);
    if (opts.max !== undefined && v > opts.max) {
      throw new UsageError(`--${flag}: ${key} must be at most ${opts.max}`);
    }
    out[key] = v;
  }
  if (opts.complete) {
    const missing = keys.filter((k) => out[k] === undefined);
    if (missing.length) {
      throw new UsageError(`--${flag}: missing ${missing.join(", ")}`);
    }
  }
  return out as Record<K, number>;
}

function wrap<T>(flag: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UsageError) {
      throw new UsageError(`--${flag}: ${err.message}`);
    }
    throw err;
  }
}

/** Validates option combinations; throws UsageError. */
export function toConfig(
  o: GeneratorOptions,
  randomSeed: () => string,
): GeneratorConfig {
  const kind = o.kind as GeneratorConfig["kind"];
  const to = o.to as GeneratorConfig["to"];
  if (to === "postgres" && kind !== "cdc") {
    throw new UsageError("--to postgres is only for --kind cdc");
  }
  if (to === "kafka" && kind === "cdc") {
    throw new UsageError(
      "--kind cdc writes to postgres, file or stdout; Kafka change events come from `deno task cdc`",
    );
  }
  let startMs: number | undefined;
  if (o.start !== undefined) {
    startMs = Date.parse(o.start);
    if (!/^\d{4}-\d\d-\d\d/.test(o.start) || Number.isNaN(startMs)) {
      throw new UsageError(
        `--start must be an ISO-8601 time like 2025-01-01T00:00:00Z, got "${o.start}"`,
      );
    }
  } else if (o.seed !== undefined) {
    startMs = Date.parse(SEEDED_EPOCH);
  }
  const durationMs = o.duration !== undefined
    ? wrap("duration", () => parseDuration(o.duration!))
    : undefined;
  if (durationMs === 0) throw new UsageError("--duration must be > 0");
  const maxFileBytes = wrap(
    "max-file-bytes",
    () => parseBytes(o["max-file-bytes"]),
  );
  if (maxFileBytes < 1024) {
    throw new UsageError("--max-file-bytes must be at least 1024");
  }
  const maxFileAgeMs = wrap(
    "max-file-age",
    () => parseDuration(o["max-file-age"]),
  );
  const flushMs = wrap(
    "flush-interval",
    () => parseDuration(o["flush-interval"]),
  );
  if (!(flushMs >= 1 && flushMs <= 250)) {
    throw new UsageError("--flush-interval must be between 1ms and 250ms");
  }
  const mix = parsePairs("mix", o.mix, ["insert", "update", "delete"], {
    complete: false,
    defaults: { insert: 0, update: 0, delete: 0 },
  });
  if (mix.insert + mix.update + mix.delete <= 0) {
    throw new UsageError("--mix needs a positive weight");
  }
  let quotas: OpNumbers | undefined;
  if (kind === "cdc" && o.count !== undefined) {
    quotas = quotasFor(o.count, mix);
    const problem = quotaProblem(quotas);
    if (problem) throw new UsageError(`--mix/--count: ${problem}`);
  }
  if (kind === "cdc" && mix.insert === 0) {
    throw new UsageError(
      "--mix needs insert > 0: the generator only changes rows it inserted",
    );
  }
  if (o.tag !== undefined && !/^[A-Za-z0-9_.-]{1,40}$/.test(o.tag)) {
    throw new UsageError("--tag must be 1-40 characters of A-Z a-z 0-9 _ . -");
  }
  const serviceMix = parsePairs("service-mix", o["service-mix"], SERVICES, {
    complete: false,
    defaults: { auth: 0, order: 0, payment: 0, notify: 0 },
  });
  if (SERVICES.every((s) => serviceMix[s] === 0)) {
    throw new UsageError("--service-mix needs a positive weight");
  }
  const errorRates = parsePairs("error-rates", o["error-rates"], SERVICES, {
    complete: false,
    max: 1,
    defaults: DEFAULT_ERROR_RATES,
  });
  const warnRates = parsePairs("warn-rates", o["warn-rates"], SERVICES, {
    complete: false,
    max: 1,
    defaults: DEFAULT_WARN_RATES,
  });
  for (const s of SERVICES) {
    if (errorRates[s] + warnRates[s] > 1) {
      throw new UsageError(`error + warn rate of ${s} exceed 1`);
    }
  }
  const topicRe = /^[A-Za-z0-9._-]{1,200}$/;
  if (!topicRe.test(o.topic)) {
    throw new UsageError(`--topic "${o.topic}" is not a valid topic name`);
  }
  if (!topicRe.test(o["topic-prefix"])) {
    throw new UsageError(
      `--topic-prefix "${o["topic-prefix"]}" is not a valid topic name`,
    );
  }
  return {
    kind,
    to,
    rate: o.rate,
    curve: o.curve as Curve,
    count: o.count,
    durationMs,
    seed: o.seed ?? randomSeed(),
    seeded: o.seed !== undefined,
    startMs,
    dir: o.dir ?? (kind === "cdc" ? ".data/cdc-events" : ".data/events"),
    maxFileBytes,
    maxFileAgeMs,
    flushMs,
    brokers: o.brokers,
    topic: o.topic,
    topicPrefix: o["topic-prefix"],
    createTopics: o["create-topics"],
    batchSize: o["batch-size"],
    postgresUrl: o["postgres-url"] as string,
    mix,
    quotas,
    maxTxSize: o["max-tx-size"],
    tag: o.tag,
    serviceMix,
    errorRates,
    warnRates,
    attackRatio: o["attack-ratio"],
    progress: o.progress,
    metricsPort: o["metrics-port"],
  };
}
