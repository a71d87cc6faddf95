import assert from "node:assert/strict";
import type { Producer } from "../../runtime/kafka.ts";
import { newSlot } from "../models/mod.ts";
import { KafkaEventOutput, MAX_BATCH_BYTES } from "./kafka.ts";

type Batch = {
  topicMessages: Array<{ topic: string; messages: unknown[] }>;
  acks: number;
};

function fakeProducer(fail = false) {
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
      sent.push(b);
      return [];
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
