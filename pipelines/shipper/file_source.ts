/**
 * The file source: tails files matching glob patterns into batches.
 *
 * - A file is identified by device + inode, confirmed by a fingerprint
 *   (SHA-256 of its first bytes) so a reused inode is not mistaken for it.
 * - Rotation by rename: the open handle keeps reading the renamed file to its
 *   end; after a restart the renamed file is found again by inode in its
 *   directory. The new file under the old name is a new file, read from 0.
 * - Truncation (copytruncate): size below our position, or a changed
 *   fingerprint, restarts the file at 0.
 * - The checkpoint (offset per file) is written atomically and only after
 *   Kafka acknowledged the batch, so a crash repeats at most the batches in
 *   flight and never skips a line.
 * - Backpressure: reading pauses while the sink's queue is full, and a file
 *   is read chunk by chunk, so memory is bounded whatever the file size.
 *
 * @module
 */
import type { Logger } from "../runtime/mod.ts";
import {
  type Batch,
  BatchBuilder,
  type BatchLimits,
  type BoundedQueue,
} from "./batch.ts";
import {
  dirOf,
  type FileMark,
  loadFileCheckpoint,
  writeJsonAtomic,
} from "./checkpoint.ts";
import type { Encoder, Format } from "./encoder.ts";
import { findByInode, readHead, sha256 } from "./_file_ops.ts";
import { adoptRead, EMPTY, type Mark, type Tracked } from "./_tracked.ts";
import { FileWake, idleMs } from "./_wake.ts";
import { expandGlob, type GlobPlan, planGlob } from "./glob.ts";
import { LineCutter } from "./lines.ts";
import { observeRead, type ShipperMetrics } from "./metrics.ts";

/** Bytes hashed to fingerprint a file. */
export const FINGERPRINT_BYTES = 1024;

/** One glob and the format of the files it matches. */
export interface FileSpec {
  pattern: string;
  format: Format;
}

/** Settings of a {@link FileSource}. */
export interface FileSourceOptions {
  files: FileSpec[];
  /** Where the checkpoint lives. */
  checkpointPath: string;
  /**
   * How often globs are re-expanded and files re-checked (ms), and the
   * longest sleep at the end of the files when no change wakes the source.
   */
  pollMs: number;
  /** Wake on directory changes (inotify), not only every poll (default true). */
  watch?: boolean;
  /** Bytes per read. */
  chunkBytes: number;
  maxLineBytes: number;
  limits: BatchLimits;
  /** Keep following a rotated-away file this long after its last change. */
  rotateWaitMs: number;
  /** Close the handle of a fully read, unchanged file after this long. */
  idleCloseMs: number;
  /** Stop once every matched file is shipped and acknowledged. */
  once: boolean;
  encoder: Encoder;
  metrics: ShipperMetrics;
  log: Logger;
}

const NL = 0x0a;

/** Tails files into batches; see the module doc. */
export class FileSource {
  readonly #o: FileSourceOptions;
  readonly #plans: Array<{ plan: GlobPlan; format: Format }>;
  readonly #files = new Map<string, Tracked>();
  #saved = new Map<string, FileMark>();
  #marks = new Map<string, Mark>();
  #builder: BatchBuilder;
  #lastScan = 0;
  #saving: Promise<void> = Promise.resolve();
  /** Read target; what is read is copied out (messages view their buffer). */
  #scratch: Uint8Array;

  /** Creates the source; call {@link run} to start it. */
  constructor(opts: FileSourceOptions) {
    this.#o = opts;
    this.#plans = opts.files.map((f) => ({
      plan: planGlob(f.pattern),
      format: f.format,
    }));
    this.#builder = new BatchBuilder(opts.limits);
    this.#scratch = new Uint8Array(
      Math.max(opts.chunkBytes, opts.maxLineBytes + 1),
    );
  }

  /** The directories/files the patterns read from (for permission checks). */
  get bases(): string[] {
    return this.#plans.map((p) => p.plan.base);
  }

  /**
   * Reads files until `signal` aborts (or, with `once`, until everything is
   * shipped), pushing sealed batches into `queue`.
   */
  async run(queue: BoundedQueue<Batch>, signal: AbortSignal): Promise<void> {
    const cp = await loadFileCheckpoint(this.#o.checkpointPath);
    for (const m of cp.files) this.#saved.set(`${m.dev}:${m.ino}`, m);
    const wake = new FileWake(
      this.#plans.map((p) => p.plan),
      this.#o.log,
      this.#o.watch ?? true,
    );
    await this.#scan();
    this.#saved.clear();
    try {
      await wake.ensure();
      while (!signal.aborted) {
        // After a change the scan comes first: it adopts new or moved files
        // at once and catches a truncation before its new bytes are read.
        if (
          wake.takeChanged() ||
          Date.now() - this.#lastScan >= this.#o.pollMs
        ) {
          await this.#scan();
          await wake.ensure();
        }
        let progressed = false;
        for (const f of this.#files.values()) {
          if (signal.aborted) break;
          if (await this.#pump(f)) progressed = true;
          if (this.#builder.full) await this.#flush(queue);
        }
        if (this.#builder.due) await this.#flush(queue);
        // --once: at the end of every file nothing more is coming; lingering
        // for it would only delay the exit.
        if (!progressed && this.#o.once && !this.#builder.empty) {
          await this.#flush(queue);
        }
        if (!progressed) {
          if (this.#o.once && this.#builder.empty && this.#allShipped()) {
            await this.#saving;
            this.#o.log.info("all files shipped", { files: this.#files.size });
            return;
          }
          await wake.wait(idleMs(this.#o, this.#builder), signal);
        }
      }
      // Stopping: hand over what was read; it is committed if Kafka acks it
      // before the shutdown deadline, and re-read after a restart otherwise.
      if (!this.#builder.empty) await this.#flush(queue);
    } finally {
      wake.close();
      for (const f of this.#files.values()) f.handle?.close();
    }
  }

  #allShipped(): boolean {
    for (const f of this.#files.values()) {
      if (!f.matched) continue;
      if (f.readOffset < f.size || f.committed < f.readOffset) return false;
    }
    return true;
  }

  async #flush(queue: BoundedQueue<Batch>): Promise<void> {
    const marks = this.#marks;
    this.#marks = new Map();
    const batch = this.#builder.seal("file", async () => {
      for (const m of marks.values()) {
        if (m.file.gen === m.gen && m.end > m.file.committed) {
          m.file.committed = m.end;
        }
      }
      await this.#save();
    });
    this.#builder = new BatchBuilder(this.#o.limits);
    await queue.push(batch);
  }

  /** Writes the checkpoint of every tracked file (serialised). */
  #save(): Promise<void> {
    const files: FileMark[] = [];
    for (const f of this.#files.values()) {
      files.push({
        dev: f.dev,
        ino: f.ino,
        path: f.path,
        fp: f.fp,
        fpLen: f.fpLen,
        offset: f.committed,
      });
      this.#o.metrics.checkpointLag.set(
        { file: f.path },
        Math.max(0, f.size - f.committed),
      );
    }
    this.#saving = this.#saving.then(() =>
      writeJsonAtomic(this.#o.checkpointPath, { version: 1, files })
    );
    return this.#saving;
  }

  /** Reads and cuts lines from `f` into the builder; true if any progress. */
  async #pump(f: Tracked): Promise<boolean> {
    const h = f.handle;
    if (!h) return false;
    const o = this.#o;
    const b = this.#builder;
    let progressed = false;
    let reads = 0;
    const onLine = (line: Uint8Array, end: number) => {
      if (line.length > 0) {
        o.encoder.encode(line, f.format, "file", f.path, b);
        lines++;
      }
      lineEnd = end;
      return b.full;
    };
    const onOversize = (sample: Uint8Array, size: number, end: number) => {
      o.encoder.oversize(sample, size, o.maxLineBytes, f.path, b);
      lines++;
      lineEnd = end;
      return b.full;
    };
    let lines = 0;
    let lineEnd = -1;
    let eof = false;
    // A few reads per turn, so several active files interleave.
    while (!b.full && reads < 4) {
      if (f.needRead) {
        const n = await h.read(this.#scratch);
        reads++;
        if (n === null || n === 0) {
          eof = true;
          break;
        }
        f.buf = adoptRead(f.buf, this.#scratch, n);
        if (f.buf.buffer === this.#scratch.buffer) {
          this.#scratch = new Uint8Array(this.#scratch.length);
        }
        const end = f.readOffset + f.buf.length;
        if (end > f.size) f.size = end;
        o.metrics.bytesRead.inc({ source: "file" }, n);
      }
      const start = f.readOffset;
      const consumed = f.cutter.cut(f.buf, start, onLine, onOversize);
      f.readOffset += consumed;
      f.buf = consumed === f.buf.length ? EMPTY : f.buf.subarray(consumed);
      // Stopped early (batch full) leaves complete lines in buf: no read.
      f.needRead = !b.full || f.buf.length === 0;
      if (consumed > 0) progressed = true;
    }
    if (eof && f.final && !b.full && (f.buf.length > 0 || f.cutter.skipping)) {
      this.#cutLastLine(f, onLine, onOversize);
      progressed = true;
    }
    // The mark is the end of the last whole line: never the middle of an
    // over-size line being skipped, so a restart re-reads (and re-skips) it.
    if (lineEnd > (this.#marks.get(f.key)?.end ?? -1)) {
      this.#marks.set(f.key, { file: f, gen: f.gen, end: lineEnd });
    }
    if (lines > 0) {
      o.metrics.linesRead.inc({ source: "file" }, lines);
      await observeRead(o.metrics, b.reads, h, lines);
    }
    return progressed;
  }

  /**
   * Ships the rest of a final file as its last line, as if it ended with a
   * newline: its end (and checkpoint) is the file's size, not one beyond.
   */
  #cutLastLine(
    f: Tracked,
    onLine: (line: Uint8Array, end: number) => boolean,
    onOversize: (sample: Uint8Array, size: number, end: number) => boolean,
  ): void {
    const end = f.readOffset + f.buf.length;
    const last = new Uint8Array(f.buf.length + 1);
    last.set(f.buf);
    last[f.buf.length] = NL;
    f.cutter.cut(
      last,
      f.readOffset,
      (line) => onLine(line, end),
      (sample, size) => onOversize(sample, size, end),
    );
    this.#o.log.info("shipped a last line without a newline", {
      path: f.path,
      offset: end,
    });
    f.readOffset = end;
    f.buf = EMPTY;
  }

  /** Re-expands the globs, adopts new files, checks known ones. */
  async #scan(): Promise<void> {
    this.#lastScan = Date.now();
    const seen = new Set<string>();
    for (const { plan, format } of this.#plans) {
      for (const path of await expandGlob(plan)) {
        let st: Deno.FileInfo;
        try {
          st = await Deno.stat(path);
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) continue;
          throw err;
        }
        if (!st.isFile || st.dev === null || st.ino === null) continue;
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        let f = this.#files.get(key);
        if (!f) {
          f = await this.#adopt(path, st, format, true);
          if (!f) continue;
        } else if (f.path !== path) {
          this.#o.metrics.checkpointLag.remove({ file: f.path });
          f.path = path;
        }
        f.matched = true;
        if (!f.handle && st.size !== f.readOffset) await this.#reopen(f);
        await this.#refresh(f, st);
      }
    }
    // Checkpointed files not matched any more (renamed during a restart).
    for (const [key, m] of this.#saved) {
      if (seen.has(key) || this.#files.has(key)) continue;
      const found = await findByInode(dirOf(m.path), m.dev, m.ino);
      if (found && found.st.size > m.offset) {
        const format = this.#formatFor(m.path);
        const f = await this.#adopt(found.path, found.st, format, false);
        if (f) {
          this.#o.log.info("following rotated file", { path: found.path });
          seen.add(key);
        }
      }
    }
    // Tracked files no glob matched this time: rotated away or deleted.
    for (const f of [...this.#files.values()]) {
      if (seen.has(f.key)) continue;
      f.matched = false;
      let st: Deno.FileInfo | undefined;
      if (f.handle) st = await f.handle.stat();
      else {
        const found = await findByInode(dirOf(f.path), f.dev, f.ino);
        if (found) {
          f.path = found.path;
          st = found.st;
          if (st.size !== f.readOffset) await this.#reopen(f);
        }
      }
      if (st) await this.#refresh(f, st);
      const drained = f.buf.length === 0 && f.readOffset >= f.size &&
        f.committed >= f.readOffset;
      const quiet = Date.now() - f.lastChange >= this.#o.rotateWaitMs;
      // Rotated away (or deleted) and quiet: its writer is done with it, so
      // an unterminated last line will not get its newline any more.
      if (
        st && (quiet || st.nlink === 0) &&
        f.readOffset + f.buf.length >= f.size
      ) f.final = true;
      if (!st || (drained && (quiet || st.nlink === 0))) this.#drop(f);
    }
    // Close handles of idle, fully shipped files (reopened when they grow).
    for (const f of this.#files.values()) {
      if (
        f.handle && f.matched && f.buf.length === 0 &&
        f.readOffset >= f.size && f.committed >= f.readOffset &&
        Date.now() - f.lastChange >= this.#o.idleCloseMs
      ) {
        f.handle.close();
        f.handle = undefined;
      }
    }
    this.#o.metrics.filesTracked.set(this.#files.size);
  }

  #formatFor(path: string): Format {
    for (const { plan, format } of this.#plans) {
      if (dirOf(path) === plan.base || path.startsWith(plan.base)) {
        return format;
      }
    }
    return this.#plans[0]?.format ?? "ndjson";
  }

  /** Starts tracking a file: resumes from the checkpoint if it is the same file. */
  async #adopt(
    path: string,
    st: Deno.FileInfo,
    format: Format,
    matched: boolean,
  ): Promise<Tracked | undefined> {
    let h: Deno.FsFile;
    try {
      h = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    const hst = await h.stat();
    if (hst.dev !== st.dev || hst.ino !== st.ino) {
      h.close(); // replaced between stat and open: next scan sees the new one
      return undefined;
    }
    const head = await readHead(h, FINGERPRINT_BYTES, 0);
    const key = `${hst.dev}:${hst.ino}`;
    const saved = this.#saved.get(key);
    let offset = 0;
    if (saved && saved.fpLen <= head.length && saved.offset <= hst.size) {
      if (await sha256(head.subarray(0, saved.fpLen)) === saved.fp) {
        offset = saved.offset;
      }
    }
    await h.seek(offset, Deno.SeekMode.Start);
    const f: Tracked = {
      key,
      dev: hst.dev!,
      ino: hst.ino!,
      path,
      format,
      matched,
      fp: await sha256(head),
      fpLen: head.length,
      gen: 0,
      committed: offset,
      readOffset: offset,
      buf: EMPTY,
      needRead: true,
      size: hst.size,
      mtime: hst.mtime?.getTime() ?? 0,
      handle: h,
      cutter: new LineCutter(this.#o.maxLineBytes),
      lastChange: Date.now(),
      final: this.#o.once,
    };
    this.#files.set(key, f);
    this.#o.log.info("tracking file", { path, from_offset: offset });
    return f;
  }

  async #reopen(f: Tracked): Promise<void> {
    try {
      const h = await Deno.open(f.path, { read: true });
      const st = await h.stat();
      if (st.dev !== f.dev || st.ino !== f.ino) {
        h.close();
        return;
      }
      await h.seek(f.readOffset + f.buf.length, Deno.SeekMode.Start);
      f.handle = h;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  /** Applies a fresh stat: detects truncation and replaced content. */
  async #refresh(f: Tracked, st: Deno.FileInfo): Promise<void> {
    const mtime = st.mtime?.getTime() ?? 0;
    const changed = st.size !== f.size || mtime !== f.mtime;
    if (!changed) return;
    f.lastChange = Date.now();
    f.mtime = mtime;
    if (st.size < f.readOffset + f.buf.length) {
      await this.#restart(f, "file truncated", st.size);
      return;
    }
    f.size = st.size;
    if (f.handle && (f.fpLen < FINGERPRINT_BYTES || f.fpLen === 0)) {
      const pos = f.readOffset + f.buf.length;
      const head = await readHead(f.handle, FINGERPRINT_BYTES, pos);
      if (await sha256(head.subarray(0, f.fpLen)) !== f.fp) {
        await this.#restart(f, "file content replaced", st.size);
        return;
      }
      f.fp = await sha256(head);
      f.fpLen = head.length;
    } else if (f.handle && f.size > f.readOffset) {
      const pos = f.readOffset + f.buf.length;
      const head = await readHead(f.handle, f.fpLen, pos);
      if (await sha256(head) !== f.fp) {
        await this.#restart(f, "file content replaced", st.size);
      }
    }
  }

  /** Starts `f` over from byte 0 (copytruncate or rewritten in place). */
  async #restart(f: Tracked, why: string, size: number): Promise<void> {
    this.#o.log.warn(`${why}, reading from the start`, {
      path: f.path,
      was_at: f.readOffset,
      size,
    });
    f.gen++;
    f.committed = 0;
    f.readOffset = 0;
    f.buf = EMPTY;
    f.needRead = true;
    f.size = size;
    f.cutter.reset();
    this.#marks.delete(f.key);
    if (f.handle) {
      const head = await readHead(f.handle, FINGERPRINT_BYTES, 0);
      f.fp = await sha256(head);
      f.fpLen = head.length;
    }
  }

  #drop(f: Tracked): void {
    f.handle?.close();
    this.#files.delete(f.key);
    this.#o.metrics.checkpointLag.remove({ file: f.path });
    this.#o.log.info("stopped tracking file", {
      path: f.path,
      offset: f.committed,
    });
  }
}
