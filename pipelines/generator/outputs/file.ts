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
import { BUFFER_BYTES, BufferedLineOutput, writeAllSync } from "./_buffered.ts";

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
export class RotatingFileOutput extends BufferedLineOutput {
  readonly name = "file";
  /** Paths of every file opened, oldest first. */
  readonly paths: string[] = [];
  readonly #o: RotatingFileOptions;
  readonly #now: () => number;
  #file: Deno.FsFile | undefined;
  #fileBytes = 0;
  #openedAt = 0;
  #seq = 0;

  /** Creates the directory; files open lazily on the first line. */
  constructor(opts: RotatingFileOptions) {
    if (!(opts.maxBytes > 0)) throw new RangeError("maxBytes must be > 0");
    super(
      "file",
      Math.max(1024, Math.min(opts.bufferBytes ?? BUFFER_BYTES, opts.maxBytes)),
      "buffer/file limit",
    );
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    Deno.mkdirSync(opts.dir, { recursive: true });
  }

  /** Writes the buffer out; closes the file if it is older than max age. */
  override tick(): Promise<void> {
    this.drain();
    if (
      this.#file && this.#o.maxAgeMs > 0 &&
      this.#now() - this.#openedAt >= this.#o.maxAgeMs
    ) {
      this.#closeFile();
    }
    return Promise.resolve();
  }

  /** Flushes and closes the active file. */
  override close(): Promise<void> {
    this.drain();
    this.#closeFile();
    return Promise.resolve();
  }

  /** A line that would overflow the file starts the next one. */
  protected override place(off: number, n: number): number {
    const used = this.#fileBytes + off;
    if (used + n <= this.#o.maxBytes) return off;
    if (used === 0) {
      throw new RangeError(
        `an event of ${n} bytes is larger than --max-file-bytes ${this.#o.maxBytes}`,
      );
    }
    // Write what precedes the line, move it to the front of the buffer,
    // close the full file.
    if (off > 0) this.writeOut(this.buf.subarray(0, off));
    this.buf.copyWithin(0, off, off + n);
    this.#closeFile();
    return 0;
  }

  /** Writes to the active file, opening one if none is. */
  protected writeOut(data: Uint8Array): void {
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
