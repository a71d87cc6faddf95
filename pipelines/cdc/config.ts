/**
 * Configuration of the CDC relay: one option table (flags, env fallbacks,
 * defaults, validation) and its conversion into a typed {@link CdcConfig}.
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
  PipelineError,
  postgresUrlOption,
  redactUrl,
  UsageError,
} from "../runtime/mod.ts";
import { splitTableName } from "./catalog.ts";
import type { DecimalMode } from "./convert.ts";

/** Option table of `deno task cdc`. */
export const CDC_SPEC = {
  name: "cdc",
  summary:
    "CDC relay: PostgreSQL logical replication (pgoutput) → Kafka in Debezium's JSON format",
  options: {
    "postgres-url": postgresUrlOption,
    brokers: brokersOption,
    "metrics-port": metricsPortOption(METRICS_PORTS.cdc),
    slot: {
      type: "string",
      description: "Logical replication slot (created if missing)",
      default: "deno_cdc_slot",
    },
    publication: {
      type: "string",
      description: "Publication (created for --tables if missing)",
      default: "dbz_publication",
    },
    tables: {
      type: "list",
      description: "Captured tables, schema.table (like table.include.list)",
      default: ["public.users", "public.orders"],
    },
    "topic-prefix": {
      type: "string",
      description:
        "Topic prefix = Debezium server name: topics are <prefix>.<schema>.<table>",
      default: "customers",
    },
    "snapshot-mode": {
      type: "string",
      description:
        "initial: snapshot when the slot is new; never: stream changes only",
      choices: ["initial", "never"],
      default: "initial",
    },
    schemas: {
      type: "string",
      description:
        "Wrap keys and values with their Kafka Connect schema, like JsonConverter schemas.enable=true",
      choices: ["true", "false"],
      default: "false",
      bare: "true",
    },
    "decimal-handling-mode": {
      type: "string",
      description:
        "numeric/money values: string (decimal text, our default), precise (Debezium's default: base64 unscaled bytes) or double (JSON number)",
      choices: ["string", "precise", "double"],
      default: "string",
    },
    tombstones: {
      type: "string",
      description: "Emit a tombstone (key, null value) after each delete",
      choices: ["true", "false"],
      default: "true",
    },
    "heartbeat-interval": {
      type: "string",
      description:
        "Write a heartbeat message to the WAL after this much idle time so the slot advances (0 disables)",
      default: "10s",
    },
    "status-interval": {
      type: "string",
      description: "Most time between standby status updates to PostgreSQL",
      default: "10s",
    },
    "wal-retention-warn": {
      type: "string",
      description:
        "Warn (log + cdc_slot_retained_wal_warning=1) when the slot retains more WAL than this",
      default: "1GiB",
    },
    "create-topics": {
      type: "string",
      description: "Create missing topics (3 partitions, RF 3) at start",
      choices: ["true", "false"],
      default: "true",
    },
    "snapshot-fetch-size": {
      type: "integer",
      description: "Rows per snapshot cursor fetch",
      default: 5000,
      min: 1,
    },
    "max-batch-records": {
      type: "integer",
      description: "Most records per Kafka request",
      default: 5000,
      min: 1,
    },
    "max-pending-records": {
      type: "integer",
      description: "Most unacknowledged records in memory (backpressure bound)",
      default: 50000,
      min: 1,
    },
    "max-pending-bytes": {
      type: "string",
      description:
        "Most unacknowledged record bytes in memory (backpressure bound, with --max-pending-records)",
      default: "64MiB",
    },
    "max-record-bytes": {
      type: "string",
      description:
        "Largest record (key + value, UTF-8) sent as is; larger ones go to --dlq-topic. Keep it under the broker's message.max.bytes",
      default: "1000000",
    },
    "dlq-topic": {
      type: "string",
      description:
        "Dead-letter topic for records too large for Kafka ('' = stop with an error naming topic and key)",
      default: "dlq.cdc",
    },
    "state-table": {
      type: "string",
      description:
        "PostgreSQL table (schema.table, created if missing) recording each slot's snapshot state",
      default: "public.deno_cdc_snapshots",
    },
    "signal-table": {
      type: "string",
      description:
        "Signal table (schema.table; Debezium's signal.data.collection), created if missing and added to the publication: execute-snapshot signals and the incremental snapshot's watermarks ('' = off)",
      default: "",
    },
    "incremental-chunk-size": {
      type: "integer",
      description:
        "Rows per incremental snapshot chunk (incremental.snapshot.chunk.size)",
      default: 1024,
      min: 1,
    },
    "new-table-poll": {
      type: "string",
      description:
        "How often to look for tables newly covered by the publication (0 = only on their first change)",
      default: "5s",
    },
    "state-dir": {
      type: "string",
      description:
        "Older per-slot snapshot files, read once to migrate into --state-table",
      default: ".data/cdc",
    },
  },
} satisfies CommandSpec;

/** Parsed options of {@link CDC_SPEC}. */
export type CdcOptions = ParsedOptions<typeof CDC_SPEC.options>;

/** The relay's validated configuration. */
export interface CdcConfig {
  postgresUrl: string;
  brokers: string[];
  slot: string;
  publication: string;
  tables: string[];
  topicPrefix: string;
  snapshotMode: "initial" | "never";
  tombstones: boolean;
  /** `--schemas`: JsonConverter `schemas.enable=true` envelopes. */
  schemas: boolean;
  /** `--decimal-handling-mode` (Debezium's `decimal.handling.mode`). */
  decimalMode: DecimalMode;
  heartbeatMs: number;
  statusMs: number;
  walRetentionWarnBytes: number;
  createTopics: boolean;
  snapshotFetchSize: number;
  maxBatchRecords: number;
  maxPendingRecords: number;
  maxPendingBytes: number;
  maxRecordBytes: number;
  dlqTopic: string;
  stateTable: string;
  stateDir: string;
  /** `--signal-table` (`''` = no signals, no incremental snapshots). */
  signalTable: string;
  incrementalChunkSize: number;
  newTablePollMs: number;
}

/**
 * The one-line error for a login that cannot work: the URL carries no
 * password and `PGPASSWORD` is unset or empty. Without this check pg's SCRAM
 * handshake fails with a stack trace ("client password must be a string").
 */
export function missingPasswordError(
  url: string,
  pgPassword: string | undefined,
): PipelineError | undefined {
  if (pgPassword) return undefined;
  let hasPassword = false;
  try {
    hasPassword = new URL(url).password !== "";
  } catch {
    return undefined; // a malformed URL is reported by the connect itself
  }
  if (hasPassword) return undefined;
  return new PipelineError(
    `PGPASSWORD is not set (and --postgres-url ${
      redactUrl(url)
    } has no password)`,
    "export PGPASSWORD=<password of the URL's user>; on the dev cluster of `deno task up`: PGPASSWORD=postgres",
  );
}

const TABLE_NAME = /^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/;

/** Converts and cross-checks the parsed options. */
export function toConfig(o: CdcOptions): CdcConfig {
  const noPassword = missingPasswordError(
    o["postgres-url"],
    Deno.env.get("PGPASSWORD"),
  );
  if (noPassword) throw noPassword;
  if (!/^[a-z0-9_]{1,63}$/.test(o.slot)) {
    throw new UsageError(
      `--slot must be 1-63 lower-case letters, digits or _, got "${o.slot}"`,
    );
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(o["topic-prefix"])) {
    throw new UsageError(
      `--topic-prefix may hold letters, digits, '.', '_' and '-', got "${
        o["topic-prefix"]
      }"`,
    );
  }
  if (o.tables.length === 0) throw new UsageError("--tables is empty");
  for (const flag of ["state-table", "signal-table"] as const) {
    if (flag === "signal-table" && o[flag] === "") continue;
    if (!TABLE_NAME.test(o[flag])) {
      throw new UsageError(
        `--${flag} must be [schema.]table, got "${o[flag]}"`,
      );
    }
  }
  const tables = o.tables.map((t) => splitTableName(t).join("."));
  return {
    postgresUrl: o["postgres-url"],
    // The shared option is typed generically (OptionSpec); it is a list.
    brokers: o.brokers,
    slot: o.slot,
    publication: o.publication,
    tables,
    topicPrefix: o["topic-prefix"],
    snapshotMode: o["snapshot-mode"] as "initial" | "never",
    tombstones: o.tombstones === "true",
    schemas: o.schemas === "true",
    decimalMode: o["decimal-handling-mode"] as DecimalMode,
    heartbeatMs: parseDuration(o["heartbeat-interval"]),
    statusMs: Math.max(100, parseDuration(o["status-interval"])),
    walRetentionWarnBytes: parseBytes(o["wal-retention-warn"]),
    createTopics: o["create-topics"] === "true",
    snapshotFetchSize: o["snapshot-fetch-size"],
    maxBatchRecords: o["max-batch-records"],
    maxPendingRecords: o["max-pending-records"],
    maxPendingBytes: positiveBytes(o["max-pending-bytes"], "max-pending-bytes"),
    maxRecordBytes: positiveBytes(o["max-record-bytes"], "max-record-bytes"),
    dlqTopic: o["dlq-topic"],
    stateTable: o["state-table"],
    stateDir: o["state-dir"],
    signalTable: o["signal-table"] &&
      splitTableName(o["signal-table"]).join("."),
    incrementalChunkSize: o["incremental-chunk-size"],
    newTablePollMs: parseDuration(o["new-table-poll"]),
  };
}

function positiveBytes(text: string, flag: string): number {
  const n = parseBytes(text);
  if (n < 1024) throw new UsageError(`--${flag} must be at least 1KiB`);
  return n;
}
