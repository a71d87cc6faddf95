import assert from "node:assert/strict";
import type { Logger } from "../runtime/mod.ts";
import { Range } from "./batch.ts";
import {
  flushDue,
  FlushSteps,
  InFlight,
  InsertLanes,
  nextInsertAt,
  splitByShard,
} from "./flush_schedule.ts";
import { Aborted } from "./service.ts";

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

function taken(shard: number, keys: string[], truncate = false) {
  const range = new Range();
  keys.forEach((k, i) => {
    const [table, s] = k.split("|");
    range.addRow(i, table, Number(s), "{}", 0);
  });
  if (truncate) range.addTruncate(keys.length, { table: "t", version: 1 }, 0);
  return { topic: "t", partition: shard, shard, range };
}

Deno.test("splitByShard: one flush per shard, unless a range crosses shards or truncates", () => {
  const a = taken(0, ["e|0", "f|0"]), b = taken(1, ["e|1"]);
  const c = taken(0, ["e|0"]);
  assert.deepEqual(splitByShard([a, b, c]), [[a, c], [b]]);
  // A CDC mirror shards by id: its range writes to both shards.
  const mirror = taken(0, ["pg|0", "pg|1"]);
  assert.deepEqual(splitByShard([a, b, mirror]), [[a, b, mirror]]);
  const trunc = taken(1, ["e|1"], true);
  assert.deepEqual(splitByShard([a, trunc]), [[a, trunc]]);
  assert.deepEqual(splitByShard([]), []);
});

Deno.test("InFlight: runs flushes side by side, hands each the earlier ones, backs off after a failure", async () => {
  const warned: string[] = [];
  const log = {
    warn: (msg: string) => warned.push(msg),
  } as unknown as Logger;
  const f = new InFlight(log);
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const seen: number[] = [];
  f.start((earlier) => {
    seen.push(earlier.length);
    return held;
  });
  f.start((earlier) => {
    seen.push(earlier.length);
    return Promise.reject(new Error("shard down"));
  });
  assert.deepEqual(seen, [0, 1]);
  assert.equal(f.size, 2);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(f.size, 1);
  assert.deepEqual(warned, ["flush failed, will retry"]);
  assert.ok(f.retryAt > Date.now());
  let settled = false;
  const all = f.settled().then(() => settled = true);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(settled, false);
  release();
  await all;
  assert.equal(f.size, 0);
  // An aborted flush (the sink stops) is no failure.
  f.start(() => Promise.reject(new Aborted()));
  await f.settled();
  assert.equal(warned.length, 1);
});

Deno.test("nextInsertAt: an interval after the last start, in a later second than its end", () => {
  assert.equal(nextInsertAt({ start: 12_000, end: 12_050 }, 1_000), 13_000);
  assert.equal(nextInsertAt({ start: 12_700, end: 12_750 }, 1_000), 13_700);
  // It ended in the next second: ClickHouse may log its start there.
  assert.equal(nextInsertAt({ start: 12_970, end: 13_020 }, 1_000), 14_000);
  assert.equal(nextInsertAt({ start: 12_970, end: 13_020 }, 0), -Infinity);
});

Deno.test("InsertLanes: two flushes waiting on one table and shard start a second apart", async () => {
  let now = 10_000;
  const waits: number[] = [];
  const lanes = new InsertLanes(1_000, () => now, (ms) => {
    waits.push(ms);
    now += ms;
    return Promise.resolve();
  });
  const starts: Array<[string, number]> = [];
  const insert = (tag: string, ms: number) => () => {
    starts.push([tag, now]);
    now += ms;
    return Promise.resolve();
  };
  const signal = new AbortController().signal;
  await Promise.all([
    lanes.run("t|0", signal, insert("a", 100)),
    lanes.run("t|0", signal, insert("b", 100)),
    lanes.run("t|1", signal, insert("c", 100)),
  ]);
  assert.deepEqual(starts, [["a", 10_000], ["c", 10_100], ["b", 11_000]]);
  // A failed insert still spaces the next one; an aborted wait throws.
  await assert.rejects(
    lanes.run("t|1", signal, () => Promise.reject(new Error("down"))),
    /down/,
  );
  const stop = new AbortController();
  stop.abort();
  await assert.rejects(lanes.run("t|1", stop.signal, insert("d", 1)), Aborted);
  assert.equal(starts.length, 3);
  assert.ok(waits.length >= 2);
});
