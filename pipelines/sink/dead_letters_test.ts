import assert from "node:assert/strict";
import { createLogger } from "../runtime/log.ts";
import { Range } from "./batch.ts";
import {
  boundedMessage,
  chunkMessages,
  DLQ_ORIGINAL_MAX_CHARS,
  DLQ_REQUEST_MAX_BYTES,
  sendDeadLetters,
} from "./dead_letters.ts";

const log = createLogger("test", "error");
const partitions = { of: () => Promise.resolve(() => 3), invalidate() {} };

type Req = {
  topicMessages: Array<
    { topic: string; messages: Array<{ partition: number }> }
  >;
};
/** KafkaJS's answer to `req`: one entry per partition written. */
function answer(req: Req) {
  const out = new Map<string, { topicName: string; partition: number }>();
  for (const { topic, messages } of req.topicMessages) {
    for (const m of messages) {
      out.set(`${topic}/${m.partition}`, {
        topicName: topic,
        partition: m.partition,
      });
    }
  }
  return [...out.values()];
}
const range = new Range();
range.ts = 1_700_000_000;
const taken = { topic: "t", partition: 1, shard: 0, range };

Deno.test("an oversize original is cut to a sample with its size recorded", () => {
  const original = "é".repeat(600_000); // 1.2 MB
  const m = boundedMessage(taken, {
    offset: 7,
    reason: "invalid JSON",
    original,
  });
  const v = JSON.parse(m.value);
  assert.equal(m.key, "t:1:7");
  assert.equal(v.original.length, DLQ_ORIGINAL_MAX_CHARS);
  assert.equal(v.original_bytes, 1_200_000);
  assert.match(v.reason, /^invalid JSON \(original of 1200000 bytes truncated/);
  assert.equal(v.pipeline, "sink");
  const small = boundedMessage(taken, {
    offset: 8,
    reason: "r",
    original: "x",
  });
  assert.equal(JSON.parse(small.value).original, "x");
});

Deno.test("thousands of dead letters go out in requests under the broker limit, in order", () => {
  const msgs = Array.from(
    { length: 5_000 },
    (_, i) =>
      boundedMessage(taken, {
        offset: i,
        reason: "r",
        original: "ü".repeat(300),
      }),
  );
  const chunks = chunkMessages(msgs);
  assert.ok(chunks.length > 1);
  for (const c of chunks) {
    const bytes = c.reduce(
      (n, m) => n + new TextEncoder().encode(m.key + m.value).length,
      0,
    );
    assert.ok(bytes < DLQ_REQUEST_MAX_BYTES, `${bytes} bytes`);
  }
  assert.deepEqual(chunks.flat().map((m) => m.key), msgs.map((m) => m.key));
});

Deno.test("a request the broker refuses is given up, counted and logged; the others are written", async () => {
  const sent: number[] = [];
  let calls = 0;
  const producer = {
    sendBatch: (req: Req) => {
      if (calls++ === 0) {
        return Promise.reject(
          Object.assign(new Error("too large"), { type: "MESSAGE_TOO_LARGE" }),
        );
      }
      sent.push(req.topicMessages[0].messages.length);
      return Promise.resolve(answer(req));
    },
  };
  const msgs = Array.from(
    { length: 3_000 },
    (_, i) =>
      boundedMessage(taken, {
        offset: i,
        reason: "r",
        original: "y".repeat(500),
      }),
  );
  let counted = 0;
  const unwritten = await sendDeadLetters({
    producer: producer as never,
    partitions,
    topic: "dlq",
    messages: msgs,
    signal: new AbortController().signal,
    log,
    onUnwritten: (n) => counted += n,
  });
  const chunks = chunkMessages(msgs);
  assert.equal(unwritten, chunks[0].length);
  assert.equal(counted, unwritten);
  assert.equal(sent.reduce((a, b) => a + b, 0), 3_000 - unwritten);
});

Deno.test("a retriable failure is retried, then given up after the bound", async () => {
  let calls = 0;
  const producer = {
    sendBatch: () => {
      calls++;
      return Promise.reject(new Error("leader not available"));
    },
  };
  const unwritten = await sendDeadLetters({
    producer: producer as never,
    partitions,
    topic: "dlq",
    messages: [{ key: "k", value: "v" }],
    signal: new AbortController().signal,
    log,
    giveUpAfter: 2,
  });
  assert.equal(unwritten, 1);
  assert.equal(calls, 2);
});

Deno.test("a partition Kafka left out of its answer is written again: every dead letter once", async () => {
  const written: string[] = [];
  let first = true;
  const producer = {
    sendBatch: (req: Req) => {
      const kept = req.topicMessages[0].messages.filter((m) =>
        !(first && m.partition === 1)
      ) as unknown as Array<{ partition: number; key: string }>;
      first = false;
      written.push(...kept.map((m) => m.key));
      return Promise.resolve(
        answer({ topicMessages: [{ topic: "dlq", messages: kept }] }),
      );
    },
  };
  const msgs = Array.from(
    { length: 30 },
    (_, i) => boundedMessage(taken, { offset: i, reason: "r", original: "o" }),
  );
  const unwritten = await sendDeadLetters({
    producer: producer as never,
    partitions,
    topic: "dlq",
    messages: msgs,
    signal: new AbortController().signal,
    log,
  });
  assert.equal(unwritten, 0);
  assert.deepEqual(written.toSorted(), msgs.map((m) => m.key).toSorted());
});
