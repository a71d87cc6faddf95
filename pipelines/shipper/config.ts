/**
 * The shipper's options (flags, environment, optional JSON config file) and
 * their validation into one {@link ShipperConfig}.
 *
 * @module
 */
import {
  brokersOption,
  type CommandSpec,
  METRICS_PORTS,
  metricsPortOption,
  type OptionSpec,
  parseBytes,
  type ParsedOptions,
  parseDuration,
  PipelineError,
  UsageError,
} from "../runtime/mod.ts";
import { readJson } from "./checkpoint.ts";
import { type Format, FORMATS } from "./encoder.ts";
import type { FileSpec } from "./file_source.ts";
import { type Compression, COMPRESSIONS } from "./kafka_sink.ts";
import {
  compileRouting,
  DEFAULT_ROUTING,
  parseRouteFlag,
  type RouteRule,
  type RoutingConfig,
} from "./routing.ts";

/** Environment variable holding the HTTP ingest's bearer token (never a flag: `ps` shows flags). */
export const TOKEN_ENV = "SHIPPER_HTTP_TOKEN";

/** Shortest accepted bearer token. */
export const MIN_TOKEN_LENGTH = 16;

/** What the ship task may read (deno.json): its inputs and state, not all of `.data`. */
export const SHIP_READ_SCOPE =
  ".data/events, .data/logs, .data/runs, .data/shipper, .data/tests, .data/bench";

/** Default glob tailed when no `--path` and no config `files` are given. */
export const DEFAULT_PATH = ".data/events/*.ndjson";

const options = {
  path: {
    type: "list",
    description:
      `Glob(s) of files to tail (*, ?, [..], **); "" disables files (default ${DEFAULT_PATH})`,
  },
  format: {
    type: "string",
    description: "Format of the --path files",
    choices: FORMATS,
    default: "ndjson",
  },
  config: {
    type: "string",
    description:
      "JSON config file: {files:[{path,format}], routes:[...], default_topic, key_field, dlq_topic}",
  },
  topic: {
    type: "string",
    description:
      "Default topic for events no route matches; alone, every event goes here",
  },
  route: {
    type: "list",
    description:
      "Routing rule CONDITION:TOPIC, repeatable; CONDITION is *, field or field=value; TOPIC may use {field}",
  },
  "key-field": {
    type: "string",
    description: "Event field used as the Kafka message key",
  },
  "dlq-topic": {
    type: "string",
    description: "Dead-letter topic",
    default: "dlq.shipper",
  },
  "state-dir": {
    type: "string",
    description: "Directory for the file checkpoint and the HTTP disk buffer",
    default: ".data/shipper",
  },
  "http-port": {
    type: "integer",
    description: "HTTP ingest port (POST /v1/logs, GET /ping); 0 disables",
    default: 18080,
    min: 0,
    max: 65535,
  },
  "http-host": {
    type: "string",
    description:
      `HTTP ingest address; any but loopback needs the bearer token in ${TOKEN_ENV}`,
    default: "127.0.0.1",
  },
  "http-max-concurrent": {
    type: "integer",
    description: "Most POST /v1/logs in flight at once (beyond: 503)",
    default: 64,
    min: 1,
  },
  "http-max-connections": {
    type: "integer",
    description: "Most HTTP connections open at once (beyond: 503, closed)",
    default: 256,
    min: 1,
  },
  "http-header-timeout": {
    type: "string",
    description: "Longest wait for a request's line and headers (then closed)",
    default: "10s",
  },
  "http-body-timeout": {
    type: "string",
    description: "Longest wait for a whole request body (then 408)",
    default: "30s",
  },
  "max-body": {
    type: "string",
    description: "Largest HTTP request body (larger: 413)",
    default: "10MiB",
  },
  "max-line": {
    type: "string",
    description: "Largest line/event (larger: dead letter, or 413 over HTTP)",
    default: "256KiB",
  },
  "buffer-max": {
    type: "string",
    description: "Largest unshipped HTTP disk buffer (full: 503)",
    default: "512MiB",
  },
  "segment-size": {
    type: "string",
    description: "Disk buffer segment file size",
    default: "16MiB",
  },
  "batch-events": {
    type: "integer",
    description: "Most Kafka messages per batch",
    default: 20000,
    min: 1,
  },
  "batch-bytes": {
    type: "string",
    description:
      "Most value bytes per batch (default 4MiB with gzip, 1MiB without: a partition's share must fit the broker's 1 MB message.max.bytes)",
  },
  linger: {
    type: "string",
    description: "Longest wait to fill a batch",
    default: "50ms",
  },
  compression: {
    type: "string",
    description: "Kafka compression (KafkaJS supports gzip and none)",
    choices: COMPRESSIONS,
    default: "gzip",
  },
  "max-in-flight": {
    type: "integer",
    description:
      "Batches sent but not yet acknowledged, at most (pipelining; one request per partition at a time). After a crash at most this many batches are sent again",
    default: 2,
    min: 1,
    max: 8,
  },
  "compress-workers": {
    type: "integer",
    description:
      "Worker threads that gzip record batches (0: gzip on the main thread)",
    default: 1,
    min: 0,
    max: 16,
  },
  "no-idempotent": {
    type: "boolean",
    description: "Disable the idempotent producer (it is on by default)",
    default: false,
  },
  poll: {
    type: "string",
    description:
      "How often globs are re-scanned and files re-checked; the longest sleep at the end of the files when no change wakes the shipper",
    default: "250ms",
  },
  "no-watch": {
    type: "boolean",
    description:
      "Do not watch the files' directories (inotify) to read new lines at once; wait --poll only",
    default: false,
  },
  "read-chunk": {
    type: "string",
    description: "Bytes per file read",
    default: "1MiB",
  },
  "rotate-wait": {
    type: "string",
    description:
      "Keep reading a rotated-away file this long after it last changed",
    default: "10s",
  },
  once: {
    type: "boolean",
    description:
      "Ship the matched files to their end, then exit (no HTTP; for backfills and benchmarks)",
    default: false,
  },
  "host-name": {
    type: "string",
    description: "Value of `host` added to text/docker events",
  },
  brokers: brokersOption,
  "metrics-port": metricsPortOption(METRICS_PORTS.shipper),
} satisfies Record<string, OptionSpec>;

/** The `deno task ship` command. */
export const SPEC = {
  name: "ship",
  summary:
    "Ship log files and HTTP-posted events into Kafka: durable, at least once, nothing lost",
  options,
  epilog: [
    "Examples:",
    "  deno task ship                                   # tail .data/events/*.ndjson, HTTP on :18080",
    "  deno task ship --path '.data/logs/app/*.log' --format text --topic logs.app",
    "  deno task ship --route 'level=error:logs.error' --route 'service:logs.{service}'",
    "  curl -XPOST -H 'content-type: application/x-ndjson' --data-binary @events.ndjson 127.0.0.1:18080/v1/logs",
    `  ${TOKEN_ENV}=<secret, 16+ chars> deno task ship --http-host 0.0.0.0   # clients send Authorization: Bearer <secret>`,
  ].join("\n"),
} satisfies CommandSpec;

/** Everything the shipper needs, validated. */
export interface ShipperConfig {
  files: FileSpec[];
  routing: RoutingConfig;
  dlqTopic: string;
  stateDir: string;
  httpPort: number;
  httpHost: string;
  /** Bearer token for HTTP ingest (from {@link TOKEN_ENV}); undefined: none. */
  httpToken?: string;
  httpMaxConcurrent: number;
  httpMaxConnections: number;
  httpHeaderTimeoutMs: number;
  httpBodyTimeoutMs: number;
  maxBodyBytes: number;
  maxLineBytes: number;
  bufferMaxBytes: number;
  segmentBytes: number;
  batchEvents: number;
  batchBytes: number;
  lingerMs: number;
  compression: Compression;
  compressWorkers: number;
  maxInFlight: number;
  idempotent: boolean;
  pollMs: number;
  /** Wake on directory changes, not only every poll. */
  watch: boolean;
  readChunkBytes: number;
  rotateWaitMs: number;
  once: boolean;
  hostName?: string;
  brokers: string[];
}

/** The optional JSON config file. */
export interface ConfigFile {
  files?: Array<{ path: string; format?: Format }>;
  routes?: RouteRule[];
  default_topic?: string;
  key_field?: string;
  dlq_topic?: string;
}

/** Builds the config from parsed flags (and the config file they name). */
export async function buildConfig(
  o: ParsedOptions<typeof options>,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<ShipperConfig> {
  let file: ConfigFile = {};
  if (o.config) {
    try {
      file = await readJson<ConfigFile>(o.config) ??
        fail(`config file ${o.config} not found`);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      if (err instanceof Deno.errors.NotCapable) throw err;
      throw new UsageError(`--config: ${(err as Error).message}`);
    }
    if (typeof file !== "object" || file === null || Array.isArray(file)) {
      fail(`config file ${o.config} must hold a JSON object`);
    }
  }
  const format = o.format as Format;
  const files: FileSpec[] = [];
  for (const f of file.files ?? []) {
    if (typeof f?.path !== "string") fail(`config files[]: "path" missing`);
    const fmt = f.format ?? format;
    if (!FORMATS.includes(fmt)) {
      fail(`config files[]: format must be one of ${FORMATS.join(", ")}`);
    }
    files.push({ pattern: f.path, format: fmt });
  }
  if (o.path !== undefined) {
    for (const p of o.path) files.push({ pattern: p, format });
  } else if (files.length === 0) {
    files.push({ pattern: DEFAULT_PATH, format });
  }

  const rules: RouteRule[] = [...(file.routes ?? [])];
  for (const r of o.route ?? []) {
    try {
      rules.push(parseRouteFlag(r));
    } catch (err) {
      fail((err as Error).message);
    }
  }
  const defaultTopic = o.topic ?? file.default_topic;
  const keyField = o["key-field"] ?? file.key_field;
  const routing: RoutingConfig = rules.length === 0 && !defaultTopic
    ? { ...DEFAULT_ROUTING, keyField }
    : { rules, defaultTopic, keyField };
  try {
    compileRouting(routing);
  } catch (err) {
    fail(`routing: ${(err as Error).message}`);
  }

  const bytes = (flag: string, v: string, min = 1) => {
    const n = parseBytes(v);
    if (n < min) fail(`--${flag} must be at least ${min} bytes`);
    return n;
  };
  const ms = (v: string) => parseDuration(v);
  const once = o.once;
  const cfg: ShipperConfig = {
    files,
    routing,
    dlqTopic: o["dlq-topic"] ?? file.dlq_topic ?? "dlq.shipper",
    stateDir: o["state-dir"].replace(/\/+$/, "") || ".",
    httpPort: once ? 0 : o["http-port"],
    httpHost: o["http-host"],
    httpToken: env(TOKEN_ENV) || undefined,
    httpMaxConcurrent: o["http-max-concurrent"],
    httpMaxConnections: o["http-max-connections"],
    httpHeaderTimeoutMs: Math.max(100, ms(o["http-header-timeout"])),
    httpBodyTimeoutMs: Math.max(100, ms(o["http-body-timeout"])),
    maxBodyBytes: bytes("max-body", o["max-body"], 1024),
    maxLineBytes: bytes("max-line", o["max-line"], 64),
    bufferMaxBytes: bytes("buffer-max", o["buffer-max"], 1024),
    segmentBytes: bytes("segment-size", o["segment-size"], 1024),
    batchEvents: o["batch-events"],
    batchBytes: o["batch-bytes"] !== undefined
      ? bytes("batch-bytes", o["batch-bytes"], 1024)
      : o.compression === "gzip"
      ? 4 * 1024 * 1024
      : 1024 * 1024,
    lingerMs: ms(o.linger),
    compression: o.compression as Compression,
    compressWorkers: o["compress-workers"],
    maxInFlight: o["max-in-flight"],
    idempotent: !o["no-idempotent"],
    pollMs: Math.max(10, ms(o.poll)),
    watch: !o["no-watch"],
    readChunkBytes: bytes("read-chunk", o["read-chunk"], 4096),
    rotateWaitMs: ms(o["rotate-wait"]),
    once,
    hostName: o["host-name"],
    brokers: o.brokers,
  };
  if (cfg.files.length === 0 && cfg.httpPort === 0) {
    fail("nothing to ship: give --path and/or an --http-port");
  }
  if (once && cfg.files.length === 0) fail("--once needs --path");
  if (cfg.httpPort > 0) checkHttpAuth(cfg.httpHost, cfg.httpToken);
  return cfg;
}

/** Whether `host` is a loopback address (only this machine can connect). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Refuses HTTP ingest reachable from other machines without a token, and a
 * token too short to resist guessing.
 */
export function checkHttpAuth(host: string, token: string | undefined): void {
  if (token === undefined) {
    if (!isLoopback(host)) {
      fail(
        `--http-host ${host} is not loopback: set ${TOKEN_ENV} (at least ${MIN_TOKEN_LENGTH} characters) so clients must send "Authorization: Bearer <token>"`,
      );
    }
    return;
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    fail(
      `${TOKEN_ENV} must be at least ${MIN_TOKEN_LENGTH} characters without spaces`,
    );
  }
}

function fail(message: string): never {
  throw new UsageError(message);
}

/**
 * Fails with one clear line when a path lies outside this process's Deno
 * permissions, before anything is read (the task runs with least privilege).
 */
export function checkPermissions(
  cfg: ShipperConfig,
  bases: Array<{ pattern: string; base: string }>,
): void {
  const hint =
    `the ship task may read only ${SHIP_READ_SCOPE} and write only .data/shipper (deno.json); keep files and state there, or widen the task's permissions`;
  for (const { pattern, base } of bases) {
    const st = Deno.permissions.querySync({ name: "read", path: base }).state;
    if (st !== "granted") {
      throw new PipelineError(
        `--path ${pattern}: reading ${base} is not permitted for this task`,
        hint,
      );
    }
  }
  for (const name of ["read", "write"] as const) {
    const st = Deno.permissions.querySync({ name, path: cfg.stateDir }).state;
    if (st !== "granted") {
      throw new PipelineError(
        `--state-dir ${cfg.stateDir}: ${name} is not permitted for this task`,
        hint,
      );
    }
  }
}
