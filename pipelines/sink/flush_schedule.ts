/**
 * When the sink flushes ({@link flushDue}), how long a flush's steps took
 * ({@link FlushSteps}, {@link logFlushSteps}), and how long the shutdown
 * waits for one ({@link settledBefore}). sink.ts drives them.
 *
 * @module
 */
import { type Logger, SERVICE_RETRY, sleep } from "../runtime/mod.ts";
import { type Buffered, isFull } from "./batch.ts";
import type { SinkConfig } from "./config.ts";
import type { TakenRange } from "./encoder.ts";
import { Aborted } from "./service.ts";

/**
 * Whether buffered rows `b` should be flushed at `now`: the buffer is full,
 * or something is buffered and a batch-timeout passed since the last flush
 * started (a fixed cadence: rows that arrived while that flush was in
 * flight wait for the next tick, not a full timeout after it), or since the
 * oldest row arrived (a range put back by a failed flush). The pacing of
 * `min-insert-interval` is applied on top, by the caller.
 */
export function flushDue(
  b: Buffered,
  now: number,
  lastFlushStart: number,
  c: Pick<SinkConfig, "batchRows" | "batchBytes" | "batchTimeoutMs">,
): boolean {
  if (isFull(b, c)) return true;
  if (b.oldest === Infinity) return false;
  return now - lastFlushStart >= c.batchTimeoutMs ||
    now - b.oldest >= c.batchTimeoutMs;
}

/**
 * The ranges a tick took, as one flush per shard, so that a slow shard
 * holds only its own partitions' next flush. Kept as one flush when a range
 * writes to another shard than its partition's (CDC mirrors shard by id:
 * two flushes would pace each other's inserts a whole interval apart) or
 * carries a CDC truncate (it must follow every row taken with it).
 */
export function splitByShard<T extends TakenRange>(taken: T[]): T[][] {
  const byShard = new Map<number, T[]>();
  for (const t of taken) {
    if (t.range.truncates.length > 0) return [taken];
    for (const key of t.range.groups.keys()) {
      if (!key.endsWith(`|${t.shard}`)) return [taken];
    }
    const g = byShard.get(t.shard);
    if (g) g.push(t);
    else byShard.set(t.shard, [t]);
  }
  return [...byShard.values()];
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

/**
 * Logs a flush's step times: at debug level always, at info when the flush
 * outlasted a batch-timeout (it held back its partitions' next flush).
 */
export function logFlushSteps(
  d: { log: Logger; config: Pick<SinkConfig, "batchTimeoutMs"> },
  steps: FlushSteps,
  ranges: number,
): void {
  const fields = { ranges, ...steps.durations() };
  if (steps.total() > d.config.batchTimeoutMs) {
    d.log.info("slow flush: it held back its partitions' next one", fields);
  } else d.log.debug("flushed", fields);
}

/**
 * Whether `p` settled (rethrowing its error) before `signal` aborted; a
 * hanging request must not hold the shutdown.
 */
export async function settledBefore(
  p: Promise<unknown> | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  if (signal.aborted) return false;
  let onAbort!: () => void;
  const aborted = new Promise<false>((r) => {
    onAbort = () => r(false);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.resolve(p).then(() => true), aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * The flushes in flight, and the backoff after a failed one (its ranges are
 * put back; no flush starts before {@link retryAt}).
 */
export class InFlight {
  readonly #flushes = new Set<Promise<void>>();
  #failures = 0;
  #retryAt = 0;

  /** @param log where a failed flush is reported */
  constructor(readonly log: Logger) {}

  /** Flushes in flight. */
  get size(): number {
    return this.#flushes.size;
  }

  /** No new flush before this time (epoch ms). */
  get retryAt(): number {
    return this.#retryAt;
  }

  /**
   * Runs `flush` beside the caller; it gets the flushes that were in flight
   * before it (a CDC truncate waits for their rows).
   */
  start(flush: (earlier: Promise<unknown>[]) => Promise<void>): void {
    const earlier = [...this.#flushes];
    const f = flush(earlier).then(() => {
      this.#failures = 0;
    }, (err) => {
      if (err instanceof Aborted) return;
      const failures = ++this.#failures;
      this.log.warn("flush failed, will retry", { err, failures });
      this.#retryAt = Date.now() + SERVICE_RETRY.delayMs(failures);
    }).finally(() => this.#flushes.delete(f));
    this.#flushes.add(f);
  }

  /** Resolves once every flush now in flight has settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.#flushes]);
  }
}

/** When an insert started and when it was acknowledged (or failed), epoch ms. */
export interface InsertSlot {
  start: number;
  end: number;
}

/**
 * The earliest start of the insert after `prev` into the same table and
 * shard: an interval after `prev` started, and in a later interval-aligned
 * window than the one `prev` ended in. ClickHouse logs a query's start in
 * whole seconds of the same clock, so at 1 s no two inserts of a table and
 * shard start in the same second there, whatever their network delays.
 */
export function nextInsertAt(prev: InsertSlot, intervalMs: number): number {
  if (intervalMs <= 0) return -Infinity; // no pacing at all
  return Math.max(
    prev.start + intervalMs,
    (Math.floor(prev.end / intervalMs) + 1) * intervalMs,
  );
}

/**
 * One lane per table and shard (`key`): its inserts run one after another,
 * each at {@link nextInsertAt} the previous one or later. Flushes run side
 * by side (one per shard, and a held-back partition's), so two of them may
 * wait on the same table and shard; the lane keeps them apart.
 */
export class InsertLanes {
  readonly #last = new Map<string, Promise<InsertSlot>>();

  /**
   * @param intervalMs `--min-insert-interval`
   * @param clock epoch ms (injectable for tests)
   * @param wait sleeps (injectable for tests)
   */
  constructor(
    readonly intervalMs: number,
    readonly clock: () => number = Date.now,
    readonly wait: (ms: number, signal: AbortSignal) => Promise<void> = sleep,
  ) {}

  /** Runs `insert` as the next insert of `key`; throws Aborted on `signal`. */
  async run(
    key: string,
    signal: AbortSignal,
    insert: () => Promise<void>,
  ): Promise<void> {
    const prev = this.#last.get(key);
    let done!: (s: InsertSlot) => void;
    this.#last.set(key, new Promise<InsertSlot>((r) => done = r));
    let slot = (await prev) ?? { start: -Infinity, end: -Infinity };
    try {
      const wait = nextInsertAt(slot, this.intervalMs) - this.clock();
      if (wait > 0) await this.wait(wait, signal);
      if (signal.aborted) throw new Aborted();
      const start = this.clock();
      try {
        await insert();
      } finally {
        slot = { start, end: this.clock() };
      }
    } finally {
      done(slot);
    }
  }
}
