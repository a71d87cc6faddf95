/**
 * What the user sees: a live progress line (only when stderr is a terminal,
 * or with `--progress`) and the final summary — one JSON log line for
 * scripts and tests, one plain line for people.
 *
 * @module
 */
import type { CdcSink } from "./outputs/cdc_sink.ts";
import type { OutputStats } from "./outputs/mod.ts";
import type { LoopResult } from "./run.ts";

const encoder = new TextEncoder();
const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** Rewrites one status line on stderr at most twice a second. */
export class ProgressLine {
  #last = 0;
  #lastEvents = 0;
  #lastAt = performance.now();
  #shown = false;

  /** `enabled` false makes every call a no-op. */
  constructor(
    private readonly enabled: boolean,
    private readonly label: string,
  ) {}

  /** Shows totals and the recent rate. */
  update(events: number, errors: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.#last < 500) return;
    const rate = ((events - this.#lastEvents) * 1000) / (now - this.#lastAt);
    this.#last = now;
    this.#lastAt = now;
    this.#lastEvents = events;
    this.#shown = true;
    Deno.stderr.writeSync(
      encoder.encode(
        `\r\x1b[2K${this.label}: ${fmt.format(events)} events, ${
          fmt.format(rate)
        }/s, ${fmt.format(errors)} errors`,
      ),
    );
  }

  /** Ends the line so later output starts on a fresh one. */
  end(): void {
    if (this.#shown) Deno.stderr.writeSync(encoder.encode("\n"));
    this.#shown = false;
  }
}

/** The machine-readable summary (logged as `msg: "summary"`). */
export interface Summary {
  kind: string;
  to: string;
  seed: string;
  seeded: boolean;
  events: number;
  bytes: number;
  errors: number;
  elapsed_s: number;
  events_per_s: number;
  mb_per_s: number;
  stopped_by: string;
  per_topic: Record<string, number>;
  files?: number;
  cdc?: {
    inserts: number;
    updates: number;
    deletes: number;
    transactions: number;
    skipped: number;
    by_table: CdcSink["applied"];
  };
}

/** Summary of a security/http run. */
export function eventSummary(
  base: { kind: string; to: string; seed: string; seeded: boolean },
  r: LoopResult,
  s: OutputStats,
): Summary {
  const secs = r.elapsedMs / 1000;
  return {
    ...base,
    events: s.events,
    bytes: s.bytes,
    errors: s.errors,
    elapsed_s: round(secs, 3),
    events_per_s: Math.round(s.events / Math.max(secs, 1e-9)),
    mb_per_s: round(s.bytes / 1e6 / Math.max(secs, 1e-9), 2),
    stopped_by: r.stoppedBy,
    per_topic: { ...s.perTopic },
    ...(base.to === "file" ? { files: s.files } : {}),
  };
}

/** Summary of a cdc run. */
export function cdcSummary(
  base: { kind: string; to: string; seed: string; seeded: boolean },
  r: LoopResult,
  sink: CdcSink,
  out?: OutputStats,
): Summary {
  const a = sink.applied;
  const sum = (op: "insert" | "update" | "delete") =>
    a.users[op] + a.orders[op];
  const events = sum("insert") + sum("update") + sum("delete");
  const secs = r.elapsedMs / 1000;
  return {
    ...base,
    events,
    bytes: out?.bytes ?? 0,
    errors: sink.errors + (out?.errors ?? 0),
    elapsed_s: round(secs, 3),
    events_per_s: Math.round(events / Math.max(secs, 1e-9)),
    mb_per_s: round((out?.bytes ?? 0) / 1e6 / Math.max(secs, 1e-9), 2),
    stopped_by: r.stoppedBy,
    per_topic: {
      users: a.users.insert + a.users.update + a.users.delete,
      orders: a.orders.insert + a.orders.update + a.orders.delete,
    },
    ...(base.to === "file" ? { files: out?.files ?? 0 } : {}),
    cdc: {
      inserts: sum("insert"),
      updates: sum("update"),
      deletes: sum("delete"),
      transactions: sink.transactions,
      skipped: sink.skipped,
      by_table: structuredClone(a),
    },
  };
}

/** One plain sentence for people. */
export function humanSummary(s: Summary): string {
  let line = `generate: ${fmt.format(s.events)} ${s.kind} ${
    s.kind === "cdc" ? "changes" : "events"
  } → ${s.to} in ${s.elapsed_s.toFixed(2)} s (${fmt.format(s.events_per_s)}/s`;
  if (s.bytes > 0) line += `, ${s.mb_per_s.toFixed(1)} MB/s`;
  line += `), ${fmt.format(s.errors)} errors`;
  if (s.cdc) {
    line +=
      `; inserts ${s.cdc.inserts}, updates ${s.cdc.updates}, deletes ${s.cdc.deletes} in ${s.cdc.transactions} transactions`;
    if (s.cdc.skipped) line += ` (${s.cdc.skipped} skipped)`;
  }
  if (s.files !== undefined) line += `; ${s.files} file(s)`;
  return line;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
