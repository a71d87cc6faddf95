/**
 * The frames between the replication socket and the decoder: a FIFO
 * bounded by frame count and by bytes (one frame holds a whole row, so a
 * few wide rows can weigh more than many narrow ones). Over the high
 * watermark it pauses the socket; at or under the low one it resumes it.
 *
 * @module
 */

/** High and low watermarks, in frames and in bytes. */
export interface QueueBounds {
  highFrames: number;
  lowFrames: number;
  highBytes: number;
  lowBytes: number;
}

/** The relay's bounds: reads pause at 512 frames or 16 MiB, resume at 64 / 4 MiB. */
export const QUEUE_BOUNDS: QueueBounds = {
  highFrames: 512,
  lowFrames: 64,
  highBytes: 16 * 1024 * 1024,
  lowBytes: 4 * 1024 * 1024,
};

/** What the queue pauses and resumes (the replication connection). */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/** A bounded frame queue with socket backpressure. */
export class FrameQueue {
  #frames: Uint8Array[] = [];
  #bytes = 0;
  #paused = false;
  #ended = false;
  #wake: (() => void) | undefined;

  /** Creates an empty queue driving `flow`. */
  constructor(
    private readonly flow: FlowControl,
    private readonly bounds: QueueBounds = QUEUE_BOUNDS,
  ) {}

  /** Frames queued. */
  get length(): number {
    return this.#frames.length;
  }

  /** Bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether reads are paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Queues a copy of `chunk` (pg reuses its read buffer); pauses over the high mark. */
  push(chunk: Uint8Array): void {
    this.#frames.push(new Uint8Array(chunk));
    this.#bytes += chunk.byteLength;
    const b = this.bounds;
    if (
      !this.#paused &&
      (this.#frames.length >= b.highFrames || this.#bytes >= b.highBytes)
    ) {
      this.#paused = true;
      this.flow.pause();
    }
    this.#wake?.();
  }

  /** No more frames will come: {@link next} returns `undefined` once empty. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /**
   * The next frame, waiting for one; `undefined` after {@link end} once
   * empty. Resumes reads first if the frame handled since the last call
   * brought the queue down to the low marks.
   */
  async next(): Promise<Uint8Array | undefined> {
    this.#maybeResume();
    while (this.#frames.length === 0) {
      if (this.#ended) return undefined;
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = undefined;
    }
    const frame = this.#frames.shift()!;
    this.#bytes -= frame.byteLength;
    return frame;
  }

  #maybeResume(): void {
    const b = this.bounds;
    if (
      this.#paused && this.#frames.length <= b.lowFrames &&
      this.#bytes <= b.lowBytes
    ) {
      this.#paused = false;
      this.flow.resume();
    }
  }
}
