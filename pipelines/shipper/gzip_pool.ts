/**
 * gzip off the main thread: a small pool of Web Workers, each compressing
 * with `node:zlib`, plugged into KafkaJS through its public codec registry
 * (`CompressionCodecs`), so every record batch KafkaJS builds is compressed
 * in a worker while the main thread reads, parses and encodes the next ones.
 *
 * Why: Deno's `node:zlib` compresses on the calling thread, and gzip was ~30%
 * of the shipper's CPU profile (level 6, ~85 MB/s per core). librdkafka does
 * the same on its own threads.
 *
 * The worker source is inline (a blob URL): a worker module on disk would
 * need read permission for the pipeline's source directory, which the ship
 * task does not have. Output is a standard gzip stream at zlib's default
 * level (6, as librdkafka's default); any gzip decoder reads it.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import "../runtime/_env_guard.ts"; // before the libraries: they read env at load
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import { WorkerSlots } from "../runtime/worker_slots.ts";

/**
 * The worker: gzips each `{id, data, level}` and posts `{id, out}` back
 * (transferring the result), or `{id, error}`.
 */
const WORKER_SOURCE = `
import { gzipSync } from "node:zlib";
self.onmessage = (e) => {
  const { id, data, level } = e.data;
  try {
    const z = gzipSync(data, { level });
    const out = z.byteOffset === 0 && z.byteLength === z.buffer.byteLength
      ? new Uint8Array(z.buffer)
      : new Uint8Array(z);
    self.postMessage({ id, out }, [out.buffer]);
  } catch (err) {
    self.postMessage({ id, error: String(err && err.message || err) });
  }
};
`;

/** A fixed set of gzip workers; jobs go to the least busy one. */
export class GzipPool {
  readonly #url: string;
  readonly #level: number;
  readonly #slots: WorkerSlots<Uint8Array>;
  #closed = false;

  /**
   * Creates a pool of `size` workers (started on first use), compressing at
   * `level` (-1: zlib's default, 6).
   */
  constructor(readonly size: number, level = -1) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError("gzip pool size must be a positive integer");
    }
    this.#level = level;
    this.#url = URL.createObjectURL(
      new Blob([WORKER_SOURCE], { type: "text/javascript" }),
    );
    this.#slots = new WorkerSlots({
      size,
      url: this.#url,
      name: "gzip",
      answerError: (msg) => new Error(`gzip worker: ${msg}`),
      // A dead worker fails its jobs (KafkaJS retries the send).
      crashError: (msg) => new Error(`gzip worker failed: ${msg}`),
    });
  }

  /** Jobs not answered yet. */
  get pending(): number {
    return this.#slots.pending;
  }

  /** gzips `data` in a worker (`data` is copied; the caller may reuse it). */
  gzip(data: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error("gzip pool closed"));
    // An exact-size copy, transferred: a view would clone its whole buffer.
    const copy = new Uint8Array(data);
    return this.#slots.run(
      { data: copy, level: this.#level },
      [copy.buffer],
      undefined,
    );
  }

  /** Stops the workers; unanswered jobs fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#slots.close(new Error("gzip pool closed"));
    URL.revokeObjectURL(this.#url);
  }
}

/** The codec shape KafkaJS expects in `CompressionCodecs`. */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/**
 * Makes KafkaJS gzip through `pool` (process-wide: KafkaJS's codec registry
 * is global). Returns a function restoring the previous codec.
 */
export function useGzipPool(pool: GzipPool): () => void {
  const registry: Record<number, () => Codec> = CompressionCodecs;
  const previous = registry[CompressionTypes.GZIP];
  const decompress = previous().decompress;
  const codec: Codec = {
    async compress(encoder) {
      const out = await pool.gzip(encoder.buffer);
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    },
    decompress,
  };
  registry[CompressionTypes.GZIP] = () => codec;
  return () => {
    registry[CompressionTypes.GZIP] = previous;
  };
}
