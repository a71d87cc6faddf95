import assert from "node:assert/strict";
import type { Producer } from "../../runtime/kafka.ts";
import { createLogger } from "../../runtime/log.ts";
import { laneKey } from "../../runtime/producer.ts";
import { newSlot } from "../models/mod.ts";
import { KafkaEventOutput, MAX_BATCH_BYTES } from "./kafka.ts";

type Batch = {
  topicMessages: Array<
    { topic: string; messages: Array<{ partition?: number; value: string }> }
  >;
  acks: number;
};

const PARTS = {
  partitions: { of: () => Promise.resolve(() => 3), invalidate() {} },
  log: createLogger("test", "error"),
};

/**
 * Answers one entry per partition written; the first send neither writes
 * nor answers the `skipOnce` lane (KafkaJS 2.2.4 after a leader moved).
 */
function fakeProducer(fail = false, skipOnce = "") {
  const sent: Batch[] = [];
  let active = 0;
  let maxActive = 0;
  const producer = {
    sendBatch: async (b: Batch) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 2));
      active--;
      if (fail) throw new Error("broker says no");
      const answer = new Map<
        string,
        { topicName: string; partition: number }
      >();
      const topicMessages = b.topicMessages.map(({ topic, messages }) => ({
        topic,
        messages: messages.filter((m) => {
          const lane = laneKey({ topic, partition: m.partition! });
          if (lane === skipOnce) return false;
          answer.set(lane, { topicName: topic, partition: m.partition! });
          return true;
        }),
      }));
      skipOnce = "";
      sent.push({ ...b, topicMessages });
      return [...answer.values()];
    },
  } as unknown as Producer;
  return { producer, sent, maxActive: () => maxActive };
}

Deno.test("routes by slot, copies errors to the error topic, acks=all, one send in flight", async () => {
  const f = fakeProducer();
  const out = new KafkaEventOutput({
    producer: f.producer,
    topics: ["p.auth", "p.order"],
    errorTopic: "p.error",
    batchSize: 10,
    ...PARTS,
  });
  const slot = newSlot();
  for (let i = 0; i < 95; i++) {
    slot.line = `{"i":${i}}`;
    slot.key = `k${i}`;
    slot.route = i % 2;
    slot.error = i % 5 === 0;
    const wait = out.write(slot);
    if (wait) await wait;
  }
  await out.flush();
  assert.deepEqual(out.stats.perTopic, {
    "p.auth": 48,
    "p.order": 47,
    "p.error": 19,
  });
  assert.equal(out.stats.events, 95);
  assert.ok(f.sent.every((b) => b.acks === -1));
  assert.equal(f.maxActive(), 1);
  const total = f.sent.flatMap((b) => b.topicMessages).reduce(
    (n, t) => n + t.messages.length,
    0,
  );
  assert.equal(total, 95 + 19);
});

Deno.test("a send never exceeds the byte cap", async () => {
  const f = fakeProducer();
  const out = new KafkaEventOutput({
    producer: f.producer,
    topics: ["t"],
    batchSize: 1e9,
    ...PARTS,
  });
  const slot = newSlot();
  slot.line = "x".repeat(10_000);
  for (let i = 0; i < 300; i++) {
    const wait = out.write(slot);
    if (wait) await wait;
  }
  await out.flush();
  for (const b of f.sent) {
    const bytes = b.topicMessages[0].messages.length * 10_000;
    assert.ok(bytes <= MAX_BATCH_BYTES + 10_000);
  }
  assert.equal(out.stats.events, 300);
});

Deno.test("a failed send surfaces on the next write/flush and counts errors", async () => {
  const f = fakeProducer(true);
  const out = new KafkaEventOutput({
    producer: f.producer,
    topics: ["t"],
    batchSize: 5,
    ...PARTS,
  });
  const slot = newSlot();
  slot.line = "{}";
  await assert.rejects(async () => {
    for (let i = 0; i < 50; i++) {
      const wait = out.write(slot);
      if (wait) await wait;
    }
    await out.flush();
  }, /broker says no/);
  assert.ok(out.stats.errors >= 5);
  assert.equal(out.stats.events, 0);
});

Deno.test("a partition Kafka left out of its answer is sent again: exact count in Kafka", async () => {
  const f = fakeProducer(false, laneKey({ topic: "p.order", partition: 1 }));
  const out = new KafkaEventOutput({
    producer: f.producer,
    topics: ["p.auth", "p.order"],
    batchSize: 1000,
    ...PARTS,
  });
  const slot = newSlot();
  for (let i = 0; i < 60; i++) {
    slot.line = `{"i":${i}}`;
    slot.key = `k${i}`;
    slot.route = i % 2;
    out.write(slot);
  }
  await out.flush();
  const written = f.sent.flatMap((b) => b.topicMessages).flatMap((t) =>
    t.messages.map((m) => `${t.topic}:${m.value}`)
  );
  assert.equal(written.length, 60);
  assert.equal(new Set(written).size, 60);
  assert.equal(f.sent.length, 2); // the batch, then the skipped partition
});
