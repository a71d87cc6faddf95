import assert from "node:assert/strict";
import { createLogger } from "../runtime/log.ts";
import type { Producer } from "../runtime/kafka.ts";
import { keyPartition, laneKey } from "../runtime/producer.ts";
import type { OutRecord } from "./envelope.ts";
import { KafkaSink, type SinkOptions } from "./sink.ts";

type Sent = {
  topic: string;
  messages: { key: string | null; value: string | null; partition?: number }[];
};

/** Partitions per topic in the fakes. */
const PARTITIONS = 3;

/**
 * A producer stand-in: records requests; `gate` holds acks back; `limit`
 * refuses big requests like a broker; answers one entry per partition
 * written (KafkaJS's default partitioner for messages without one), except
 * the partitions in `skipOnce` (`laneKey`s), which the first request neither
 * writes nor answers: KafkaJS 2.2.4 after a leader moved (see `notAcked`).
 */
function fakeProducer(
  o: { limit?: number; gate?: Promise<void>; skipOnce?: Set<string> } = {},
) {
  const sent: Sent[][] = [];
  let skip = o.skipOnce ?? new Set<string>();
  const producer = {
    sendBatch: async (req: { topicMessages: Sent[] }) => {
      await o.gate;
      const bytes = req.topicMessages.flatMap((t) => t.messages).reduce(
        (n, m) =>
          n + new TextEncoder().encode(m.value ?? "").length +
          new TextEncoder().encode(m.key ?? "").length,
        0,
      );
      if (o.limit !== undefined && bytes > o.limit) {
        throw Object.assign(
          new Error(
            "The request included a message larger than the max message size the server will accept",
          ),
          { type: "MESSAGE_TOO_LARGE", code: 10 },
        );
      }
      const written: Sent[] = [];
      const answer = new Map<
        string,
        { topicName: string; partition: number }
      >();
      for (const { topic, messages } of req.topicMessages) {
        const kept = messages.filter((m) => {
          const partition = m.partition ??
            keyPartition(m.key ?? String(Math.random()), PARTITIONS);
          const lane = laneKey({ topic, partition });
          if (skip.has(lane)) return false;
          answer.set(lane, { topicName: topic, partition });
          return true;
        });
        written.push({ topic, messages: kept });
      }
      skip = new Set();
      sent.push(written);
      return [...answer.values()];
    },
  } as unknown as Producer;
  return { producer, sent };
}

/** `p`, or a failure after `ms` (the old code retried forever). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) =>
        t = setTimeout(
          () => reject(new Error(`${what}: still waiting after ${ms} ms`)),
          ms,
        )
      ),
    ]);
  } finally {
    clearTimeout(t);
  }
}

const OPTS: SinkOptions = {
  maxBatchRecords: 1000,
  maxBatchBytes: 768 * 1024,
  maxPending: 50_000,
  maxPendingBytes: 64 * 1024 * 1024,
  maxRecordBytes: 1_000_000,
  dlqTopic: "dlq.cdc",
  partitions: { of: () => Promise.resolve(() => PARTITIONS), invalidate() {} },
};
const log = createLogger("test", "error");
const rec = (key: number, value: string): OutRecord => ({
  topic: "p.public.docs",
  key: `{"id":${key}}`,
  value,
});

Deno.test("a record over the limit in UTF-8 bytes (not UTF-16 units) becomes a dead letter; the rest flows and confirms", async () => {
  const { producer, sent } = fakeProducer({ limit: 1_048_576 });
  const sink = new KafkaSink(producer, OPTS, log, 0n);
  sink.start();
  await sink.push(rec(1, "small"));
  // 600k characters, 1.2 MB: under the limit as a JS length, over it in bytes.
  await sink.push(rec(2, "é".repeat(600_000)));
  await sink.push(rec(3, "after"));
  sink.mark(99n);
  await within(sink.drain(), 5_000, "drain");
  assert.equal(sink.tracker.confirmed, 99n);
  const all = sent.flat().flatMap((t) =>
    t.messages.map((m) => ({ topic: t.topic, ...m }))
  );
  assert.deepEqual(
    all.filter((m) => m.topic === "p.public.docs").map((m) => m.key),
    ['{"id":1}', '{"id":3}'],
  );
  const dl = all.filter((m) => m.topic === "dlq.cdc");
  assert.equal(dl.length, 1);
  assert.equal(dl[0].key, '{"id":2}');
  const v = JSON.parse(dl[0].value!);
  assert.equal(v.pipeline, "cdc");
  assert.equal(v.original_bytes, 1_200_000 + 8 + 64);
  assert.equal(v.original.length, 16 * 1024);
  assert.match(v.reason, /p\.public\.docs key \{"id":2\} is too large/);
  await sink.close();
});

Deno.test("a broker refusing a request as too large: the batch is split in order, the single culprit dead-lettered", async () => {
  // The topic allows less than our limit (a topic-level max.message.bytes).
  const { producer, sent } = fakeProducer({ limit: 20_000 });
  const sink = new KafkaSink(producer, OPTS, log, 0n);
  for (let i = 0; i < 10; i++) {
    await sink.push(rec(i, i === 6 ? "x".repeat(30_000) : "y".repeat(1_000)));
  }
  sink.mark(7n);
  sink.start();
  await within(sink.drain(), 5_000, "drain");
  assert.equal(sink.tracker.confirmed, 7n);
  const all = sent.flat().flatMap((t) =>
    t.messages.map((m) => ({ topic: t.topic, key: m.key }))
  );
  assert.deepEqual(
    all.map((m) => `${m.topic === "dlq.cdc" ? "dlq" : "t"}${m.key}`),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) =>
      `${i === 6 ? "dlq" : "t"}{"id":${i}}`
    ),
  );
  await sink.close();
});

Deno.test("without a dead-letter topic an over-size record fails with the topic and key, never retried", async () => {
  const { producer } = fakeProducer();
  const sink = new KafkaSink(producer, { ...OPTS, dlqTopic: "" }, log, 0n);
  sink.start();
  await assert.rejects(
    () =>
      within(
        (async () => {
          await sink.push(rec(5, "z".repeat(1_100_000)));
          await sink.drain();
        })(),
        5_000,
        "push + drain",
      ),
    /record for p\.public\.docs key \{"id":5\} is too large/,
  );
  await sink.close();
});

Deno.test("push waits once maxPendingBytes are unacknowledged, even below maxPending records", async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  const { producer } = fakeProducer({ gate });
  const sink = new KafkaSink(
    producer,
    { ...OPTS, maxPendingBytes: 2 * 1024 * 1024 },
    log,
    0n,
  );
  sink.start();
  const half = "m".repeat(512 * 1024);
  let accepted = 0;
  const pushes = (async () => {
    for (let i = 0; i < 10; i++) {
      await sink.push(rec(i, half));
      accepted++;
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(accepted <= 4, `${accepted} × 512 KiB accepted with a 2 MiB bound`);
  assert.ok(sink.pendingBytes <= 2 * 1024 * 1024);
  open();
  await pushes;
  await sink.drain();
  assert.equal(accepted, 10);
  assert.equal(sink.pendingBytes, 0);
  await sink.close();
});

Deno.test("a partition Kafka left out of its answer is sent again: every record arrives once, in order per partition", async () => {
  const keys = Array.from({ length: 30 }, (_, i) => `{"id":${i}}`);
  const lost = keyPartition(keys[0], PARTITIONS);
  const { producer, sent } = fakeProducer({
    skipOnce: new Set([laneKey({ topic: "p.public.docs", partition: lost })]),
  });
  const sink = new KafkaSink(producer, OPTS, log, 0n);
  for (let i = 0; i < keys.length; i++) await sink.push(rec(i, `v${i}`));
  await sink.push({ topic: "p.public.other", key: keys[0], value: "o" });
  sink.mark(31n);
  sink.start();
  await within(sink.drain(), 5_000, "drain");
  assert.equal(sink.tracker.confirmed, 31n);
  const byLane = (
    msgs: Array<{ topic: string; key: string | null; value: string | null }>,
  ) => {
    const out = new Map<string, string[]>();
    for (const m of msgs) {
      const lane = laneKey({
        topic: m.topic,
        partition: keyPartition(m.key, PARTITIONS),
      });
      out.set(lane, [...out.get(lane) ?? [], `${m.key}=${m.value}`]);
    }
    return out;
  };
  const written = sent.flat().flatMap((t) =>
    t.messages.map((m) => ({ topic: t.topic, key: m.key, value: m.value }))
  );
  const expected = [
    ...keys.map((key, i) => ({ topic: "p.public.docs", key, value: `v${i}` })),
    { topic: "p.public.other", key: keys[0], value: "o" },
  ];
  assert.deepEqual(byLane(written), byLane(expected));
  assert.equal(written.length, expected.length);
  // Explicit partitions, the ones KafkaJS's default partitioner picks.
  for (const t of sent.flat()) {
    for (const m of t.messages) {
      assert.equal(m.partition, keyPartition(m.key, PARTITIONS));
    }
  }
  assert.equal(
    sink.resent,
    byLane(expected).get(laneKey({ topic: "p.public.docs", partition: lost }))!
      .length,
  );
  await sink.close();
});
