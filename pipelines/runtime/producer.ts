/**
 * The one Kafka producer core every pipeline sends through: acks from all
 * in-sync replicas, idempotence (broker-side de-duplication of retried
 * batches) by default, ordered acknowledgements (one request in flight per
 * broker connection, so a partition's batches are acknowledged in the order
 * they were sent, retries included) and one named retry policy.
 *
 * @example
 * ```ts
 * const producer = createProducer(kafka, { idempotent: true });
 * await producer.connect();
 * await sendAcked(producer, { topicMessages: [{ topic: "t", messages }] });
 * ```
 *
 * @module
 */
import "./_env_guard.ts"; // before the libraries: they read env at load
import {
  type Admin,
  type Kafka,
  type Message,
  Partitioners,
  type Producer,
  type ProducerBatch,
  type RecordMetadata,
  type RetryOptions,
} from "kafkajs";
import { murmur2 } from "./kafkajs_fast.ts";
import type { Logger } from "./log.ts";
import { KAFKA_CLIENT_RETRY } from "./retry.ts";
import { sleep } from "./shutdown.ts";

/** Options of {@link createProducer}. */
export interface ProducerOptions {
  /**
   * Broker-side de-duplication of retried batches (default true). Needs
   * `maxInFlightRequests` 1.
   */
  idempotent?: boolean;
  /**
   * Requests in flight per broker connection (default 1: acknowledgements
   * in send order). Above 1 only without idempotence.
   */
  maxInFlightRequests?: number;
  /** KafkaJS's retries of one request (default {@link producerRetry}). */
  retry?: RetryOptions;
}

/**
 * The producer retry policy: {@link KAFKA_CLIENT_RETRY}'s backoff; an
 * idempotent producer retries until acknowledged (KafkaJS warns that a
 * limit would break its guarantees), any other one 5 times before the
 * caller sees the error and retries the batch itself.
 */
export function producerRetry(idempotent: boolean): RetryOptions {
  return {
    initialRetryTime: KAFKA_CLIENT_RETRY.initialMs,
    maxRetryTime: KAFKA_CLIENT_RETRY.maxMs,
    retries: idempotent ? Number.MAX_SAFE_INTEGER : 5,
  };
}

/**
 * Creates (does not connect) a producer with the product's settings: the
 * Java-compatible default partitioner, no topic auto-creation, idempotence
 * and ordered acknowledgements unless told otherwise.
 */
export function createProducer(
  kafka: Pick<Kafka, "producer">,
  opts: ProducerOptions = {},
): Producer {
  const idempotent = opts.idempotent ?? true;
  const maxInFlightRequests = opts.maxInFlightRequests ?? 1;
  if (!Number.isInteger(maxInFlightRequests) || maxInFlightRequests < 1) {
    throw new RangeError(
      `maxInFlightRequests must be a positive integer, got ${maxInFlightRequests}`,
    );
  }
  if (idempotent && maxInFlightRequests !== 1) {
    // Two requests for one partition could reuse rolled-back sequence
    // numbers after a failure: the broker would drop one as a duplicate.
    throw new RangeError("an idempotent producer needs maxInFlightRequests 1");
  }
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent,
    maxInFlightRequests,
    retry: opts.retry ?? producerRetry(idempotent),
  });
}

/** A batch for {@link sendAcked}: everything but `acks`, which is fixed. */
export type AckedBatch = Omit<ProducerBatch, "acks">;

/**
 * Sends `batch` and resolves once every in-sync replica has it (acks=all,
 * which the idempotent producer requires).
 */
export function sendAcked(
  producer: Pick<Producer, "sendBatch">,
  batch: AckedBatch,
): Promise<RecordMetadata[]> {
  return producer.sendBatch({ ...batch, acks: -1 });
}

/** Messages by topic, the shape of KafkaJS `sendBatch`'s `topicMessages`. */
export type TopicMessages<M extends Pick<Message, "partition"> = Message> =
  Array<{ topic: string; messages: M[] }>;

/** The key of one topic-partition (a `Map`/`Set` key). */
export function laneKey(s: { topic: string; partition: number }): string {
  return `${s.topic}\0${s.partition}`;
}

/**
 * The messages of `tm` whose partition is missing from KafkaJS's answer
 * (a message without a partition counts as missing).
 *
 * Why: KafkaJS 2.2.4's `sendMessages` keeps the answers of the brokers that
 * replied and, when another broker's request fails, retries only for brokers
 * without an answer, with the partitions regrouped by the refreshed leaders.
 * A partition whose leader moved to a broker that had already answered is
 * then sent nowhere, and `sendBatch` resolves anyway: silent loss. So every
 * partition sent must be in the answer.
 */
export function notAcked<M extends Pick<Message, "partition">>(
  tm: TopicMessages<M>,
  acked: ReadonlyArray<{ topicName: string; partition: number }>,
): TopicMessages<M> {
  const got = new Set(acked.map((r) => laneKey({ ...r, topic: r.topicName })));
  const out: TopicMessages<M> = [];
  for (const { topic, messages } of tm) {
    const left = messages.filter((m) =>
      !got.has(laneKey({ topic, partition: m.partition ?? -1 }))
    );
    if (left.length > 0) out.push({ topic, messages: left });
  }
  return out;
}

/**
 * The partition KafkaJS's DefaultPartitioner (Java-compatible murmur2)
 * picks for a keyed message among `count` partitions.
 */
export function keyPartition(key: Message["key"], count: number): number {
  return (murmur2(key) & 0x7fffffff) % count;
}

/**
 * Copies of `tm`'s messages, each with the partition KafkaJS's default
 * partitioner would choose: its own if set, else murmur2 of the key, else
 * round-robin (`rr` holds the per-topic counters; KafkaJS also round-robins
 * keyless messages, from a random start).
 */
export function assignPartitions(
  tm: TopicMessages,
  countOf: (topic: string) => number,
  rr: Map<string, number>,
): TopicMessages {
  return tm.map(({ topic, messages }) => {
    const n = countOf(topic);
    let counter = rr.get(topic) ?? 0;
    const out = messages.map((m) => {
      if (m.partition !== undefined && m.partition !== null) return m;
      const partition = m.key === null || m.key === undefined
        ? counter++ % n
        : keyPartition(m.key, n);
      return { ...m, partition };
    });
    rr.set(topic, counter % n);
    return { topic, messages: out };
  });
}

/** How often {@link PartitionCounts} re-reads a count (a topic may grow). */
export const PARTITION_COUNTS_TTL_MS = 60_000;

/** Partition counts of topics from the cluster metadata, cached. */
export class PartitionCounts {
  #counts = new Map<string, { count: number; at: number }>();

  /** Reads through `admin` (connected by the caller). */
  constructor(
    private readonly admin: Pick<Admin, "fetchTopicMetadata">,
    private readonly ttlMs = PARTITION_COUNTS_TTL_MS,
  ) {}

  /** The counts of `topics`, fetching those unknown or older than the TTL. */
  async of(topics: string[]): Promise<(topic: string) => number> {
    const now = Date.now();
    const stale = [...new Set(topics)].filter((t) =>
      !(now - (this.#counts.get(t)?.at ?? -Infinity) <= this.ttlMs)
    );
    if (stale.length > 0) {
      const md = await this.admin.fetchTopicMetadata({ topics: stale });
      for (const t of md.topics) {
        if (t.partitions.length === 0) continue;
        this.#counts.set(t.name, { count: t.partitions.length, at: now });
      }
      for (const t of stale) {
        if (!this.#counts.has(t)) {
          throw new Error(`no partition metadata for topic "${t}"`);
        }
      }
    }
    return (t) => this.#counts.get(t)!.count;
  }

  /** Forgets every count (after a send failed: the metadata may be stale). */
  invalidate(): void {
    this.#counts.clear();
  }
}

/** Options of {@link sendAllAcked}. */
export interface SendAllOptions {
  /** Partition counts of the batch's topics. */
  partitions: Pick<PartitionCounts, "of" | "invalidate">;
  /** Round-robin counters for keyless messages (keep one per producer). */
  rr: Map<string, number>;
  log: Logger;
  /** Called with the number of messages sent again (a metric). */
  onResend?: (messages: number) => void;
}

/**
 * {@link sendAcked} that resolves only once EVERY partition of the batch is
 * in the answer: each message gets an explicit partition (the one KafkaJS's
 * default partitioner would choose, so output is unchanged), and the
 * messages of partitions missing from the answer (see {@link notAcked}) are
 * sent again, in order, with {@link KAFKA_CLIENT_RETRY}'s backoff, until
 * acknowledged. Callers send one batch at a time, so a resend cannot
 * overtake anything. A failed send invalidates the partition counts.
 */
export async function sendAllAcked(
  producer: Pick<Producer, "sendBatch">,
  batch: AckedBatch,
  o: SendAllOptions,
): Promise<RecordMetadata[]> {
  const topics = (batch.topicMessages ?? []).map((t) => t.topic);
  let tm: TopicMessages;
  const answers: RecordMetadata[] = [];
  try {
    const countOf = await o.partitions.of(topics);
    tm = assignPartitions(batch.topicMessages ?? [], countOf, o.rr);
    for (let attempt = 0;; attempt++) {
      answers.push(
        ...await sendAcked(producer, { ...batch, topicMessages: tm }),
      );
      tm = notAcked(tm, answers);
      if (tm.length === 0) return answers;
      const messages = tm.reduce((n, t) => n + t.messages.length, 0);
      const wait = KAFKA_CLIENT_RETRY.delayMs(attempt);
      o.log.warn("kafka left partitions unacknowledged, sending them again", {
        partitions: tm.map((t) => [
          t.topic,
          [...new Set(t.messages.map((m) => m.partition))],
        ]),
        messages,
        attempt: attempt + 1,
        retry_in_ms: wait,
      });
      o.onResend?.(messages);
      await sleep(wait);
    }
  } catch (err) {
    o.partitions.invalidate();
    throw err;
  }
}
