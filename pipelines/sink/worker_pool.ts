/**
 * The decode worker pool behind `--workers N`: KafkaJS still fetches on the
 * main thread, which packs each run of raw values into one transferable
 * buffer (decode_chunk.ts); N Web Workers parse, validate and encode them and
 * send back the lines and dead letters. The caller awaits a batch's chunks
 * before it appends them, in offset order, to the partition's ranges: the
 * batch order, the manifest-first flush and the offset commit stay exactly
 * those of the in-thread path.
 *
 * Memory is bounded by bytes in flight (`--worker-budget`): a chunk waits
 * until it fits, except when nothing is in flight (one oversized chunk still
 * goes, alone). A worker that dies fails its chunks with
 * {@link WorkerCrashed} (the caller decodes them itself, identically) and is
 * replaced on next use.
 *
 * Loading the worker module needs read access to the sink's sources (the
 * `sink` task grants `pipelines/sink` and `pipelines/runtime`).
 *
 * @module
 */
import {
  type Chunk,
  chunkBuffers,
  chunkBytes,
  type Decoded,
} from "./decode_chunk.ts";
import { WorkerSlots } from "../runtime/worker_slots.ts";

/** A worker died (or failed) before answering; the chunk is not decoded. */
export class WorkerCrashed extends Error {
  override name = "WorkerCrashed";
}

/** Options of a {@link DecodePool}. */
export interface DecodePoolOptions {
  /** Number of workers (≥ 1), started on first use. */
  size: number;
  /** Bytes of chunks in flight at most (see module docs). */
  budgetBytes: number;
  /** The worker module (tests inject their own). */
  url?: string | URL;
  /** Called once per worker that died, with the reason. */
  onCrash?: (err: Error) => void;
}

/** N decode workers sharing one byte budget; see module docs. */
export class DecodePool {
  readonly size: number;
  readonly budgetBytes: number;
  /** The workers; each job's tag is its bytes, released when it leaves. */
  readonly #slots: WorkerSlots<Decoded, number>;
  readonly #waiting: Array<{ bytes: number; go: (ok: boolean) => void }> = [];
  #inFlight = 0;
  #maxInFlight = 0;
  #closed = false;

  constructor(opts: DecodePoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) {
      throw new RangeError("decode pool size must be a positive integer");
    }
    this.size = opts.size;
    this.budgetBytes = opts.budgetBytes;
    this.#slots = new WorkerSlots({
      size: opts.size,
      url: opts.url ?? new URL("./_decode_worker.ts", import.meta.url),
      name: "sink-decode",
      answerError: (msg) => new WorkerCrashed(`decode worker: ${msg}`),
      // The caller decodes a dead worker's chunks itself.
      crashError: (msg) => new WorkerCrashed(`decode worker died: ${msg}`),
      onCrash: opts.onCrash,
      onSettle: (bytes) => this.#release(bytes),
    });
  }

  /** Bytes of chunks sent and not answered yet. */
  get inFlightBytes(): number {
    return this.#inFlight;
  }

  /** The most bytes that were ever in flight at once (for tests). */
  get maxInFlightBytes(): number {
    return this.#maxInFlight;
  }

  /**
   * Decodes `chunk` in a worker. Its buffers are transferred: `chunk` is
   * unusable afterwards. Rejects with {@link WorkerCrashed} if the worker
   * dies or the pool closes first.
   */
  async decode(chunk: Chunk): Promise<Decoded> {
    const bytes = chunkBytes(chunk);
    await this.#reserve(bytes);
    if (this.#closed) {
      this.#release(bytes);
      throw new WorkerCrashed("decode pool closed");
    }
    return this.#slots.run({ chunk }, chunkBuffers(chunk), bytes);
  }

  /** Stops the workers; unanswered and waiting chunks fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#slots.close(new WorkerCrashed("decode pool closed"));
    for (const w of this.#waiting.splice(0)) w.go(false);
  }

  async #reserve(bytes: number): Promise<void> {
    if (this.#closed) throw new WorkerCrashed("decode pool closed");
    if (this.#waiting.length === 0 && this.#fits(bytes)) {
      this.#take(bytes);
      return;
    }
    // FIFO: #release reserves for the first waiter before waking it.
    const ok = await new Promise<boolean>((go) =>
      this.#waiting.push({ bytes, go })
    );
    if (!ok) throw new WorkerCrashed("decode pool closed");
  }

  #fits(bytes: number): boolean {
    return this.#inFlight === 0 || this.#inFlight + bytes <= this.budgetBytes;
  }

  #take(bytes: number) {
    this.#inFlight += bytes;
    this.#maxInFlight = Math.max(this.#maxInFlight, this.#inFlight);
  }

  #release(bytes: number) {
    this.#inFlight -= bytes;
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0].bytes)) {
      const w = this.#waiting.shift()!;
      this.#take(w.bytes);
      w.go(true);
    }
  }
}
