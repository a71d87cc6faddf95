import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { kafkajsSpeedupsApplied } from "./_kafkajs_speedups.ts";

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
