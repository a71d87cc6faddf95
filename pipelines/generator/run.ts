/**
 * The generation loops: pace (token bucket, optionally following the daily
 * curve), generate, write, write the buffer out every `flushMs` (50 ms from
 * the CLI), and every 250 ms do housekeeping (flush, file age rotation,
 * metrics, progress). Stops at `--count`, `--duration`, a shutdown
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
import { type EventOutput, OutputClosed } from "./outputs/types.ts";

/** Why a loop ended. */
export type StopReason =
  | "count"
  | "duration"
  | "signal"
  | "output-closed"
  | "error";

/** The wall time the loops pace and measure by (tests pass a fake one). */
export interface LoopTime {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** Real time: `performance.now()` and timers. */
export const REAL_TIME: LoopTime = { now: () => performance.now(), sleep };

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
   * Write the output's buffer out this often (ms) between housekeeping ticks
   * (default: only at the ticks, every 250 ms). Shorter means fresher files
   * for the shipper, at one write syscall per interval.
   */
  flushMs?: number;
  /** Wall time (default {@link REAL_TIME}). */
  time?: LoopTime;
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

/** Housekeeping interval (ms). */
export const TICK_MS = 250;

/**
 * Token bucket on wall time. With a curve, the rate follows the curve's
 * weight at the *event* clock's time, so a simulated day has its shape too.
 */
export class Pacer {
  #tokens = 0;
  #last: number;

  /** `peek` gives the event clock's current time (for the curve). */
  constructor(
    private readonly rate: number,
    private readonly curve: Curve,
    private readonly peek: () => number,
    private readonly signal: AbortSignal,
    private readonly time: LoopTime = REAL_TIME,
  ) {
    this.#last = time.now();
  }

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
      const now = this.time.now();
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
      await this.time.sleep(
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

/** What {@link drive} repeats: one kind of generation. */
interface Work {
  /** True when nothing is left to make (stops with "count"). */
  exhausted(generated: number): boolean;
  /** Makes one paced batch: how many it made, or why to stop instead. */
  step(pacer: Pacer, generated: number): Promise<number | StopReason>;
  /** After each write-out of the target (housekeeping tick, final flush). */
  written?(): void;
}

/**
 * The loop itself, for both kinds: stop on shutdown, at the count or the
 * duration; run one step; every 250 ms do housekeeping; flush at the end. A
 * failure ends the loop and is returned with what was done before it.
 */
async function drive(
  o: LoopOptions,
  clock: EventClock,
  target: { tick(): Promise<void>; flush(): Promise<void> },
  work: Work,
): Promise<LoopResult> {
  const time = o.time ?? REAL_TIME;
  const t0 = time.now();
  const pacer = new Pacer(o.rate, o.curve, () => clock.peek(), o.signal, time);
  let generated = 0;
  let nextTick = t0 + TICK_MS;
  // Write-outs between ticks: the `write` hop is at most this long.
  const flushMs = Math.min(o.flushMs ?? TICK_MS, TICK_MS);
  let nextFlush = t0 + flushMs;
  let stoppedBy: StopReason = "signal";
  let error: unknown;
  try {
    for (;;) {
      if (o.signal.aborted) break;
      if (work.exhausted(generated)) {
        stoppedBy = "count";
        break;
      }
      if (o.durationMs !== undefined && time.now() - t0 >= o.durationMs) {
        stoppedBy = "duration";
        break;
      }
      const made = await work.step(pacer, generated);
      if (typeof made !== "number") {
        stoppedBy = made;
        break;
      }
      generated += made;
      const now = time.now();
      if (now >= nextTick) {
        nextTick = now + TICK_MS;
        nextFlush = now + flushMs;
        await target.tick();
        work.written?.();
        await o.onTick?.();
        if (o.rate <= 0) await yieldToEventLoop();
      } else if (now >= nextFlush) {
        nextFlush = now + flushMs;
        await target.flush();
        work.written?.();
      }
    }
    await target.flush();
    work.written?.();
  } catch (err) {
    // Reported with a summary of what was done before it, then rethrown.
    stoppedBy = err instanceof OutputClosed ? "output-closed" : "error";
    if (stoppedBy === "error") error = err;
  }
  await o.onTick?.();
  return { generated, elapsedMs: time.now() - t0, stoppedBy, error };
}

/** Generates security/http events into `out`. Does not close `out`. */
export function runEventLoop(
  model: EventModel,
  clock: EventClock,
  out: EventOutput,
  o: LoopOptions,
): Promise<LoopResult> {
  const slot = newSlot();
  // Timestamps of the events buffered since the last write-out (plain sums).
  const marks = new HopClock();
  return drive(o, clock, out, {
    exhausted: (generated) => o.count !== undefined && generated >= o.count,
    async step(pacer, generated) {
      let n = pacer.chunk();
      if (o.count !== undefined) n = Math.min(n, o.count - generated);
      await pacer.acquire(n);
      if (o.signal.aborted) return "signal";
      for (let i = 0; i < n; i++) {
        const ts = clock.tick();
        model.next(slot, ts);
        marks.mark(ts);
        const wait = out.write(slot);
        if (wait) await wait;
      }
      return n;
    },
    written: () => marks.observe(o.hops, "write", Date.now()),
  });
}

/** Generates CDC transactions into `sink`. */
export function runCdcLoop(
  model: CdcModel,
  clock: EventClock,
  sink: CdcSink,
  o: LoopOptions,
): Promise<LoopResult> {
  return drive(o, clock, sink, {
    // `--count` is in the model's quotas.
    exhausted: () => model.done,
    async step(pacer) {
      await sink.prepare?.();
      const tx = model.nextTransaction();
      if (tx.length === 0) return "count";
      // One timestamp per transaction (its commit time); the clock still
      // advances once per change so the rate is in changes/s.
      const ts = clock.tick();
      for (let i = 1; i < tx.length; i++) clock.tick();
      await pacer.acquire(tx.length);
      await sink.apply(tx, model.txId, ts);
      return tx.length;
    },
  });
}
