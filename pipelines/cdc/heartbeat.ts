/**
 * The heartbeat: after `--heartbeat-interval` without WAL data it writes a
 * non-transactional logical message to the WAL (once it comes back through
 * the slot with nothing pending, the slot's confirmed position advances even
 * while the captured tables are idle) and, as Debezium's
 * `heartbeat.interval.ms` does, a record to `__debezium-heartbeat.<prefix>`
 * with key `{"serverName": prefix}` and value `{"ts_ms": now}`.
 *
 * @module
 */
import type { Logger } from "../runtime/log.ts";
import type { OutRecord } from "./envelope.ts";
import { withSchema } from "./schema.ts";

/** Debezium's default `topic.heartbeat.prefix`. */
export const HEARTBEAT_TOPIC_PREFIX = "__debezium-heartbeat";

/** The heartbeat topic of a topic prefix (Debezium's name). */
export function heartbeatTopic(topicPrefix: string): string {
  return `${HEARTBEAT_TOPIC_PREFIX}.${topicPrefix}`;
}

/** Debezium's heartbeat key and value schemas (SchemaFactory, version 1). */
const KEY_SCHEMA = JSON.stringify({
  type: "struct",
  fields: [{ type: "string", optional: false, field: "serverName" }],
  optional: false,
  name: "io.debezium.connector.common.ServerNameKey",
  version: 1,
});
const VALUE_SCHEMA = JSON.stringify({
  type: "struct",
  fields: [{ type: "int64", optional: false, field: "ts_ms" }],
  optional: false,
  name: "io.debezium.connector.common.Heartbeat",
  version: 1,
});

/** The heartbeat record at `tsMs`, wrapped with its schema when `schemas`. */
export function heartbeatRecord(
  topicPrefix: string,
  tsMs: number,
  schemas: boolean,
): OutRecord {
  const key = JSON.stringify({ serverName: topicPrefix });
  const value = JSON.stringify({ ts_ms: tsMs });
  return {
    topic: heartbeatTopic(topicPrefix),
    key: schemas ? withSchema(KEY_SCHEMA, key) : key,
    value: schemas ? withSchema(VALUE_SCHEMA, value) : value,
  };
}

/** Whether a beat is due: `intervalMs` since the last data or beat. */
export function heartbeatDue(
  now: number,
  lastActivity: number,
  intervalMs: number,
): boolean {
  return now - lastActivity >= intervalMs;
}

/** Fires the heartbeat when the stream has been idle long enough. */
export class Heartbeat {
  #lastData: number;
  #lastBeat = 0;
  #walOk = true;
  #busy = false;

  /**
   * `emitWal` writes the WAL message (`onWal` after each one: metrics);
   * `publish` sends the Kafka record (absent: WAL message only).
   */
  constructor(
    private readonly opts: {
      intervalMs: number;
      topicPrefix: string;
      schemas: boolean;
      emitWal: () => Promise<void>;
      onWal?: () => void;
      publish?: (r: OutRecord) => Promise<void>;
      log: Logger;
      now?: () => number;
    },
  ) {
    this.#lastData = this.#now();
  }

  /** How often {@link tick} should run: the interval, within 100 ms…5 s. */
  get tickMs(): number {
    return Math.max(100, Math.min(this.opts.intervalMs, 5_000));
  }

  /** WAL data arrived: the stream is not idle. */
  sawData(): void {
    this.#lastData = this.#now();
  }

  /** Beats if due; never throws (a failed WAL message stops WAL beats only). */
  async tick(): Promise<void> {
    const now = this.#now();
    const last = Math.max(this.#lastData, this.#lastBeat);
    if (this.#busy || !heartbeatDue(now, last, this.opts.intervalMs)) return;
    this.#busy = true;
    this.#lastBeat = now;
    const { opts } = this;
    try {
      if (this.#walOk) {
        try {
          await opts.emitWal();
          opts.onWal?.();
        } catch (err) {
          this.#walOk = false;
          opts.log.warn("heartbeat message failed; relying on keepalives", {
            err,
          });
        }
      }
      if (opts.publish) {
        try {
          await opts.publish(
            heartbeatRecord(opts.topicPrefix, now, opts.schemas),
          );
        } catch (err) {
          opts.log.warn("heartbeat record not sent", { err });
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  #now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
