import assert from "node:assert/strict";
import { Partitioners } from "kafkajs";
import { createLogger } from "../runtime/log.ts";
import type { Producer } from "../runtime/kafka.ts";
import type { OutRecord } from "./envelope.ts";
import { KafkaSink, slicesOf } from "./sink.ts";

const TOPIC = "p.public.users";
const rec = (id: number): OutRecord => ({
  topic: TOPIC,
  key: `{"id":${id}}`,
  value: `{"id":${id}}`,
});

Deno.test("slicesOf partitions keyed records exactly as KafkaJS's default partitioner, in order", () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({
    partitionId,
    leader: partitionId,
  }));
  const batch = Array.from({ length: 300 }, (_, i) => rec(i));
  const slices = slicesOf(batch, () => 3, new Map());
  assert.equal(slices.length, 3);
  for (const s of slices) {
    for (const r of s.records) {
      const want = kafkajs(
        {
          topic: TOPIC,
          partitionMetadata,
          message: { key: r.key, value: r.value },
        } as Parameters<typeof kafkajs>[0],
      );
      assert.equal(s.partition, want, `key ${r.key}`);
    }
    const ids = s.records.map((r) => JSON.parse(r.key!).id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "order kept");
  }
  assert.equal(slices.reduce((n, s) => n + s.records.length, 0), 300);
  // Without a key: round-robin over the partitions, carried across batches.
  const rr = new Map<string, number>();
  const nul = { topic: TOPIC, key: null, value: "{}" };
  const first = slicesOf([nul, nul], () => 3, rr).map((s) => s.partition);
  const next = slicesOf([nul, nul], () => 3, rr).map((s) => s.partition);
  assert.deepEqual([...first, ...next], [0, 1, 2, 0]);
  // Unknown partition count: one slice, KafkaJS partitions.
  const one = slicesOf(batch, () => undefined, new Map());
  assert.deepEqual(one.map((s) => [s.partition, s.records.length]), [[
    undefined,
    300,
  ]]);
});

Deno.test("a slow partition holds back only its own lane; acks and the confirmed LSN stay in order", async () => {
  // Two partitions; ids whose keys land on partition 0 and on partition 1.
  const ids = Array.from({ length: 50 }, (_, i) => i);
  const on = (p: number) =>
    ids.filter((i) =>
      slicesOf([rec(i)], () => 2, new Map())[0].partition === p
    );
  const [a1, a2] = on(0);
  const [b1, b2] = on(1);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const sent: Array<{ partition: number; ids: number[] }> = [];
  let inFlight0 = 0;
  const producer = {
    sendBatch: async (req: {
      topicMessages: {
        messages: { key: string; partition: number }[];
      }[];
    }) => {
      const msgs = req.topicMessages.flatMap((t) => t.messages);
      const partition = msgs[0].partition;
      assert.ok(msgs.every((m) => m.partition === partition), "one partition");
      if (partition === 0) {
        inFlight0++;
        assert.equal(inFlight0, 1, "one request per partition in flight");
        await gate;
        inFlight0--;
      }
      sent.push({ partition, ids: msgs.map((m) => JSON.parse(m.key).id) });
      return [];
    },
  } as unknown as Producer;
  const sink = new KafkaSink(
    producer,
    {
      maxBatchRecords: 2,
      maxBatchBytes: 1 << 20,
      maxPending: 1000,
      maxPendingBytes: 1 << 24,
      maxRecordBytes: 1 << 20,
      dlqTopic: "",
      maxInFlight: 4,
      partitionsOf: () => 2,
    },
    createLogger("test", "error"),
    0n,
  );
  sink.start();
  await sink.push(rec(a1));
  await sink.push(rec(b1));
  sink.mark(10n);
  await sink.push(rec(a2));
  await sink.push(rec(b2));
  sink.mark(20n);
  const deadline = Date.now() + 5_000;
  while (sent.filter((s) => s.partition === 1).length < 2) {
    assert.ok(Date.now() < deadline, "partition 1 went out while 0 waited");
    await new Promise((r) => setTimeout(r, 5));
  }
  // Partition 0's first request is still unanswered: nothing is confirmed.
  assert.equal(sink.tracker.confirmed, 0n);
  assert.equal(sink.tracker.pending, 4);
  release();
  await sink.drain();
  assert.equal(sink.tracker.confirmed, 20n);
  const of = (p: number) =>
    sent.filter((s) => s.partition === p).flatMap((s) => s.ids);
  assert.deepEqual(of(0), [a1, a2]);
  assert.deepEqual(of(1), [b1, b2]);
  await sink.close();
});
