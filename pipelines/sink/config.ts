/**
 * Sink configuration: the option table (flags + environment) and the
 * validated {@link SinkConfig} derived from it.
 *
 * @module
 */
import {
  brokersOption,
  clickhouseShardsOption,
  type CommandSpec,
  METRICS_PORTS,
  metricsPortOption,
  parseBytes,
  type ParsedOptions,
  parseDuration,
  parseShards,
  readClusterSecrets,
  UsageError,
} from "../runtime/mod.ts";
import { clickhouseCredentials } from "../runtime/credentials.ts";
import { globRegExp, parseRoutes, type Route } from "./routes.ts";

/** The `deno task sink` command. */
export const SINK_SPEC = {
  name: "sink",
  summary:
    "Kafka -> ClickHouse sink: validated, enriched, batched inserts into the 2x2 cluster, no loss, no duplicates",
  options: {
    brokers: brokersOption,
    "clickhouse-shards": clickhouseShardsOption,
    "clickhouse-user": {
      type: "string",
      description: "ClickHouse user",
      env: "CLICKHOUSE_USER",
      default: "default",
    },
    "clickhouse-password": {
      type: "string",
      description:
        "ClickHouse password; unset: .cluster/secrets.env (the dev cluster's, when readable), else none",
      env: "CLICKHOUSE_PASSWORD",
      secret: true,
      envOnly: true,
    },
    topics: {
      type: "list",
      description:
        "Topics to consume; '*' globs become a pattern subscription (default: security.events,logs.* in events mode, customers.public.* in cdc mode)",
      default: [],
    },
    mode: {
      type: "string",
      description:
        "events: event topics -> fact tables; cdc: Debezium topics -> ReplacingMergeTree mirrors",
      choices: ["events", "cdc"],
      default: "events",
    },
    map: {
      type: "list",
      description:
        "Topic routes 'glob=[database.]table': any ClickHouse table (typed from system.columns), or a built-in one (security_events, fact_log, error_log, pg_users, pg_orders, mirror); first match wins, before the built-in routes",
      default: [],
    },
    config: {
      type: "string",
      description:
        'JSON config file with routes: {"routes":[{"topic":"app.*","table":"mydb.events","schema":"file.json","strict":false}]} (after --map, before the built-in routes)',
    },
    group: {
      type: "string",
      description:
        "Kafka consumer group id (default: sink, or sink-cdc in cdc mode)",
    },
    database: {
      type: "string",
      description: "ClickHouse database holding the *_local tables",
      default: "analytics",
    },
    "batch-rows": {
      type: "integer",
      description:
        "Flush when this many rows are buffered (also the buffer cap: consumption pauses beyond it)",
      default: 200_000,
      min: 1,
      max: 1_000_000,
    },
    "batch-bytes": {
      type: "string",
      description: "Flush when this many encoded bytes are buffered",
      default: "64MiB",
    },
    "batch-timeout": {
      type: "string",
      description: "Flush rows that have waited this long",
      default: "1s",
    },
    "min-insert-interval": {
      type: "string",
      description:
        "At most one insert per table and shard per this interval (also the retry floor)",
      default: "1s",
    },
    "fetch-wait": {
      type: "string",
      description:
        "Longest a Kafka fetch waits for data (it returns as soon as there is some)",
      default: "250ms",
    },
    workers: {
      type: "integer",
      description:
        "Decode workers: parse, validate and encode event messages on N threads (0: on the main thread)",
      default: 2,
      min: 0,
      max: 64,
    },
    "worker-budget": {
      type: "string",
      description:
        "Bytes of messages in flight to the decode workers at most (memory bound)",
      default: "32MiB",
    },
    "from-latest": {
      type: "boolean",
      description:
        "A new group starts at the latest offset (default: the earliest)",
      default: false,
    },
    "dlq-topic": {
      type: "string",
      description: "Kafka topic for dead letters ('' disables the topic copy)",
      default: "dlq.sink",
    },
    "session-timeout": {
      type: "string",
      description:
        "Kafka group session timeout: how soon a crashed member's partitions move",
      default: "30s",
    },
    "insert-timeout": {
      type: "string",
      description:
        "Give up one insert attempt after this long and try the other replica",
      default: "30s",
    },
    "exit-when-idle": {
      type: "string",
      description:
        "Exit 0 once everything assigned is committed and nothing arrived for this long (bench/tests; '' runs forever)",
      default: "",
    },
    "metrics-port": metricsPortOption(METRICS_PORTS.sink),
  },
  epilog: [
    "Examples:",
    "  deno task sink                                   # security.events + logs.* -> analytics",
    "  deno task sink --mode cdc --topics 'customers.public.*' --group sink-cdc",
    "  deno task sink --topics my.topic --map 'my.topic=security_events'",
    "  deno task sink --topics 'app.*' --map 'app.*=mydb.app_events'   # any table",
  ].join("\n"),
} satisfies CommandSpec;

/** Topics consumed when `--topics` is not given. */
export const DEFAULT_TOPICS = {
  events: ["security.events", "logs.*"],
  cdc: ["customers.public.*"],
} as const;

/** Options as parsed by the runtime. */
export type SinkOptions = ParsedOptions<typeof SINK_SPEC.options>;

/** Validated sink configuration. */
export interface SinkConfig {
  brokers: string[];
  /** Replica URLs per shard, shard order = Distributed shard order. */
  shards: string[][];
  clickhouseUser: string;
  clickhousePassword: string;
  /** Exact topic names and patterns to subscribe to. */
  topics: Array<string | RegExp>;
  mode: "events" | "cdc";
  routes: Route[];
  group: string;
  database: string;
  batchRows: number;
  batchBytes: number;
  batchTimeoutMs: number;
  minInsertIntervalMs: number;
  /** KafkaJS `maxWaitTimeInMs`: a fetch's longest wait for data. */
  fetchWaitMs: number;
  fromBeginning: boolean;
  dlqTopic: string;
  exitWhenIdleMs: number | undefined;
  insertTimeoutMs: number;
  sessionTimeoutMs: number;
  /** Decode workers; 0 = decode on the main thread. */
  workers: number;
  /** Bytes in flight to the decode workers at most. */
  workerBudgetBytes: number;
}

function credentials(
  o: SinkOptions,
  secrets: () => Record<string, string> | undefined,
): Pick<SinkConfig, "clickhouseUser" | "clickhousePassword"> {
  const password = o["clickhouse-password"];
  if (password !== undefined) {
    return {
      clickhouseUser: o["clickhouse-user"],
      clickhousePassword: password,
    };
  }
  // The env pair is absent (the parser saw no CLICKHOUSE_PASSWORD).
  const found = clickhouseCredentials("admin", () => undefined, secrets);
  return {
    clickhouseUser: found.source === "file"
      ? found.username
      : o["clickhouse-user"],
    clickhousePassword: found.password,
  };
}

/** `--fetch-wait`: 0 ms would spin the fetch loop, over 10 s starves it. */
function fetchWait(spec: string): number {
  const ms = parseDuration(spec);
  if (ms < 1 || ms > 10_000) {
    throw new UsageError(`--fetch-wait "${spec}" must be 1ms .. 10s`);
  }
  return ms;
}

/** Turns `logs.*` into an anchored RegExp; other names stay strings. */
export function topicMatcher(spec: string): string | RegExp {
  return spec.includes("*") ? globRegExp(spec) : spec;
}

/**
 * Validates parsed options into a {@link SinkConfig}; throws UsageError.
 * `fileRoutes` are the `--config` file's routes (see route_file.ts);
 * `secrets` reads the dev cluster's secrets file when CLICKHOUSE_PASSWORD
 * is unset.
 */
export function buildConfig(
  o: SinkOptions,
  fileRoutes: Route[] = [],
  secrets: () => Record<string, string> | undefined = readClusterSecrets,
): SinkConfig {
  const shards = parseShards(o["clickhouse-shards"]);
  if (shards.length === 0 || shards.some((s) => s.length === 0)) {
    throw new UsageError(
      "--clickhouse-shards needs at least one replica URL per shard",
    );
  }
  for (const url of shards.flat()) {
    try {
      new URL(url);
    } catch {
      throw new UsageError(`--clickhouse-shards: "${url}" is not a URL`);
    }
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.database)) {
    throw new UsageError(`--database "${o.database}" is not a valid name`);
  }
  const mode = o.mode as "events" | "cdc";
  const exitWhenIdle = o["exit-when-idle"];
  const routes = parseRoutes(o.map, mode, o.database, fileRoutes);
  // Own routes and no --topics: consume what the routes name.
  const own = o.map.length + fileRoutes.length;
  const topics = o.topics.length
    ? o.topics
    : own
    ? routes.slice(0, own).map((r) => r.glob)
    : DEFAULT_TOPICS[mode];
  return {
    brokers: o.brokers,
    shards,
    ...credentials(o, secrets),
    topics: [...new Set(topics)].map(topicMatcher),
    mode,
    routes,
    group: o.group || (mode === "cdc" ? "sink-cdc" : "sink"),
    database: o.database,
    batchRows: o["batch-rows"],
    batchBytes: parseBytes(o["batch-bytes"]),
    batchTimeoutMs: parseDuration(o["batch-timeout"]),
    minInsertIntervalMs: parseDuration(o["min-insert-interval"]),
    fetchWaitMs: fetchWait(o["fetch-wait"]),
    fromBeginning: !o["from-latest"],
    dlqTopic: o["dlq-topic"],
    exitWhenIdleMs: exitWhenIdle ? parseDuration(exitWhenIdle) : undefined,
    insertTimeoutMs: parseDuration(o["insert-timeout"]),
    sessionTimeoutMs: parseDuration(o["session-timeout"]),
    workers: o.workers,
    workerBudgetBytes: parseBytes(o["worker-budget"]),
  };
}
