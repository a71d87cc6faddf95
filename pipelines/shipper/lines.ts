/**
 * Cuts a byte stream into newline-terminated lines with a size limit, without
 * ever holding more than one read chunk: a line longer than the limit is
 * skipped as it streams past and reported once, with a sample of its start.
 *
 * @module
 */

/** How much of an over-size line is kept for the dead-letter record. */
export const OVERSIZE_SAMPLE_BYTES = 16 * 1024;

/**
 * Receives each complete line (without `\n`, `\r` stripped) and its end
 * offset; returning `true` stops the cut after this line (batch full).
 */
export type LineHandler = (line: Uint8Array, endOffset: number) => boolean;

/** Receives an over-size line: a sample of its start, its size, its end offset. */
export type OversizeHandler = (
  sample: Uint8Array,
  size: number,
  endOffset: number,
) => boolean;

const NL = 0x0a;
const CR = 0x0d;

/** Stateful line cutter for one stream (one file, one buffer segment). */
export class LineCutter {
  #skipping = false;
  #skipSample: Uint8Array = new Uint8Array(0);
  #skipSize = 0;

  /** Creates a cutter; lines longer than `maxLineBytes` are over-size. */
  constructor(readonly maxLineBytes: number) {}

  /** True while inside an over-size line (its end not seen yet). */
  get skipping(): boolean {
    return this.#skipping;
  }

  /** Forgets any partial state (after truncation or a seek). */
  reset(): void {
    this.#skipping = false;
    this.#skipSample = new Uint8Array(0);
    this.#skipSize = 0;
  }

  /**
   * Cuts the lines out of `buf`, whose first byte sits at stream offset
   * `base`. Returns how many bytes were consumed: everything up to the last
   * newline, or all of `buf` when it is the middle of an over-size line. The
   * unconsumed rest (an incomplete line) must be offered again, extended.
   * A handler returning `true` stops early; the rest is then unconsumed too.
   */
  cut(
    buf: Uint8Array,
    base: number,
    onLine: LineHandler,
    onOversize: OversizeHandler,
  ): number {
    let pos = 0;
    const len = buf.length;
    const max = this.maxLineBytes;
    if (this.#skipping) {
      const nl = buf.indexOf(NL);
      if (nl < 0) {
        this.#skipSize += len;
        return len;
      }
      this.#skipSize += nl;
      const stop = onOversize(this.#skipSample, this.#skipSize, base + nl + 1);
      this.reset();
      pos = nl + 1;
      if (stop) return pos;
    }
    while (pos < len) {
      const nl = buf.indexOf(NL, pos);
      if (nl < 0) {
        if (len - pos > max) {
          // No end in sight and already too long: skip it as it streams by.
          this.#skipping = true;
          this.#skipSample = buf.slice(
            pos,
            pos + Math.min(OVERSIZE_SAMPLE_BYTES, len - pos),
          );
          this.#skipSize = len - pos;
          return len;
        }
        return pos;
      }
      let end = nl;
      if (end > pos && buf[end - 1] === CR) end--;
      const stop = end - pos > max
        ? onOversize(
          buf.slice(pos, pos + Math.min(OVERSIZE_SAMPLE_BYTES, end - pos)),
          end - pos,
          base + nl + 1,
        )
        : onLine(buf.subarray(pos, end), base + nl + 1);
      pos = nl + 1;
      if (stop) return pos;
    }
    return pos;
  }
}
