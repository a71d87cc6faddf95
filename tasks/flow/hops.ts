/**
 * The per-hop breakdown of a run: p50/p99/mean of each hop of the event
 * path (`pipeline_hop_seconds`, see pipelines/runtime/hops.ts) from the
 * final scrapes of the processes, beside the end-to-end mean of the sink's
 * freshness histogram, measured independently.
 *
 * @module
 */
import { HOPS } from "../../pipelines/runtime/hops.ts";
import { histogramQuantile } from "./freshness.ts";
import type { Scrapes } from "./live_view.ts";
import type { Sample } from "./prom_text.ts";

/** One hop's figures, seconds; `count` is events observed. */
export interface HopFigures {
  p50: number;
  p99: number;
  mean: number;
  count: number;
}

/** The event path's hops, and end to end (created → ClickHouse ack). */
export interface HopBreakdown {
  hops: Record<string, HopFigures>;
  /** Mean of `sink_event_freshness_seconds` over the event tables. */
  endToEndMean: number;
  /** Sum of the hop means (see the module docs of runtime/hops.ts). */
  sumOfMeans: number;
}

/** The processes of the event path, in journey order. */
export const EVENT_PATH = [
  "generator-security",
  "generator-http",
  "shipper",
  "sink",
] as const;

/** Event tables whose freshness is the event path's end to end. */
const EVENT_TABLES = new Set(["security_events", "fact_log", "error_log"]);

/** Figures of a histogram named `name` per label `by`, over `samples`. */
export function histogramsBy(
  samples: Sample[],
  name: string,
  by: string,
  keep: (label: string) => boolean = () => true,
): Map<string, HopFigures> {
  const acc = new Map<
    string,
    { buckets: Map<number, number>; sum: number; count: number }
  >();
  const get = (k: string) => {
    let a = acc.get(k);
    if (!a) acc.set(k, a = { buckets: new Map(), sum: 0, count: 0 });
    return a;
  };
  for (const s of samples) {
    const k = s.labels[by] ?? "";
    if (!keep(k)) continue;
    if (s.name === `${name}_bucket`) {
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      const a = get(k);
      a.buckets.set(le, (a.buckets.get(le) ?? 0) + s.value);
    } else if (s.name === `${name}_sum`) get(k).sum += s.value;
    else if (s.name === `${name}_count`) get(k).count += s.value;
  }
  const out = new Map<string, HopFigures>();
  for (const [k, a] of acc) {
    if (a.count === 0) continue;
    const buckets = [...a.buckets].map(([le, count]) => ({ le, count }));
    out.set(k, {
      p50: histogramQuantile(0.5, buckets),
      p99: histogramQuantile(0.99, buckets),
      mean: a.sum / a.count,
      count: a.count,
    });
  }
  return out;
}

/** The event path's breakdown from the final scrapes of a run. */
export function hopsFromScrape(s: Scrapes): HopBreakdown {
  const samples = EVENT_PATH.flatMap((p) => s[p] ?? []);
  const hops: Record<string, HopFigures> = {};
  const by = histogramsBy(samples, "pipeline_hop_seconds", "hop");
  for (const hop of HOPS) {
    const f = by.get(hop);
    if (f) hops[hop] = round(f);
  }
  const e2e = histogramsBy(
    s["sink"] ?? [],
    "sink_event_freshness_seconds",
    "table",
    (t) => EVENT_TABLES.has(t),
  );
  let sum = 0, count = 0;
  for (const f of e2e.values()) {
    sum += f.mean * f.count;
    count += f.count;
  }
  return {
    hops,
    endToEndMean: r3(count ? sum / count : NaN),
    sumOfMeans: r3(Object.values(hops).reduce((n, f) => n + f.mean, 0)),
  };
}

/** The breakdown as text lines, for `verify`. */
export function renderHops(b: HopBreakdown): string[] {
  const lines = Object.entries(b.hops).map(([hop, f]) =>
    `  ${hop.padEnd(16)} p50 ${f.p50.toFixed(3)} s   p99 ${
      f.p99.toFixed(3)
    } s   mean ${f.mean.toFixed(3)} s   (${Math.round(f.count)} events)`
  );
  lines.push(
    `  ${"sum of means".padEnd(16)} ${
      b.sumOfMeans.toFixed(3)
    } s   end to end mean ${b.endToEndMean.toFixed(3)} s`,
  );
  return lines;
}

function r3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function round(f: HopFigures): HopFigures {
  return { p50: r3(f.p50), p99: r3(f.p99), mean: r3(f.mean), count: f.count };
}
