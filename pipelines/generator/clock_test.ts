import assert from "node:assert/strict";
import {
  curveWeight,
  DAILY_WEIGHTS,
  IsoFormatter,
  SimulatedClock,
} from "./clock.ts";
import { Rng } from "./prng.ts";

Deno.test("IsoFormatter matches Date#toISOString", () => {
  const f = new IsoFormatter();
  const rng = new Rng("iso");
  let t = Date.parse("2025-12-31T23:59:58.000Z");
  for (let i = 0; i < 20_000; i++) {
    t += rng.float() * 2;
    assert.equal(f.format(t), new Date(Math.floor(t)).toISOString());
  }
});

Deno.test("daily curve peaks at 11:00 UTC and is flat when flat", () => {
  const day = Date.parse("2025-01-01T00:00:00Z");
  assert.equal(curveWeight("flat", day), 1);
  assert.equal(curveWeight("daily", day + 11 * 3_600_000), 1);
  assert.equal(curveWeight("daily", day + 3 * 3_600_000), DAILY_WEIGHTS[3]);
  const half = curveWeight("daily", day + 3.5 * 3_600_000);
  assert.ok(half > DAILY_WEIGHTS[3] && half < DAILY_WEIGHTS[4]);
});

Deno.test("simulated clock: deterministic, at the rate, shaped by the curve", () => {
  const start = Date.parse("2025-01-01T00:00:00Z");
  const a = new SimulatedClock(start, 100, "flat", new Rng("c"));
  const b = new SimulatedClock(start, 100, "flat", new Rng("c"));
  let last = 0;
  for (let i = 0; i < 10_000; i++) {
    last = a.tick();
    assert.equal(last, b.tick());
  }
  // 10k events at 100/s ≈ 100 s of simulated time.
  assert.ok(Math.abs((last - start) / 1000 - 100) < 5);
  // Over a simulated day, the busiest hour has several times the quietest.
  const d = new SimulatedClock(start, 2, "daily", new Rng("d"));
  const perHour = new Array(24).fill(0);
  for (let t = d.tick(); t < start + 86_400_000; t = d.tick()) {
    perHour[new Date(t).getUTCHours()]++;
  }
  assert.ok(perHour[11] > 4 * perHour[3], JSON.stringify(perHour));
});
