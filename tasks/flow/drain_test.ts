import assert from "node:assert/strict";
import {
  behind,
  cdcConfirmedLsn,
  cdcQuietMs,
  type DrainState,
  drainState,
  formatBytes,
  parseLsn,
} from "./drain.ts";
import { parsePromText } from "./prom_text.ts";

// What the relay serves when this process took no snapshot (slot and
// snapshot from an earlier run, or a restart): the snapshot series first.
// 6093753672 = 0x16B374D48, LSN 1/6B374D48.
const RELAY = parsePromText(`
debezium_metrics_MilliSecondsSinceLastEvent{plugin="postgres",name="customers",context="snapshot",pipeline="cdc"} -1
debezium_metrics_MilliSecondsSinceLastEvent{plugin="postgres",name="customers",context="streaming",pipeline="cdc"} 5123
cdc_confirmed_lsn 6093753672
`);

const TARGET = parseLsn("1/6B374D48");

const drained: DrainState = {
  shipperSent: 100,
  shipperLagBytes: 0,
  sinkLag: 0,
  mirrorLag: 0,
  cdcLsn: 1000n,
  cdcTarget: 1000n,
  cdcQuietMs: 5000,
  ends: "{}",
};

Deno.test("drain: text LSNs are 64-bit numbers, compared as such", () => {
  assert.equal(parseLsn("0/0"), 0n);
  assert.equal(parseLsn("16/B374D848"), 0x16B374D848n);
  assert.equal(parseLsn("FFFFFFFF/FFFFFFFF"), 2n ** 64n - 1n);
  // As text "9/…" sorts after "10/…"; as numbers it is 7 GiB before it.
  assert.ok(parseLsn("9/FFFFFFFF") < parseLsn("10/0"));
  assert.ok(parseLsn("0/10") > parseLsn("0/F"));
  assert.throws(() => parseLsn("16-B374D848"));
});

Deno.test("drain: the relay's LSN is its cdc_confirmed_lsn gauge, exactly", () => {
  assert.equal(cdcConfirmedLsn(RELAY), 0x16B374D48n);
  assert.equal(cdcConfirmedLsn(RELAY), TARGET);
  assert.equal(cdcConfirmedLsn(undefined), undefined);
  assert.equal(cdcConfirmedLsn([]), undefined);
  // Beyond 2^53 a float is not an exact position: unknown, not wrong.
  assert.equal(
    cdcConfirmedLsn(parsePromText("cdc_confirmed_lsn 1e300\n")),
    undefined,
  );
  assert.equal(cdcQuietMs(RELAY), 5123);
});

Deno.test("drain: an idle relay at (or past) the target is drained", () => {
  const s = drainState({ cdc: RELAY, shipper: [] }, {
    sinkLag: 0,
    mirrorLag: 0,
    ends: "{}",
  }, TARGET);
  assert.equal(s.cdcLsn, TARGET);
  assert.deepEqual(behind(s, s), []);
  assert.deepEqual(behind({ ...s, cdcLsn: TARGET + 4096n }, s), []);
});

Deno.test("drain: a quiet relay below the target is behind, by the gap in bytes", () => {
  // Read nothing for 5 s (the old "quiet for 2 s" rule: drained), yet
  // 12.3 MB of WAL short of the target: decoding a backlog.
  const now = { ...drained, cdcLsn: 1000n, cdcTarget: 1000n + 12_345_678n };
  assert.deepEqual(behind(now, now), [
    "cdc relay: 12.3 MB of WAL behind (confirmed 0/3E8, target 0/BC6536; last change read 5.0 s ago)",
  ]);
  // One byte short is still short; no change since it started is said so.
  assert.deepEqual(
    behind({ ...now, cdcLsn: now.cdcTarget - 1n, cdcQuietMs: -1 }, now),
    [
      "cdc relay: 1 B of WAL behind (confirmed 0/BC6535, target 0/BC6536; no change read since it started)",
    ],
  );
  // Unreachable relay, or no target yet (PostgreSQL down): not drained.
  assert.deepEqual(behind({ ...drained, cdcLsn: undefined }, drained), [
    "cdc relay: metrics unreachable",
  ]);
  assert.deepEqual(behind({ ...drained, cdcTarget: undefined }, drained), [
    "cdc relay: WAL target not read yet (PostgreSQL unreachable)",
  ]);
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
    cdcLsn: 0n,
    cdcQuietMs: 300,
    ends: `{"a":1}`,
  };
  assert.deepEqual(behind(now, drained), [
    "sink: 412 messages uncommitted",
    "CDC mirror sink: 11 messages uncommitted",
    "cdc relay: 1.0 kB of WAL behind (confirmed 0/0, target 0/3E8; last change read 0.3 s ago)",
    "shipper: still sending (60 events since the last check, 2048 B not acknowledged)",
    "Kafka end offsets moved",
  ]);
});

Deno.test("drain: byte counts read as decimal units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(1000), "1.0 kB");
  assert.equal(formatBytes(12_345_678n), "12.3 MB");
  assert.equal(formatBytes(4.2e9), "4.2 GB");
});
