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
  type Kafka,
  Partitioners,
  type Producer,
  type ProducerBatch,
  type RecordMetadata,
  type RetryOptions,
} from "kafkajs";
import { KAFKA_CLIENT_RETRY } from "./retry.ts";

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
