import assert from "node:assert/strict";
import { flushDue, FlushSteps } from "./flush_schedule.ts";

const C = { batchRows: 100, batchBytes: 1_000, batchTimeoutMs: 1_000 };
const empty = { rows: 0, bytes: 0, oldest: Infinity };

Deno.test("flushDue: a fixed cadence from the last flush's start", () => {
  // A row that arrived while the last flush (started at 0) was in flight
  // goes with the next tick at 1000, not 1000 ms after it arrived.
  const b = { rows: 1, bytes: 10, oldest: 900 };
  assert.equal(flushDue(b, 999, 0, C), false);
  assert.equal(flushDue(b, 1_000, 0, C), true);
  assert.equal(flushDue(empty, 5_000, 0, C), false);
});

Deno.test("flushDue: full buffers and old rows flush at once", () => {
  assert.equal(flushDue({ rows: 100, bytes: 1, oldest: 10 }, 10, 10, C), true);
  assert.equal(
    flushDue({ rows: 1, bytes: 1_000, oldest: 10 }, 10, 10, C),
    true,
  );
  // A range put back by a failed flush is older than the last flush start.
  assert.equal(flushDue({ rows: 1, bytes: 1, oldest: 0 }, 1_000, 500, C), true);
  assert.equal(flushDue({ rows: 1, bytes: 1, oldest: 0 }, 999, 500, C), false);
});

Deno.test("FlushSteps: each step's own duration and the total", () => {
  const s = new FlushSteps(1_000);
  assert.equal(s.total(), 0);
  s.mark("manifest", 1_040);
  s.mark("rows", 1_300);
  s.mark("offsets", 1_310);
  assert.deepEqual(s.durations(), {
    manifest_ms: 40,
    rows_ms: 260,
    offsets_ms: 10,
    total_ms: 310,
  });
  assert.equal(s.total(), 310);
});
