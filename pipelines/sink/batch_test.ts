import assert from "node:assert/strict";
import { PartitionState } from "./batch.ts";

Deno.test("a flush takes one range per partition; later messages start a new one", () => {
  const st = new PartitionState("t", 0, 10);
  for (let o = 10; o < 15; o++) st.rangeFor(o).addRow(o, "x", 0, `l${o}`, 1);
  const r = st.takeForFlush()!;
  assert.equal(r.from, 10);
  assert.equal(r.to, 14);
  assert.equal(st.takeForFlush(), undefined, "in flight: not taken twice");
  st.rangeFor(15).addRow(15, "x", 0, "l15", 2);
  assert.equal(st.ranges.length, 2);
  assert.deepEqual(st.buffered().rows, 1);
  st.release(r);
  assert.equal(st.takeForFlush()!.from, 15);
});

Deno.test("a recovered range ends exactly at the manifest's offset and keeps its time", () => {
  const st = new PartitionState("t", 1, 100, { to: 102, ts: 1_700_000_000 });
  for (let o = 100; o < 102; o++) st.rangeFor(o).addRow(o, "x", 0, `l${o}`, 1);
  assert.equal(
    st.takeForFlush(),
    undefined,
    "incomplete: waits for offset 102",
  );
  for (let o = 102; o < 105; o++) st.rangeFor(o).addRow(o, "x", 0, `l${o}`, 1);
  const r = st.takeForFlush()!;
  assert.equal(r.from, 100);
  assert.equal(r.to, 102);
  assert.equal(r.ts, 1_700_000_000);
  assert.ok(r.groups.get("x|0")![0].endsWith(',"_ingested_at":1700000000}'));
  assert.ok(r.intentCommitted);
  assert.equal(st.ranges[1].from, 103);
  assert.equal(st.ranges[1].rows, 2);
});

Deno.test("a failed flush puts the same range back", () => {
  const st = new PartitionState("t", 0, -1);
  st.rangeFor(0).addDeadLetter(0, "bad", "x", 5_000);
  const r = st.takeForFlush()!;
  st.rangeFor(1).addRow(1, "x", 0, "l1", 1);
  st.retry(r);
  const again = st.takeForFlush()!;
  assert.equal(again, r);
  assert.equal(again.to, 0, "sealed: the retry is identical");
  assert.equal(again.ts, 5);
});
