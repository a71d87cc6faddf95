/**
 * The Kafka sink: takes sealed batches from the queue, sends them with
 * acks=all (idempotent producer by default), and runs each batch's `ack`
 * (the source's durable checkpoint) strictly in batch order, once every
 * message of that batch and of all earlier batches is acknowledged.
 *
 * Pipelining, and why it is safe: a batch is cut into one slice per
 * topic-partition (partition chosen as KafkaJS's default partitioner would:
 * murmur2 of the key modulo the partition count). Each partition has a lane
 * that sends its slices one after the other, so at most ONE request per
 * partition is ever in flight and a partition receives its slices in batch
 * order, while lanes of different partitions (brokers) proceed independently
 * and up to `maxInFlight` batches overlap. Why not simply two overlapping
 * `sendBatch` calls: KafkaJS's idempotent producer rolls a partition's
 * sequence number back when a request fails; a second request for the same
 * partition waiting on the broker lock would then reuse those numbers, and if
 * the failed request had in fact been written, the broker would take the
 * second one for a duplicate and drop it (loss) or reject it. One request per
 * partition rules that out, and keeps per-partition order on retries.
 *
 * After a crash at most the `maxInFlight` unacknowledged batches are sent
 * again (the checkpoint never passes a batch that is not fully acknowledged).
 *
 * Failures never drop data: transient errors are retried with backoff;
 * messages for a topic that does not exist, and single messages too large for
 * the broker, become dead letters; a request too large is split.
 *
 * Codecs: KafkaJS 2.2.4 implements only `none` and `gzip` out of the box
 * (Snappy, LZ4 and ZSTD need extra codec packages, which we do not ship).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Admin } from "kafkajs";
import {
  CompressionTypes,
  KAFKA_CLIENT_RETRY,
  type Logger,
  type Producer,
  sendAcked,
  sleep,
} from "../runtime/mod.ts";
import { murmur2 } from "../runtime/kafkajs_fast.ts";
import type { Batch, BoundedQueue, OutMessage } from "./batch.ts";
import { type DeadLetter, DLQ_ORIGINAL_MAX_CHARS } from "./encoder.ts";
import { observeProduce, type ShipperMetrics } from "./metrics.ts";

/** Compression choices KafkaJS supports without extra packages. */
export const COMPRESSIONS = ["gzip", "none"] as const;
/** One of {@link COMPRESSIONS}. */
export type Compression = typeof COMPRESSIONS[number];

/** Settings of a {@link KafkaSink}. */
export interface KafkaSinkOptions {
  producer: Producer;
  admin: Admin;
  compression: Compression;
  dlqTopic: string;
  /** Broker-side wait for acks=all (ms). */
  timeoutMs: number;
  /** Batches sent but not yet acknowledged, at most (≥ 1). */
  maxInFlight: number;
  metrics: ShipperMetrics;
  log: Logger;
  /** Aborted when the process must stop even with a batch unsent. */
  hardStop: AbortSignal;
}

type TopicMessages = Array<{ topic: string; messages: OutMessage[] }>;

/** The messages of one batch for one topic-partition. */
export interface Slice {
  topic: string;
  partition: number;
  messages: OutMessage[];
}

/** A batch between its first send and its ack. */
interface InFlight {
  batch: Batch;
  /** Slices not acknowledged yet. */
  left: number;
  started: number;
  done: boolean;
}

/** How often partition counts are re-read (a topic may gain partitions). */
const PARTITIONS_TTL_MS = 60_000;

/** True when a KafkaJS error says the request or a message is too large. */
export function isTooLarge(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== "object" || depth > 4) return false;
  const e = err as {
    type?: string;
    cause?: unknown;
    errors?: unknown[];
    originalError?: unknown;
  };
  if (e.type === "MESSAGE_TOO_LARGE" || e.type === "RECORD_LIST_TOO_LARGE") {
    return true;
  }
  return [e.cause, e.originalError, ...(e.errors ?? [])].some((x) =>
    isTooLarge(x, depth + 1)
  );
}

/**
 * Cuts topic messages into per-partition slices, keeping message order
 * within each slice, and sets each message's `partition`. Keyed messages go
 * where KafkaJS's DefaultPartitioner (Java-compatible murmur2) puts them;
 * messages without a key are spread round-robin (`rr` holds the counters).
 */
export function slicePartitions(
  tm: TopicMessages,
  partitionsOf: (topic: string) => number,
  rr: Map<string, number>,
): Slice[] {
  const out: Slice[] = [];
  for (const { topic, messages } of tm) {
    const n = partitionsOf(topic);
    const byPartition: Slice[] = [];
    let counter = rr.get(topic) ?? 0;
    for (const m of messages) {
      const p = m.key === null
        ? counter++ % n
        : (murmur2(m.key) & 0x7fffffff) % n;
      m.partition = p;
      (byPartition[p] ??= { topic, partition: p, messages: [] }).messages
        .push(m);
    }
    rr.set(topic, counter % n);
    for (const s of byPartition) if (s) out.push(s);
  }
  return out;
}

/** Sends batches, pipelined per partition, and acks them in order. */
export class KafkaSink {
  readonly #o: KafkaSinkOptions;
  #known = new Set<string>();
  #refreshedAt = 0;
  #partitions = new Map<string, { count: number; at: number }>();
  #rr = new Map<string, number>();
  #batchesAcked = 0;
  #lastError: string | undefined;
  /** Batches in flight, oldest first (acked from the head). */
  #window: InFlight[] = [];
  /** Tail of each partition's lane (key: topic NUL partition). */
  #lanes = new Map<string, Promise<void>>();
  #acking: Promise<void> = Promise.resolve();
  #halted = false;
  #failure: unknown;
  #wake: (() => void) | undefined;
  /** Called on halt (so `run` does not keep waiting for a batch). */
  #onHalt: (() => void) | undefined;

  /** Creates the sink. */
  constructor(opts: KafkaSinkOptions) {
    if (!(opts.maxInFlight >= 1)) throw new RangeError("maxInFlight < 1");
    this.#o = opts;
  }

  /** Batches acknowledged so far. */
  get batchesAcked(): number {
    return this.#batchesAcked;
  }

  /** The last send error, until the next success. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Connects; fails unless the dead-letter topic exists. */
  async connect(): Promise<void> {
    await this.#o.admin.connect();
    await this.#o.producer.connect();
    // A topic created a moment ago may not be known to every broker yet:
    // ask again for a few seconds before calling it missing.
    for (let i = 0;; i++) {
      await this.#refreshTopics(true);
      if (this.#known.has(this.#o.dlqTopic)) break;
      if (i >= 20 || this.#o.hardStop.aborted) {
        throw new Error(
          `dead-letter topic "${this.#o.dlqTopic}" does not exist`,
        );
      }
      await sleep(500, this.#o.hardStop);
    }
    // Partition counts are loaded when first needed, with retries: right
    // after a topic is created, not every broker may serve its metadata yet.
  }

  /** Disconnects producer and admin client. */
  async disconnect(): Promise<void> {
    await this.#o.producer.disconnect();
    await this.#o.admin.disconnect();
  }

  /** Sends every batch from `queue` until it is closed and drained. */
  async run(queue: BoundedQueue<Batch>): Promise<void> {
    for (;;) {
      while (this.#window.length >= this.#o.maxInFlight && !this.#halted) {
        await this.#changed();
      }
      if (this.#halted) break;
      const batch = await this.#take(queue);
      if (!batch || this.#halted) break;
      const entry: InFlight = {
        batch,
        left: 0,
        started: performance.now(),
        done: false,
      };
      this.#window.push(entry);
      if (batch.messages > 0) {
        const slices = await this.#prepare(batch);
        if (!slices) {
          this.#halt(); // hard stop: not acked, re-read after restart
          break;
        }
        entry.left = slices.length;
        for (const s of slices) this.#enqueue(s, entry);
      }
      if (entry.left === 0) this.#finish(entry);
    }
    // Drain: every batch taken is acked (or the hard stop gives up on it).
    while (this.#window.length > 0 && !this.#halted) await this.#changed();
    await this.#acking;
    if (this.#failure) throw this.#failure;
  }

  /** Resolves at the next ack, halt or failure. */
  #changed(): Promise<void> {
    return new Promise((r) => {
      const prev = this.#wake;
      this.#wake = () => {
        prev?.();
        r();
      };
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #halt(err?: unknown): void {
    if (err !== undefined) this.#failure ??= err;
    this.#halted = true;
    this.#onHalt?.();
    this.#notify();
  }

  /**
   * The next batch, or undefined once the queue is drained or the sink
   * halted: a failure in a lane or a checkpoint write ends the run even while
   * the sources are idle (a batch taken meanwhile is never acked). Not
   * `Promise.race` with a long-lived promise: that keeps every batch alive.
   */
  #take(queue: BoundedQueue<Batch>): Promise<Batch | undefined> {
    return new Promise((resolve, reject) => {
      this.#onHalt = () => resolve(undefined);
      queue.take().then(resolve, reject).finally(() => {
        this.#onHalt = undefined;
      });
    });
  }

  /**
   * Dead-letters messages for missing topics and cuts the batch into
   * per-partition slices; retried until it works (undefined: hard stop).
   */
  async #prepare(batch: Batch): Promise<Slice[] | undefined> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.#guardTopics(batch);
        await this.#loadPartitions(batch.topicMessages.map((t) => t.topic));
        return slicePartitions(
          batch.topicMessages,
          (t) => this.#partitions.get(t)!.count,
          this.#rr,
        );
      } catch (err) {
        if (!(await this.#backoff(err, attempt))) return undefined;
      }
    }
  }

  /** Appends `slice` to its partition's lane. */
  #enqueue(slice: Slice, entry: InFlight): void {
    const key = `${slice.topic}\0${slice.partition}`;
    const prev = this.#lanes.get(key) ?? Promise.resolve();
    const next: Promise<void> = prev.then(async () => {
      if (this.#halted) return;
      if (!(await this.#deliver(slice, entry))) {
        this.#halt();
        return;
      }
      this.#o.metrics.eventsSent.inc(
        { topic: slice.topic },
        slice.messages.length,
      );
      if (--entry.left === 0) this.#finish(entry);
    }).catch((err) => this.#halt(err)).finally(() => {
      if (this.#lanes.get(key) === next) this.#lanes.delete(key);
    });
    this.#lanes.set(key, next);
  }

  /** Marks `entry` acknowledged by Kafka; acks the ready head batches. */
  #finish(entry: InFlight): void {
    entry.done = true;
    observeProduce(this.#o.metrics, entry.batch);
    this.#acking = this.#acking.then(async () => {
      // In order: the checkpoint never passes a batch still in flight. A
      // batch leaves the window only once its checkpoint is written, so the
      // window bounds what a crash can send twice.
      while (this.#window[0]?.done) {
        const head = this.#window[0];
        const b = head.batch;
        if (b.messages > 0) {
          const m = this.#o.metrics;
          m.sendSeconds.observe(
            { source: b.source },
            (performance.now() - head.started) / 1000,
          );
          m.batchesSent.inc({ source: b.source });
          m.bytesSent.inc({ source: b.source }, b.bytes);
        }
        await b.ack();
        this.#window.shift();
        this.#batchesAcked++;
        this.#notify();
      }
    }).catch((err) => this.#halt(err));
  }

  async #refreshTopics(force = false): Promise<void> {
    if (!force && Date.now() - this.#refreshedAt < 5_000) return;
    this.#known = new Set(await this.#o.admin.listTopics());
    this.#refreshedAt = Date.now();
  }

  /** Makes sure the partition count of every topic in `topics` is known. */
  async #loadPartitions(topics: string[]): Promise<void> {
    const now = Date.now();
    const stale = [...new Set(topics)].filter((t) => {
      const p = this.#partitions.get(t);
      return !p || now - p.at > PARTITIONS_TTL_MS;
    });
    if (stale.length === 0) return;
    const md = await this.#o.admin.fetchTopicMetadata({ topics: stale });
    for (const t of md.topics) {
      if (t.partitions.length > 0) {
        this.#partitions.set(t.name, { count: t.partitions.length, at: now });
      }
    }
    for (const t of stale) {
      if (!this.#partitions.has(t)) {
        throw new Error(`no partition metadata for topic "${t}"`);
      }
    }
  }

  /** Moves messages for missing topics to the DLQ (mutates the batch). */
  async #guardTopics(batch: Batch): Promise<void> {
    const missing = batch.topicMessages.filter((t) =>
      !this.#known.has(t.topic)
    );
    if (missing.length === 0) return;
    await this.#refreshTopics();
    for (const t of missing) {
      if (this.#known.has(t.topic)) continue;
      const dead = this.#noTopic(t.topic, t.messages);
      batch.topicMessages = batch.topicMessages.filter((x) => x !== t);
      let dlq = batch.topicMessages.find((x) => x.topic === this.#o.dlqTopic);
      if (!dlq) {
        dlq = { topic: this.#o.dlqTopic, messages: [] };
        batch.topicMessages.push(dlq);
      }
      dlq.messages.push(...dead);
    }
  }

  #noTopic(topic: string, messages: OutMessage[]): OutMessage[] {
    this.#o.log.warn("topic does not exist, sending to dead letters", {
      topic,
      messages: messages.length,
    });
    this.#o.metrics.deadLetters.inc({ reason: "no_topic" }, messages.length);
    return messages.map((msg) =>
      this.#deadLetter(`topic "${topic}" does not exist`, topic, msg)
    );
  }

  #deadLetter(
    reason: string,
    topic: string,
    msg: OutMessage,
    maxChars = DLQ_ORIGINAL_MAX_CHARS,
  ): OutMessage {
    const original = msg.value.toString("utf8");
    const dl: DeadLetter = {
      reason,
      source: `route:${topic}`,
      original: original.slice(0, maxChars),
      pipeline: "shipper",
      ts: new Date().toISOString(),
    };
    return { key: `route:${topic}`, value: Buffer.from(JSON.stringify(dl)) };
  }

  /** Dead letters join the batch `entry` through the DLQ's own lanes. */
  #reroute(dead: OutMessage[], entry: InFlight): void {
    const slices = slicePartitions(
      [{ topic: this.#o.dlqTopic, messages: dead }],
      (t) => this.#partitions.get(t)!.count,
      this.#rr,
    );
    entry.left += slices.length;
    for (const s of slices) this.#enqueue(s, entry);
  }

  /** Logs, counts and sleeps before retry `attempt`; false on a hard stop. */
  async #backoff(err: unknown, attempt: number): Promise<boolean> {
    this.#o.metrics.sendErrors.inc();
    this.#lastError = (err as Error).message;
    const wait = KAFKA_CLIENT_RETRY.delayMs(attempt);
    this.#o.log.warn("send failed, retrying", {
      err,
      attempt: attempt + 1,
      retry_in_ms: wait,
    });
    await sleep(wait, this.#o.hardStop);
    return !this.#o.hardStop.aborted;
  }

  /** Sends the slice until acknowledged; false only on a hard stop. */
  async #deliver(slice: Slice, entry: InFlight): Promise<boolean> {
    for (let attempt = 0;; attempt++) {
      try {
        if (attempt > 0 && slice.topic !== this.#o.dlqTopic) {
          // Deleted meanwhile? Then these become dead letters.
          await this.#refreshTopics();
          if (!this.#known.has(slice.topic)) {
            await this.#loadPartitions([this.#o.dlqTopic]);
            this.#reroute(this.#noTopic(slice.topic, slice.messages), entry);
            return true;
          }
        }
        const dead = await this.#send([slice]);
        this.#lastError = undefined;
        if (dead.length > 0) {
          // Sent: from here on only the dead letters are retried.
          if (!(await this.#dlqPartitions())) return false;
          this.#reroute(dead, entry);
        }
        return true;
      } catch (err) {
        if (!(await this.#backoff(err, attempt))) return false;
      }
    }
  }

  /** Loads the DLQ's partition count, retrying; false on a hard stop. */
  async #dlqPartitions(): Promise<boolean> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.#loadPartitions([this.#o.dlqTopic]);
        return true;
      } catch (err) {
        if (!(await this.#backoff(err, attempt))) return false;
      }
    }
  }

  /**
   * One send; splits on "too large"; returns the dead letters for single
   * messages too large for the broker (they go out through the DLQ lanes).
   */
  async #send(tm: TopicMessages): Promise<OutMessage[]> {
    if (tm.length === 0) return [];
    try {
      await sendAcked(this.#o.producer, {
        topicMessages: tm,
        timeout: this.#o.timeoutMs,
        compression: this.#o.compression === "gzip"
          ? CompressionTypes.GZIP
          : CompressionTypes.None,
      });
      return [];
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      const total = tm.reduce((n, t) => n + t.messages.length, 0);
      if (total === 1) {
        const t = tm[0];
        const bytes = t.messages[0].value.length;
        this.#o.log.warn("message too large for the broker, dead-lettered", {
          topic: t.topic,
          bytes,
        });
        this.#o.metrics.deadLetters.inc({ reason: "too_large" });
        // A dead letter too large itself is re-sent with less of its
        // original; one that small failing means the broker is misconfigured:
        // retried (and logged) until fixed.
        const isDlq = t.topic === this.#o.dlqTopic;
        if (isDlq && bytes <= 4096) throw err;
        return [
          this.#deadLetter(
            `message of ${bytes} bytes is too large for topic "${t.topic}"`,
            t.topic,
            t.messages[0],
            isDlq ? 1024 : DLQ_ORIGINAL_MAX_CHARS,
          ),
        ];
      }
      // Halves in order, one after the other: still one request in flight.
      const [a, b] = splitHalves(tm, Math.ceil(total / 2));
      return [...await this.#send(a), ...await this.#send(b)];
    }
  }
}

/** Splits topic messages into the first `n` messages and the rest. */
export function splitHalves(
  tm: TopicMessages,
  n: number,
): [TopicMessages, TopicMessages] {
  const a: TopicMessages = [];
  const b: TopicMessages = [];
  let left = n;
  for (const t of tm) {
    if (left >= t.messages.length) {
      a.push(t);
      left -= t.messages.length;
    } else if (left > 0) {
      a.push({ topic: t.topic, messages: t.messages.slice(0, left) });
      b.push({ topic: t.topic, messages: t.messages.slice(left) });
      left = 0;
    } else b.push(t);
  }
  return [a, b];
}
