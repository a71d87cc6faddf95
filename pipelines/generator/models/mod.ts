/**
 * What every event model produces: one NDJSON line at a time, written into a
 * reused {@link EventSlot} so the hot path allocates nothing but the line.
 *
 * @module
 */

/** One generated event, reused between calls to {@link EventModel.next}. */
export interface EventSlot {
  /** The event as one JSON object, without the trailing newline. */
  line: string;
  /** Kafka message key (security: src_ip; http: trace_id). */
  key: string;
  /** Index into {@link EventModel.routes}: which topic the event goes to. */
  route: number;
  /** Whether the event also goes to the error topic (http level "error"). */
  error: boolean;
}

/** A stream of events of one kind. */
export interface EventModel {
  /** `security` or `http`. */
  readonly kind: "security" | "http";
  /** Route names, e.g. `["auth", "order", …]`; topics derive from them. */
  readonly routes: readonly string[];
  /** Fills `slot` with the next event stamped at epoch ms `ts`. */
  next(slot: EventSlot, ts: number): void;
}

/** A fresh, empty slot. */
export function newSlot(): EventSlot {
  return { line: "", key: "", route: 0, error: false };
}

/** Throws if a pool string would need JSON escaping (we splice pools raw). */
export function assertJsonSafe(values: readonly string[], what: string): void {
  for (const v of values) {
    if (JSON.stringify(v) !== `"${v}"`) {
      throw new Error(`${what} entry needs JSON escaping: ${v}`);
    }
  }
}
