import assert from "node:assert/strict";
import { ByteRate } from "./byte_rate.ts";

Deno.test("ByteRate: zero before anything is added, and at its start", () => {
  const r = new ByteRate(10_000, 1_000);
  assert.equal(r.rate(1_000), 0);
  assert.equal(r.rate(6_000), 0);
  assert.equal(r.total, 0);
});

Deno.test("ByteRate: early on, the rate is over the time since the start", () => {
  const r = new ByteRate(10_000, 0);
  r.add(500);
  r.add(1_500);
  assert.equal(r.total, 2_000);
  assert.equal(r.rate(4_000), 500); // 2000 B in 4 s
});

Deno.test("ByteRate: steady scrapes see the rate of the last window", () => {
  const r = new ByteRate(10_000, 0);
  // 1000 B/s for 30 s, scraped every 5 s.
  for (let t = 5_000; t <= 30_000; t += 5_000) {
    r.add(5_000);
    const rate = r.rate(t);
    assert.ok(Math.abs(rate - 1_000) <= 1e-9, `${rate} at ${t}`);
  }
  // The load stops: the window empties, the rate falls to 0.
  assert.equal(r.rate(35_000), 500); // base at 25 s: 5000 B in 10 s
  assert.equal(r.rate(40_000), 0); // base at 30 s: nothing since
});

Deno.test("ByteRate: a burst shows only while it is inside the window", () => {
  const r = new ByteRate(10_000, 0);
  for (let t = 1_000; t <= 20_000; t += 1_000) r.rate(t);
  r.add(10_000); // at ~20 s
  assert.equal(r.rate(21_000), 1_000); // base at 11 s
  assert.equal(r.rate(30_000), 1_000); // base at 20 s: still inside
  assert.equal(r.rate(31_000), 0); // base at 21 s: burst left the window
});

Deno.test("ByteRate: after a long gap without reads, the rate averages over the gap", () => {
  const r = new ByteRate(10_000, 0);
  r.rate(10_000);
  r.add(60_000);
  assert.equal(r.rate(70_000), 1_000); // base at 10 s: 60 kB in 60 s
});

Deno.test("ByteRate: samples stay bounded under very frequent reads", () => {
  const r = new ByteRate(10_000, 0);
  for (let t = 1; t <= 120_000; t += 7) {
    r.add(7);
    r.rate(t);
  }
  // At most one sample per 250 ms inside the window, plus the base.
  assert.ok(r.samples <= 10_000 / 250 + 2, `${r.samples} samples`);
  const rate = r.rate(120_001);
  assert.ok(Math.abs(rate - 1_000) <= 1, `${rate}`);
});
