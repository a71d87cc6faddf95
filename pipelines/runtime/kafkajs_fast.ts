/**
 * The fast replacements of six KafkaJS 2.2.4 hot spots, found with
 * `--cpu-prof` while shipping 200k events (see README "Performance"). This
 * module only builds them; `kafkajs_speedups.ts` checks that the loaded
 * KafkaJS is the one they were written for and installs all or none.
 *
 * 1. `groupMessagesPerPartition` copies the partition's array for every
 *    message (`[...current, message]`): O(n²) per batch. Replaced by a linear
 *    push with the same result.
 * 2. `Encoder#writeUVarInt` / `#writeVarLong` allocate a `Buffer.from([...])`
 *    per varint (several per record), which is slow under Deno's Buffer
 *    polyfill; they now write the bytes in place.
 * 3. `Encoder#writeBufferInternal` uses `Buffer#copy`; `Uint8Array#set` is the
 *    same copy done natively.
 * 4. The default partitioner's `murmur2` hashes every key with BigInt-backed
 *    `Long` objects (several allocations per 4 key bytes: ~10% of the CPU).
 *    Java's murmur2 is 32-bit arithmetic, so `Math.imul` gives the same
 *    partition (unit-tested against the original).
 * 5. Every record is built in its own `Encoder`, i.e. a 512-byte
 *    `Buffer.alloc` (slow under Deno's Buffer polyfill) plus a `Buffer` slice,
 *    then copied into a records buffer that grows by doubling. Records without
 *    headers are now written into one exact-size `Uint8Array` each, and
 *    `writeEncoderArray` sizes its buffer once. Byte-identical (unit-tested).
 * 6. The record batch CRC-32C goes byte by byte through one table; slicing
 *    by 8 (eight tables) gives the same checksum several times faster.
 *
 * @module
 */
import { Buffer } from "node:buffer";

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

/** Same result as KafkaJS's `groupMessagesPerPartition`, in linear time. */
export function groupMessagesPerPartition(
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

const M = 0x5bd1e995;
const utf8 = new TextEncoder();

/**
 * Kafka's murmur2 (as KafkaJS's DefaultPartitioner uses it) in 32-bit
 * arithmetic; returns the same signed 32-bit value as KafkaJS 2.2.4.
 */
export function murmur2(key: unknown): number {
  let bytes: Uint8Array | undefined;
  let str = "";
  if (key instanceof Uint8Array) bytes = key;
  else {
    str = String(key);
    for (let i = 0; i < str.length; i++) {
      if (str.charCodeAt(i) > 0x7f) {
        bytes = utf8.encode(str);
        break;
      }
    }
  }
  // ASCII strings are hashed from their char codes: no byte copy.
  const at = bytes
    ? (i: number) => bytes![i]
    : (i: number) => str.charCodeAt(i);
  const length = bytes ? bytes.length : str.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = at(i4) | (at(i4 + 1) << 8) | (at(i4 + 2) << 16) |
      (at(i4 + 3) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  switch (length & 3) {
    case 3:
      h ^= at(tail + 2) << 16;
    // falls through
    case 2:
      h ^= at(tail + 1) << 8;
    // falls through
    case 1:
      h ^= at(tail);
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

const SAFE = 2 ** 52;

/** Slicing-by-8 tables for CRC-32C (Castagnoli, reflected 0x82F63B78). */
const CRC_TABLES: Int32Array[] = (() => {
  const t: Int32Array[] = [new Int32Array(256)];
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[0][i] = c;
  }
  for (let k = 1; k < 8; k++) {
    t[k] = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      t[k][i] = (t[k - 1][i] >>> 8) ^ t[0][t[k - 1][i] & 0xff];
    }
  }
  return t;
})();

/** CRC-32C of `b` as an unsigned 32-bit number (KafkaJS's `crc32C`). */
export function crc32c(b: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let crc = -1;
  let i = 0;
  const n = b.length;
  for (; i + 8 <= n; i += 8) {
    crc ^= b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    crc = t7[crc & 0xff] ^ t6[(crc >>> 8) & 0xff] ^ t5[(crc >>> 16) & 0xff] ^
      t4[crc >>> 24] ^ t3[b[i + 4]] ^ t2[b[i + 5]] ^ t1[b[i + 6]] ^
      t0[b[i + 7]];
  }
  for (; i < n; i++) crc = t0[(crc ^ b[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Bytes of a 32-bit zig-zag varint (KafkaJS `sizeOfVarInt`). */
function varintSize(v: number): number {
  let z = ((v << 1) ^ (v >> 31)) >>> 0;
  let n = 1;
  while (z >= 128) {
    z >>>= 7;
    n++;
  }
  return n;
}

/** Writes a 32-bit zig-zag varint at `off`; returns the next offset. */
function putVarint(buf: Uint8Array, off: number, v: number): number {
  let z = ((v << 1) ^ (v >> 31)) >>> 0;
  while (z >= 128) {
    buf[off++] = (z & REST) | MSB;
    z >>>= 7;
  }
  buf[off++] = z;
  return off;
}

/** Writes a zig-zag varlong (safe integer) at `off`; returns the next offset. */
function putVarlong(buf: Uint8Array, off: number, v: number): number {
  let z = zigzag(v);
  while (z >= 128) {
    buf[off++] = (z % 128) | MSB;
    z = Math.floor(z / 128);
  }
  buf[off++] = z;
  return off;
}

/**
 * A record's bytes, shaped like the KafkaJS `Encoder` that
 * `writeEncoderArray` / `writeEncoder` consume (`buf` only has to pass
 * `Buffer.isBuffer`; the bytes are in `buffer`).
 */
class EncodedRecord {
  constructor(readonly buf: unknown, readonly buffer: Uint8Array) {}
  get offset(): number {
    return this.buffer.length;
  }
  size(): number {
    return this.buffer.length;
  }
}

/**
 * A drop-in for KafkaJS's Record v0 builder: the same bytes for records
 * without headers whose key and value are null, strings or Buffers; anything
 * else goes to `original` (which is what throws for, e.g., a number).
 */
export function fastRecord(original: (args: Any) => Any): (args: Any) => Any {
  const sentinel = Buffer.alloc(0);
  const plain = (v: unknown) =>
    v === null || v === undefined || typeof v === "string" ||
    Buffer.isBuffer(v);
  // ASCII strings (keys such as IPs or ids) stay strings and are written
  // char by char: TextEncoder is a native call, costly for a few bytes.
  const bytesOf = (v: unknown): Uint8Array | string | null => {
    if (v === null || v === undefined) return null;
    if (typeof v !== "string") return v as Uint8Array;
    for (let i = 0; i < v.length; i++) {
      if (v.charCodeAt(i) > 0x7f) return utf8.encode(v);
    }
    return v;
  };
  return function record(args: Any) {
    const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = args;
    if (
      (headers && Object.keys(headers).length > 0) ||
      typeof timestampDelta !== "number" ||
      !(Math.abs(timestampDelta) < SAFE) || !plain(key) || !plain(value)
    ) {
      return original(args);
    }
    const k = bytesOf(key);
    const v = bytesOf(value);
    const body = 1 + uvarintSize(zigzag(timestampDelta)) +
      varintSize(offsetDelta) +
      (k !== null ? varintSize(k.length) + k.length : 1) +
      (v !== null ? varintSize(v.length) + v.length : 1) +
      1; // header count 0
    const out = new Uint8Array(varintSize(body) + body);
    let off = putVarint(out, 0, body);
    out[off++] = 0; // attributes
    off = putVarlong(out, off, timestampDelta);
    off = putVarint(out, off, offsetDelta);
    for (const b of [k, v]) {
      if (b === null) off = putVarint(out, off, -1);
      else {
        off = putVarint(out, off, b.length);
        if (typeof b === "string") {
          for (let i = 0; i < b.length; i++) out[off + i] = b.charCodeAt(i);
        } else out.set(b, off);
        off += b.length;
      }
    }
    out[off] = 0;
    return new EncodedRecord(sentinel, out);
  };
}

/** Replacement `Encoder.prototype` methods, by name. */
export interface FastEncoderMethods {
  writeEncoderArray(this: Any, value: Any[]): Any;
  writeBufferInternal(this: Any, buffer: Uint8Array): void;
  writeUVarInt(this: Any, value: number): Any;
  writeVarLong(this: Any, value: unknown): Any;
}

/**
 * Faster `Encoder` methods for KafkaJS's `Encoder` class: `prototype` holds
 * the instance methods, `sizeOfVarLong` the static. Values outside the safe
 * integer range go to the originals, captured here.
 */
export function fastEncoder(Encoder: Any): {
  prototype: FastEncoderMethods;
  sizeOfVarLong: (value: unknown) => number;
} {
  const origVarLong = Encoder.prototype.writeVarLong;
  const origSizeOfVarLong = Encoder.sizeOfVarLong;
  const prototype: FastEncoderMethods = {
    writeEncoderArray(this: Any, value: Any[]) {
      if (!Array.isArray(value)) {
        throw new Error("all values should be an instance of Encoder[]");
      }
      let total = 0;
      for (const v of value) {
        if (v == null || !Buffer.isBuffer(v.buf)) {
          throw new Error("all values should be an instance of Encoder[]");
        }
        total += v.offset;
      }
      this.ensureAvailable(total);
      for (const v of value) {
        // Plain views: a Buffer slice per record costs a FastBuffer.
        const bytes = v instanceof EncodedRecord
          ? v.buffer
          : new Uint8Array(v.buf.buffer, v.buf.byteOffset, v.offset);
        this.buf.set(bytes, this.offset);
        this.offset += bytes.length;
      }
      return this;
    },
    writeBufferInternal(this: Any, buffer: Uint8Array) {
      this.ensureAvailable(buffer.length);
      this.buf.set(buffer, this.offset);
      this.offset += buffer.length;
    },
    writeUVarInt(this: Any, value: number) {
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
    },
    writeVarLong(this: Any, value: unknown) {
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
    },
  };
  const sizeOfVarLong = (value: unknown) => {
    if (typeof value !== "number" || !(Math.abs(value) < SAFE)) {
      return origSizeOfVarLong.call(Encoder, value);
    }
    return uvarintSize(zigzag(value));
  };
  return { prototype, sizeOfVarLong };
}
