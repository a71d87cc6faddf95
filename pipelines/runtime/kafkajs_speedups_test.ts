import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Buffer } from "node:buffer";
import { createLogger } from "./log.ts";
import {
  CAPTURING_MODULES,
  checkKafkajs,
  crc32c,
  ENCODER_MODULE,
  EXPECTED,
  EXPECTED_FINGERPRINTS,
  fingerprintsOf,
  installKafkajsSpeedups,
  type KafkajsInternals,
  kafkajsSpeedupsApplied,
  loadInternals,
  murmur2,
  PATCHED_METHODS,
  PATCHED_MODULES,
} from "./kafkajs_speedups.ts";

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

/**
 * A second, untouched copy of the KafkaJS modules the speed-ups patch
 * (loaded beside the patched ones, which stay in require.cache).
 */
function freshInternals(): KafkajsInternals {
  const paths = [...Object.values(PATCHED_MODULES), ENCODER_MODULE].map((p) =>
    root + p
  );
  const saved = paths.map((p) => [p, require.cache[p]] as const);
  for (const p of paths) delete require.cache[p];
  try {
    return { ...loadInternals(require), loadedCapturers: [] };
  } finally {
    for (const [p, entry] of saved) require.cache[p] = entry!;
  }
}

/** Every function the speed-ups replace in `k`, by name. */
function snapshot(k: KafkajsInternals): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(k.modules)) {
    out[name] = entry.exports;
  }
  for (const m of PATCHED_METHODS) out[m] = k.Encoder.prototype[m];
  out.sizeOfVarLong = k.Encoder.sizeOfVarLong;
  return out;
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger("test", "debug", (l) => lines.push(JSON.parse(l)));
  return { lines, log };
}

Deno.test("kafkajs speed-ups: the pinned KafkaJS matches every fingerprint", () => {
  const k = freshInternals();
  assert.equal(k.version, "2.2.4");
  assert.deepEqual(fingerprintsOf(k), { ...EXPECTED_FINGERPRINTS });
  assert.deepEqual(
    checkKafkajs({
      version: k.version,
      fingerprints: fingerprintsOf(k),
      loadedCapturers: [],
    }),
    [],
  );
  // The copy used at import was checked the same way, and patched.
  assert.equal(kafkajsSpeedupsApplied, true);
  assert.equal(require(`${root}${PATCHED_MODULES.crc32C}`), crc32c);
});

Deno.test("kafkajs speed-ups: checkKafkajs names each difference", () => {
  const fingerprints = {
    ...EXPECTED_FINGERPRINTS,
    murmur2: "0000000000000000",
  };
  delete (fingerprints as Record<string, string>)["Encoder#writeUVarInt"];
  assert.deepEqual(
    checkKafkajs({
      version: "2.2.5",
      fingerprints,
      loadedCapturers: [CAPTURING_MODULES[0]],
    }),
    [
      "KafkaJS 2.2.5 (speed-ups are for 2.2.4)",
      `murmur2 differs (fingerprint 0000000000000000, expected ${EXPECTED_FINGERPRINTS.murmur2})`,
      `Encoder#writeUVarInt differs (fingerprint missing, expected ${
        EXPECTED_FINGERPRINTS["Encoder#writeUVarInt"]
      })`,
      "src/producer/sendMessages.js was loaded before the speed-ups",
    ],
  );
});

Deno.test("kafkajs speed-ups: the expected KafkaJS gets every patch", () => {
  const k = freshInternals();
  const before = snapshot(k);
  const { lines, log } = capture();
  const result = installKafkajsSpeedups(() => k, log);
  assert.deepEqual(result, { applied: true, problems: [] });
  assert.deepEqual(lines, []);
  const after = snapshot(k);
  for (const name of Object.keys(before)) {
    assert.notEqual(after[name], before[name], `${name} replaced`);
  }
  assert.equal(after.crc32C, crc32c);
  assert.equal(after.murmur2, murmur2);
  // The patched copy encodes like the original.
  assert.deepEqual(
    [...new k.Encoder().writeVarLong(1_700_000_000_000).buffer],
    [...new Encoder().writeVarLong(Long.fromNumber(1_700_000_000_000)).buffer],
  );
});

Deno.test("kafkajs speed-ups: any mismatch patches nothing and warns once", () => {
  const mismatches: Array<[string, (k: KafkajsInternals) => void, RegExp]> = [
    ["other version", (k) => k.version = "2.2.5", /KafkaJS 2\.2\.5/],
    [
      "changed function",
      (k) => {
        const orig = k.modules.murmur2.exports as (key: unknown) => number;
        k.modules.murmur2.exports = (key: unknown) => orig(key);
      },
      /^murmur2 differs/,
    ],
    [
      "changed method",
      (k) => k.Encoder.prototype.writeUVarInt = function () {},
      /^Encoder#writeUVarInt differs/,
    ],
    [
      "loaded too late",
      (k) => k.loadedCapturers = [CAPTURING_MODULES[1]],
      /default\/index\.js was loaded before/,
    ],
  ];
  for (const [what, mutate, reason] of mismatches) {
    const k = freshInternals();
    mutate(k);
    const before = snapshot(k);
    const { lines, log } = capture();
    const result = installKafkajsSpeedups(() => k, log);
    assert.equal(result.applied, false, what);
    assert.equal(result.problems.length, 1, what);
    assert.match(result.problems[0], reason, what);
    assert.deepEqual(snapshot(k), before, `${what}: nothing patched`);
    assert.equal(lines.length, 1, what);
    assert.equal(lines[0].level, "warn");
    assert.match(String(lines[0].msg), /speed-ups not applied.*stock KafkaJS/);
    assert.deepEqual(lines[0].problems, result.problems);
  }
});

Deno.test("kafkajs speed-ups: an unknown layout or a failing patch leaves KafkaJS stock", () => {
  const { lines, log } = capture();
  const thrown = installKafkajsSpeedups(() => {
    throw new Error("Cannot find module 'src/protocol/encoder.js'");
  }, log);
  assert.deepEqual(thrown, {
    applied: false,
    problems: ["cannot patch: Cannot find module 'src/protocol/encoder.js'"],
  });
  // Module exports are patched before the Encoder: a frozen Encoder makes
  // the patch fail half-way, and what was done is undone.
  const k = freshInternals();
  const before = snapshot(k);
  Object.freeze(k.Encoder.prototype);
  const frozen = installKafkajsSpeedups(() => k, log);
  assert.equal(frozen.applied, false);
  assert.match(frozen.problems[0], /^cannot patch: /);
  assert.deepEqual(snapshot(k), before);
  assert.equal(lines.length, 2);
  assert.deepEqual(EXPECTED.version, "2.2.4");
});
