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

/**
 * `buf` followed by the `n` bytes just read into `scratch`, in a buffer of
 * its own: encoded messages are views of it, so it is never reused. A big
 * read into an empty `buf` takes `scratch` itself (the caller then allocates
 * a new one); otherwise only the bytes read are copied. Why not read straight
 * into a fresh chunk-sized buffer: at the end of a file that is growing, most
 * reads return a few KiB or nothing, and zeroing a 1 MiB buffer per read
 * (tens of reads a second once the shipper wakes on every write) cost more
 * CPU than the reading itself.
 */
export function adoptRead(
  buf: Uint8Array,
  scratch: Uint8Array,
  n: number,
): Uint8Array {
  if (buf.length === 0 && n * 2 >= scratch.length) {
    return scratch.subarray(0, n);
  }
  const next = new Uint8Array(buf.length + n);
  next.set(buf);
  next.set(scratch.subarray(0, n), buf.length);
  return next;
}
