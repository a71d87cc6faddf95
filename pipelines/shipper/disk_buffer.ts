/**
 * The HTTP ingest's disk buffer: append-only segment files of NDJSON records,
 * fsynced before a request is answered, then shipped to Kafka by
 * {@link BufferSource}, which advances a durable read position only after
 * Kafka acknowledged and deletes fully shipped segments.
 *
 * - Group commit: appends arriving while an fsync runs are written together
 *   by the next one, so many concurrent requests share one fsync.
 * - Crash safety: a record is acknowledged (202) only after its fsync. On
 *   start, a torn tail (bytes after the last newline: a write that never got
 *   its fsync, so never a 202) is cut off, and writing continues in a new
 *   segment.
 * - Bounded: appends beyond `maxBytes` of unshipped data are refused
 *   ({@link BufferFullError} → 503 with Retry-After).
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
import { readJson, syncDir, writeJsonAtomic } from "./checkpoint.ts";
import type { Encoder } from "./encoder.ts";
import { LineCutter } from "./lines.ts";
import type { ShipperMetrics } from "./metrics.ts";

/** The buffer is full: the client should retry later. */
export class BufferFullError extends Error {
  /** Creates the error. */
  constructor() {
    super("disk buffer full");
    this.name = "BufferFullError";
  }
}

/** Where the reader is: segment number and byte offset in it. */
export interface BufferPosition {
  seq: number;
  offset: number;
}

/** Settings of a {@link DiskBuffer}. */
export interface DiskBufferOptions {
  dir: string;
  /** Start a new segment beyond this size. */
  segmentBytes: number;
  /** Refuse appends beyond this many unshipped bytes. */
  maxBytes: number;
  log: Logger;
  metrics?: ShipperMetrics;
  /** Opens a segment file for appending (a seam for fault tests). */
  openFile?: (path: string, opts: Deno.OpenOptions) => Promise<Deno.FsFile>;
}

interface Segment {
  seq: number;
  /** Durable (fsynced) size. */
  size: number;
}

interface PendingAppend {
  data: Uint8Array;
  resolve: () => void;
  reject: (err: Error) => void;
}

const NL = 0x0a;
/** Segment files: readable by this user only (umask cannot widen it). */
export const SEGMENT_MODE = 0o600;

const SEG_RE = /^(\d{12})\.seg$/;

/** File name of segment `seq`. */
export function segmentName(seq: number): string {
  return `${String(seq).padStart(12, "0")}.seg`;
}

/** Append-only, fsynced segment files with a durable read position. */
export class DiskBuffer {
  readonly #o: DiskBufferOptions;
  readonly segments: Segment[] = [];
  /** The segment being written; its file is undefined after a failure. */
  #active!: { seq: number; file?: Deno.FsFile };
  /** Why the last write failed (cleared by the next successful one). */
  #degraded: string | undefined;
  #committed: BufferPosition = { seq: 0, offset: 0 };
  #pending: PendingAppend[] = [];
  #pendingBytes = 0;
  #flushing: Promise<void> | undefined;
  #flushActive = false;
  #waiters: Array<() => void> = [];
  #closed = false;
  #commitChain: Promise<void> = Promise.resolve();

  private constructor(opts: DiskBufferOptions) {
    this.#o = opts;
  }

  /** Opens (and recovers) the buffer in `opts.dir`. */
  static async open(opts: DiskBufferOptions): Promise<DiskBuffer> {
    const b = new DiskBuffer(opts);
    await b.#recover();
    return b;
  }

  /** Path of segment `seq`. */
  path(seq: number): string {
    return `${this.#o.dir}/${segmentName(seq)}`;
  }

  /** The durable read position (everything before it reached Kafka). */
  get committed(): BufferPosition {
    return { ...this.#committed };
  }

  /** Unshipped bytes on disk. */
  get depthBytes(): number {
    let n = 0;
    for (const s of this.segments) {
      if (s.seq > this.#committed.seq) n += s.size;
      else if (s.seq === this.#committed.seq) {
        n += s.size - this.#committed.offset;
      }
    }
    return n;
  }

  /** Sequence number of the segment being written. */
  get activeSeq(): number {
    return this.#active.seq;
  }

  async #recover(): Promise<void> {
    const dir = this.#o.dir;
    // Buffered requests are other people's logs: this user only.
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
    const seqs: number[] = [];
    for await (const e of Deno.readDir(dir)) {
      const m = SEG_RE.exec(e.name);
      if (m && e.isFile) seqs.push(Number(m[1]));
    }
    seqs.sort((a, b) => a - b);
    const pos = await readJson<BufferPosition>(`${dir}/position.json`);
    this.#committed = pos ?? { seq: seqs[0] ?? 1, offset: 0 };
    for (const seq of seqs) {
      if (seq < this.#committed.seq) {
        await Deno.remove(this.path(seq));
        continue;
      }
      const size = await this.#cutTornTail(this.path(seq));
      await Deno.chmod(this.path(seq), SEGMENT_MODE); // from older releases
      this.segments.push({ seq, size });
    }
    const seq = Math.max(this.#committed.seq, (seqs.at(-1) ?? 0) + 1);
    await this.#openSegment(seq);
    this.#report();
    if (this.depthBytes > 0) {
      this.#o.log.info("disk buffer recovered", {
        segments: this.segments.length,
        unshipped_bytes: this.depthBytes,
      });
    }
  }

  /** Truncates bytes after the last newline; returns the size kept. */
  async #cutTornTail(path: string): Promise<number> {
    const f = await Deno.open(path, { read: true, write: true });
    try {
      const size = (await f.stat()).size;
      let end = size;
      const chunk = new Uint8Array(64 * 1024);
      while (end > 0) {
        const start = Math.max(0, end - chunk.length);
        await f.seek(start, Deno.SeekMode.Start);
        const want = end - start;
        let got = 0;
        while (got < want) {
          const n = await f.read(chunk.subarray(got, want));
          if (!n) break;
          got += n;
        }
        const nl = chunk.subarray(0, got).lastIndexOf(NL);
        if (nl >= 0) {
          end = start + nl + 1;
          break;
        }
        end = start;
      }
      if (end < size) {
        this.#o.log.warn("cut torn tail of buffer segment", {
          path,
          bytes: size - end,
        });
        await f.truncate(end);
        await f.syncData();
      }
      return end;
    } finally {
      f.close();
    }
  }

  /** Healthy, or degraded with the reason the last write failed. */
  health(): { ok: boolean; error?: string } {
    return this.#degraded === undefined
      ? { ok: true }
      : { ok: false, error: this.#degraded };
  }

  /** Closes the active segment's file; the next write opens a new segment. */
  #retire(): void {
    try {
      this.#active.file?.close();
    } catch { /* already closed */ }
    this.#active = { seq: this.#active.seq };
  }

  async #openSegment(seq: number): Promise<void> {
    const open = this.#o.openFile ?? Deno.open;
    const file = await open(this.path(seq), {
      write: true,
      create: true,
      append: true,
      mode: SEGMENT_MODE,
    });
    await syncDir(this.#o.dir);
    this.#active = { seq, file };
    if (!this.segments.some((s) => s.seq === seq)) {
      this.segments.push({ seq, size: 0 });
    }
  }

  /**
   * Appends records (each one JSON line, no newline) durably. Resolves after
   * the fsync that covers them; throws {@link BufferFullError} when full.
   */
  append(records: Uint8Array[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("buffer closed"));
    let size = 0;
    for (const r of records) size += r.length + 1;
    if (this.depthBytes + this.#pendingBytes + size > this.#o.maxBytes) {
      return Promise.reject(new BufferFullError());
    }
    const data = new Uint8Array(size);
    let off = 0;
    for (const r of records) {
      data.set(r, off);
      off += r.length;
      data[off++] = NL;
    }
    this.#pendingBytes += size;
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ data, resolve, reject });
      if (!this.#flushActive) this.#flushing = this.#flushLoop();
    });
  }

  async #flushLoop(): Promise<void> {
    // The flag is cleared synchronously when the loop sees no more work, so
    // an append arriving right after always starts a new loop.
    this.#flushActive = true;
    for (;;) {
      if (this.#pending.length === 0) {
        this.#flushActive = false;
        return;
      }
      const group = this.#pending.splice(0);
      let total = 0;
      for (const p of group) total += p.data.length;
      const seg = this.segments.at(-1)!;
      try {
        if (seg.size > 0 && seg.size + total > this.#o.segmentBytes) {
          this.#retire();
        }
        // After a failure (or a full segment) writing resumes in a new
        // segment, tried again on every append: the buffer recovers by
        // itself once the disk has space again.
        if (!this.#active.file) await this.#openSegment(this.#active.seq + 1);
        const active = this.segments.at(-1)!;
        const f = this.#active.file!;
        for (const p of group) {
          let off = 0;
          while (off < p.data.length) {
            off += await f.write(p.data.subarray(off));
          }
        }
        await f.syncData();
        active.size += total;
        this.#pendingBytes -= total;
        for (const p of group) p.resolve();
        this.#wakeReaders();
        if (this.#degraded !== undefined) {
          this.#o.log.info("disk buffer writable again", {
            segment: active.seq,
          });
          this.#degraded = undefined;
        }
      } catch (err) {
        this.#pendingBytes -= total;
        for (const p of group) p.reject(err as Error);
        this.#degraded = String((err as Error)?.message ?? err);
        this.#o.log.error("disk buffer write failed", { err });
        // Keep framing sane: drop what may be half written, and never trust
        // a file whose write or fsync failed: the next append starts a new
        // segment (readers stop at the durable size meanwhile).
        try {
          await this.#active.file?.truncate(this.segments.at(-1)!.size);
        } catch { /* the file is retired anyway */ }
        this.#retire();
      }
      this.#report();
    }
  }

  /** Resolves when new durable data may be readable (or after `ms`). */
  waitForData(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#waiters.push(done);
    });
  }

  /** Readers waiting in {@link waitForData} (bounded by the readers). */
  get waiting(): number {
    return this.#waiters.length;
  }

  #wakeReaders(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Durable size of segment `seq` (undefined once deleted). */
  sizeOf(seq: number): number | undefined {
    return this.segments.find((s) => s.seq === seq)?.size;
  }

  /** Records that everything before `pos` reached Kafka; deletes old segments. */
  commit(pos: BufferPosition): Promise<void> {
    this.#commitChain = this.#commitChain.then(() => this.#commit(pos));
    return this.#commitChain;
  }

  async #commit(pos: BufferPosition): Promise<void> {
    const c = this.#committed;
    if (pos.seq < c.seq || (pos.seq === c.seq && pos.offset <= c.offset)) {
      return; // never move backwards
    }
    await writeJsonAtomic(`${this.#o.dir}/position.json`, pos);
    this.#committed = { ...pos };
    while (this.segments.length > 0 && this.segments[0].seq < pos.seq) {
      const s = this.segments.shift()!;
      try {
        await Deno.remove(this.path(s.seq));
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    this.#report();
  }

  #report(): void {
    this.#o.metrics?.bufferDepthBytes.set(this.depthBytes);
    this.#o.metrics?.bufferSegments.set(this.segments.length);
  }

  /** Waits for pending appends, then closes the active segment. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    this.#retire();
    this.#wakeReaders();
  }
}

/** Settings of a {@link BufferSource}. */
export interface BufferSourceOptions {
  buffer: DiskBuffer;
  chunkBytes: number;
  maxLineBytes: number;
  limits: BatchLimits;
  encoder: Encoder;
  metrics: ShipperMetrics;
  log: Logger;
}

/** Reads the disk buffer into batches; acks move the durable position. */
export class BufferSource {
  readonly #o: BufferSourceOptions;

  /** Creates the reader. */
  constructor(opts: BufferSourceOptions) {
    this.#o = opts;
  }

  /** Ships buffered records until `signal` aborts. */
  async run(queue: BoundedQueue<Batch>, signal: AbortSignal): Promise<void> {
    const o = this.#o;
    const buf = o.buffer;
    // cursor: where `rest` starts; rest: read but not yet cut.
    let cursor = buf.committed;
    let rest = new Uint8Array(0);
    let needRead = true;
    let file: Deno.FsFile | undefined;
    let builder = new BatchBuilder(o.limits);
    let mark: BufferPosition | undefined;
    const cutter = new LineCutter(o.maxLineBytes);

    const flush = async () => {
      const at = mark;
      mark = undefined;
      // Even an empty batch (a finished segment, blank lines) goes through
      // the queue: the sink acks in order, so the position never jumps over
      // a batch still in flight.
      const batch = builder.seal(
        "http",
        () => at ? buf.commit(at) : Promise.resolve(),
      );
      builder = new BatchBuilder(o.limits);
      await queue.push(batch);
    };
    const cut = (data: Uint8Array) => {
      const seq = cursor.seq;
      let lines = 0;
      const consumed = cutter.cut(data, cursor.offset, (line, end) => {
        if (line.length > 0) {
          o.encoder.encode(line, "ndjson", "http", "http", builder);
          lines++;
        }
        mark = { seq, offset: end };
        return builder.full;
      }, (sample, size, end) => {
        o.encoder.oversize(sample, size, o.maxLineBytes, "http", builder);
        mark = { seq, offset: end };
        return builder.full;
      });
      o.metrics.linesRead.inc({ source: "http" }, lines);
      cursor = { seq, offset: cursor.offset + consumed };
      rest = data.slice(consumed);
      // Stopped early on a full batch: complete lines wait in `rest`.
      needRead = !builder.full;
    };

    try {
      while (!signal.aborted) {
        if (builder.full || builder.due) await flush();
        if (!needRead) {
          cut(rest);
          continue;
        }
        const size = buf.sizeOf(cursor.seq) ?? 0;
        const avail = size - (cursor.offset + rest.length);
        if (avail <= 0) {
          if (cursor.seq < buf.activeSeq && rest.length === 0) {
            // Segment finished: move on; the next commit deletes it.
            cursor = { seq: cursor.seq + 1, offset: 0 };
            mark = { ...cursor };
            file?.close();
            file = undefined;
            continue;
          }
          if (!builder.empty && builder.due) continue;
          if (builder.empty && mark) {
            await flush();
            continue;
          }
          await buf.waitForData(
            builder.empty ? 250 : Math.max(1, o.limits.lingerMs),
            signal,
          );
          continue;
        }
        if (!file) {
          file = await Deno.open(buf.path(cursor.seq), { read: true });
          await file.seek(cursor.offset + rest.length, Deno.SeekMode.Start);
        }
        const want = Math.min(
          avail,
          Math.max(o.chunkBytes, o.maxLineBytes + 1),
        );
        const chunk = new Uint8Array(rest.length + want);
        chunk.set(rest);
        let got = 0;
        while (got < want) {
          const n = await file.read(
            chunk.subarray(rest.length + got, rest.length + want),
          );
          if (!n) break;
          got += n;
        }
        o.metrics.bytesRead.inc({ source: "http" }, got);
        cut(chunk.subarray(0, rest.length + got));
      }
      if (!builder.empty) await flush();
    } finally {
      file?.close();
    }
  }
}
