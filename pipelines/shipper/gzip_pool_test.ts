import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { gunzipSync } from "node:zlib";
import { GzipPool, useGzipPool } from "./gzip_pool.ts"; // first: loads the env guard
import { CompressionCodecs, CompressionTypes } from "kafkajs";

function sample(n: number, seed: number): Uint8Array {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({ i, seed, ip: `10.0.${i % 256}.${seed}` }));
  }
  return new TextEncoder().encode(lines.join("\n"));
}

Deno.test("gzip pool: concurrent jobs round-trip through gunzip", async () => {
  const pool = new GzipPool(2);
  try {
    const inputs = Array.from({ length: 12 }, (_, i) => sample(500 + i, i));
    // A view into a larger buffer must be compressed as just its bytes.
    const big = new Uint8Array(10_000).fill(7);
    const view = big.subarray(100, 300);
    const outs = await Promise.all([...inputs, view].map((d) => pool.gzip(d)));
    for (const [i, d] of [...inputs, view].entries()) {
      assert.equal(outs[i][0], 0x1f); // gzip magic
      assert.deepEqual(new Uint8Array(gunzipSync(outs[i])), d);
    }
    assert.equal(pool.pending, 0);
    assert.equal(big[100], 7, "caller's bytes untouched (copied, not moved)");
  } finally {
    pool.close();
  }
  await assert.rejects(pool.gzip(new Uint8Array(1)), /closed/);
});

Deno.test("gzip pool: installed as KafkaJS's gzip codec", async () => {
  const pool = new GzipPool(1);
  const restore = useGzipPool(pool);
  try {
    const codecs = CompressionCodecs as unknown as Record<
      number,
      () => {
        compress(e: { buffer: Buffer }): Promise<Buffer>;
        decompress(b: Buffer): Promise<Buffer>;
      }
    >;
    const codec = codecs[CompressionTypes.GZIP]();
    const data = Buffer.from(sample(2000, 9));
    const z = await codec.compress({ buffer: data });
    assert.ok(Buffer.isBuffer(z), "KafkaJS writes it with writeBuffer");
    assert.ok(z.length < data.length / 3);
    assert.deepEqual(await codec.decompress(z), data);
  } finally {
    restore();
    pool.close();
  }
});
