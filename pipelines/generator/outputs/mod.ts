/**
 * Where events go. Every output takes one {@link EventSlot} at a time; a
 * returned promise means "wait before writing more" (backpressure), so the
 * hot path stays synchronous while buffers have room.
 *
 * This is the outputs' public face: it only re-exports. The outputs import
 * their shared types from `types.ts`, never from here (no import circle).
 *
 * @module
 */
export {
  type EventOutput,
  type LineOutput,
  newStats,
  OutputClosed,
  type OutputStats,
} from "./types.ts";
export { KafkaEventOutput, type KafkaOutputOptions } from "./kafka.ts";
export { type RotatingFileOptions, RotatingFileOutput } from "./file.ts";
export { StdoutOutput } from "./stdout.ts";
export { PostgresCdcOutput } from "./postgres.ts";
export {
  type CdcCounts,
  type CdcSink,
  LineCdcSink,
  newCdcCounts,
} from "./cdc_sink.ts";
