/**
 * Kafka output: events batched per topic and sent with `acks=all` by an
 * idempotent producer (broker-side de-duplication of retried batches), so
 * the count that lands in Kafka is exactly the count generated. One batch is
 * in flight while the next one is built; `write` returns a promise only when
 * a full batch (by count or {@link MAX_BATCH_BYTES}) has to wait for the
 * previous send (backpressure, bounded memory).
 *
 * Routing: security → one topic; http → `<prefix>.<service>`, and events
 * with level "error" also to `<prefix>.error`.
 *
 * @module
 */
import {
  type Logger,
  type Message,
  type PartitionCounts,
  type Producer,
  sendAllAcked,
} from "../../runtime/mod.ts";
import type { EventSlot } from "../models/mod.ts";
import type { EventOutput, OutputStats } from "./types.ts";

/**
 * Bytes of values per send. Brokers refuse record batches over
 * `message.max.bytes` (1 MiB by default) and one partition may get a whole
 * send (bursts share a key), so a send stays well below that.
 */
export const MAX_BATCH_BYTES = 700_000;

/** Options of {@link KafkaEventOutput}. */
export interface KafkaOutputOptions {
  /** Connected producer (idempotent, acks=all is set per send). */
  producer: Producer;
  /** Topic per model route (index = `EventSlot.route`). */
  topics: readonly string[];
  /** Topic that also receives error events, if any. */
  errorTopic?: string;
  /** Messages per send. */
  batchSize: number;
  /**
   * Partition counts of the topics: every message of a send must be in
   * Kafka's answer, or its partition is sent again (see `sendAllAcked`).
   */
  partitions: Pick<PartitionCounts, "of" | "invalidate">;
  log: Logger;
}

/** The Kafka output (see module docs). */
export class KafkaEventOutput implements EventOutput {
  readonly name = "kafka";
  readonly stats: OutputStats;
  readonly #o: KafkaOutputOptions;
  /** Pending messages per route; the last entry is the error topic. */
  #batches: Message[][];
  #pending = 0;
  #pendingBytes = 0;
  #inflight: Promise<void> | undefined;
  #failure: unknown;
  /** Round-robin counters of keyless messages, per topic. */
  readonly #rr = new Map<string, number>();

  /** Creates the output; the producer must already be connected. */
  constructor(opts: KafkaOutputOptions) {
    this.#o = opts;
    this.#batches = this.#emptyBatches();
    const perTopic: Record<string, number> = {};
    for (
      const t of [...opts.topics, ...(opts.errorTopic ? [opts.errorTopic] : [])]
    ) {
      perTopic[t] = 0;
    }
    this.stats = { events: 0, bytes: 0, errors: 0, perTopic, files: 0 };
  }

  /** Topics this output writes, error topic last. */
  get topics(): string[] {
    return Object.keys(this.stats.perTopic);
  }

  /** Queues one event; returns a promise when the caller must wait. */
  write(slot: EventSlot): void | Promise<void> {
    const msg: Message = { key: slot.key, value: slot.line };
    this.#batches[slot.route].push(msg);
    if (slot.error && this.#o.errorTopic) {
      this.#batches[this.#o.topics.length].push(msg);
    }
    this.#pending++;
    this.#pendingBytes += slot.line.length;
    if (
      this.#pending >= this.#o.batchSize ||
      this.#pendingBytes >= MAX_BATCH_BYTES
    ) return this.#send();
  }

  /** Sends what is pending (without waiting for it). */
  async tick(): Promise<void> {
    if (this.#pending > 0 && !this.#inflight) await this.#send();
    this.#throwIfFailed();
  }

  /** Sends everything pending and waits for every acknowledgement. */
  async flush(): Promise<void> {
    if (this.#pending > 0) await this.#send();
    await this.#inflight;
    this.#throwIfFailed();
  }

  /** Flushes; the caller disconnects the producer. */
  async close(): Promise<void> {
    await this.flush();
  }

  #emptyBatches(): Message[][] {
    return Array.from({ length: this.#o.topics.length + 1 }, () => []);
  }

  async #send(): Promise<void> {
    if (this.#inflight) await this.#inflight;
    this.#throwIfFailed();
    const batches = this.#batches;
    const events = this.#pending;
    const bytes = this.#pendingBytes;
    this.#batches = this.#emptyBatches();
    this.#pending = 0;
    this.#pendingBytes = 0;
    const names = [...this.#o.topics, this.#o.errorTopic ?? ""];
    const topicMessages = batches
      .map((messages, i) => ({ topic: names[i], messages }))
      .filter((t) => t.messages.length > 0);
    const p = sendAllAcked(this.#o.producer, { topicMessages }, {
      partitions: this.#o.partitions,
      rr: this.#rr,
      log: this.#o.log,
    })
      .then(() => {
        this.stats.events += events;
        this.stats.bytes += bytes;
        for (const t of topicMessages) {
          this.stats.perTopic[t.topic] += t.messages.length;
        }
      })
      .catch((err) => {
        // Kept, not thrown here: nobody may be awaiting this promise yet.
        this.stats.errors += events;
        this.#failure = err;
      })
      .finally(() => {
        if (this.#inflight === p) this.#inflight = undefined;
      });
    this.#inflight = p;
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) {
      const err = this.#failure;
      this.#failure = undefined;
      throw err;
    }
  }
}
