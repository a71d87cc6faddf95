/**
 * Freshness percentiles from the sinks' `sink_event_freshness_seconds`
 * histograms (event creation or PostgreSQL commit → row acknowledged by
 * ClickHouse), per table.
 *
 * @module
 */
import type { Scrapes } from "./live_view.ts";
import type { Sample } from "./prom_text.ts";

/** p50/p99 in seconds and the number of observations, per table. */
export type Freshness = Record<
  string,
  { p50: number; p99: number; count: number }
>;

/** Quantile `q` of cumulative histogram buckets (linear within a bucket). */
export function histogramQuantile(
  q: number,
  buckets: Array<{ le: number; count: number }>,
): number {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket === 0
        ? b.le
        : prevLe + (b.le - prevLe) * (rank - prevCount) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Freshness per table from the final scrapes of the sinks. */
export function freshnessFromScrape(s: Scrapes): Freshness {
  const byTable = new Map<string, Array<{ le: number; count: number }>>();
  for (const samples of [s["sink"], s["sink-cdc"]]) {
    for (const x of samples ?? [] as Sample[]) {
      if (x.name !== "sink_event_freshness_seconds_bucket") continue;
      const table = x.labels.table ?? "all";
      const le = x.labels.le === "+Inf" ? Infinity : Number(x.labels.le);
      const list = byTable.get(table) ?? [];
      const same = list.find((b) => b.le === le);
      if (same) same.count += x.value;
      else list.push({ le, count: x.value });
      byTable.set(table, list);
    }
  }
  const out: Freshness = {};
  for (const [table, buckets] of byTable) {
    const count = Math.max(...buckets.map((b) => b.count));
    if (count === 0) continue;
    out[table] = {
      p50: round(histogramQuantile(0.5, buckets)),
      p99: round(histogramQuantile(0.99, buckets)),
      count,
    };
  }
  return out;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
