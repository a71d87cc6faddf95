/**
 * The sink's hops of an event's journey (see pipelines/runtime/hops.ts):
 * `fetch` (the Kafka record's create time → fetched by the sink) and
 * `insert` (fetched → acknowledged by ClickHouse). Both observe once per
 * fetched batch or insert, weighted by its messages or rows.
 *
 * @module
 */
import type { HopHistogram } from "../runtime/hops.ts";
import type { InsertRequest } from "./encoder.ts";

/**
 * Observes the `fetch` hop of messages fetched at `now`: the mean of
 * `now - timestamp` over them (plain numbers, no allocation).
 */
export function observeFetch(
  h: HopHistogram,
  messages: ReadonlyArray<{ timestamp: string }>,
  now: number,
): void {
  const n = messages.length;
  if (n === 0) return;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += now - Number(messages[i].timestamp);
  h.observe("fetch", sum / n / 1000, n);
}

/** Observes the `insert` hop of the rows of `req`, acknowledged at `now`. */
export function observeInsert(
  h: HopHistogram,
  req: InsertRequest,
  now: number,
): void {
  const key = `${req.table}|${req.shard}`;
  for (const part of req.parts) {
    const f = part.taken.range.fetchTimes.get(key);
    if (!f || f.count === 0) continue;
    h.observe("insert", (now - f.meanMs) / 1000, f.count);
  }
}
