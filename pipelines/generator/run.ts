/**
 * The generation loops: pace (token bucket, optionally following the daily
 * curve), generate, write, and every 250 ms do housekeeping (flush, file age
 * rotation, metrics, progress). Stops at `--count`, `--duration`, a shutdown
 * signal, or when the stdout reader goes away.
 *
 * @module
 */
// Direct import: the bench and unit tests load this without npm clients.
import { HopClock, type HopHistogram } from "../runtime/hops.ts";
import { sleep } from "../runtime/shutdown.ts";
import { type Curve, curveWeight, type EventClock } from "./clock.ts";
import type { CdcModel } from "./models/cdc.ts";
import type { CdcSink } from "./outputs/cdc_sink.ts";
import { type EventModel, newSlot } from "./models/mod.ts";
import type { EventOutput } from "./outputs/mod.ts";
import { OutputClosed } from "./outputs/stdout.ts";

/** Why a loop ended. */
export type StopReason =
  | "count"
  | "duration"
  | "signal"
  | "output-closed"
  | "error";

/** Limits and pacing shared by both loops. */
export interface LoopOptions {
  /** Events (cdc: row changes) to produce, or unlimited. */
  count?: number;
  /** Wall-clock run time, or unlimited. */
  durationMs?: number;
  /** Events/s (peak with the daily curve); 0 = unthrottled. */
  rate: number;
  curve: Curve;
  /** Aborted on shutdown. */
  signal: AbortSignal;
  /** Housekeeping callback, about every 250 ms and once at the end. */
  onTick?: () => void | Promise<void>;
  /**
   * Observes the `write` hop (event timestamp → its buffer written out) per
   * write-out; only meaningful with wall-clock timestamps.
   */
  hops?: HopHistogram;
}

/** What a loop did. */
export interface LoopResult {
  /** Events (cdc: row changes) generated. */
  generated: number;
  elapsedMs: number;
  stoppedBy: StopReason;
  /** The failure that stopped the loop (stoppedBy "error"). */
  error?: unknown;
}

const TICK_MS = 250;

/**
 * Token bucket on wall time. With a curve, the rate follows the curve's
 * weight at the *event* clock's time, so a simulated day has its shape too.
 */
export class Pacer {
  #tokens = 0;
  #last = performance.now();

  /** `peek` gives the event clock's current time (for the curve). */
  constructor(
    private readonly rate: number,
    private readonly curve: Curve,
    private readonly peek: () => number,
    private readonly signal: AbortSignal,
  ) {}

  /** Current events/s target (0 = unthrottled). */
  currentRate(): number {
    return this.rate > 0 ? this.rate * curveWeight(this.curve, this.peek()) : 0;
  }

  /** Good chunk size: ~10 ms of events, at most 4096. */
  chunk(): number {
    const r = this.currentRate();
    if (r <= 0) return 4096;
    return Math.max(1, Math.min(4096, Math.floor(r / 100)));
  }

  /** Waits until `n` events may go (returns early on shutdown). */
  async acquire(n: number): Promise<void> {
    if (this.rate <= 0) return;
    for (;;) {
      const now = performance.now();
      const r = this.currentRate();
      // Cap the bucket at half a second: after a stall we catch up a
      // little, never with a huge burst.
      this.#tokens = Math.min(
        this.#tokens + ((now - this.#last) / 1000) * r,
        Math.max(n, r / 2),
      );
      this.#last = now;
      if (this.#tokens >= n) {
        this.#tokens -= n;
        return;
      }
      await sleep(
        Math.max(1, Math.ceil(((n - this.#tokens) / r) * 1000)),
        this.signal,
      );
      if (this.signal.aborted) return;
    }
  }
}

/** Lets timers, signals and the metrics server run during a busy loop. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Generates security/http events into `out`. Does not close `out`. */
export async function runEventLoop(
  model: EventModel,
  clock: EventClock,
  out: EventOutput,
  o: LoopOptions,
): Promise<LoopResult> {
  const t0 = performance.now();
  const pacer = new Pacer(o.rate, o.curve, () => clock.peek(), o.signal);
  const slot = newSlot();
  // Timestamps of the events buffered since the last write-out (plain sums).
  const written = new HopClock();
  let generated = 0;
  let nextTick = t0 + TICK_MS;
  let stoppedBy: StopReason = "signal";
  let error: unknown;
  try {
    for (;;) {
      if (o.signal.aborted) break;
      let n = pacer.chunk();
      if (o.count !== undefined) {
        n = Math.min(n, o.count - generated);
        if (n <= 0) {
          stoppedBy = "count";
          break;
        }
      }
      if (
        o.durationMs !== undefined && performance.now() - t0 >= o.durationMs
      ) {
        stoppedBy = "duration";
        break;
      }
      await pacer.acquire(n);
      if (o.signal.aborted) break;
      for (let i = 0; i < n; i++) {
        const ts = clock.tick();
        model.next(slot, ts);
        written.mark(ts);
        const wait = out.write(slot);
        if (wait) await wait;
      }
      generated += n;
      const now = performance.now();
      if (now >= nextTick) {
        nextTick = now + TICK_MS;
        await out.tick();
        written.observe(o.hops, "write", Date.now());
        await o.onTick?.();
        if (o.rate <= 0) await yieldToEventLoop();
      }
    }
    await out.flush();
    written.observe(o.hops, "write", Date.now());
  } catch (err) {
    // Reported with a summary of what was done before it, then rethrown.
    stoppedBy = err instanceof OutputClosed ? "output-closed" : "error";
    if (stoppedBy === "error") error = err;
  }
  await o.onTick?.();
  return { generated, elapsedMs: performance.now() - t0, stoppedBy, error };
}

/** Generates CDC transactions into `sink`. */
export async function runCdcLoop(
  model: CdcModel,
  clock: EventClock,
  sink: CdcSink,
  o: LoopOptions,
): Promise<LoopResult> {
  const t0 = performance.now();
  const pacer = new Pacer(o.rate, o.curve, () => clock.peek(), o.signal);
  let generated = 0;
  let nextTick = t0 + TICK_MS;
  let stoppedBy: StopReason = "signal";
  let error: unknown;
  try {
    for (;;) {
      if (o.signal.aborted) break;
      if (model.done) {
        stoppedBy = "count";
        break;
      }
      if (
        o.durationMs !== undefined && performance.now() - t0 >= o.durationMs
      ) {
        stoppedBy = "duration";
        break;
      }
      await sink.prepare?.();
      const tx = model.nextTransaction();
      if (tx.length === 0) {
        stoppedBy = "count";
        break;
      }
      // One timestamp per transaction (its commit time); the clock still
      // advances once per change so the rate is in changes/s.
      const ts = clock.tick();
      for (let i = 1; i < tx.length; i++) clock.tick();
      await pacer.acquire(tx.length);
      await sink.apply(tx, model.txId, ts);
      generated += tx.length;
      const now = performance.now();
      if (now >= nextTick) {
        nextTick = now + TICK_MS;
        await sink.tick();
        await o.onTick?.();
        if (o.rate <= 0) await yieldToEventLoop();
      }
    }
    await sink.flush();
  } catch (err) {
    // Reported with a summary of what was done before it, then rethrown.
    stoppedBy = err instanceof OutputClosed ? "output-closed" : "error";
    if (stoppedBy === "error") error = err;
  }
  await o.onTick?.();
  return { generated, elapsedMs: performance.now() - t0, stoppedBy, error };
}
