import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Buffer } from "node:buffer";
import {
  crc32c,
  kafkajsSpeedupsApplied,
  murmur2,
} from "./_kafkajs_speedups.ts";

const require = createRequire(import.meta.url);
const root = require.resolve("kafkajs").replace(/index\.js$/, "");
const Encoder = require(`${root}src/protocol/encoder.js`);
const Long = require(`${root}src/utils/long.js`);
const group = require(`${root}src/producer/groupMessagesPerPartition.js`);

Deno.test("kafkajs speed-ups: applied, and varints are byte-identical", () => {
  assert.ok(kafkajsSpeedupsApplied);
  const values = [0, 1, -1, 63, -64, 64, 300, -300, 2 ** 31 - 1, -(2 ** 31)];
  for (const v of values) {
    const fast = new Encoder().writeVarInt(v).buffer;
    // Reference: LEB128 of the 32-bit zig-zag value.
    let z = ((v << 1) ^ (v >> 31)) >>> 0;
    const ref: number[] = [];
    while (z >= 128) {
      ref.push((z & 0x7f) | 0x80);
      z >>>= 7;
    }
    ref.push(z);
    assert.deepEqual([...fast], ref, `varint ${v}`);
  }
  const longs = [0, 1, -1, 1_700_000_000_000, -1_700_000_000_000, 2 ** 40 + 7];
  for (const v of longs) {
    const fast = new Encoder().writeVarLong(v).buffer;
    const slow = new Encoder().writeVarLong(Long.fromNumber(v)).buffer; // original path
    assert.deepEqual([...fast], [...slow], `varlong ${v}`);
    assert.equal(Encoder.sizeOfVarLong(v), slow.length);
  }
});

Deno.test("kafkajs speed-ups: grouping per partition keeps order", () => {
  const messages = Array.from({ length: 10 }, (_, i) => ({ value: String(i) }));
  const out = group({
    topic: "t",
    partitionMetadata: [{}, {}, {}],
    messages,
    partitioner: ({ message }: { message: { value: string } }) =>
      Number(message.value) % 3,
  });
  assert.deepEqual(Object.keys(out), ["0", "1", "2"]);
  assert.deepEqual(out[1].map((m: { value: string }) => m.value), [
    "1",
    "4",
    "7",
  ]);
});

Deno.test("kafkajs speed-ups: murmur2 gives KafkaJS's partitions", () => {
  // Load the original module once more, beside the patched cache entry.
  const path = `${root}src/producer/partitioners/default/murmur2.js`;
  const patchedEntry = require.cache[path];
  delete require.cache[path];
  const original = require(path) as (key: unknown) => number;
  require.cache[path] = patchedEntry;
  assert.notEqual(original, murmur2);
  const keys: unknown[] = ["", "a", "ab", "abc", "abcd", "10.1.2.3", "ünï©ødé"];
  for (let i = 0; i < 2000; i++) {
    const n = i % 37;
    let s = "";
    for (let j = 0; j < n; j++) {
      s += String.fromCharCode(
        i % 5 === 0
          ? 0x80 + ((i * 7 + j * 13) % 0x700)
          : 32 + ((i + j * 31) % 95),
      );
    }
    keys.push(s);
  }
  keys.push(Buffer.from([0xff, 0x00, 0x80, 0x7f, 0x01]), 12345);
  assert.equal(require(path), murmur2);
  for (const k of keys) {
    assert.equal(murmur2(k), original(k), `key ${JSON.stringify(String(k))}`);
  }
});

Deno.test("kafkajs speed-ups: records are byte-identical to KafkaJS's", () => {
  const path = `${root}src/protocol/recordBatch/record/v0/index.js`;
  const patched = require(path);
  const patchedEntry = require.cache[path];
  delete require.cache[path];
  const original = require(path);
  require.cache[path] = patchedEntry;
  assert.notEqual(original, patched);

  const big = Buffer.alloc(70_000, 0x61);
  const cases: Array<Record<string, unknown>> = [];
  for (const key of [null, undefined, "", "10.1.2.3", "ünï©ødé"]) {
    for (
      const value of [
        null,
        Buffer.from('{"a":1}'),
        "text ✓",
        big,
        Buffer.alloc(0),
      ]
    ) {
      for (
        const [offsetDelta, timestampDelta] of [[0, 0], [1, 5], [8191, -3]]
      ) {
        cases.push({ key, value, offsetDelta, timestampDelta });
      }
    }
  }
  // Headers take KafkaJS's own path.
  cases.push({ key: "k", value: Buffer.from("v"), headers: { h: "x" } });
  const all: Array<{ buffer: Uint8Array }> = [];
  const ref: Array<{ buffer: Uint8Array }> = [];
  for (const c of cases) {
    const mine = patched({ ...c });
    const theirs = original({ ...c });
    assert.deepEqual(
      [...mine.buffer],
      [...theirs.buffer],
      `record ${JSON.stringify(c).slice(0, 80)}`,
    );
    all.push(mine);
    ref.push(theirs);
  }
  // Concatenated as a record set (compressed batches) the same way too.
  const a = new Encoder().writeEncoderArray(all).buffer;
  const b = new Encoder().writeEncoderArray(ref).buffer;
  assert.deepEqual([...a], [...b]);
  assert.equal(a.length, ref.reduce((n, r) => n + r.buffer.length, 0));
  assert.throws(() => new Encoder().writeEncoderArray([{}]), /Encoder\[\]/);
  // What KafkaJS rejects, the patched path rejects the same way.
  assert.throws(() => original({ key: 42, value: null }), TypeError);
  assert.throws(() => patched({ key: 42, value: null }), TypeError);
});

Deno.test("kafkajs speed-ups: CRC-32C matches KafkaJS's", () => {
  const path = `${root}src/protocol/recordBatch/crc32C/index.js`;
  const patchedEntry = require.cache[path];
  delete require.cache[path];
  const original = require(path) as (b: Uint8Array) => number;
  require.cache[path] = patchedEntry;
  assert.equal(require(path), crc32c);
  // The standard check value of CRC-32C.
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  let seed = 7;
  for (let len = 0; len < 300; len += 1 + (len >> 3)) {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      b[i] = seed >>> 24;
    }
    assert.equal(crc32c(b), original(b), `length ${len}`);
    assert.equal(crc32c(b.subarray(3)), original(b.subarray(3)));
  }
});
