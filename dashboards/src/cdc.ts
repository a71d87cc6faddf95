/**
 * "CDC": the reference Debezium dashboard (same metric names and labels, so
 * it reads the same as with Debezium's JMX exporter), plus what Debezium's
 * dashboard lacks: replication slot lag and retained WAL, commit → Kafka
 * latency, and the ClickHouse mirror the sink applies the changes to.
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

const SEL = `plugin="$connector_type",name="$connector_name"`;
const STREAMING = `{${SEL},context="streaming"}`;
const SNAPSHOT = `{${SEL},context="snapshot"}`;

const latency = (q: number): PromQuery => ({
  expr:
    `histogram_quantile(${q}, sum by (le) (rate(cdc_end_to_end_lag_seconds_bucket{job="cdc"}[$__rate_interval])))`,
  legend: `p${Math.round(q * 100)}`,
});

const YES_NO = [{
  type: "value",
  options: {
    "0": { text: "no", color: "text", index: 0 },
    "1": { text: "yes", color: "blue", index: 1 },
  },
}];

/** The CDC dashboard. */
export const cdc: DashboardDef = {
  uid: "cdc",
  title: "CDC: PostgreSQL → Kafka (Debezium-style)",
  description:
    "The CDC relay (pipelines/cdc) under Debezium's metric names, its replication slot, commit → Kafka latency and the ClickHouse mirror.",
  tags: ["cdc", "debezium", "postgres"],
  from: "now-30m",
  variables: [
    {
      kind: "query",
      name: "connector_type",
      label: "Connector type",
      query: "label_values(debezium_metrics_Connected, plugin)",
    },
    {
      kind: "query",
      name: "connector_name",
      label: "Connector name",
      query:
        `label_values(debezium_metrics_Connected{plugin="$connector_type"}, name)`,
    },
  ],
  items: [
    panel.row("Streaming"),
    panel.stat({
      title: "Connected",
      description:
        "Debezium Connected: 1 while the replication connection streams changes.",
      mappings: UP_DOWN,
      thresholds: [{ color: "red", value: null }, { color: "green", value: 1 }],
      colorBackground: true,
      queries: [{
        expr: `max(debezium_metrics_Connected${STREAMING})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Since last event",
      description:
        "Debezium MilliSecondsSinceLastEvent (streaming): time since the relay last read a change; -1 = none yet. The heartbeat keeps an idle database from looking dead.",
      unit: "ms",
      thresholds: traffic(60_000, 300_000),
      queries: [{
        expr: `max(debezium_metrics_MilliSecondsSinceLastEvent${STREAMING})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Events seen",
      description: "Debezium TotalNumberOfEventsSeen (streaming).",
      unit: "short",
      sparkline: true,
      queries: [{
        expr: `sum(debezium_metrics_TotalNumberOfEventsSeen${STREAMING})`,
      }],
    }),
    panel.stat({
      title: "Events skipped",
      description:
        "Debezium NumberOfEventsSkipped: read but not emitted (tables outside the publication's include list...).",
      unit: "short",
      queries: [{
        expr: `sum(debezium_metrics_NumberOfEventsSkipped${STREAMING})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Committed transactions",
      description: "Debezium NumberOfCommittedTransactions.",
      unit: "short",
      queries: [{
        expr: `sum(debezium_metrics_NumberOfCommittedTransactions${STREAMING})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Behind source",
      description:
        "Debezium MilliSecondsBehindSource: commit time of the last event to when the relay processed it.",
      unit: "ms",
      thresholds: traffic(5_000, 60_000),
      queries: [{
        expr: `max(debezium_metrics_MilliSecondsBehindSource${STREAMING})`,
        instant: true,
      }],
    }),
    panel.timeseries({
      title: "Change events/s",
      description:
        "Events read per second (TotalNumberOfEventsSeen) per context, and skipped events.",
      unit: "ops",
      w: 8,
      queries: [
        {
          expr:
            `sum by (context) (rate(debezium_metrics_TotalNumberOfEventsSeen{${SEL}}[$__rate_interval]))`,
          legend: "seen {{context}}",
        },
        {
          expr:
            `sum by (context) (rate(debezium_metrics_NumberOfEventsSkipped{${SEL}}[$__rate_interval]))`,
          legend: "skipped {{context}}",
        },
      ],
    }),
    panel.timeseries({
      title: "Commit → Kafka latency",
      description:
        "Time from the PostgreSQL commit to Kafka's acknowledgement of the change record (cdc_end_to_end_lag_seconds), percentiles.",
      unit: "s",
      w: 8,
      queries: [latency(0.5), latency(0.95), latency(0.99)],
    }),
    panel.timeseries({
      title: "Records to Kafka/s",
      description:
        "Records acknowledged by Kafka per second (including delete tombstones), per context.",
      unit: "ops",
      w: 8,
      queries: [{
        expr:
          `sum by (context) (rate(cdc_records_produced_total{job="cdc"}[$__rate_interval]))`,
        legend: "{{context}}",
      }],
    }),
    panel.timeseries({
      title: "Bytes/s: PostgreSQL in, Kafka out",
      description:
        "Kafka Connect's incoming_byte_rate (replication frames read from PostgreSQL) and outgoing_byte_rate (record bytes acknowledged by Kafka: UTF-8 key + value + 64 per record), each over the relay's last 10 s.",
      unit: "Bps",
      w: 24,
      h: 6,
      queries: [
        {
          expr:
            `sum by (client) (kafka_connect_metrics_incoming_byte_rate{name="$connector_name"})`,
          legend: "incoming ({{client}})",
        },
        {
          expr:
            `sum by (client) (kafka_connect_metrics_outgoing_byte_rate{name="$connector_name"})`,
          legend: "outgoing ({{client}})",
        },
      ],
    }),
    panel.row("Snapshot"),
    panel.stat({
      title: "Tables in snapshot",
      description: "Debezium TotalTableCount.",
      w: 3,
      queries: [{
        expr: `max(debezium_metrics_TotalTableCount${SNAPSHOT})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Tables remaining",
      description: "Debezium RemainingTableCount.",
      w: 3,
      queries: [{
        expr: `max(debezium_metrics_RemainingTableCount${SNAPSHOT})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Snapshot running",
      description: "Debezium SnapshotRunning.",
      w: 3,
      mappings: YES_NO,
      queries: [{
        expr: `max(debezium_metrics_SnapshotRunning${SNAPSHOT})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Snapshot completed",
      description: "Debezium SnapshotCompleted.",
      w: 3,
      mappings: YES_NO,
      queries: [{
        expr: `max(debezium_metrics_SnapshotCompleted${SNAPSHOT})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Snapshot aborted",
      description:
        "Debezium SnapshotAborted: 1 means the initial copy did not finish and will be redone.",
      w: 3,
      mappings: [{
        type: "value",
        options: {
          "0": { text: "no", color: "green", index: 0 },
          "1": { text: "ABORTED", color: "red", index: 1 },
        },
      }],
      colorBackground: true,
      queries: [{
        expr: `max(debezium_metrics_SnapshotAborted${SNAPSHOT})`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Snapshot duration",
      description: "Debezium SnapshotDurationInSeconds.",
      w: 3,
      unit: "s",
      queries: [{
        expr: `max(debezium_metrics_SnapshotDurationInSeconds${SNAPSHOT})`,
        instant: true,
      }],
    }),
    panel.bargauge({
      title: "Rows scanned per table",
      description:
        "Debezium RowsScanned: rows copied per table by the snapshot.",
      w: 6,
      h: 4,
      unit: "short",
      queries: [{
        expr: `max by (table) (debezium_metrics_RowsScanned{${SEL}})`,
        legend: "{{table}}",
        instant: true,
      }],
    }),
    panel.row("Replication slot"),
    panel.stat({
      title: "Slot lag",
      description:
        "Current WAL position minus the slot's confirmed_flush_lsn (cdc_slot_lag_bytes): changes not yet confirmed as in Kafka.",
      unit: "bytes",
      thresholds: traffic(64 * 1024 * 1024, 512 * 1024 * 1024),
      queries: [{ expr: `max(cdc_slot_lag_bytes{job="cdc"})`, instant: true }],
    }),
    panel.stat({
      title: "Retained WAL",
      description:
        "WAL PostgreSQL keeps for the slot (current position minus restart_lsn). Grows without bound if the relay stops: disk fills up. Alert CdcSlotRetainingWal.",
      unit: "bytes",
      thresholds: traffic(256 * 1024 * 1024, 1024 * 1024 * 1024),
      colorBackground: true,
      queries: [{
        expr: `max(pg_replication_slots_pg_wal_lsn_diff)`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Slots inactive",
      description:
        "Replication slots with no consumer attached (postgres exporter). An inactive slot still retains WAL.",
      unit: "short",
      thresholds: traffic(1, 1),
      queries: [{
        expr: `count(pg_replication_slots_active == 0) or vector(0)`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "PostgreSQL",
      description: "postgres exporter can reach PostgreSQL.",
      mappings: UP_DOWN,
      thresholds: [{ color: "red", value: null }, { color: "green", value: 1 }],
      colorBackground: true,
      queries: [{ expr: `max(pg_up)`, instant: true }],
    }),
    panel.stat({
      title: "Heartbeats/min",
      description:
        "Heartbeat messages the relay writes to the WAL, so an idle database still advances the slot.",
      unit: "short",
      queries: [{
        expr: `sum(rate(cdc_heartbeats_total{job="cdc"}[5m])) * 60`,
        instant: true,
      }],
    }),
    panel.stat({
      title: "Max connections used",
      description: "Connections to PostgreSQL over max_connections.",
      unit: "percentunit",
      thresholds: traffic(0.7, 0.9),
      queries: [{
        expr:
          `sum(pg_stat_database_numbackends) / max(pg_settings_max_connections)`,
        instant: true,
      }],
    }),
    panel.timeseries({
      title: "Retained WAL per slot",
      description:
        "pg_replication_slots_pg_wal_lsn_diff (postgres exporter) per slot, and the relay's own slot lag.",
      unit: "bytes",
      queries: [
        {
          expr: `max by (slot_name) (pg_replication_slots_pg_wal_lsn_diff)`,
          legend: "retained {{slot_name}}",
        },
        {
          expr: `max(cdc_slot_lag_bytes{job="cdc"})`,
          legend: "unconfirmed (relay)",
        },
      ],
    }),
    panel.timeseries({
      title: "Since last event",
      description: "MilliSecondsSinceLastEvent over time, per context.",
      unit: "ms",
      queries: [{
        expr:
          `max by (context) (debezium_metrics_MilliSecondsSinceLastEvent{${SEL}} >= 0)`,
        legend: "{{context}}",
      }],
    }),
    panel.row("ClickHouse mirror (applied by the sink)"),
    panel.table({
      title: "Mirror rows",
      description:
        "Live rows in the ClickHouse mirrors of PostgreSQL (FINAL, deletes excluded) and when the last change landed.",
      w: 8,
      queries: [{
        format: "table",
        sql:
          `SELECT 'users' AS "table", count() AS rows, max(_ingested_at) AS "last change"
FROM analytics.pg_users FINAL WHERE _deleted = 0
UNION ALL
SELECT 'orders' AS "table", count() AS rows, max(_ingested_at) AS "last change"
FROM analytics.pg_orders FINAL WHERE _deleted = 0`,
      }],
    }),
    panel.timeseries({
      title: "Changes applied/s by operation",
      description:
        "Change rows the sink wrote to the mirrors per second, by Debezium op (c, u, d, r = snapshot read).",
      unit: "ops",
      stack: true,
      w: 16,
      queries: [{
        format: "timeseries",
        sql: `SELECT time, op, count() / $__interval_s AS rate FROM (
  SELECT ${chBucket("_ingested_at")} AS time, concat('users ', _op) AS op
  FROM analytics.pg_users WHERE $__timeFilter(_ingested_at)
  UNION ALL
  SELECT ${chBucket("_ingested_at")} AS time, concat('orders ', _op) AS op
  FROM analytics.pg_orders WHERE $__timeFilter(_ingested_at)
) GROUP BY time, op ORDER BY time`,
      }],
    }),
  ],
};
