/**
 * When the sink flushes ({@link flushDue}) and how long a flush's steps took
 * ({@link FlushSteps}, for the flush logs). Pure; sink.ts drives them.
 *
 * @module
 */
import type { SinkConfig } from "./config.ts";

/**
 * Whether buffered rows `b` should be flushed at `now`: the buffer is full,
 * or something is buffered and a batch-timeout passed since the last flush
 * started (a fixed cadence: rows that arrived while that flush was in
 * flight wait for the next tick, not a full timeout after it), or since the
 * oldest row arrived (a range put back by a failed flush). The pacing of
 * `min-insert-interval` is applied on top, by the caller.
 */
export function flushDue(
  b: { rows: number; bytes: number; oldest: number },
  now: number,
  lastFlushStart: number,
  c: Pick<SinkConfig, "batchRows" | "batchBytes" | "batchTimeoutMs">,
): boolean {
  if (b.rows >= c.batchRows || b.bytes >= c.batchBytes) return true;
  if (b.oldest === Infinity) return false;
  return now - lastFlushStart >= c.batchTimeoutMs ||
    now - b.oldest >= c.batchTimeoutMs;
}

/** Times of a flush's steps (ms since its start, in order). */
export class FlushSteps {
  readonly #marks: Array<[string, number]> = [];
  /** @param start the flush's start (epoch ms) */
  constructor(readonly start: number) {}
  /** Marks the end of `step` (now). */
  mark(step: string, now: number = Date.now()) {
    this.#marks.push([step, now]);
  }
  /** `<step>_ms`: each step's own duration. */
  durations(): Record<string, number> {
    const out: Record<string, number> = {};
    let at = this.start;
    for (const [step, t] of this.#marks) {
      out[`${step}_ms`] = t - at;
      at = t;
    }
    out.total_ms = at - this.start;
    return out;
  }
  /** Ms from the start to the last mark. */
  total(): number {
    const last = this.#marks[this.#marks.length - 1];
    return last ? last[1] - this.start : 0;
  }
}
