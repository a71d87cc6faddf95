/**
 * The generator's Prometheus counters. The hot loop never touches prom-client
 * (a labelled `inc()` per event would cost more than making the event): it
 * counts in plain numbers, and {@link GeneratorMetrics.sync} adds the deltas
 * every 250 ms and at the end.
 *
 * @module
 */
import { HopHistogram, prom } from "../runtime/mod.ts";
import type { CdcCounts } from "./outputs/cdc_sink.ts";
import type { OutputStats } from "./outputs/mod.ts";

/** Counters of one generator process. */
export class GeneratorMetrics {
  readonly events: prom.Counter<"kind" | "topic">;
  readonly bytes: prom.Counter<"kind" | "output">;
  readonly errors: prom.Counter<"kind" | "output">;
  readonly files: prom.Counter<"kind">;
  readonly cdcChanges: prom.Counter<"table" | "op">;
  readonly cdcTransactions: prom.Counter;
  readonly cdcSkipped: prom.Counter;
  readonly targetRate: prom.Gauge<"kind">;
  /** `pipeline_hop_seconds` (hop `write`, file output, wall clock). */
  readonly hops: HopHistogram;
  readonly #seen = new Map<string, number>();

  /** Registers the metrics in `registry`. */
  constructor(registry: prom.Registry, private readonly kind: string) {
    const registers = [registry];
    this.events = new prom.Counter({
      name: "generator_events_total",
      help:
        "Events generated and accepted by the output (Kafka: acknowledged), by kind and topic/destination",
      labelNames: ["kind", "topic"],
      registers,
    });
    this.bytes = new prom.Counter({
      name: "generator_bytes_total",
      help: "Payload bytes written or acknowledged",
      labelNames: ["kind", "output"],
      registers,
    });
    this.errors = new prom.Counter({
      name: "generator_errors_total",
      help: "Events that failed to be written or sent",
      labelNames: ["kind", "output"],
      registers,
    });
    this.files = new prom.Counter({
      name: "generator_files_opened_total",
      help: "NDJSON files opened by rotation",
      labelNames: ["kind"],
      registers,
    });
    this.cdcChanges = new prom.Counter({
      name: "generator_cdc_changes_total",
      help: "Row changes applied (postgres) or written (file/stdout)",
      labelNames: ["table", "op"],
      registers,
    });
    this.cdcTransactions = new prom.Counter({
      name: "generator_cdc_transactions_total",
      help: "CDC transactions committed or written",
      registers,
    });
    this.cdcSkipped = new prom.Counter({
      name: "generator_cdc_skipped_total",
      help:
        "Row changes that touched no row or were refused (concurrent writers)",
      registers,
    });
    this.targetRate = new prom.Gauge({
      name: "generator_target_rate",
      help: "Current target events/s (0 = unthrottled)",
      labelNames: ["kind"],
      registers,
    });
    this.hops = new HopHistogram(registry);
  }

  #delta(key: string, total: number): number {
    const d = total - (this.#seen.get(key) ?? 0);
    this.#seen.set(key, total);
    return d;
  }

  /** Adds what an output did since the last call. */
  sync(output: string, s: OutputStats): void {
    const kind = this.kind;
    for (const [topic, n] of Object.entries(s.perTopic)) {
      const d = this.#delta(`events/${topic}`, n);
      if (d > 0) this.events.inc({ kind, topic }, d);
    }
    const b = this.#delta("bytes", s.bytes);
    if (b > 0) this.bytes.inc({ kind, output }, b);
    const e = this.#delta("errors", s.errors);
    if (e > 0) this.errors.inc({ kind, output }, e);
    const f = this.#delta("files", s.files);
    if (f > 0) this.files.inc({ kind }, f);
    // Make the series visible at 0 before anything happened.
    this.errors.inc({ kind, output }, 0);
  }

  /** Adds CDC changes/transactions since the last call. */
  syncCdc(counts: CdcCounts, transactions: number, skipped: number): void {
    for (const [table, ops] of Object.entries(counts)) {
      for (const [op, n] of Object.entries(ops)) {
        const d = this.#delta(`cdc/${table}/${op}`, n);
        if (d > 0) this.cdcChanges.inc({ table, op }, d);
      }
    }
    const t = this.#delta("cdc/tx", transactions);
    if (t > 0) this.cdcTransactions.inc(t);
    const s = this.#delta("cdc/skipped", skipped);
    if (s > 0) this.cdcSkipped.inc(s);
  }
}
