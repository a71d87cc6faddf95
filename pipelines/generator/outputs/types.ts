/**
 * What every output shares: its counters, the {@link EventOutput} contract
 * and the "reader went away" signal. Kept apart from `mod.ts` so the outputs
 * can import these without importing the barrel that re-exports them.
 *
 * @module
 */
import type { EventSlot } from "../models/mod.ts";

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

/** An output that also takes plain lines (stdout, rotating files). */
export interface LineOutput {
  readonly name: string;
  readonly stats: OutputStats;
  /** Buffers one line of text (no newline in it). */
  writeLine(line: string): void;
  tick(): Promise<void>;
  flush(): Promise<void>;
}

/** Fresh zeroed stats, with a zero count for each of `topics`. */
export function newStats(...topics: string[]): OutputStats {
  const perTopic: Record<string, number> = {};
  for (const t of topics) perTopic[t] = 0;
  return { events: 0, bytes: 0, errors: 0, perTopic, files: 0 };
}

/** Thrown when the reader closed stdout; the run stops without error. */
export class OutputClosed extends Error {
  /** Creates the signal. */
  constructor() {
    super("stdout closed by the reader");
    this.name = "OutputClosed";
  }
}
