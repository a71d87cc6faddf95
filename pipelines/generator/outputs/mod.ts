/**
 * Where events go. Every output takes one {@link EventSlot} at a time; a
 * returned promise means "wait before writing more" (backpressure), so the
 * hot path stays synchronous while buffers have room.
 *
 * @module
 */
import type { EventSlot } from "../models/mod.ts";

export { KafkaEventOutput, type KafkaOutputOptions } from "./kafka.ts";
export { type RotatingFileOptions, RotatingFileOutput } from "./file.ts";
export { StdoutOutput } from "./stdout.ts";
export { PostgresCdcOutput } from "./postgres.ts";

/** Live counters of an output (read by metrics, progress and summary). */
export interface OutputStats {
  /** Events accepted (file/stdout) or acknowledged (Kafka). */
  events: number;
  /** Bytes written or acknowledged (payload only). */
  bytes: number;
  /** Failed writes/sends. */
  errors: number;
  /** Messages per destination (Kafka topic, or `file` / `stdout`). */
  perTopic: Record<string, number>;
  /** Files opened (file output). */
  files: number;
}

/** A destination for generated events. */
export interface EventOutput {
  /** `file`, `stdout` or `kafka`. */
  readonly name: string;
  readonly stats: OutputStats;
  /** Takes one event; a promise means wait for it before the next write. */
  write(slot: EventSlot): void | Promise<void>;
  /** Periodic housekeeping: push buffered data out, time-based rotation. */
  tick(): Promise<void>;
  /** Writes/sends everything buffered and waits for it. */
  flush(): Promise<void>;
  /** Flushes and releases resources. */
  close(): Promise<void>;
}

/** Fresh zeroed stats. */
export function newStats(): OutputStats {
  return { events: 0, bytes: 0, errors: 0, perTopic: {}, files: 0 };
}
export {
  type CdcCounts,
  type CdcSink,
  LineCdcSink,
  newCdcCounts,
} from "./cdc_sink.ts";
