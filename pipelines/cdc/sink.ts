/**
 * The Kafka service: an ordered, bounded, acknowledged producer.
 *
 * Records go out in push order, one `sendBatch` in flight at a time (acks=all),
 * so records of one key (same partition) can never overtake each other, even
 * on retries; while a batch is in flight the next one accumulates, which gives
 * large batches under load and no added latency when idle. `push` waits when
 * `maxPending` records or `maxPendingBytes` bytes are unacknowledged
 * (backpressure up to the WAL reader). Sizes are UTF-8 bytes, as the broker
 * counts them. Failed sends are retried with backoff forever: the WAL
 * position is only confirmed after acks, so nothing is lost while Kafka is
 * away — except a failure no retry can fix: a record larger than the broker
 * accepts (over `maxRecordBytes`, or refused as too large) takes its place in
 * the stream as a dead letter (key, reason, truncated value, size), or, with
 * no dead-letter topic, stops the relay with an error naming topic and key.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { PipelineError } from "../runtime/app.ts";
import type { Logger } from "../runtime/log.ts";
import type { Producer } from "../runtime/kafka.ts";
import { type PartitionCounts, sendAllAcked } from "../runtime/producer.ts";
import { SERVICE_RETRY } from "../runtime/retry.ts";
import { sleep } from "../runtime/shutdown.ts";
import type { OutRecord } from "./envelope.ts";
import type { Lsn } from "./lsn.ts";
import { AckTracker } from "./tracker.ts";

/** Sizing of the sink. */
export interface SinkOptions {
  /** Most records per `sendBatch`. */
  maxBatchRecords: number;
  /** Most bytes (keys + values) per `sendBatch`; keeps each partition's batch under the broker's limit. */
  maxBatchBytes: number;
  /** Most unacknowledged records before `push` waits. */
  maxPending: number;
  /** Most unacknowledged bytes (keys + values) before `push` waits. */
  maxPendingBytes: number;
  /** Largest record (key + value bytes) sent as is; see the module docs. */
  maxRecordBytes: number;
  /** Where records too large for the broker go ('' = stop with an error). */
  dlqTopic: string;
  /** Called for each record that became a dead letter (metrics). */
  onDeadLetter?: (topic: string) => void;
  /**
   * Partition counts of the topics: each record gets the partition KafkaJS's
   * default partitioner would choose, so a partition Kafka left out of its
   * answer is known and sent again (see `sendAllAcked`).
   */
  partitions: Pick<PartitionCounts, "of" | "invalidate">;
}

/** How much of an over-size value a dead letter keeps (characters). */
export const DEAD_LETTER_SAMPLE_CHARS = 16 * 1024;

/** Bytes a record takes in a request: UTF-8 key + value, plus framing. */
export function recordBytes(r: OutRecord): number {
  return (r.key === null ? 0 : Buffer.byteLength(r.key)) +
    (r.value === null ? 0 : Buffer.byteLength(r.value)) + 64;
}

/** Whether Kafka refused a request because a record or batch was too large. */
export function isTooLarge(err: unknown): boolean {
  for (
    let e = err as Record<string, unknown> | undefined, i = 0;
    e && i < 5;
    i++
  ) {
    if (e.type === "MESSAGE_TOO_LARGE" || e.type === "RECORD_LIST_TOO_LARGE") {
      return true;
    }
    if (/larger than the max message size/i.test(String(e.message ?? ""))) {
      return true;
    }
    e = (e.cause ?? e.originalError) as Record<string, unknown> | undefined;
  }
  return false;
}

/** Called after each acknowledged batch, with its size as queued (UTF-8 key + value + 64 per record). */
export type AckListener = (
  records: OutRecord[],
  confirmed: Lsn,
  bytes: number,
) => void;

/** Ordered producer with LSN acknowledgement tracking. */
export class KafkaSink {
  readonly tracker: AckTracker;
  #queue: OutRecord[] = [];
  /** UTF-8 sizes of `#queue`'s records, same order. */
  #sizes: number[] = [];
  /** Bytes pushed but not yet acknowledged (queued + in flight). */
  #pendingBytes = 0;
  #wakeSender: (() => void) | undefined;
  #spaceWaiters: Array<() => void> = [];
  #drainWaiters: Array<() => void> = [];
  #loop: Promise<void> | undefined;
  #closing = false;
  #failures = 0;
  #resent = 0;
  /** Round-robin counters of keyless records, per topic. */
  readonly #rr = new Map<string, number>();
  #listeners: AckListener[] = [];
  #fatal: unknown;
  #reject!: (err: unknown) => void;
  readonly #failed = new Promise<never>((_, reject) => this.#reject = reject);

  /** Creates the sink; `startLsn` is where confirmation starts. */
  constructor(
    private readonly producer: Producer,
    private readonly opts: SinkOptions,
    private readonly log: Logger,
    startLsn: Lsn,
  ) {
    this.tracker = new AckTracker(startLsn);
    this.#failed.catch(() => {}); // observed through push/drain/failed
  }

  /** Registers a listener for acknowledged batches. */
  onAck(fn: AckListener): void {
    this.#listeners.push(fn);
  }

  /** Consecutive failed sends (0 when healthy). */
  get failures(): number {
    return this.#failures;
  }

  /** Records sent again because Kafka left their partition out of its answer. */
  get resent(): number {
    return this.#resent;
  }

  /** Whether nothing is queued or in flight. */
  get idle(): boolean {
    return this.tracker.pending === 0;
  }

  /** Starts the sender loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Unacknowledged bytes (keys + values, UTF-8). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Queues a record; waits while too many records or bytes are
   * unacknowledged (a single record larger than the byte bound still goes,
   * alone). An over-size record is queued as its dead letter.
   */
  async push(record: OutRecord): Promise<void> {
    if (this.#fatal) throw this.#fatal;
    let size = recordBytes(record);
    if (size > this.opts.maxRecordBytes) {
      record = this.#deadLetter(
        record,
        size,
        `record of ${size} bytes exceeds --max-record-bytes ${this.opts.maxRecordBytes}`,
      );
      size = recordBytes(record);
    }
    while (
      this.tracker.pending > 0 && !this.#closing &&
      (this.tracker.pending >= this.opts.maxPending ||
        this.#pendingBytes + size > this.opts.maxPendingBytes)
    ) {
      await new Promise<void>((r) => this.#spaceWaiters.push(r));
      if (this.#fatal) throw this.#fatal;
    }
    this.tracker.push();
    this.#queue.push(record);
    this.#sizes.push(size);
    this.#pendingBytes += size;
    this.#wakeSender?.();
  }

  /**
   * The dead letter replacing `r` (same key, so it stays identifiable), or a
   * {@link PipelineError} when there is no dead-letter topic.
   */
  #deadLetter(r: OutRecord, size: number, why: string): OutRecord {
    const what = `the record for ${r.topic} key ${r.key ?? "(null)"}`;
    if (!this.opts.dlqTopic) {
      throw new PipelineError(
        `${what} is too large for Kafka: ${why}`,
        "raise the broker's message.max.bytes (and --max-record-bytes), or set --dlq-topic to dead-letter such records",
      );
    }
    const value = r.value ?? "";
    this.log.error(
      "record too large for Kafka, sent to the dead-letter topic",
      {
        topic: r.topic,
        key: r.key,
        bytes: size,
        dlq: this.opts.dlqTopic,
        reason: why,
      },
    );
    this.opts.onDeadLetter?.(r.topic);
    return {
      topic: this.opts.dlqTopic,
      key: r.key,
      value: JSON.stringify({
        reason: `${what} is too large: ${why} (original truncated to ${
          Math.min(value.length, DEAD_LETTER_SAMPLE_CHARS)
        } characters)`,
        source: `${r.topic}/${r.key ?? ""}`,
        original: value.slice(0, DEAD_LETTER_SAMPLE_CHARS),
        original_bytes: size,
        pipeline: "cdc",
        ts: new Date().toISOString(),
      }),
      commitTimeMs: r.commitTimeMs,
    };
  }

  /** Marks a transaction end LSN (see {@link AckTracker.mark}). */
  mark(lsn: Lsn): void {
    this.tracker.mark(lsn);
  }

  /** Resolves when everything pushed so far is acknowledged. */
  async drain(): Promise<void> {
    while (this.tracker.pending > 0) {
      if (this.#fatal) throw this.#fatal;
      await new Promise<void>((r) => this.#drainWaiters.push(r));
    }
  }

  /** Rejects once the sender stopped for good (see the module docs). */
  get failed(): Promise<never> {
    return this.#failed;
  }

  /** Sends what is queued, then stops the loop. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wakeSender?.();
    for (const w of this.#spaceWaiters.splice(0)) w();
    await this.#loop;
  }

  async #run(): Promise<void> {
    try {
      await this.#sendLoop();
    } catch (err) {
      this.#fatal = err;
      this.#reject(err);
      for (const w of this.#spaceWaiters.splice(0)) w();
      for (const w of this.#drainWaiters.splice(0)) w();
    }
  }

  async #sendLoop(): Promise<void> {
    while (true) {
      if (this.#queue.length === 0) {
        if (this.#closing) return;
        await new Promise<void>((r) => this.#wakeSender = r);
        this.#wakeSender = undefined;
        continue;
      }
      const { batch, bytes } = this.#take();
      await this.#sendSplitting(batch);
      this.#pendingBytes -= bytes;
      this.tracker.ack(this.tracker.ackedSeq + batch.length);
      for (const fn of this.#listeners) {
        fn(batch, this.tracker.confirmed, bytes);
      }
      for (const w of this.#spaceWaiters.splice(0)) w();
      if (this.tracker.pending === 0) {
        for (const w of this.#drainWaiters.splice(0)) w();
      }
    }
  }

  #take(): { batch: OutRecord[]; bytes: number } {
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length && n < this.opts.maxBatchRecords) {
      const size = this.#sizes[n];
      if (n > 0 && bytes + size > this.opts.maxBatchBytes) break;
      bytes += size;
      n++;
    }
    this.#sizes.splice(0, n);
    return { batch: this.#queue.splice(0, n), bytes };
  }

  /**
   * Sends `batch` in order. Refused as too large (a topic's
   * max.message.bytes below ours): halves it, in order, down to the single
   * record, which becomes its dead letter.
   */
  async #sendSplitting(batch: OutRecord[]): Promise<void> {
    try {
      await this.#sendWithRetry(batch);
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      if (batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await this.#sendSplitting(batch.slice(0, half));
        await this.#sendSplitting(batch.slice(half));
        return;
      }
      const r = batch[0];
      if (r.topic === this.opts.dlqTopic) throw err; // cannot shrink further
      const dl = this.#deadLetter(
        r,
        recordBytes(r),
        "the broker refused it as too large (MESSAGE_TOO_LARGE)",
      );
      await this.#sendSplitting([dl]);
    }
  }

  /** Sends `batch`, retrying forever except when it is too large. */
  async #sendWithRetry(batch: OutRecord[]): Promise<void> {
    const byTopic = new Map<
      string,
      { key: string | null; value: string | null }[]
    >();
    for (const r of batch) {
      let list = byTopic.get(r.topic);
      if (!list) byTopic.set(r.topic, list = []);
      list.push({ key: r.key, value: r.value });
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({
      topic,
      messages,
    }));
    for (let attempt = 0;; attempt++) {
      try {
        await sendAllAcked(this.producer, { topicMessages }, {
          partitions: this.opts.partitions,
          rr: this.#rr,
          log: this.log,
          onResend: (n) => this.#resent += n,
        });
        this.#failures = 0;
        return;
      } catch (err) {
        if (isTooLarge(err)) throw err;
        this.#failures++;
        const wait = SERVICE_RETRY.delayMs(attempt);
        this.log.error("kafka send failed, retrying (WAL not confirmed)", {
          err,
          attempt: attempt + 1,
          retry_in_ms: wait,
          records: batch.length,
        });
        await sleep(wait);
      }
    }
  }
}
