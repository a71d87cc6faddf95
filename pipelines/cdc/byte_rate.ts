/**
 * A byte counter and its rate in bytes/s over a short sliding window, for
 * Kafka Connect's `incoming_byte_rate` / `outgoing_byte_rate`. The hot path
 * ({@link ByteRate.add}) only adds to a number; the rate is computed when it
 * is read (on scrape), from samples of the total taken at those reads, so
 * there is no timer and no per-frame work.
 *
 * @module
 */

/** Default window: two of Prometheus' 5 s scrapes. */
export const RATE_WINDOW_MS = 10_000;
/** Reads closer together than this reuse the last sample (bounds memory). */
const MIN_SAMPLE_SPACING_MS = 250;

/** Total bytes and their rate over the last {@link RATE_WINDOW_MS} or more. */
export class ByteRate {
  /** Bytes added so far. */
  total = 0;
  /** `[time ms, total]`, oldest first; never empty. */
  #samples: Array<[number, number]>;

  /** Starts at zero bytes at `nowMs`. */
  constructor(
    readonly windowMs: number = RATE_WINDOW_MS,
    nowMs: number = Date.now(),
  ) {
    this.#samples = [[nowMs, 0]];
  }

  /** Counts `n` bytes (hot path: one addition). */
  add(n: number): void {
    this.total += n;
  }

  /**
   * Bytes/s between the newest sample at least `windowMs` old (or the
   * oldest one, early on or after a long gap without reads) and now; records
   * now as a sample.
   */
  rate(nowMs: number = Date.now()): number {
    const s = this.#samples;
    let base = 0;
    for (let i = s.length - 1; i >= 0; i--) {
      if (s[i][0] <= nowMs - this.windowMs) {
        base = i;
        break;
      }
    }
    if (base > 0) s.splice(0, base); // older samples are never a base again
    const [t0, b0] = s[0];
    const dt = nowMs - t0;
    const r = dt > 0 ? ((this.total - b0) * 1000) / dt : 0;
    if (nowMs - s[s.length - 1][0] >= MIN_SAMPLE_SPACING_MS) {
      s.push([nowMs, this.total]);
    }
    return r;
  }

  /** Samples kept (for tests: stays bounded). */
  get samples(): number {
    return this.#samples.length;
  }
}
