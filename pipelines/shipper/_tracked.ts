/**
 * The state the file source keeps per tracked file (private to
 * `file_source.ts`; its own module to keep that one readable).
 *
 * @module
 */
import type { Format } from "./encoder.ts";
import type { LineCutter } from "./lines.ts";

/** An empty buffer (nothing read and not cut yet). */
export const EMPTY: Uint8Array = new Uint8Array(0);

/** One file being tailed. */
export interface Tracked {
  key: string;
  dev: number;
  ino: number;
  path: string;
  format: Format;
  matched: boolean;
  fp: string;
  fpLen: number;
  /** Bumped on truncation: acks of older batches no longer move `committed`. */
  gen: number;
  /** Acknowledged by Kafka (what the checkpoint says). */
  committed: number;
  /** Handed to batches. */
  readOffset: number;
  /** Bytes read but not cut yet (start at `readOffset`). */
  buf: Uint8Array;
  /** `buf` holds no complete line: read more before cutting again. */
  needRead: boolean;
  size: number;
  mtime: number;
  handle?: Deno.FsFile;
  cutter: LineCutter;
  lastChange: number;
  /**
   * Nothing more will be written (`--once`, or rotated away and quiet for
   * `rotateWaitMs`): a last line without a newline is shipped at the end.
   */
  final: boolean;
}

/** How far a batch will commit one file once Kafka acknowledges it. */
export interface Mark {
  file: Tracked;
  gen: number;
  end: number;
}
