/**
 * Batches and the bounded queue between sources and the Kafka sink.
 *
 * A source fills a {@link BatchBuilder}, seals it into a {@link Batch} with an
 * `ack` that commits the source's checkpoint, and pushes it into a
 * {@link BoundedQueue}. The queue holds at most a few batches: when the sink
 * is behind, `push` waits, so sources stop reading (backpressure) and memory
 * stays bounded.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import { HopClock } from "../runtime/hops.ts";

/** A Kafka message as handed to KafkaJS. */
export interface OutMessage {
  key: string | null;
  value: Buffer;
  /** Set by the sink (same choice as KafkaJS's default partitioner). */
  partition?: number;
}

/** Size limits of one batch. */
export interface BatchLimits {
  /** Maximum Kafka messages per batch. */
  maxMessages: number;
  /** Maximum value bytes per batch. */
  maxBytes: number;
  /** Send a non-full batch once its oldest event is this old (ms). */
  lingerMs: number;
}

/** A sealed batch, ready for the sink. */
export interface Batch {
  /** Which source produced it (metrics label). */
  source: "file" | "http";
  /** Messages grouped by topic (the shape of KafkaJS `sendBatch`). */
  topicMessages: Array<{ topic: string; messages: OutMessage[] }>;
  /** Input lines/events covered (incl. dead letters). */
  events: number;
  /** Kafka messages (fan-out counts each destination). */
  messages: number;
  /** Value bytes. */
  bytes: number;
  /** Dead letters among the messages. */
  deadLetters: number;
  /** Called once Kafka acknowledged every message: commit the checkpoint. */
  ack(): Promise<void>;
  /** Mean time its file lines were read (epoch ms; NaN: none, e.g. http). */
  readAtMs?: number;
  /** File lines behind {@link readAtMs} (the `produce` hop's weight). */
  readLines?: number;
}

/** Accumulates messages for one batch. */
export class BatchBuilder {
  #topics = new Map<string, OutMessage[]>();
  events = 0;
  messages = 0;
  bytes = 0;
  deadLetters = 0;
  /** When the first event was added (ms since epoch), 0 when empty. */
  firstAt = 0;
  /** Read times of the file lines in it (the `produce` hop's start). */
  readonly reads = new HopClock();

  /** Creates an empty builder with `limits`. */
  constructor(readonly limits: BatchLimits) {}

  /** Adds one message for `topic`. */
  add(topic: string, key: string | null, value: Buffer): void {
    let list = this.#topics.get(topic);
    if (!list) {
      list = [];
      this.#topics.set(topic, list);
    }
    list.push({ key, value });
    this.messages++;
    this.bytes += value.length;
  }

  /** Counts one input event (call once per line, after its messages). */
  countEvent(): void {
    if (this.events === 0) this.firstAt = Date.now();
    this.events++;
  }

  /** True when nothing was added. */
  get empty(): boolean {
    return this.events === 0;
  }

  /** True when the batch reached a size limit. */
  get full(): boolean {
    return this.messages >= this.limits.maxMessages ||
      this.bytes >= this.limits.maxBytes;
  }

  /** True when the batch waited its linger time. */
  get due(): boolean {
    return !this.empty && Date.now() - this.firstAt >= this.limits.lingerMs;
  }

  /** Seals the batch. */
  seal(source: Batch["source"], ack: () => Promise<void>): Batch {
    return {
      source,
      topicMessages: [...this.#topics].map(([topic, messages]) => ({
        topic,
        messages,
      })),
      events: this.events,
      messages: this.messages,
      bytes: this.bytes,
      deadLetters: this.deadLetters,
      ack,
      readAtMs: this.reads.meanMs,
      readLines: this.reads.count,
    };
  }
}

/**
 * A FIFO with a fixed capacity. `push` waits while full; `take` waits while
 * empty and returns undefined once the queue is closed and drained.
 */
export class BoundedQueue<T> {
  #items: T[] = [];
  #closed = false;
  #waitingTakers: Array<() => void> = [];
  #waitingPushers: Array<() => void> = [];

  /** Creates a queue holding at most `capacity` items. */
  constructor(readonly capacity: number) {}

  /** Items waiting. */
  get size(): number {
    return this.#items.length;
  }

  /** Adds `item`, waiting while the queue is full. Throws once closed. */
  async push(item: T): Promise<void> {
    while (this.#items.length >= this.capacity && !this.#closed) {
      await new Promise<void>((r) => this.#waitingPushers.push(r));
    }
    if (this.#closed) throw new Error("queue closed");
    this.#items.push(item);
    this.#wake(this.#waitingTakers);
  }

  /** Removes the oldest item, waiting while empty; undefined when closed. */
  async take(): Promise<T | undefined> {
    while (this.#items.length === 0) {
      if (this.#closed) return undefined;
      await new Promise<void>((r) => this.#waitingTakers.push(r));
    }
    const item = this.#items.shift()!;
    this.#wake(this.#waitingPushers);
    return item;
  }

  /** No more pushes; takers drain what is left. */
  close(): void {
    this.#closed = true;
    this.#wake(this.#waitingTakers);
    this.#wake(this.#waitingPushers);
  }

  #wake(list: Array<() => void>): void {
    for (const r of list.splice(0)) r();
  }
}
