/**
 * The Kafka service: an ordered, bounded, acknowledged producer.
 *
 * Records go out in push order, one `sendBatch` in flight at a time (acks=all),
 * so records of one key (same partition) can never overtake each other, even
 * on retries; while a batch is in flight the next one accumulates, which gives
 * large batches under load and no added latency when idle. `push` waits when
 * `maxPending` records are unacknowledged (backpressure up to the WAL reader).
 * Failed sends are retried with backoff forever: the WAL position is only
 * confirmed after acks, so nothing is lost while Kafka is away.
 *
 * @module
 */
import type { Logger } from "../runtime/log.ts";
import type { Producer } from "../runtime/kafka.ts";
import { sendAcked } from "../runtime/producer.ts";
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
}

/** Called after each acknowledged batch. */
export type AckListener = (records: OutRecord[], confirmed: Lsn) => void;

/** Ordered producer with LSN acknowledgement tracking. */
export class KafkaSink {
  readonly tracker: AckTracker;
  #queue: OutRecord[] = [];
  #wakeSender: (() => void) | undefined;
  #spaceWaiters: Array<() => void> = [];
  #drainWaiters: Array<() => void> = [];
  #loop: Promise<void> | undefined;
  #closing = false;
  #failures = 0;
  #listeners: AckListener[] = [];

  /** Creates the sink; `startLsn` is where confirmation starts. */
  constructor(
    private readonly producer: Producer,
    private readonly opts: SinkOptions,
    private readonly log: Logger,
    startLsn: Lsn,
  ) {
    this.tracker = new AckTracker(startLsn);
  }

  /** Registers a listener for acknowledged batches. */
  onAck(fn: AckListener): void {
    this.#listeners.push(fn);
  }

  /** Consecutive failed sends (0 when healthy). */
  get failures(): number {
    return this.#failures;
  }

  /** Whether nothing is queued or in flight. */
  get idle(): boolean {
    return this.tracker.pending === 0;
  }

  /** Starts the sender loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Queues a record; waits while too many are unacknowledged. */
  async push(record: OutRecord): Promise<void> {
    while (this.tracker.pending >= this.opts.maxPending && !this.#closing) {
      await new Promise<void>((r) => this.#spaceWaiters.push(r));
    }
    this.tracker.push();
    this.#queue.push(record);
    this.#wakeSender?.();
  }

  /** Marks a transaction end LSN (see {@link AckTracker.mark}). */
  mark(lsn: Lsn): void {
    this.tracker.mark(lsn);
  }

  /** Resolves when everything pushed so far is acknowledged. */
  async drain(): Promise<void> {
    while (this.tracker.pending > 0) {
      await new Promise<void>((r) => this.#drainWaiters.push(r));
    }
  }

  /** Sends what is queued, then stops the loop. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wakeSender?.();
    for (const w of this.#spaceWaiters.splice(0)) w();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (true) {
      if (this.#queue.length === 0) {
        if (this.#closing) return;
        await new Promise<void>((r) => this.#wakeSender = r);
        this.#wakeSender = undefined;
        continue;
      }
      const batch = this.#take();
      await this.#sendWithRetry(batch);
      this.tracker.ack(this.tracker.ackedSeq + batch.length);
      for (const fn of this.#listeners) fn(batch, this.tracker.confirmed);
      for (const w of this.#spaceWaiters.splice(0)) w();
      if (this.tracker.pending === 0) {
        for (const w of this.#drainWaiters.splice(0)) w();
      }
    }
  }

  #take(): OutRecord[] {
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length && n < this.opts.maxBatchRecords) {
      const r = this.#queue[n];
      const size = (r.key?.length ?? 0) + (r.value?.length ?? 0) + 64;
      if (n > 0 && bytes + size > this.opts.maxBatchBytes) break;
      bytes += size;
      n++;
    }
    return this.#queue.splice(0, n);
  }

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
        await sendAcked(this.producer, { topicMessages });
        this.#failures = 0;
        return;
      } catch (err) {
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
