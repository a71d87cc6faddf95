/**
 * "Pipelines": the operator's first screen. Events/s at every stage
 * (generator → shipper → Kafka → sink → ClickHouse, and the CDC relay),
 * end-to-end delay, consumer lag, batches and insert latency, dead letters,
 * the shipper's checkpoints and disk buffer, and process health.
 *
 * Metric names are the pipelines' own (pipelines/<name>/metrics.ts); every
 * pipeline also exports prom-client's process metrics with a `pipeline` label.
 *
 * @module
 */
import {
  chBucket,
  type DashboardDef,
  panel,
  type PromQuery,
  traffic,
  UP_DOWN,
} from "./grafana.ts";

const R = "[$__rate_interval]";
/** The pipelines' hop histogram (pipelines/runtime/hops.ts). */
const HOP_METRIC = "pipeline_hop_seconds";
const PIPELINE_JOBS = `job=~"generator|shipper|sink|cdc"`;
/** Every topic but Kafka's internal ones and the dead-letter topics. */
const DATA_TOPICS = `topic!="",topic!~"__.*|dlq\\\\..*"`;

const rate = (metric: string, by: string, legend: string): PromQuery => ({
  expr: `sum by (${by}) (rate(${metric}${R}))`,
  legend,
});

const hq = (
  q: number,
  metric: string,
  by: string,
  legend: string,
): PromQuery => ({
  expr:
    `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket${R})))`,
  legend,
});

/** The pipelines dashboard. */
export const pipelines: DashboardDef = {
  uid: "pipelines",
  title: "Pipelines: generator → shipper → Kafka → sink → ClickHouse",
  description:
    "Throughput, lag, latency, dead letters and process health of the generator, shipper, sink and CDC relay.",
  tags: ["pipelines", "kafka"],
  from: "now-30m",
  variables: [{
    kind: "query",
    name: "pipeline",
    label: "Pipeline",
    query: "label_values(nodejs_heap_size_used_bytes, pipeline)",
    multi: true,
    includeAll: true,
    allValue: ".*",
  }],
  items: [
    panel.row("Flow"),
    panel.stat({
      title: "Pipelines up",
      description:
        "Whether Prometheus can scrape each pipeline's /metrics. DOWN for a pipeline that should run fires PipelineDown after 30 s.",
      w: 8,
      mappings: UP_DOWN,
      thresholds: [{ color: "red", value: null }, { color: "green", value: 1 }],
      colorBackground: true,
      queries: [{
        expr: `max by (job) (up{${PIPELINE_JOBS}})`,
        legend: "{{job}}",
        instant: true,
      }],
    }),
    panel.stat({
      title: "Generated/s",
      description:
        "Events the generator produced per second (Kafka: acknowledged; file: written).",
      unit: "ops",
      sparkline: true,
      queries: [{ expr: `sum(rate(generator_events_total${R}))` }],
    }),
    panel.stat({
      title: "Shipped to Kafka/s",
      description: "Events the shipper got acknowledged by Kafka per second.",
      unit: "ops",
      sparkline: true,
      queries: [{ expr: `sum(rate(shipper_events_sent_total${R}))` }],
    }),
    panel.stat({
      title: "Consumed by sink/s",
      description: "Kafka messages the sink consumed per second.",
      unit: "ops",
      sparkline: true,
      queries: [{ expr: `sum(rate(sink_messages_in_total${R}))` }],
    }),
    panel.stat({
      title: "Rows into ClickHouse/s",
      description: "Rows ClickHouse acknowledged per second (all tables).",
      unit: "ops",
      sparkline: true,
      queries: [{ expr: `sum(rate(sink_rows_out_total${R}))` }],
    }),
    panel.timeseries({
      title: "Events/s per stage",
      description:
        "The same events at every stage. Lines should track each other; a stage below the one before it is falling behind (see consumer lag).",
      unit: "ops",
      w: 16,
      h: 9,
      queries: [
        { expr: `sum(rate(generator_events_total${R}))`, legend: "generator" },
        {
          expr: `sum(rate(shipper_events_sent_total${R}))`,
          legend: "shipper → Kafka",
        },
        {
          expr:
            `sum(rate(kafka_server_brokertopicmetrics_count{name="MessagesInPerSec",${DATA_TOPICS}}${R}))`,
          legend: "Kafka in (all topics)",
        },
        {
          expr: `sum(rate(sink_messages_in_total${R}))`,
          legend: "sink consumed",
        },
        {
          expr: `sum(rate(sink_rows_out_total${R}))`,
          legend: "ClickHouse rows",
        },
        {
          expr: `sum(rate(cdc_records_produced_total${R}))`,
          legend: "CDC → Kafka",
        },
      ],
    }),
    panel.timeseries({
      title: "End-to-end delay (event time → ClickHouse)",
      description:
        "Seconds from an event's own timestamp to its arrival in ClickHouse (_ingested_at), over security events and service logs, by arrival time.",
      unit: "s",
      w: 8,
      h: 9,
      queries: [{
        format: "timeseries",
        sql:
          `SELECT time, quantile(0.5)(delay) AS p50, quantile(0.95)(delay) AS p95, max(delay) AS max FROM (
  SELECT ${
            chBucket("_ingested_at")
          } AS time, toInt64(toUInt32(_ingested_at)) - toInt64(toUInt32(timestamp)) AS delay
  FROM analytics.security_events WHERE $__timeFilter(_ingested_at)
  UNION ALL
  SELECT ${
            chBucket("_ingested_at")
          } AS time, toInt64(toUInt32(_ingested_at)) - toInt64(toUInt32(timestamp)) AS delay
  FROM analytics.fact_log WHERE $__timeFilter(_ingested_at)
) GROUP BY time ORDER BY time`,
      }],
    }),
    panel.timeseries({
      title: "Where the time goes: mean seconds per hop (stacked = end to end)",
      description:
        "pipeline_hop_seconds: created → written to file (write, generator) → read by the shipper (read) → acknowledged by Kafka (produce) → fetched by the sink (fetch, from the record's create time, so it also holds the produce round trip) → acknowledged by ClickHouse (insert). Observed per batch, weighted by events. The stack adds up to the end-to-end delay.",
      unit: "s",
      w: 12,
      h: 9,
      stack: true,
      queries: [{
        expr:
          `sum by (hop) (rate(${HOP_METRIC}_sum${R})) / sum by (hop) (rate(${HOP_METRIC}_count${R}))`,
        legend: "{{hop}}",
      }],
    }),
    panel.timeseries({
      title: "Hop latency p50 / p99",
      description:
        "Per hop of the event path, p50 and p99 (the same histogram; a batch's events count at its mean). The hop whose p99 jumps is where the stall is.",
      unit: "s",
      w: 12,
      h: 9,
      queries: [
        hq(0.5, HOP_METRIC, "hop", "p50 {{hop}}"),
        hq(0.99, HOP_METRIC, "hop", "p99 {{hop}}"),
      ],
    }),
    panel.row("Kafka consumer lag (sink)"),
    panel.stat({
      title: "Total lag",
      description:
        "Messages in Kafka the sink has not committed yet, over all partitions.",
      unit: "short",
      thresholds: traffic(10_000, 100_000),
      sparkline: true,
      queries: [{ expr: `sum(sink_consumer_lag)` }],
    }),
    panel.stat({
      title: "Since last insert",
      description:
        "Seconds since the sink's last acknowledged ClickHouse insert (any table).",
      unit: "s",
      thresholds: traffic(30, 120),
      queries: [{
        expr: `time() - max(sink_last_insert_timestamp_seconds)`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Sink paused",
      description:
        "1 while the sink paused consumption because its bounded buffer is full (ClickHouse slow or down): backpressure, not loss.",
      mappings: [{
        type: "value",
        options: {
          "0": { text: "flowing", color: "green", index: 0 },
          "1": { text: "PAUSED", color: "orange", index: 1 },
        },
      }],
      colorBackground: true,
      queries: [{ expr: `max(sink_paused)`, instant: true }],
    }),
    panel.timeseries({
      title: "Consumer lag per partition",
      description:
        "High watermark minus committed offset per topic/partition. Growing for 10 minutes fires ConsumerLagGrowing.",
      unit: "short",
      w: 12,
      queries: [{
        expr: `sum by (topic, partition) (sink_consumer_lag)`,
        legend: "{{topic}}/{{partition}}",
      }],
    }),
    panel.row("Sink → ClickHouse"),
    panel.timeseries({
      title: "Rows/s per table",
      description: "Rows acknowledged by ClickHouse per table.",
      unit: "ops",
      w: 8,
      queries: [rate("sink_rows_out_total", "table", "{{table}}")],
    }),
    panel.timeseries({
      title: "Messages/s per topic",
      description: "Kafka messages consumed per topic.",
      unit: "ops",
      w: 8,
      queries: [rate("sink_messages_in_total", "topic", "{{topic}}")],
    }),
    panel.timeseries({
      title: "Insert latency",
      description:
        "Latency of acknowledged ClickHouse inserts (including retries), p50 and p99 per table.",
      unit: "s",
      w: 8,
      queries: [
        hq(0.5, "sink_insert_duration_seconds", "table", "p50 {{table}}"),
        hq(0.99, "sink_insert_duration_seconds", "table", "p99 {{table}}"),
      ],
    }),
    panel.timeseries({
      title: "Batch size",
      description:
        "Rows per insert: average and p95 per table. Large batches are what ClickHouse wants; tiny ones mean low traffic or frequent flushes.",
      unit: "short",
      w: 8,
      queries: [
        {
          expr:
            `sum by (table) (rate(sink_batch_rows_sum${R})) / sum by (table) (rate(sink_batch_rows_count${R}))`,
          legend: "avg {{table}}",
        },
        hq(0.95, "sink_batch_rows", "table", "p95 {{table}}"),
      ],
    }),
    panel.timeseries({
      title: "Inserts/s and flushes/s",
      description:
        "Acknowledged inserts per table, and completed flush cycles (each commits Kafka offsets).",
      unit: "ops",
      w: 8,
      queries: [
        rate("sink_batches_total", "table", "inserts {{table}}"),
        { expr: `sum(rate(sink_flushes_total${R}))`, legend: "flushes" },
      ],
    }),
    panel.timeseries({
      title: "Buffered rows",
      description:
        "Rows the sink holds in memory, not yet acknowledged by ClickHouse (bounded: it pauses when full).",
      unit: "short",
      w: 8,
      queries: [{ expr: `sum(sink_buffered_rows)`, legend: "buffered" }],
    }),
    panel.timeseries({
      title: "ClickHouse errors/s per replica",
      description:
        "Failed ClickHouse requests per replica (each is retried on another replica or later).",
      unit: "ops",
      w: 12,
      queries: [
        rate(
          "sink_clickhouse_errors_total",
          "shard, replica",
          "shard {{shard}} {{replica}}",
        ),
      ],
    }),
    panel.stat({
      title: "Replicas reachable (sink's view)",
      description:
        "Per ClickHouse replica: did the sink's last request to it succeed.",
      w: 12,
      mappings: UP_DOWN,
      thresholds: [{ color: "red", value: null }, { color: "green", value: 1 }],
      colorBackground: true,
      queries: [{
        expr: `max by (shard, replica) (sink_clickhouse_replica_up)`,
        legend: "shard {{shard}} {{replica}}",
        instant: true,
      }],
    }),
    panel.row("Dead letters"),
    panel.timeseries({
      title: "Dead letters/s",
      description:
        "Messages diverted to the DLQ (shipper: dlq.shipper by reason; sink: dlq.sink + analytics.dead_letter by topic). Above 1% of input fires DeadLetterRateHigh.",
      unit: "ops",
      w: 12,
      queries: [
        rate("shipper_dead_letters_total", "reason", "shipper: {{reason}}"),
        rate("sink_dead_letters_total", "topic", "sink: {{topic}}"),
      ],
    }),
    panel.timeseries({
      title: "Dead-letter ratio",
      description: "Dead letters as a share of input, per pipeline.",
      unit: "percentunit",
      w: 12,
      thresholds: traffic(0.001, 0.01),
      queries: [
        {
          expr:
            `sum(rate(shipper_dead_letters_total${R})) / sum(rate(shipper_lines_read_total${R}))`,
          legend: "shipper",
        },
        {
          expr:
            `sum(rate(sink_dead_letters_total${R})) / sum(rate(sink_messages_in_total${R}))`,
          legend: "sink",
        },
      ],
    }),
    panel.table({
      title: "Latest dead letters (ClickHouse)",
      description:
        "The newest rows of analytics.dead_letter: why each message was rejected and where it came from.",
      w: 24,
      h: 8,
      queries: [{
        format: "table",
        sql:
          `SELECT ts, pipeline, reason, source, substring(original, 1, 200) AS original
FROM analytics.dead_letter WHERE $__timeFilter(ts)
ORDER BY ts DESC LIMIT 50`,
      }],
    }),
    panel.row("Shipper"),
    panel.timeseries({
      title: "Lines read/s and events sent/s",
      description:
        "Lines read per source (file tail, HTTP buffer) and messages acknowledged by Kafka per topic.",
      unit: "ops",
      w: 8,
      queries: [
        rate("shipper_lines_read_total", "source", "read {{source}}"),
        rate("shipper_events_sent_total", "topic", "sent {{topic}}"),
      ],
    }),
    panel.timeseries({
      title: "Kafka send latency",
      description:
        "Time from sending a batch to Kafka's acks=all acknowledgement, p50 and p99.",
      unit: "s",
      w: 8,
      queries: [
        hq(0.5, "shipper_send_duration_seconds", "source", "p50 {{source}}"),
        hq(0.99, "shipper_send_duration_seconds", "source", "p99 {{source}}"),
      ],
    }),
    panel.timeseries({
      title: "Checkpoint lag and disk buffer",
      description:
        "Bytes of tailed files not yet acknowledged by Kafka (checkpoint lag) and bytes in the HTTP disk buffer: what a crash would replay.",
      unit: "bytes",
      w: 8,
      queries: [
        {
          expr: `sum(shipper_checkpoint_lag_bytes)`,
          legend: "file checkpoint lag",
        },
        { expr: `sum(shipper_buffer_depth_bytes)`, legend: "HTTP disk buffer" },
      ],
    }),
    panel.timeseries({
      title: "HTTP ingest",
      description:
        "HTTP ingest requests per status code, and events accepted (202: durably buffered).",
      unit: "reqps",
      w: 8,
      queries: [
        rate("shipper_http_requests_total", "code", "{{code}}"),
        {
          expr: `sum(rate(shipper_http_events_accepted_total${R}))`,
          legend: "events accepted",
        },
      ],
    }),
    panel.timeseries({
      title: "Send errors/s",
      description: "Failed batch sends to Kafka (retried, never dropped).",
      unit: "ops",
      w: 8,
      queries: [{
        expr: `sum(rate(shipper_send_errors_total${R}))`,
        legend: "errors",
      }],
    }),
    panel.timeseries({
      title: "Files tracked and buffer segments",
      description:
        "Files the tailer follows, and segment files in the HTTP disk buffer.",
      unit: "short",
      w: 8,
      queries: [
        { expr: `sum(shipper_files_tracked)`, legend: "files tracked" },
        { expr: `sum(shipper_buffer_segments)`, legend: "buffer segments" },
      ],
    }),
    panel.row("Generator"),
    panel.timeseries({
      title: "Generated events/s",
      description: "Events generated per kind and destination (topic or file).",
      unit: "ops",
      w: 8,
      queries: [
        rate("generator_events_total", "kind, topic", "{{kind}} → {{topic}}"),
      ],
    }),
    panel.timeseries({
      title: "Generator bytes/s and errors/s",
      description:
        "Payload bytes written/acknowledged, and events that failed to be written or sent.",
      unit: "Bps",
      w: 8,
      overrides: [{
        matcher: { id: "byRegexp", options: "errors.*" },
        properties: [{ id: "unit", value: "ops" }, {
          id: "custom.axisPlacement",
          value: "right",
        }],
      }],
      queries: [
        rate("generator_bytes_total", "kind, output", "{{kind}} {{output}}"),
        rate(
          "generator_errors_total",
          "kind, output",
          "errors {{kind}} {{output}}",
        ),
      ],
    }),
    panel.timeseries({
      title: "CDC load on PostgreSQL",
      description:
        "Row changes the generator applies to PostgreSQL per table and operation (the CDC relay's input).",
      unit: "ops",
      w: 8,
      queries: [
        rate("generator_cdc_changes_total", "table, op", "{{table}} {{op}}"),
        { expr: `sum(generator_target_rate)`, legend: "target rate" },
      ],
    }),
    panel.row("Processes"),
    panel.timeseries({
      title: "CPU",
      description:
        "CPU time per second per pipeline process (1 = one full core).",
      unit: "percentunit",
      w: 8,
      queries: [{
        expr:
          `sum by (pipeline) (rate(process_cpu_seconds_total{pipeline=~"$pipeline"}${R}))`,
        legend: "{{pipeline}}",
      }],
    }),
    panel.timeseries({
      title: "Memory",
      description:
        "JS heap used and external memory (Kafka/HTTP buffers) per pipeline. RSS is not exported: reading /proc is outside the pipelines' permissions.",
      unit: "bytes",
      w: 8,
      queries: [
        {
          expr:
            `sum by (pipeline) (nodejs_heap_size_used_bytes{pipeline=~"$pipeline"})`,
          legend: "heap {{pipeline}}",
        },
        {
          expr:
            `sum by (pipeline) (nodejs_external_memory_bytes{pipeline=~"$pipeline"})`,
          legend: "external {{pipeline}}",
        },
      ],
    }),
    panel.timeseries({
      title: "Event loop lag p99",
      description:
        "99th percentile event loop delay: above ~100 ms the process is CPU-bound or blocked.",
      unit: "s",
      w: 8,
      thresholds: traffic(0.1, 0.5),
      queries: [{
        expr:
          `max by (pipeline) (nodejs_eventloop_lag_p99_seconds{pipeline=~"$pipeline"})`,
        legend: "{{pipeline}}",
      }],
    }),
  ],
};
