/**
 * NDJSON files with size- and time-based rotation, what the shipper tails.
 *
 * Files are named `<kind>-<YYYYMMDDTHHMMSS>-<seq>.ndjson` (UTC time of
 * opening, a 6-digit sequence) and never renamed: the active file is the
 * newest. Lines are encoded straight into a 1 MiB buffer and written with
 * big synchronous writes. Guarantees: a line is never split across files,
 * and no file exceeds `maxBytes` (a line that alone is larger is an error).
 *
 * @module
 */
import { join } from "node:path";
import type { EventSlot } from "../models/mod.ts";
import type { EventOutput, OutputStats } from "./types.ts";
import { BUFFER_BYTES, encoder, writeAllSync } from "./_write.ts";

/** Options of {@link RotatingFileOutput}. */
export interface RotatingFileOptions {
  /** Directory (created if missing). */
  dir: string;
  /** File name prefix: `security`, `http` or `cdc`. */
  kind: string;
  /** Largest file size in bytes. */
  maxBytes: number;
  /** Close the active file once it is this old (ms); 0 = never. */
  maxAgeMs: number;
  /** Buffer size (default 1 MiB, capped at `maxBytes`). */
  bufferBytes?: number;
  /** Wall clock (tests may fake it). */
  now?: () => number;
}

/** Formats epoch ms as `YYYYMMDDTHHMMSS` (UTC). */
export function fileStamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace(/[-:]/g, "");
}

/** The rotating NDJSON file output (see module docs). */
export class RotatingFileOutput implements EventOutput {
  readonly name = "file";
  readonly stats: OutputStats = {
    events: 0,
    bytes: 0,
    errors: 0,
    perTopic: { file: 0 },
    files: 0,
  };
  /** Paths of every file opened, oldest first. */
  readonly paths: string[] = [];
  readonly #o: RotatingFileOptions;
  readonly #now: () => number;
  readonly #buf: Uint8Array;
  #off = 0;
  #file: Deno.FsFile | undefined;
  #fileBytes = 0;
  #openedAt = 0;
  #seq = 0;

  /** Creates the directory; files open lazily on the first line. */
  constructor(opts: RotatingFileOptions) {
    if (!(opts.maxBytes > 0)) throw new RangeError("maxBytes must be > 0");
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#buf = new Uint8Array(
      Math.max(1024, Math.min(opts.bufferBytes ?? BUFFER_BYTES, opts.maxBytes)),
    );
    Deno.mkdirSync(opts.dir, { recursive: true });
  }

  /** Buffers one line (encoded in place); rotates before it if needed. */
  write(slot: EventSlot): void {
    this.writeLine(slot.line);
  }

  /** Buffers one line of text (no newline in it). */
  writeLine(line: string): void {
    const buf = this.#buf;
    let off = this.#off;
    let r = encoder.encodeInto(line, buf.subarray(off));
    if (r.read < line.length || off + r.written >= buf.length) {
      this.#drain();
      off = 0;
      r = encoder.encodeInto(line, buf);
      if (r.read < line.length || r.written >= buf.length) {
        throw new RangeError(
          `an event of ${line.length}+ bytes does not fit the ${buf.length} byte buffer/file limit`,
        );
      }
    }
    const n = r.written + 1;
    buf[off + r.written] = 10;
    const used = this.#fileBytes + off;
    if (used + n > this.#o.maxBytes) {
      if (used === 0) {
        throw new RangeError(
          `an event of ${n} bytes is larger than --max-file-bytes ${this.#o.maxBytes}`,
        );
      }
      // The line starts the next file: write what precedes it, move it to
      // the front of the buffer, close the full file.
      if (off > 0) this.#writeOut(buf.subarray(0, off));
      buf.copyWithin(0, off, off + n);
      off = 0;
      this.#closeFile();
    }
    this.#off = off + n;
    this.stats.events++;
    this.stats.bytes += n;
    this.stats.perTopic.file++;
  }

  /** Writes the buffer out; closes the file if it is older than max age. */
  tick(): Promise<void> {
    this.#drain();
    if (
      this.#file && this.#o.maxAgeMs > 0 &&
      this.#now() - this.#openedAt >= this.#o.maxAgeMs
    ) {
      this.#closeFile();
    }
    return Promise.resolve();
  }

  /** Writes the buffer out. */
  flush(): Promise<void> {
    this.#drain();
    return Promise.resolve();
  }

  /** Flushes and closes the active file. */
  close(): Promise<void> {
    this.#drain();
    this.#closeFile();
    return Promise.resolve();
  }

  #drain(): void {
    if (this.#off === 0) return;
    this.#writeOut(this.#buf.subarray(0, this.#off));
    this.#off = 0;
  }

  #writeOut(data: Uint8Array): void {
    if (!this.#file) this.#open();
    try {
      writeAllSync(this.#file!, data);
    } catch (err) {
      this.stats.errors++;
      throw err;
    }
    this.#fileBytes += data.length;
  }

  #open(): void {
    const now = this.#now();
    const stamp = fileStamp(now);
    for (;;) {
      this.#seq++;
      const path = join(
        this.#o.dir,
        `${this.#o.kind}-${stamp}-${String(this.#seq).padStart(6, "0")}.ndjson`,
      );
      try {
        // createNew: two generators started in the same second never share
        // (and interleave into) one file.
        this.#file = Deno.openSync(path, { write: true, createNew: true });
      } catch (err) {
        if (err instanceof Deno.errors.AlreadyExists) continue;
        throw err;
      }
      this.paths.push(path);
      this.stats.files++;
      this.#fileBytes = 0;
      this.#openedAt = now;
      return;
    }
  }

  #closeFile(): void {
    this.#file?.close();
    this.#file = undefined;
    this.#fileBytes = 0;
  }
}
