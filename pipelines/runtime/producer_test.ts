import "./_env_guard.ts"; // before kafkajs: it reads NODE_ENV at load
import assert from "node:assert/strict";
import {
  type Kafka,
  Partitioners,
  type ProducerBatch,
  type ProducerConfig,
  type RecordMetadata,
} from "kafkajs";
import { createLogger } from "./log.ts";
import {
  assignPartitions,
  createProducer,
  keyPartition,
  laneKey,
  notAcked,
  PartitionCounts,
  producerRetry,
  sendAcked,
  sendAllAcked,
} from "./producer.ts";
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

Deno.test("keyPartition: the partition KafkaJS's DefaultPartitioner picks", () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  for (const n of [1, 3, 7, 12]) {
    const partitionMetadata = Array.from({ length: n }, (_, i) => ({
      partitionId: i,
      leader: i % 3,
    }));
    for (const key of ['{"id":1}', "k", "", "é🙂 long key ".repeat(9), "42"]) {
      const expected = kafkajs({
        topic: "t",
        partitionMetadata: partitionMetadata as never,
        message: { key, value: null },
      });
      assert.equal(keyPartition(key, n), expected, `${key} of ${n}`);
    }
  }
});

Deno.test("assignPartitions: explicit kept, keyed by murmur2, keyless round-robin; input untouched", () => {
  const rr = new Map<string, number>();
  const input = [{
    topic: "t",
    messages: [
      { key: "a", value: "1", partition: 2 },
      { key: "a", value: "2" },
      { key: null, value: "3" },
      { key: null, value: "4" },
    ],
  }];
  const out = assignPartitions(input, () => 3, rr);
  assert.deepEqual(out[0].messages.map((m) => m.partition), [
    2,
    keyPartition("a", 3),
    0,
    1,
  ]);
  assert.deepEqual(out[0].messages.map((m) => m.value), ["1", "2", "3", "4"]);
  assert.equal(input[0].messages[1].partition, undefined);
  const next = assignPartitions(
    [{ topic: "t", messages: [{ key: null, value: "5" }] }],
    () => 3,
    rr,
  );
  assert.equal(next[0].messages[0].partition, 2);
});

Deno.test("notAcked: the messages of partitions missing from the answer, in order", () => {
  const tm = [
    {
      topic: "a",
      messages: [0, 1, 0, 1].map((partition, i) => ({
        partition,
        value: `${i}`,
      })),
    },
    { topic: "b", messages: [{ partition: 0, value: "x" }, { value: "none" }] },
  ];
  const acked = [{ topicName: "a", partition: 0 }, {
    topicName: "b",
    partition: 0,
  }];
  assert.deepEqual(notAcked(tm, acked), [
    {
      topic: "a",
      messages: [{ partition: 1, value: "1" }, { partition: 1, value: "3" }],
    },
    { topic: "b", messages: [{ value: "none" }] },
  ]);
  assert.equal(laneKey({ topic: "a", partition: 1 }), "a\x001");
});

/** A producer whose first answer leaves out `skip` (KafkaJS 2.2.4 after a leader move). */
function skippingProducer(skip: string[]) {
  const requests: Array<Array<[string, number, string]>> = [];
  const written: Array<[string, number, string]> = [];
  let first = true;
  const producer = {
    sendBatch(b: ProducerBatch): Promise<RecordMetadata[]> {
      const req: Array<[string, number, string]> = [];
      const answer = new Map<string, RecordMetadata>();
      for (const { topic, messages } of b.topicMessages ?? []) {
        for (const m of messages) {
          const p = m.partition!;
          req.push([topic, p, String(m.value)]);
          if (first && skip.includes(laneKey({ topic, partition: p }))) {
            continue;
          }
          written.push([topic, p, String(m.value)]);
          answer.set(laneKey({ topic, partition: p }), {
            topicName: topic,
            partition: p,
            errorCode: 0,
          });
        }
      }
      first = false;
      requests.push(req);
      return Promise.resolve([...answer.values()]);
    },
  };
  return { producer, requests, written };
}

Deno.test("sendAllAcked: a partition left out of the answer is sent again, alone and in order", async () => {
  const { producer, requests, written } = skippingProducer([
    laneKey({ topic: "t", partition: 1 }),
  ]);
  let resent = 0;
  const messages = Array.from({ length: 9 }, (_, i) => ({
    key: null,
    value: `v${i}`,
  }));
  const answers = await sendAllAcked(
    producer,
    { topicMessages: [{ topic: "t", messages }] },
    {
      partitions: { of: () => Promise.resolve(() => 3), invalidate() {} },
      rr: new Map(),
      log: createLogger("test", "error"),
      onResend: (n) => resent += n,
    },
  );
  assert.equal(resent, 3);
  assert.deepEqual(requests[1], [["t", 1, "v1"], ["t", 1, "v4"], [
    "t",
    1,
    "v7",
  ]]);
  assert.deepEqual(
    written.filter(([, p]) => p === 1).map(([, , v]) => v),
    ["v1", "v4", "v7"],
  );
  assert.equal(written.length, 9);
  assert.deepEqual(answers.map((a) => a.partition).sort(), [0, 1, 2]);
});

Deno.test("sendAllAcked: a failed send invalidates the partition counts and throws", async () => {
  let invalidated = 0;
  await assert.rejects(
    () =>
      sendAllAcked(
        { sendBatch: () => Promise.reject(new Error("broker away")) },
        {
          topicMessages: [{ topic: "t", messages: [{ key: "k", value: "v" }] }],
        },
        {
          partitions: {
            of: () => Promise.resolve(() => 3),
            invalidate: () => void invalidated++,
          },
          rr: new Map(),
          log: createLogger("test", "error"),
        },
      ),
    /broker away/,
  );
  assert.equal(invalidated, 1);
});

Deno.test("PartitionCounts: reads once within the TTL, again after invalidate; unknown topic throws", async () => {
  const asked: string[][] = [];
  const admin = {
    fetchTopicMetadata: ({ topics }: { topics: string[] }) => {
      asked.push(topics);
      return Promise.resolve({
        topics: topics.filter((t) => t !== "gone").map((name) => ({
          name,
          partitions: [{}, {}, {}] as never[],
        })),
      });
    },
  };
  const counts = new PartitionCounts(admin);
  assert.equal((await counts.of(["a", "a"]))("a"), 3);
  await counts.of(["a"]);
  assert.deepEqual(asked, [["a"]]);
  counts.invalidate();
  await counts.of(["a"]);
  assert.equal(asked.length, 2);
  await assert.rejects(
    () => counts.of(["gone"]),
    /no partition metadata for topic "gone"/,
  );
});
