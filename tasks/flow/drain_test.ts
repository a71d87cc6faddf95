import assert from "node:assert/strict";
import { behind, cdcQuietMs, type DrainState, drainState } from "./drain.ts";
import { parsePromText } from "./prom_text.ts";

// What the relay serves when this process took no snapshot (slot and
// snapshot from an earlier run, or a restart): the snapshot series first.
const RELAY = parsePromText(`
debezium_metrics_MilliSecondsSinceLastEvent{plugin="postgres",name="customers",context="snapshot",pipeline="cdc"} -1
debezium_metrics_MilliSecondsSinceLastEvent{plugin="postgres",name="customers",context="streaming",pipeline="cdc"} 5123
`);

const drained: DrainState = {
  shipperSent: 100,
  shipperLagBytes: 0,
  sinkLag: 0,
  mirrorLag: 0,
  cdcQuietMs: 5000,
  ends: "{}",
};

Deno.test("drain: the relay's quiet time is its streaming series, not the snapshot's -1", () => {
  assert.equal(cdcQuietMs(RELAY), 5123);
  const s = drainState({ cdc: RELAY, shipper: [] }, {
    sinkLag: 0,
    mirrorLag: 0,
    ends: "{}",
  });
  assert.deepEqual(behind(s, s), []);
});

Deno.test("drain: names each stage that is behind, and by how much", () => {
  assert.deepEqual(behind(drained), ["first check"]);
  assert.deepEqual(behind(drained, drained), []);
  const now: DrainState = {
    ...drained,
    shipperSent: 160,
    shipperLagBytes: 2048,
    sinkLag: 412,
    mirrorLag: 11,
    cdcQuietMs: 300,
    ends: `{"a":1}`,
  };
  assert.deepEqual(behind(now, drained), [
    "sink: 412 messages uncommitted",
    "CDC mirror sink: 11 messages uncommitted",
    "cdc relay: read a change 300 ms ago",
    "shipper: still sending (60 events since the last check, 2048 B not acknowledged)",
    "Kafka end offsets moved",
  ]);
  assert.deepEqual(behind({ ...drained, cdcQuietMs: undefined }, drained), [
    "cdc relay: metrics unreachable",
  ]);
  // No change since the relay started: quiet (the lags still hold it).
  assert.deepEqual(behind({ ...drained, cdcQuietMs: -1 }, drained), []);
});
