import assert from "node:assert/strict";
import { Rng, WeightedPicker } from "./prng.ts";

Deno.test("same seed gives the same stream, different seeds differ", () => {
  const a = new Rng("42"), b = new Rng("42"), c = new Rng("43");
  const sa = Array.from({ length: 100 }, () => a.u32());
  const sb = Array.from({ length: 100 }, () => b.u32());
  const sc = Array.from({ length: 100 }, () => c.u32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

Deno.test("uuid() is a well-formed v4 UUID and unique", () => {
  const rng = new Rng("u");
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = rng.uuid();
    assert.match(
      id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    seen.add(id);
  }
  assert.equal(seen.size, 10_000);
});

Deno.test("float, int and range stay in bounds; float is roughly uniform", () => {
  const rng = new Rng("f");
  let sum = 0;
  for (let i = 0; i < 100_000; i++) {
    const f = rng.float();
    assert.ok(f >= 0 && f < 1);
    sum += f;
    const r = rng.range(3, 7);
    assert.ok(r >= 3 && r <= 7 && Number.isInteger(r));
  }
  assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.01);
});

Deno.test("WeightedPicker follows its weights", () => {
  const rng = new Rng("w");
  const picker = new WeightedPicker([1, 0, 3, 6]);
  const counts = [0, 0, 0, 0];
  const n = 200_000;
  for (let i = 0; i < n; i++) counts[picker.pick(rng)]++;
  assert.equal(counts[1], 0);
  for (const [i, w] of [[0, 0.1], [2, 0.3], [3, 0.6]]) {
    assert.ok(Math.abs(counts[i] / n - w) < 0.005, `${i}: ${counts[i] / n}`);
  }
  assert.throws(() => new WeightedPicker([0, 0]), RangeError);
});

Deno.test("logNormal has the requested median", () => {
  const rng = new Rng("l");
  const xs = Array.from({ length: 50_001 }, () => rng.logNormal(40, 0.7))
    .sort((a, b) => a - b);
  assert.ok(Math.abs(xs[25_000] - 40) < 1.5, `median ${xs[25_000]}`);
  assert.ok(xs[49_500] > 150, "long tail");
});
