import assert from "node:assert/strict";
import { createLogger } from "../runtime/log.ts";
import { type SlotLag, SlotLagWatcher } from "./slot_lag.ts";

function gauge() {
  const values: number[] = [];
  return { values, set: (v: number) => void values.push(v) };
}

function watcher(answers: Array<SlotLag | undefined | Error>) {
  const lines: string[] = [];
  const gauges = {
    lagBytes: gauge(),
    retainedBytes: gauge(),
    retainedWarning: gauge(),
  };
  const w = new SlotLagWatcher({
    slot: "s1",
    query: () => {
      const a = answers.shift();
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
    thresholdBytes: 1000,
    gauges,
    log: createLogger("test", "warn", (l) => lines.push(l)),
  });
  return { w, gauges, lines };
}

Deno.test("SlotLagWatcher sets the gauges and warns once per crossing", async () => {
  const { w, gauges, lines } = watcher([
    { lagBytes: 10, retainedBytes: 500 },
    { lagBytes: 20, retainedBytes: 1500 },
    { lagBytes: 30, retainedBytes: 2000 },
    { lagBytes: 0, retainedBytes: 100 },
    { lagBytes: 0, retainedBytes: 1001 },
  ]);
  for (let i = 0; i < 5; i++) await w.poll();
  assert.deepEqual(gauges.lagBytes.values, [10, 20, 30, 0, 0]);
  assert.deepEqual(gauges.retainedBytes.values, [500, 1500, 2000, 100, 1001]);
  assert.deepEqual(gauges.retainedWarning.values, [0, 1, 1, 0, 1]);
  const warnings = lines.map((l) => JSON.parse(l));
  assert.equal(warnings.length, 2);
  assert.deepEqual(
    warnings.map((w) => [w.msg, w.slot, w.retained_bytes, w.threshold_bytes]),
    [
      [
        "replication slot retains more WAL than the threshold",
        "s1",
        1500,
        1000,
      ],
      [
        "replication slot retains more WAL than the threshold",
        "s1",
        1001,
        1000,
      ],
    ],
  );
});

Deno.test("SlotLagWatcher: a missing slot sets nothing, a failed query only warns", async () => {
  const { w, gauges, lines } = watcher([undefined, new Error("gone")]);
  await w.poll();
  await w.poll(); // does not throw
  assert.deepEqual(gauges.lagBytes.values, []);
  assert.equal(JSON.parse(lines[0]).msg, "slot lag query failed");
  assert.equal(lines.length, 1);
});
