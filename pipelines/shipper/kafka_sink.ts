/**
 * The Kafka sink: takes sealed batches from the queue one at a time, sends
 * them with acks=all (idempotent producer by default), and only then runs the
 * batch's `ack` (the source's durable checkpoint). One batch in flight plus
 * one checkpoint: after a crash at most the last batch is sent again.
 *
 * Failures never drop data: transient errors are retried with backoff;
 * messages for a topic that does not exist, and single messages too large for
 * the broker, become dead letters; a batch too large is split.
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
  type Logger,
  type Producer,
  sleep,
} from "../runtime/mod.ts";
import { backoffMs } from "../runtime/mod.ts";
import type { Batch, BoundedQueue, OutMessage } from "./batch.ts";
import { type DeadLetter, DLQ_ORIGINAL_MAX_CHARS } from "./encoder.ts";
import type { ShipperMetrics } from "./metrics.ts";

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
  metrics: ShipperMetrics;
  log: Logger;
  /** Aborted when the process must stop even with a batch unsent. */
  hardStop: AbortSignal;
}

type TopicMessages = Array<{ topic: string; messages: OutMessage[] }>;

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

/** Sends batches in order and acks them; see the module doc. */
export class KafkaSink {
  readonly #o: KafkaSinkOptions;
  #known = new Set<string>();
  #refreshedAt = 0;
  #batchesAcked = 0;
  #lastError: string | undefined;

  /** Creates the sink. */
  constructor(opts: KafkaSinkOptions) {
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
    await this.#refreshTopics(true);
    if (!this.#known.has(this.#o.dlqTopic)) {
      throw new Error(`dead-letter topic "${this.#o.dlqTopic}" does not exist`);
    }
  }

  /** Disconnects producer and admin client. */
  async disconnect(): Promise<void> {
    await this.#o.producer.disconnect();
    await this.#o.admin.disconnect();
  }

  /** Sends every batch from `queue` until it is closed and drained. */
  async run(queue: BoundedQueue<Batch>): Promise<void> {
    for (;;) {
      const batch = await queue.take();
      if (!batch) return;
      if (batch.messages > 0) {
        const started = performance.now();
        const sent = await this.#deliver(batch);
        if (!sent) return; // hard stop: not acked, re-read after restart
        const m = this.#o.metrics;
        m.sendSeconds.observe(
          { source: batch.source },
          (performance.now() - started) / 1000,
        );
        m.batchesSent.inc({ source: batch.source });
        m.bytesSent.inc({ source: batch.source }, batch.bytes);
        for (const t of batch.topicMessages) {
          m.eventsSent.inc({ topic: t.topic }, t.messages.length);
        }
      }
      await batch.ack();
      this.#batchesAcked++;
    }
  }

  async #refreshTopics(force = false): Promise<void> {
    if (!force && Date.now() - this.#refreshedAt < 5_000) return;
    this.#known = new Set(await this.#o.admin.listTopics());
    this.#refreshedAt = Date.now();
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
      this.#o.log.warn("topic does not exist, sending to dead letters", {
        topic: t.topic,
        messages: t.messages.length,
      });
      const dead = t.messages.map((msg) =>
        this.#deadLetter(`topic "${t.topic}" does not exist`, t.topic, msg)
      );
      batch.topicMessages = batch.topicMessages.filter((x) => x !== t);
      this.#addToDlq(batch.topicMessages, dead);
      this.#o.metrics.deadLetters.inc({ reason: "no_topic" }, dead.length);
    }
  }

  #deadLetter(reason: string, topic: string, msg: OutMessage): OutMessage {
    const original = msg.value.toString("utf8");
    const dl: DeadLetter = {
      reason,
      source: `route:${topic}`,
      original: original.slice(0, DLQ_ORIGINAL_MAX_CHARS),
      pipeline: "shipper",
      ts: new Date().toISOString(),
    };
    return { key: `route:${topic}`, value: Buffer.from(JSON.stringify(dl)) };
  }

  #addToDlq(tm: TopicMessages, dead: OutMessage[]): void {
    let dlq = tm.find((t) => t.topic === this.#o.dlqTopic);
    if (!dlq) {
      dlq = { topic: this.#o.dlqTopic, messages: [] };
      tm.push(dlq);
    }
    dlq.messages.push(...dead);
  }

  /** Sends the batch until acknowledged; false only on a hard stop. */
  async #deliver(batch: Batch): Promise<boolean> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.#guardTopics(batch);
        await this.#send(batch.topicMessages);
        this.#lastError = undefined;
        return true;
      } catch (err) {
        this.#o.metrics.sendErrors.inc();
        this.#lastError = (err as Error).message;
        const wait = backoffMs(attempt, 200, 5_000);
        this.#o.log.warn("send failed, retrying", {
          err,
          attempt: attempt + 1,
          retry_in_ms: wait,
        });
        await sleep(wait, this.#o.hardStop);
        if (this.#o.hardStop.aborted) return false;
      }
    }
  }

  /** One send; splits on "too large", dead-letters single huge messages. */
  async #send(tm: TopicMessages): Promise<void> {
    if (tm.length === 0) return;
    try {
      await this.#o.producer.sendBatch({
        topicMessages: tm,
        acks: -1,
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
        this.#o.log.warn("message too large for the broker, dead-lettered", {
          topic: t.topic,
          bytes: t.messages[0].value.length,
        });
        const dl = this.#deadLetter(
          `message of ${
            t.messages[0].value.length
          } bytes is too large for topic "${t.topic}"`,
          t.topic,
          t.messages[0],
        );
        this.#o.metrics.deadLetters.inc({ reason: "too_large" });
        await this.#send([{ topic: this.#o.dlqTopic, messages: [dl] }]);
        return;
      }
      const [a, b] = splitHalves(tm, Math.ceil(total / 2));
      await this.#send(a);
      await this.#send(b);
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
