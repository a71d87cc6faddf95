import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { BatchBuilder } from "./batch.ts";
import { Encoder } from "./encoder.ts";
import { compileRouting } from "./routing.ts";

const enc = new TextEncoder();
const limits = { maxMessages: 100, maxBytes: 1 << 20, lingerMs: 10 };

function setup(hostName?: string) {
  const reasons: string[] = [];
  const e = new Encoder({
    router: compileRouting({ rules: [], defaultTopic: "t", keyField: "k" }),
    dlqTopic: "dlq",
    hostName,
    onDeadLetter: (r) => reasons.push(r),
  });
  const b = new BatchBuilder(limits);
  const seal = () => b.seal("file", () => Promise.resolve());
  return { e, b, seal, reasons };
}

Deno.test("encoder: NDJSON lines travel byte-for-byte with their key", () => {
  const { e, b, seal } = setup();
  const line = '{"k":"a1",  "v": 1}';
  e.encode(enc.encode(line), "ndjson", "file", "f.ndjson", b);
  const batch = seal();
  assert.equal(batch.events, 1);
  assert.deepEqual(batch.topicMessages.map((t) => t.topic), ["t"]);
  const m = batch.topicMessages[0].messages[0];
  assert.equal(m.key, "a1");
  assert.equal(m.value.toString(), line);
});

Deno.test("encoder: text and docker lines are wrapped", () => {
  const { e, b, seal } = setup("h1");
  e.encode(enc.encode("plain words"), "text", "file", "app.log", b);
  e.encode(
    enc.encode(
      '{"log":"hello\\n","stream":"stderr","time":"2024-01-01T00:00:00Z"}',
    ),
    "docker",
    "file",
    "/var/lib/docker/containers/0123456789abcdef/0123456789abcdef-json.log",
    b,
  );
  const [text, docker] = seal().topicMessages[0].messages.map((m) =>
    JSON.parse(m.value.toString())
  );
  assert.equal(text.message, "plain words");
  assert.equal(text.file, "app.log");
  assert.equal(text.host, "h1");
  assert.ok(!Number.isNaN(Date.parse(text.ts)));
  assert.equal(docker.message, "hello");
  assert.equal(docker.stream, "stderr");
  assert.equal(docker.timestamp, "2024-01-01T00:00:00Z");
  assert.equal(docker.container_id, "0123456789abcdef");
});

Deno.test("encoder: bad input becomes dead letters with reason, source, original", () => {
  const { e, b, seal, reasons } = setup();
  e.encode(enc.encode("{nope"), "ndjson", "file", "f", b);
  e.encode(enc.encode("42"), "ndjson", "file", "f", b);
  e.encode(enc.encode('{"no_log":1}'), "docker", "file", "d", b);
  e.oversize(enc.encode("abc"), 9999, 100, "f", b);
  const batch = seal();
  assert.equal(batch.deadLetters, 4);
  assert.deepEqual(reasons, [
    "invalid_json",
    "not_object",
    "not_docker",
    "too_large",
  ]);
  const dead = batch.topicMessages[0].messages.map((m) =>
    JSON.parse(m.value.toString())
  );
  assert.equal(batch.topicMessages[0].topic, "dlq");
  assert.match(dead[0].reason, /^invalid JSON/);
  assert.equal(dead[0].original, "{nope");
  assert.equal(dead[0].source, "f");
  assert.equal(dead[0].pipeline, "shipper");
  assert.match(dead[1].reason, /not a JSON object/);
  assert.match(dead[2].reason, /Docker/);
  assert.match(dead[3].reason, /9999 bytes exceeds the limit of 100/);
});

Deno.test("encoder: the NDJSON fast path routes like a full parse", () => {
  // Routing reads several fields (conditions, template, key): the fast path
  // must give the same destinations as JSON.parse would, and dead-letter
  // exactly the lines JSON.parse refuses.
  const router = compileRouting({
    rules: [
      { when: { field: "level", equals: "error" }, topic: "errors" },
      { topic: "svc.{service}", key: "trace" },
    ],
    defaultTopic: "other",
    keyField: "k",
  });
  const lines = [
    '{"service":"auth","trace":"t1","level":"error"}',
    '{"service":"pay\\u006dent","trace":7,"level":"info","k":"x"}',
    '{"k":"no-service","level":"error","level":"warn"}',
    '{"service":{"nested":true},"trace":null}',
    '\uFEFF{"service":"bom","trace":"é"}',
    '{"service":"a b"}',
    '{"service":"x",}',
    '["service"]',
    '{"service":"x"} trailing',
  ];
  const run = (parse: boolean) => {
    const e = new Encoder({ router, dlqTopic: "dlq" });
    const b = new BatchBuilder(limits);
    for (const l of lines) {
      const bytes = enc.encode(l);
      if (parse) {
        // The slow path: what the encoder did before the fast path.
        let v: unknown;
        try {
          v = JSON.parse(new TextDecoder().decode(bytes));
        } catch {
          v = undefined;
        }
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
          e.deadLetter(b, "x", "bad", "f", l);
          continue;
        }
        const r = router(v as Record<string, unknown>, "file");
        if (!r.ok) e.deadLetter(b, "x", "bad", "f", l);
        else {
          for (const d of r.destinations) {
            b.add(d.topic, d.key, Buffer.from(bytes));
          }
          b.countEvent();
        }
      } else e.encode(bytes, "ndjson", "file", "f", b);
    }
    return b.seal("file", () => Promise.resolve()).topicMessages.map((t) => ({
      topic: t.topic,
      keys: t.messages.map((m) => m.key),
      values: t.topic === "dlq"
        ? t.messages.length
        : t.messages.map((m) => m.value.toString()),
    }));
  };
  const fast = run(false);
  assert.deepEqual(fast, run(true));
  // 3 invalid lines + 2 whose service renders an invalid topic name.
  assert.equal(fast.find((t) => t.topic === "dlq")?.values, 5);
});
