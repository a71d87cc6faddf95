/**
 * Copies of the replication stream's CopyData payloads, carved out of shared
 * slabs.
 *
 * pg reuses its read buffer, so each frame must be copied before it waits in
 * the relay's queue. One `new Uint8Array(chunk)` per frame means one
 * ArrayBuffer (a separately allocated backing store the GC must track) per
 * row change; at tens of thousands of frames per second that allocation and
 * its garbage cost more than decoding the frame. Small frames are therefore
 * copied into the current slab and handed out as views of it; a slab is freed
 * once no frame in it is referenced any more (the queue is bounded, so at
 * most the queue's bytes plus one slab stay alive). Frames larger than
 * `maxPooledBytes` get their own buffer, as before.
 *
 * @module
 */

/** Sizing of a {@link FramePool}. */
export interface FramePoolOptions {
  /** Bytes per slab (default 256 KiB). */
  slabBytes?: number;
  /** Largest frame copied into a slab (default 1/8 of a slab). */
  maxPooledBytes?: number;
}

/** Hands out private copies of frames, several per slab. */
export class FramePool {
  readonly #slabBytes: number;
  readonly #maxPooled: number;
  #slab: Uint8Array;
  #used = 0;

  /** Creates the pool with its first slab. */
  constructor(opts: FramePoolOptions = {}) {
    this.#slabBytes = opts.slabBytes ?? 256 * 1024;
    this.#maxPooled = Math.min(
      opts.maxPooledBytes ?? this.#slabBytes / 8,
      this.#slabBytes,
    );
    this.#slab = new Uint8Array(this.#slabBytes);
  }

  /** A copy of `chunk` that later writes to `chunk` do not affect. */
  copy(chunk: Uint8Array): Uint8Array {
    const n = chunk.byteLength;
    if (n > this.#maxPooled) return new Uint8Array(chunk);
    if (this.#used + n > this.#slabBytes) {
      // The old slab lives on only through the frames still referencing it.
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + n);
    out.set(chunk);
    this.#used += n;
    return out;
  }
}
