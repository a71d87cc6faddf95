/**
 * The product's named retry policies: how long to wait before the next
 * attempt, written once instead of numbers repeated at every call site.
 *
 * @example
 * ```ts
 * await sleep(SERVICE_RETRY.delayMs(attempt), signal);
 * ```
 *
 * @module
 */

/** Exponential backoff bounds with jitter. */
export interface RetryPolicy {
  /** Delay bound of the first retry (ms). */
  readonly initialMs: number;
  /** Largest delay bound (ms). */
  readonly maxMs: number;
  /** The delay before retry `attempt` (0 = the first retry), in ms. */
  delayMs(attempt: number): number;
}

/** A policy doubling from `initialMs` up to `maxMs` (see {@link backoffMs}). */
export function retryPolicy(initialMs: number, maxMs: number): RetryPolicy {
  if (!(initialMs > 0 && maxMs >= initialMs)) {
    throw new RangeError(`bad retry policy ${initialMs}..${maxMs} ms`);
  }
  return Object.freeze({
    initialMs,
    maxMs,
    delayMs: (attempt: number) => backoffMs(attempt, initialMs, maxMs),
  });
}

/**
 * Waiting for a service that is away (Kafka, ClickHouse, PostgreSQL): 0.5 s
 * doubling up to 10 s, until it is back or the pipeline stops.
 */
export const SERVICE_RETRY: RetryPolicy = retryPolicy(500, 10_000);

/**
 * KafkaJS's own retries of one request, 200 ms doubling up to 5 s (the
 * client's and producer's settings), also used by callers that retry a
 * Kafka request right after KafkaJS gave up.
 */
export const KAFKA_CLIENT_RETRY: RetryPolicy = retryPolicy(200, 5_000);

/**
 * Exponential backoff with jitter: the bound doubles from `baseMs` per
 * attempt up to `maxMs`; the delay is uniform in its upper half.
 */
export function backoffMs(
  attempt: number,
  baseMs = 200,
  maxMs = 10_000,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(cap / 2 + Math.random() * cap / 2);
}
