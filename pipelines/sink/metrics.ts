/**
 * The sink's Prometheus metrics (names prefixed `sink_`; the registry adds
 * the `pipeline` label).
 *
 * @module
 */
import { HopHistogram, prom } from "../runtime/mod.ts";

/** All metrics of the sink. */
export interface SinkMetrics {
  messagesIn: prom.Counter<"topic">;
  rowsOut: prom.Counter<"table">;
  batches: prom.Counter<"table">;
  insertSeconds: prom.Histogram<"table">;
  batchRows: prom.Histogram<"table">;
  freshness: prom.Histogram<"table">;
  deadLetters: prom.Counter<"topic">;
  deadLettersUnwritten: prom.Counter;
  insertErrors: prom.Counter<"shard" | "replica">;
  replicaUp: prom.Gauge<"shard" | "replica">;
  lag: prom.Gauge<"topic" | "partition">;
  paused: prom.Gauge;
  bufferedRows: prom.Gauge;
  unknownFields: prom.Counter<"table">;
  flushes: prom.Counter;
  /** Decode workers that died (their chunks were decoded in-thread). */
  decodeWorkerCrashes: prom.Counter;
  lastInsertTime: prom.Gauge<"table" | "shard">;
  /** `pipeline_hop_seconds`: hops `fetch` and `insert`. */
  hops: HopHistogram;
  /** CDC schema versions whose column type the mirror cannot take. */
  cdcSchemaConflicts: prom.Counter<"table">;
  /** CDC rows whose unchanged TOASTed value was merged from an earlier version. */
  cdcToastMerged: prom.Counter<"table">;
}

/** Registers the sink's metrics on `registry`. */
export function createSinkMetrics(registry: prom.Registry): SinkMetrics {
  const registers = [registry];
  return {
    messagesIn: new prom.Counter({
      name: "sink_messages_in_total",
      help: "Kafka messages consumed",
      labelNames: ["topic"],
      registers,
    }),
    rowsOut: new prom.Counter({
      name: "sink_rows_out_total",
      help: "Rows acknowledged by ClickHouse",
      labelNames: ["table"],
      registers,
    }),
    batches: new prom.Counter({
      name: "sink_batches_total",
      help: "Inserts acknowledged by ClickHouse",
      labelNames: ["table"],
      registers,
    }),
    insertSeconds: new prom.Histogram({
      name: "sink_insert_duration_seconds",
      help: "Latency of acknowledged inserts (including retries)",
      labelNames: ["table"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    batchRows: new prom.Histogram({
      name: "sink_batch_rows",
      help: "Rows per insert",
      labelNames: ["table"],
      buckets: [1, 10, 100, 1_000, 10_000, 50_000, 100_000, 250_000, 1e6],
      registers,
    }),
    freshness: new prom.Histogram({
      name: "sink_event_freshness_seconds",
      help:
        "Per row: event creation (CDC: PostgreSQL commit) to ClickHouse acknowledgement",
      labelNames: ["table"],
      buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 10, 30, 60, 300],
      registers,
    }),
    deadLettersUnwritten: new prom.Counter({
      name: "sink_dead_letters_unwritten_total",
      help:
        "Dead letters given up on the dead-letter topic (refused or failing; still in analytics.dead_letter)",
      registers,
    }),
    deadLetters: new prom.Counter({
      name: "sink_dead_letters_total",
      help: "Messages sent to the dead-letter table/topic",
      labelNames: ["topic"],
      registers,
    }),
    insertErrors: new prom.Counter({
      name: "sink_clickhouse_errors_total",
      help: "Failed ClickHouse requests (each is retried)",
      labelNames: ["shard", "replica"],
      registers,
    }),
    replicaUp: new prom.Gauge({
      name: "sink_clickhouse_replica_up",
      help: "1 if the last request to the replica succeeded",
      labelNames: ["shard", "replica"],
      registers,
    }),
    lag: new prom.Gauge({
      name: "sink_consumer_lag",
      help: "High watermark minus committed offset, per assigned partition",
      labelNames: ["topic", "partition"],
      registers,
    }),
    paused: new prom.Gauge({
      name: "sink_paused",
      help:
        "1 while consumption is paused (buffer full: ClickHouse slow or down)",
      registers,
    }),
    bufferedRows: new prom.Gauge({
      name: "sink_buffered_rows",
      help: "Rows buffered and not yet acknowledged",
      registers,
    }),
    unknownFields: new prom.Counter({
      name: "sink_unknown_fields_total",
      help:
        "Message fields ignored because the target table has no such column",
      labelNames: ["table"],
      registers,
    }),
    flushes: new prom.Counter({
      name: "sink_flushes_total",
      help: "Completed flush cycles (each commits its offsets)",
      registers,
    }),
    decodeWorkerCrashes: new prom.Counter({
      name: "sink_decode_worker_crashes_total",
      help: "Decode workers that died (their chunks were decoded in-thread)",
      registers,
    }),
    lastInsertTime: new prom.Gauge({
      name: "sink_last_insert_timestamp_seconds",
      help: "When the last insert into a table on a shard was acknowledged",
      labelNames: ["table", "shard"],
      registers,
    }),
    hops: new HopHistogram(registry),
    cdcSchemaConflicts: new prom.Counter({
      name: "sink_cdc_schema_conflicts_total",
      help:
        "CDC schema versions with a column type change the mirror cannot take (their rows are dead letters)",
      labelNames: ["table"],
      registers,
    }),
    cdcToastMerged: new prom.Counter({
      name: "sink_cdc_toast_merged_total",
      help:
        "CDC updates whose unchanged TOASTed columns were taken from the latest earlier version",
      labelNames: ["table"],
      registers,
    }),
  };
}
