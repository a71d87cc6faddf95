/**
 * Event time: ISO formatting without a `Date` per event, the daily traffic
 * curve, and the two clocks — wall time for live runs, a simulated clock for
 * seeded or back-filled runs so that the same seed gives the same timestamps.
 *
 * @module
 */
import type { Rng } from "./prng.ts";

const MS3: string[] = Array.from(
  { length: 1000 },
  (_, i) => i.toString().padStart(3, "0"),
);

/**
 * Formats epoch milliseconds as `2026-11-21T23:27:54.123Z`. The date part is
 * cached per second, so consecutive events cost one string concatenation.
 */
export class IsoFormatter {
  #sec = NaN;
  #prefix = "";

  /** ISO-8601 UTC text with milliseconds. */
  format(ms: number): string {
    const t = Math.floor(ms);
    const sec = Math.floor(t / 1000);
    if (sec !== this.#sec) {
      this.#sec = sec;
      this.#prefix = new Date(sec * 1000).toISOString().slice(0, 20);
    }
    return this.#prefix + MS3[t - sec * 1000] + "Z";
  }
}

/**
 * Relative traffic by UTC hour (peak 1.0 at 11:00, trough at 03:00): quiet
 * nights, a morning ramp, a lunch plateau and an evening bump, like the
 * reference log simulator's time-of-day weights.
 */
export const DAILY_WEIGHTS: readonly number[] = [
  0.22,
  0.16,
  0.13,
  0.12,
  0.13,
  0.18,
  0.32,
  0.52,
  0.72,
  0.88,
  0.97,
  1.0,
  0.94,
  0.9,
  0.93,
  0.95,
  0.92,
  0.86,
  0.8,
  0.84,
  0.88,
  0.76,
  0.55,
  0.36,
];

/** Rate curves: `flat` is steady, `daily` follows {@link DAILY_WEIGHTS}. */
export type Curve = "flat" | "daily";

/** The curve's weight (0..1] at epoch ms, interpolated between hours. */
export function curveWeight(curve: Curve, ms: number): number {
  if (curve === "flat") return 1;
  const hours = (((ms / 3_600_000) % 24) + 24) % 24;
  const h = Math.floor(hours);
  const f = hours - h;
  return DAILY_WEIGHTS[h] * (1 - f) + DAILY_WEIGHTS[(h + 1) % 24] * f;
}

/** Source of event timestamps. */
export interface EventClock {
  /** Timestamp (epoch ms) of the next event; advances simulated clocks. */
  tick(): number;
  /** Current time without advancing (for the rate curve). */
  peek(): number;
}

/** Wall-clock time: live runs. */
export class WallClock implements EventClock {
  /** Now. */
  tick(): number {
    return Date.now();
  }
  /** Now. */
  peek(): number {
    return Date.now();
  }
}

/**
 * Simulated time for seeded/back-filled runs: starts at `startMs` and moves
 * by exponential inter-arrival gaps (a Poisson stream) at the curve-weighted
 * rate, drawn from its own PRNG so timestamps never depend on the machine.
 */
export class SimulatedClock implements EventClock {
  #t: number;

  /**
   * @param startMs first timestamp
   * @param rate peak events/s of simulated time (the `--rate`, or 1000 when
   *   the run is unthrottled)
   */
  constructor(
    startMs: number,
    private readonly rate: number,
    private readonly curve: Curve,
    private readonly rng: Rng,
  ) {
    this.#t = startMs;
  }

  /** Returns the current time, then advances by one inter-arrival gap. */
  tick(): number {
    const t = this.#t;
    const r = this.rate * curveWeight(this.curve, t);
    this.#t = t + this.rng.exponential(1000 / r);
    return t;
  }

  /** Current simulated time. */
  peek(): number {
    return this.#t;
  }
}
