/**
 * What stdout and rotating files share: lines encoded straight into one
 * big buffer, written out in large synchronous writes, and the counters.
 * A subclass says where a full buffer goes ({@link BufferedLineOutput.writeOut})
 * and may move a line before it is counted ({@link BufferedLineOutput.place},
 * used by file rotation).
 *
 * @module
 */
import type { EventSlot } from "../models/mod.ts";
import { type EventOutput, newStats, type OutputStats } from "./types.ts";

/** Writes all of `data` to a synchronous writer (writes may be partial). */
export function writeAllSync(
  w: { writeSync(p: Uint8Array): number },
  data: Uint8Array,
): void {
  let off = 0;
  while (off < data.length) off += w.writeSync(data.subarray(off));
}

/** Default output buffer: big writes, few syscalls. */
export const BUFFER_BYTES = 1 << 20;

const encoder = new TextEncoder();

/** An NDJSON output over one reused byte buffer (see module docs). */
export abstract class BufferedLineOutput implements EventOutput {
  /** `file` or `stdout`. */
  abstract readonly name: string;
  readonly stats: OutputStats;
  /** Lines not yet written out, `buf[0, off)`. */
  protected readonly buf: Uint8Array;
  protected off = 0;
  readonly #topic: string;
  readonly #limit: string;

  /**
   * @param topic the one `perTopic` counter (`file`, `stdout`)
   * @param bufferBytes buffer size, also the largest line
   * @param limit what the buffer stands for, in the too-large error
   */
  constructor(topic: string, bufferBytes: number, limit: string) {
    this.#topic = topic;
    this.#limit = limit;
    this.stats = newStats(topic);
    this.buf = new Uint8Array(bufferBytes);
  }

  /** Buffers one event's line. */
  write(slot: EventSlot): void {
    this.writeLine(slot.line);
  }

  /** Buffers one line of text (no newline in it), encoded in place. */
  writeLine(line: string): void {
    const buf = this.buf;
    let off = this.off;
    let r = encoder.encodeInto(line, buf.subarray(off));
    if (r.read < line.length || off + r.written >= buf.length) {
      this.drain();
      off = 0;
      r = encoder.encodeInto(line, buf);
      if (r.read < line.length || r.written >= buf.length) {
        throw new RangeError(
          `an event of ${line.length}+ bytes does not fit the ${buf.length} byte ${this.#limit}`,
        );
      }
    }
    const n = r.written + 1;
    buf[off + r.written] = 10;
    this.off = this.place(off, n) + n;
    this.stats.events++;
    this.stats.bytes += n;
    this.stats.perTopic[this.#topic]++;
  }

  /** Writes the buffer out. */
  tick(): Promise<void> {
    this.drain();
    return Promise.resolve();
  }

  /** Writes the buffer out. */
  flush(): Promise<void> {
    this.drain();
    return Promise.resolve();
  }

  /** Writes the buffer out. */
  close(): Promise<void> {
    this.drain();
    return Promise.resolve();
  }

  /**
   * The line of `n` bytes just encoded at `off` is about to be kept: returns
   * the offset it ends up at (a subclass may write out what precedes it and
   * move it to the front). The default keeps it where it is.
   */
  protected place(off: number, _n: number): number {
    return off;
  }

  /** Writes buffered bytes to the destination. */
  protected abstract writeOut(data: Uint8Array): void;

  /** Writes the buffer out and empties it. */
  protected drain(): void {
    if (this.off === 0) return;
    this.writeOut(this.buf.subarray(0, this.off));
    this.off = 0;
  }
}
