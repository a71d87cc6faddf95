import assert from "node:assert/strict";
import frames from "./testdata/pgoutput_frames.json" with { type: "json" };
import { FramePool } from "./frame_pool.ts";
import { decodePgOutput, parseFrame } from "./pgoutput.ts";

function hex(h: string): Uint8Array {
  return new Uint8Array(h.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** Decoded frames with bigints and bytes made comparable. */
function decodeAll(payloads: Uint8Array[]): string {
  return JSON.stringify(
    payloads.map((p) => {
      const f = parseFrame(p);
      return f.kind === "xlogdata" ? decodePgOutput(f.payload) : f;
    }),
    (_k, v) =>
      typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? [...v] : v,
  );
}

Deno.test("frame pool: copies survive the reuse of pg's read buffer", () => {
  // A tiny slab so the captured stream crosses many slab boundaries, and a
  // limit that sends the 6.4 kB TOAST row to its own buffer.
  const pool = new FramePool({ slabBytes: 1024, maxPooledBytes: 512 });
  const originals = (frames as string[]).map(hex);
  const reused = new Uint8Array(16 * 1024);
  const copies = originals.map((f) => {
    reused.set(f);
    const c = pool.copy(reused.subarray(0, f.byteLength));
    reused.fill(0xee); // pg overwrites its buffer with the next read
    return c;
  });
  assert.deepEqual(copies.map((c) => [...c]), originals.map((f) => [...f]));
  assert.ok(copies.some((c) => c.byteLength > 512));
  // Decoding the copies gives exactly what decoding fresh buffers gives.
  assert.equal(decodeAll(copies), decodeAll(originals));
});

Deno.test("frame pool: small frames share slabs, large ones do not", () => {
  const pool = new FramePool({ slabBytes: 100, maxPooledBytes: 40 });
  const a = pool.copy(new Uint8Array(30).fill(1));
  const b = pool.copy(new Uint8Array(30).fill(2));
  const c = pool.copy(new Uint8Array(50).fill(3)); // over the limit: own buffer
  const d = pool.copy(new Uint8Array(40).fill(4)); // 60 + 40 fits: same slab
  const e = pool.copy(new Uint8Array(1).fill(5)); // slab full: a new one
  assert.equal(a.buffer, b.buffer);
  assert.equal(a.buffer, d.buffer);
  assert.notEqual(a.buffer, c.buffer);
  assert.notEqual(a.buffer, e.buffer);
  assert.equal(c.byteLength, c.buffer.byteLength);
  assert.deepEqual([a[0], b[29], c[49], d[0], d[39], e[0]], [1, 2, 3, 4, 4, 5]);
  assert.deepEqual(pool.copy(new Uint8Array(0)), new Uint8Array(0));
});
