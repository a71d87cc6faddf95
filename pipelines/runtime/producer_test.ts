import assert from "node:assert/strict";
import type { Kafka, ProducerBatch, ProducerConfig } from "kafkajs";
import { createProducer, producerRetry, sendAcked } from "./producer.ts";
import { KAFKA_CLIENT_RETRY } from "./retry.ts";

/** A Kafka stand-in that records the producer configs asked for. */
function fakeKafka(): {
  kafka: Pick<Kafka, "producer">;
  configs: ProducerConfig[];
} {
  const configs: ProducerConfig[] = [];
  const kafka = {
    producer(cfg?: ProducerConfig) {
      configs.push(cfg ?? {});
      return {} as ReturnType<Kafka["producer"]>;
    },
  };
  return { kafka, configs };
}

Deno.test("createProducer: idempotent, one request in flight, no auto-create", () => {
  const { kafka, configs } = fakeKafka();
  createProducer(kafka);
  const [cfg] = configs;
  assert.deepEqual(cfg.idempotent, true);
  assert.deepEqual(cfg.maxInFlightRequests, 1);
  assert.deepEqual(cfg.allowAutoTopicCreation, false);
  assert.deepEqual(typeof cfg.createPartitioner, "function");
  assert.deepEqual(cfg.retry, {
    initialRetryTime: KAFKA_CLIENT_RETRY.initialMs,
    maxRetryTime: KAFKA_CLIENT_RETRY.maxMs,
    retries: Number.MAX_SAFE_INTEGER,
  });
});

Deno.test("createProducer: without idempotence, bounded retries and more in flight", () => {
  const { kafka, configs } = fakeKafka();
  createProducer(kafka, { idempotent: false, maxInFlightRequests: 5 });
  assert.deepEqual(configs[0].idempotent, false);
  assert.deepEqual(configs[0].maxInFlightRequests, 5);
  assert.deepEqual(configs[0].retry?.retries, 5);
  assert.deepEqual(configs[0].retry, producerRetry(false));
});

Deno.test("createProducer: an explicit retry policy wins", () => {
  const { kafka, configs } = fakeKafka();
  createProducer(kafka, { retry: { retries: 3, initialRetryTime: 10 } });
  assert.deepEqual(configs[0].retry, { retries: 3, initialRetryTime: 10 });
});

Deno.test("createProducer: refuses settings that break ordering or idempotence", () => {
  const { kafka, configs } = fakeKafka();
  assert.throws(
    () => createProducer(kafka, { maxInFlightRequests: 2 }),
    /idempotent producer needs maxInFlightRequests 1/,
  );
  assert.throws(
    () => createProducer(kafka, { idempotent: false, maxInFlightRequests: 0 }),
    /positive integer/,
  );
  assert.deepEqual(configs.length, 0);
});

Deno.test("sendAcked: always acks=all, the rest of the batch unchanged", async () => {
  const sent: ProducerBatch[] = [];
  const producer = {
    sendBatch(b: ProducerBatch) {
      sent.push(b);
      return Promise.resolve([]);
    },
  };
  const topicMessages = [{ topic: "t", messages: [{ key: "k", value: "v" }] }];
  await sendAcked(producer, { topicMessages, timeout: 1234, compression: 1 });
  assert.deepEqual(sent, [{
    topicMessages,
    timeout: 1234,
    compression: 1,
    acks: -1,
  }]);
  // A caller cannot smuggle a weaker acks past the type either.
  await sendAcked(producer, { topicMessages, acks: 1 } as never);
  assert.deepEqual(sent[1].acks, -1);
});
