/**
 * Where an event's time goes: one Prometheus histogram,
 * `pipeline_hop_seconds{hop}`, observed by every pipeline for the hops it
 * sees. An event's journey, and who measures each hop:
 *
 * | hop       | from → to                                     | measured by                                     |
 * | --------- | --------------------------------------------- | ----------------------------------------------- |
 * | `write`   | created (its timestamp) → written to file     | generator, per buffer write-out                 |
 * | `read`    | written to file → read by the shipper         | shipper, per read (file mtime = written)        |
 * | `produce` | read by the shipper → acknowledged by Kafka   | shipper, per acknowledged batch                 |
 * | `fetch`   | sent to Kafka → fetched by the sink           | sink, per fetched batch (record create time)    |
 * | `insert`  | fetched by the sink → acknowledged by ClickHouse | sink, per acknowledged insert                |
 *
 * `fetch` starts at the Kafka record's create time, which the producer sets
 * when it sends (the sink cannot know when the ack arrived), so it overlaps
 * `produce` by the produce round trip (`shipper_send_duration_seconds`):
 * the sum of the hop means exceeds the end-to-end mean by about that.
 *
 * Hot paths observe per batch, not per event: {@link HopClock} sums the
 * batch's start marks as plain numbers and observes their mean once,
 * weighted by the number of events ({@link HopHistogram.observe} takes a
 * weight, which prom-client's Histogram does not). The weighted sum is
 * exact; the bucket counts place a batch's events all at its mean.
 *
 * @module
 */
import { HOP_METRIC, type prom } from "./metrics.ts";

export { HOP_METRIC };

/** The hops in journey order. */
export const HOPS = ["write", "read", "produce", "fetch", "insert"] as const;

/** One hop of an event's journey (see module docs). */
export type Hop = typeof HOPS[number];

/** Upper bounds in seconds: 1 ms .. 30 s. */
export const HOP_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  1.5,
  2,
  3,
  5,
  10,
  30,
];

interface Series {
  /** Non-cumulative counts; the last slot is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** What prom-client's registry reads from a metric (`get()`). */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * A histogram with weighted observations, registered on a prom-client
 * registry as a custom metric (same text format as prom-client's Histogram).
 */
export class HopHistogram {
  readonly name = HOP_METRIC;
  readonly help =
    "Seconds an event spends in each hop of its journey (created → file → shipper → Kafka → sink → ClickHouse), weighted by events";
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly buckets: readonly number[];
  readonly #series = new Map<string, Series>();

  /** Optionally registers on `registry`. */
  constructor(registry?: prom.Registry, buckets = HOP_BUCKETS) {
    this.buckets = buckets;
    // prom-client accepts any object with name/help/type/get().
    registry?.registerMetric(this as unknown as prom.Metric);
  }

  /** Adds `weight` events that each spent `seconds` in `hop`. */
  observe(hop: Hop, seconds: number, weight = 1): void {
    if (!(weight > 0) || !Number.isFinite(seconds)) return;
    const s = this.#get(hop);
    const v = Math.max(0, seconds);
    const b = this.buckets;
    let lo = 0, hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v <= b[mid]) hi = mid;
      else lo = mid + 1;
    }
    s.counts[lo] += weight;
    s.sum += v * weight;
    s.count += weight;
  }

  /** Mean seconds of `hop` so far (NaN before any observation). */
  mean(hop: Hop): number {
    const s = this.#series.get(hop);
    return s && s.count > 0 ? s.sum / s.count : NaN;
  }

  /** For prom-client's registry. */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: MetricValue[];
  }> {
    const values: MetricValue[] = [];
    for (const [hop, s] of this.#series) {
      let acc = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        acc += s.counts[i];
        values.push({
          value: acc,
          labels: {
            hop,
            le: i < this.buckets.length ? this.buckets[i] : "+Inf",
          },
          metricName: `${HOP_METRIC}_bucket`,
        });
      }
      values.push({
        value: s.sum,
        labels: { hop },
        metricName: `${HOP_METRIC}_sum`,
      });
      values.push({
        value: s.count,
        labels: { hop },
        metricName: `${HOP_METRIC}_count`,
      });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  /** For prom-client's `registry.resetMetrics()`. */
  reset(): void {
    this.#series.clear();
  }

  #get(hop: Hop): Series {
    let s = this.#series.get(hop);
    if (!s) {
      s = {
        counts: new Float64Array(this.buckets.length + 1),
        sum: 0,
        count: 0,
      };
      this.#series.set(hop, s);
    }
    return s;
  }
}

/**
 * Accumulates the start marks (epoch ms) of a batch's events as plain
 * numbers and observes them once, at the batch's end, as one weighted
 * observation of their mean. Marks are kept relative to the first one so
 * the sum stays exact.
 */
export class HopClock {
  #base = 0;
  #sum = 0;
  #n = 0;

  /** Adds `n` events that started at `ms`. */
  mark(ms: number, n = 1): void {
    if (!(n > 0) || !Number.isFinite(ms)) return;
    if (this.#n === 0) this.#base = ms;
    this.#sum += (ms - this.#base) * n;
    this.#n += n;
  }

  /** Events marked since the last {@link observe}. */
  get count(): number {
    return this.#n;
  }

  /** Mean start mark (epoch ms), NaN when empty. */
  get meanMs(): number {
    return this.#n === 0 ? NaN : this.#base + this.#sum / this.#n;
  }

  /**
   * Observes the marked events as ending at `endMs` into `hop`, then starts
   * over. Returns the mean seconds observed (NaN when empty).
   */
  observe(h: HopHistogram | undefined, hop: Hop, endMs: number): number {
    if (this.#n === 0) return NaN;
    const s = (endMs - this.meanMs) / 1000;
    h?.observe(hop, s, this.#n);
    this.#sum = 0;
    this.#n = 0;
    return s;
  }
}
