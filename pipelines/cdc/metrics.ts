/**
 * Metrics under Debezium's and Kafka Connect's names and labels (as their
 * JMX exporter rules emit them), so the reference Debezium Grafana dashboard
 * works unchanged, plus the relay's own lag and slot metrics.
 *
 * @module
 */
import { prom } from "../runtime/metrics.ts";
import { ByteRate } from "./byte_rate.ts";

/** Debezium's label set: plugin, server name, context. */
type Context = "snapshot" | "streaming";

/** All metrics of the relay. */
export class CdcMetrics {
  /** Label values for each context. */
  readonly #labels: Record<Context, Record<string, string>>;
  #lastEventMs: Record<Context, number> = { snapshot: 0, streaming: 0 };
  /** Hot-path counts kept as plain numbers; gauges read them on scrape. */
  readonly #seen: Record<Context, number> = { snapshot: 0, streaming: 0 };
  readonly #skipped: Record<Context, number> = { snapshot: 0, streaming: 0 };
  #committed = 0;
  #behindMs = 0;
  /** Replication frame bytes read from PostgreSQL. */
  readonly #bytesIn = new ByteRate();
  /** Record bytes acknowledged by Kafka. */
  readonly #bytesOut = new ByteRate();
  readonly connected: prom.Gauge;
  readonly totalTables: prom.Gauge;
  readonly remainingTables: prom.Gauge;
  readonly snapshotRunning: prom.Gauge;
  readonly snapshotCompleted: prom.Gauge;
  readonly snapshotAborted: prom.Gauge;
  readonly snapshotDuration: prom.Gauge;
  readonly rowsScanned: prom.Gauge;
  readonly endToEndLag: prom.Histogram;
  readonly slotLagBytes: prom.Gauge;
  /** 1 once the current session reached the server's WAL position of its start (catch_up.ts). */
  readonly caughtUp: prom.Gauge;
  readonly catchUpSeconds: prom.Gauge;
  readonly catchUpBytes: prom.Gauge;
  readonly slotRetainedWalBytes: prom.Gauge;
  readonly slotRetainedWalWarning: prom.Gauge;
  readonly confirmedLsn: prom.Gauge;
  readonly recordsProduced: prom.Counter;
  readonly heartbeats: prom.Counter;
  readonly deadLetters: prom.Counter;

  /** Registers every metric on `registry` for server (topic prefix) `name`. */
  constructor(
    registry: prom.Registry,
    readonly serverName: string,
    client = `deno-cdc-${serverName}`,
  ) {
    const base = { plugin: "postgres", name: serverName };
    this.#labels = {
      snapshot: { ...base, context: "snapshot" },
      streaming: { ...base, context: "streaming" },
    };
    const labelNames = ["plugin", "name", "context"];
    const registers = [registry];
    const gauge = (name: string, help: string, extra: string[] = []) =>
      new prom.Gauge({
        name: `debezium_metrics_${name}`,
        help,
        labelNames: [...labelNames, ...extra],
        registers,
      });
    const since = this.#lastEventMs;
    const labels = this.#labels;
    new prom.Gauge({
      name: "debezium_metrics_MilliSecondsSinceLastEvent",
      help: "Milliseconds since the relay last read a change event",
      labelNames,
      registers,
      collect() {
        for (const ctx of ["snapshot", "streaming"] as const) {
          this.set(
            labels[ctx],
            since[ctx] === 0 ? -1 : Date.now() - since[ctx],
          );
        }
      },
    });
    const seen = this.#seen;
    const skipped = this.#skipped;
    const self = () => this;
    const perContext = (
      name: string,
      help: string,
      values: Record<Context, number>,
    ) =>
      new prom.Gauge({
        name: `debezium_metrics_${name}`,
        help,
        labelNames,
        registers,
        collect() {
          this.set(labels.snapshot, values.snapshot);
          this.set(labels.streaming, values.streaming);
        },
      });
    perContext(
      "TotalNumberOfEventsSeen",
      "Change events read (snapshot rows or streamed changes)",
      seen,
    );
    perContext(
      "NumberOfEventsSkipped",
      "Events read but not emitted (tables outside the include list, foreign messages)",
      skipped,
    );
    this.connected = gauge(
      "Connected",
      "1 while the replication connection is streaming",
    );
    new prom.Gauge({
      name: "debezium_metrics_NumberOfCommittedTransactions",
      help: "Transactions streamed",
      labelNames,
      registers,
      collect() {
        this.set(labels.streaming, self().#committed);
      },
    });
    new prom.Gauge({
      name: "debezium_metrics_MilliSecondsBehindSource",
      help: "Commit time of the last event to the time the relay processed it",
      labelNames,
      registers,
      collect() {
        this.set(labels.streaming, self().#behindMs);
      },
    });
    this.totalTables = gauge("TotalTableCount", "Tables in the snapshot");
    this.remainingTables = gauge(
      "RemainingTableCount",
      "Tables not yet snapshotted",
    );
    this.snapshotRunning = gauge("SnapshotRunning", "1 while snapshotting");
    this.snapshotCompleted = gauge(
      "SnapshotCompleted",
      "1 once the snapshot completed",
    );
    this.snapshotAborted = gauge(
      "SnapshotAborted",
      "1 if the snapshot was aborted",
    );
    this.snapshotDuration = gauge(
      "SnapshotDurationInSeconds",
      "Duration of the snapshot so far",
    );
    this.rowsScanned = gauge(
      "RowsScanned",
      "Rows read per table during the snapshot",
      ["table"],
    );
    this.endToEndLag = new prom.Histogram({
      name: "cdc_end_to_end_lag_seconds",
      help: "Source commit time to Kafka acknowledgement, per streamed record",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.slotLagBytes = new prom.Gauge({
      name: "cdc_slot_lag_bytes",
      help: "Current WAL position minus the slot's confirmed_flush_lsn",
      registers,
    });
    this.caughtUp = new prom.Gauge({
      name: "cdc_caught_up",
      help:
        "1 once this streaming session reached the server's WAL position of its start (changes committed before then waited behind the backlog)",
      registers,
    });
    this.catchUpSeconds = new prom.Gauge({
      name: "cdc_catch_up_seconds",
      help:
        "Seconds the last session took from its start to the server's WAL position of that moment",
      registers,
    });
    this.catchUpBytes = new prom.Gauge({
      name: "cdc_catch_up_bytes",
      help:
        "WAL between the confirmed position the last session resumed from and the server's position at its start",
      registers,
    });
    this.slotRetainedWalBytes = new prom.Gauge({
      name: "cdc_slot_retained_wal_bytes",
      help:
        "WAL the slot keeps on the server (current position minus restart_lsn)",
      registers,
    });
    this.slotRetainedWalWarning = new prom.Gauge({
      name: "cdc_slot_retained_wal_warning",
      help: "1 when the slot's retained WAL exceeds --wal-retention-warn",
      registers,
    });
    this.confirmedLsn = new prom.Gauge({
      name: "cdc_confirmed_lsn",
      help:
        "Last LSN confirmed to PostgreSQL (all records up to it acked by Kafka)",
      registers,
    });
    this.recordsProduced = new prom.Counter({
      name: "cdc_records_produced_total",
      help: "Records acknowledged by Kafka (incl. tombstones)",
      registers,
    });
    this.heartbeats = new prom.Counter({
      name: "cdc_heartbeats_total",
      help: "Heartbeat messages written to the WAL",
      registers,
    });
    this.deadLetters = new prom.Counter({
      name: "cdc_dead_letters_total",
      help:
        "Records too large for Kafka, sent to the dead-letter topic instead (by source topic)",
      labelNames: ["topic"],
      registers,
    });
    this.#registerByteRates(registers, { client, name: serverName });
    this.connected.set(labels.streaming, 0);
    for (
      const g of [
        this.totalTables,
        this.remainingTables,
        this.snapshotRunning,
        this.snapshotCompleted,
        this.snapshotAborted,
        this.snapshotDuration,
      ]
    ) g.set(labels.snapshot, 0);
    this.slotRetainedWalWarning.set(0);
  }

  /**
   * Kafka Connect's worker client metrics as its JMX exporter rule names
   * them (`kafka_connect_metrics_<attribute>{client=<client-id>}`), so the
   * reference dashboard's byte-rate panel shows the relay; `name` (the topic
   * prefix) lets a dashboard select one relay.
   */
  #registerByteRates(
    registers: prom.Registry[],
    labels: { client: string; name: string },
  ): void {
    const labelNames = ["client", "name"];
    const pair = (
      [rateName, totalName]: [string, string],
      r: ByteRate,
      what: string,
    ) => {
      new prom.Gauge({
        name: rateName,
        help: `${what}, bytes/s over the last 10 s or more`,
        labelNames,
        registers,
        collect() {
          this.set(labels, r.rate());
        },
      });
      new prom.Counter({
        name: totalName,
        help: `${what}, bytes since start`,
        labelNames,
        registers,
        collect() {
          this.reset();
          this.inc(labels, r.total);
        },
      });
    };
    pair(
      [
        "kafka_connect_metrics_incoming_byte_rate",
        "kafka_connect_metrics_incoming_byte_total",
      ],
      this.#bytesIn,
      "Replication frames read from PostgreSQL",
    );
    pair(
      [
        "kafka_connect_metrics_outgoing_byte_rate",
        "kafka_connect_metrics_outgoing_byte_total",
      ],
      this.#bytesOut,
      "Records acknowledged by Kafka (key + value UTF-8 + 64 per record)",
    );
  }

  /** Counts replication frame bytes read (hot path: one addition). */
  bytesIn(n: number): void {
    this.#bytesIn.add(n);
  }

  /** Counts record bytes Kafka acknowledged. */
  bytesOut(n: number): void {
    this.#bytesOut.add(n);
  }

  /** Labels for a context. */
  labels(ctx: Context): Record<string, string> {
    return this.#labels[ctx];
  }

  /** Counts one event read in `ctx` (hot path: plain arithmetic). */
  event(ctx: Context, n = 1): void {
    this.#seen[ctx] += n;
    this.#lastEventMs[ctx] = Date.now();
  }

  /** Counts one skipped event in `ctx`. */
  skipped(ctx: Context, n = 1): void {
    this.#skipped[ctx] += n;
  }

  /** Counts one streamed transaction. */
  committed(): void {
    this.#committed++;
  }

  /** Records how far behind the source the last event was. */
  behind(ms: number): void {
    this.#behindMs = ms;
  }
}
