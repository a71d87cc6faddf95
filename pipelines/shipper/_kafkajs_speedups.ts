/**
 * Fixes for three hot spots of KafkaJS 2.2.4's producer, found with
 * `--cpu-prof` while shipping 200k events (see README "Performance"):
 *
 * 1. `groupMessagesPerPartition` copies the partition's array for every
 *    message (`[...current, message]`): O(n²) per batch. Replaced by a linear
 *    push with the same result. It is captured by KafkaJS at load time, so
 *    this module must be imported before anything imports `kafkajs`.
 * 2. `Encoder#writeUVarInt` / `#writeVarLong` allocate a `Buffer.from([...])`
 *    per varint (several per record), which is slow under Deno's Buffer
 *    polyfill; they now write the bytes in place.
 * 3. `Encoder#writeBufferInternal` uses `Buffer#copy`; `Uint8Array#set` is the
 *    same copy done natively.
 *
 * Applied only to exactly KafkaJS 2.2.4 (the pinned version); any other
 * version is left untouched. Wire bytes are identical (unit-tested).
 *
 * @module
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** True when the patches were applied. */
export let kafkajsSpeedupsApplied = false;

// deno-lint-ignore no-explicit-any
type Any = any;

const MSB = 0x80;
const REST = 0x7f;

/** Bytes of the unsigned LEB128 encoding of a non-negative safe integer. */
function uvarintSize(z: number): number {
  let n = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    n++;
  }
  return n;
}

/** Zig-zag for a safe integer, in float arithmetic (no BigInt). */
function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** Same result as KafkaJS's, in linear time. */
function groupMessagesPerPartition(
  { topic, partitionMetadata, messages, partitioner }: Any,
): Record<string, Any[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<string, Any[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

const SAFE = 2 ** 52;

try {
  const root = require.resolve("kafkajs").replace(/index\.js$/, "");
  const version = require(`${root}package.json`).version;
  if (version === "2.2.4") {
    const groupPath = `${root}src/producer/groupMessagesPerPartition.js`;
    require(groupPath);
    require.cache[groupPath]!.exports = groupMessagesPerPartition;

    const Encoder = require(`${root}src/protocol/encoder.js`);
    const proto = Encoder.prototype;
    const origVarLong = proto.writeVarLong;
    const origSizeOfVarLong = Encoder.sizeOfVarLong;
    proto.writeBufferInternal = function (this: Any, buffer: Uint8Array) {
      this.ensureAvailable(buffer.length);
      this.buf.set(buffer, this.offset);
      this.offset += buffer.length;
    };
    proto.writeUVarInt = function (this: Any, value: number) {
      this.ensureAvailable(5);
      const buf = this.buf;
      let off = this.offset;
      while ((value & 0xffffff80) !== 0) {
        buf[off++] = (value & REST) | MSB;
        value >>>= 7;
      }
      buf[off++] = value & REST;
      this.offset = off;
      return this;
    };
    proto.writeVarLong = function (this: Any, value: unknown) {
      if (typeof value !== "number" || !(Math.abs(value) < SAFE)) {
        return origVarLong.call(this, value);
      }
      let z = zigzag(value);
      this.ensureAvailable(10);
      const buf = this.buf;
      let off = this.offset;
      while (z >= 128) {
        buf[off++] = (z % 128) | MSB;
        z = Math.floor(z / 128);
      }
      buf[off++] = z;
      this.offset = off;
      return this;
    };
    Encoder.sizeOfVarLong = function (value: unknown) {
      if (typeof value !== "number" || !(Math.abs(value) < SAFE)) {
        return origSizeOfVarLong.call(Encoder, value);
      }
      return uvarintSize(zigzag(value));
    };
    kafkajsSpeedupsApplied = true;
  }
} catch {
  // Layout differs from what we know: run KafkaJS as it is.
}
