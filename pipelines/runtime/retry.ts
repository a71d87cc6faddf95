/**
 * The product's named retry policies: how long to wait before the next
 * attempt, in one place instead of numbers repeated at every call site.
 *
 * @module
 */

/** Exponential backoff bounds (full jitter over the upper half). */
export interface RetryPolicy {
  /** Delay bound of the first retry (ms). */
  readonly initialMs: number;
  /** Largest delay bound (ms). */
  readonly maxMs: number;
}

/**
 * Waiting for a service that is away (Kafka, ClickHouse, PostgreSQL):
 * 0.5 s doubling up to 10 s, retried until it is back or the pipeline stops.
 */
export const SERVICE_RETRY: RetryPolicy = { initialMs: 500, maxMs: 10_000 };

/**
 * KafkaJS's own retries inside one client request: 200 ms doubling up to
 * 5 s (also the producer's, see `createProducer`).
 */
export const KAFKA_CLIENT_RETRY: RetryPolicy = { initialMs: 200, maxMs: 5_000 };

/** Exponential backoff with full jitter: attempt 0 → up to `baseMs`. */
export function backoffMs(
  attempt: number,
  baseMs = 200,
  maxMs = 10_000,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(cap / 2 + Math.random() * cap / 2);
}

/** The delay before retry `attempt` (0 = first retry) under `policy`. */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy = SERVICE_RETRY,
): number {
  return backoffMs(attempt, policy.initialMs, policy.maxMs);
}
