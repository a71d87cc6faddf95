import assert from "node:assert/strict";
import { HOP_METRIC, HopClock, HopHistogram } from "./hops.ts";
import { prom } from "./metrics.ts";
import { parsePromText, sumOf } from "../../tasks/flow/prom_text.ts";
import { histogramsBy } from "../../tasks/flow/hops.ts";

Deno.test("HopHistogram: weighted observations land in cumulative buckets, sum and count", async () => {
  const registry = new prom.Registry();
  registry.setDefaultLabels({ pipeline: "t" });
  const h = new HopHistogram(registry, [0.01, 0.1, 1]);
  h.observe("read", 0.05, 10);
  h.observe("read", 0.5, 30);
  h.observe("read", 7, 1);
  h.observe("insert", 0.001);
  h.observe("read", 1, 0); // no weight: ignored
  const samples = parsePromText(await registry.metrics());
  const bucket = (hop: string, le: string) =>
    sumOf(samples, `${HOP_METRIC}_bucket`, { hop, le, pipeline: "t" });
  assert.equal(bucket("read", "0.01"), 0);
  assert.equal(bucket("read", "0.1"), 10);
  assert.equal(bucket("read", "1"), 40);
  assert.equal(bucket("read", "+Inf"), 41);
  assert.equal(sumOf(samples, `${HOP_METRIC}_count`, { hop: "read" }), 41);
  assert.ok(
    Math.abs(sumOf(samples, `${HOP_METRIC}_sum`, { hop: "read" }) - 22.5) <
      1e-9,
  );
  assert.equal(bucket("insert", "0.01"), 1);
  assert.equal(h.mean("read"), 22.5 / 41);
  const figures = histogramsBy(samples, HOP_METRIC, "hop");
  assert.equal(figures.get("read")?.count, 41);
  // Rank 20.5 of 41 falls in (0.1, 1]: 10 below, 30 inside.
  assert.ok(
    Math.abs(figures.get("read")!.p50 - (0.1 + 0.9 * 10.5 / 30)) < 1e-9,
  );
});

Deno.test("HopClock: the weighted mean of the marks, exact for epoch-sized numbers", () => {
  const h = new HopHistogram(undefined, [1]);
  const c = new HopClock();
  const t = 1_780_000_000_000;
  c.mark(t, 3);
  c.mark(t + 400);
  assert.equal(c.count, 4);
  assert.equal(c.meanMs, t + 100);
  assert.equal(c.observe(h, "write", t + 1100), 1);
  assert.equal(c.count, 0);
  assert.equal(h.mean("write"), 1);
  assert.ok(Number.isNaN(c.observe(h, "write", t + 5000)));
  assert.equal(h.mean("write"), 1);
});

Deno.test("HopHistogram: negative and non-finite durations do not poison the sum", () => {
  const h = new HopHistogram(undefined, [1]);
  h.observe("fetch", -0.2, 2); // clock skew between processes: counts as 0
  h.observe("fetch", NaN, 5);
  assert.equal(h.mean("fetch"), 0);
});
