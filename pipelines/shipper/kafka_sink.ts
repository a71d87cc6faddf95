/**
 * The Kafka sink: takes sealed batches from the queue, sends them with
 * acks=all (idempotent producer by default), and runs each batch's `ack`
 * (the source's durable checkpoint) strictly in batch order, once every
 * message of that batch and of all earlier batches is acknowledged.
 *
 * Pipelining, and why it is safe: a batch is cut into one slice per
 * topic-partition (partition chosen as KafkaJS's default partitioner would:
 * murmur2 of the key modulo the partition count), and the slices whose
 * partitions share a leader broker go out as one request (`_requests.ts`).
 * Each partition has a lane: a request waits for the previous request of
 * every partition in it, so at most ONE request per partition is ever in
 * flight and a partition receives its slices in batch order, while requests
 * for different brokers proceed independently and up to `maxInFlight`
 * batches overlap. Why not simply two overlapping
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
  laneKey,
  type Logger,
  notAcked,
  type Producer,
  sendAcked,
  sleep,
} from "../runtime/mod.ts";
import {
  groupByLeader,
  type Slice,
  slicePartitions,
  splitHalves,
  type TopicMessages,
  toTopicMessages,
} from "./_requests.ts";
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

export { slicePartitions, splitHalves };
export type { Slice };

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

/** Sends batches, pipelined per partition, and acks them in order. */
export class KafkaSink {
  readonly #o: KafkaSinkOptions;
  #known = new Set<string>();
  #refreshedAt = 0;
  /** Partition count and leader broker ids (by partition) per topic. */
  #partitions = new Map<
    string,
    { count: number; at: number; leaders: number[] }
  >();
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
        this.#enqueueAll(slices, entry);
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

  /** Queues `slices` of `entry` as one request per leader broker. */
  #enqueueAll(slices: Slice[], entry: InFlight): void {
    const groups = groupByLeader(
      slices,
      (t, p) => this.#partitions.get(t)?.leaders[p],
    );
    entry.left += groups.length;
    for (const g of groups) this.#enqueue(g, entry);
  }

  /** Appends `group` to the lanes of its partitions (after their tails). */
  #enqueue(group: Slice[], entry: InFlight): void {
    const keys = group.map(laneKey);
    const prev = Promise.all(keys.map((k) => this.#lanes.get(k)));
    const next: Promise<void> = prev.then(async () => {
      if (this.#halted) return;
      if (!(await this.#deliver(group, entry))) {
        this.#halt();
        return;
      }
      for (const s of group) {
        this.#o.metrics.eventsSent.inc({ topic: s.topic }, s.messages.length);
      }
      if (--entry.left === 0) this.#finish(entry);
    }).catch((err) => this.#halt(err)).finally(() => {
      for (const k of keys) {
        if (this.#lanes.get(k) === next) this.#lanes.delete(k);
      }
    });
    for (const k of keys) this.#lanes.set(k, next);
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
      if (t.partitions.length === 0) continue;
      const leaders: number[] = [];
      for (const p of t.partitions) leaders[p.partitionId] = p.leader;
      this.#partitions.set(t.name, {
        count: t.partitions.length,
        at: now,
        leaders,
      });
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
    this.#enqueueAll(slices, entry);
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

  /** Sends the group until acknowledged; false only on a hard stop. */
  async #deliver(group: Slice[], entry: InFlight): Promise<boolean> {
    for (let attempt = 0;; attempt++) {
      try {
        if (attempt > 0) group = await this.#dropDeleted(group, entry);
        const dead = await this.#send(toTopicMessages(group));
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

  /**
   * Before a retry: slices of a topic deleted meanwhile become dead letters
   * (through the DLQ's lanes); returns the rest.
   */
  async #dropDeleted(group: Slice[], entry: InFlight): Promise<Slice[]> {
    if (group.every((s) => s.topic === this.#o.dlqTopic)) return group;
    await this.#refreshTopics();
    const gone = group.filter((s) =>
      s.topic !== this.#o.dlqTopic && !this.#known.has(s.topic)
    );
    if (gone.length === 0) return group;
    await this.#loadPartitions([this.#o.dlqTopic]);
    for (const s of gone) {
      this.#reroute(this.#noTopic(s.topic, s.messages), entry);
    }
    return group.filter((s) => !gone.includes(s));
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
  async #send(tm: TopicMessages, resent = false): Promise<OutMessage[]> {
    if (tm.length === 0) return [];
    let acked: Array<{ topicName: string; partition: number }>;
    try {
      acked = await sendAcked(this.#o.producer, {
        topicMessages: tm,
        timeout: this.#o.timeoutMs,
        compression: this.#o.compression === "gzip"
          ? CompressionTypes.GZIP
          : CompressionTypes.None,
      });
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
    // KafkaJS 2.2.4 can resolve without a partition (see the runtime's
    // `notAcked`): only those go again; twice in a row, the whole request
    // is retried.
    const skipped = notAcked(tm, acked);
    if (skipped.length === 0) return [];
    if (resent) throw new Error("Kafka did not acknowledge every partition");
    this.#o.log.warn("partitions not acknowledged, sending them again", {
      partitions: skipped.length,
    });
    return await this.#send(skipped, true);
  }
}
