import assert from "node:assert/strict";
import { SimulatedClock } from "./clock.ts";
import { CdcModel, CounterIds, quotasFor } from "./models/cdc.ts";
import type { EventModel, EventSlot } from "./models/mod.ts";
import type { CdcSink } from "./outputs/cdc_sink.ts";
import { newCdcCounts } from "./outputs/cdc_sink.ts";
import { StdoutOutput } from "./outputs/stdout.ts";
import { type EventOutput, newStats } from "./outputs/types.ts";
import { Rng } from "./prng.ts";
import {
  type LoopOptions,
  type LoopTime,
  Pacer,
  runCdcLoop,
  runEventLoop,
} from "./run.ts";

/** Wall time that moves only when the loop sleeps: pacing without waiting. */
class FakeTime implements LoopTime {
  t = 0;
  sleeps = 0;
  /** Called after each sleep with the new time. */
  onSleep?: (t: number) => void;
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps++;
    this.t += ms;
    this.onSleep?.(this.t);
    return Promise.resolve();
  }
}

/** Events whose line is their timestamp, so the test sees the clock. */
const stampModel: EventModel = {
  kind: "security",
  routes: ["x"],
  next(slot: EventSlot, ts: number) {
    slot.line = String(ts);
  },
};

/** Records every call; `onWrite` may throw, abort or advance time. */
class RecordingOutput implements EventOutput {
  readonly name = "fake";
  readonly stats = newStats("fake");
  readonly lines: string[] = [];
  ticks = 0;
  flushes = 0;
  constructor(private readonly onWrite?: (n: number) => void) {}
  write(slot: EventSlot): void {
    this.onWrite?.(this.lines.length + 1);
    this.lines.push(slot.line);
    this.stats.events++;
  }
  tick(): Promise<void> {
    this.ticks++;
    return Promise.resolve();
  }
  flush(): Promise<void> {
    this.flushes++;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const START = Date.UTC(2025, 0, 1);

function clock(rate = 1000, start = START, curve: "flat" | "daily" = "flat") {
  return new SimulatedClock(start, rate, curve, new Rng("clock"));
}

function opts(time: FakeTime, o: Partial<LoopOptions>): LoopOptions {
  return {
    rate: 1000,
    curve: "flat",
    signal: new AbortController().signal,
    time,
    ...o,
  };
}

Deno.test("pacing: 5000 events at 1000/s take 5 s of wall time, in 10-event chunks", async () => {
  const time = new FakeTime();
  const out = new RecordingOutput();
  const r = await runEventLoop(
    stampModel,
    clock(),
    out,
    opts(time, { count: 5000 }),
  );
  assert.equal(r.stoppedBy, "count");
  assert.equal(r.generated, 5000);
  assert.equal(out.lines.length, 5000);
  assert.equal(r.elapsedMs, 5000);
  // ~10 ms of events per chunk, one sleep per chunk.
  assert.equal(time.sleeps, 500);
  // Timestamps come from the event clock, in order.
  const ts = out.lines.map(Number);
  assert.equal(ts[0], START);
  for (let i = 1; i < ts.length; i++) assert.ok(ts[i] >= ts[i - 1]);
  // Housekeeping every 250 ms (20 times in 5 s), plus one final onTick.
  assert.equal(out.ticks, 20);
  assert.equal(out.flushes, 1);
});

Deno.test("flushMs writes the buffer out between the 250 ms ticks", async () => {
  const time = new FakeTime();
  const out = new RecordingOutput();
  const r = await runEventLoop(
    stampModel,
    clock(),
    out,
    opts(time, { count: 5000, flushMs: 50 }),
  );
  assert.equal(r.generated, 5000);
  // Still 20 housekeeping ticks in 5 s; between two ticks 4 write-outs at
  // 50, 100, 150, 200 ms (80 in 5 s), plus the final flush.
  assert.equal(out.ticks, 20);
  assert.equal(out.flushes, 81);
});

Deno.test("pacing follows the daily curve at the event clock's time (03:00: 12%)", async () => {
  const time = new FakeTime();
  const out = new RecordingOutput();
  const r = await runEventLoop(
    stampModel,
    clock(1000, Date.UTC(2025, 0, 1, 3), "daily"),
    out,
    opts(time, { count: 600, curve: "daily" }),
  );
  assert.equal(r.generated, 600);
  // 600 events at 1000 × 0.12 = 120/s: 5 s.
  const rate = 600 / (r.elapsedMs / 1000);
  assert.ok(Math.abs(rate - 120) < 3, `${rate.toFixed(1)}/s`);
});

Deno.test("the bucket lets a stalled loop catch up by at most half a second", async () => {
  const time = new FakeTime();
  const pacer = new Pacer(
    1000,
    "flat",
    () => START,
    new AbortController().signal,
    time,
  );
  time.t += 10_000; // a 10 s stall
  await pacer.acquire(500);
  assert.equal(time.sleeps, 0, "half a second of tokens is there");
  await pacer.acquire(10);
  assert.equal(time.sleeps, 1, "then it paces again");
  assert.equal(time.t, 10_010);
});

Deno.test("duration: stops after --duration of wall time", async () => {
  const time = new FakeTime();
  const out = new RecordingOutput();
  const r = await runEventLoop(
    stampModel,
    clock(),
    out,
    opts(time, { durationMs: 2000 }),
  );
  assert.equal(r.stoppedBy, "duration");
  assert.equal(r.generated, 2000);
  assert.equal(out.lines.length, r.generated);
  assert.equal(out.flushes, 1);
});

Deno.test("count, unthrottled: exactly --count events in chunks of 4096", async () => {
  const time = new FakeTime();
  const out = new RecordingOutput();
  const r = await runEventLoop(
    stampModel,
    clock(),
    out,
    opts(time, { count: 10_000, rate: 0 }),
  );
  assert.equal(r.stoppedBy, "count");
  assert.equal(r.generated, 10_000);
  assert.equal(out.lines.length, 10_000);
  assert.equal(time.sleeps, 0);
  assert.equal(out.flushes, 1);
});

Deno.test("abort between chunks: the chunk in progress completes, then the loop flushes", async () => {
  const ac = new AbortController();
  const time = new FakeTime();
  const out = new RecordingOutput((n) => {
    if (n === 1234) ac.abort();
  });
  let ticks = 0;
  const r = await runEventLoop(
    stampModel,
    clock(),
    out,
    opts(time, { signal: ac.signal, onTick: () => void ticks++ }),
  );
  assert.equal(r.stoppedBy, "signal");
  assert.equal(r.generated, 1240);
  assert.equal(out.lines.length, 1240);
  assert.equal(out.flushes, 1);
  assert.ok(ticks >= 1, "final onTick");
});

Deno.test("abort while pacing: no event of the waiting chunk is made", async () => {
  const ac = new AbortController();
  const time = new FakeTime();
  time.onSleep = (t) => {
    if (t >= 3000) ac.abort();
  };
  const out = new RecordingOutput();
  const r = await runEventLoop(
    stampModel,
    clock(),
    out,
    opts(time, { signal: ac.signal }),
  );
  assert.equal(r.stoppedBy, "signal");
  assert.equal(r.generated, out.lines.length);
  // The sleep that reached 3 s was for events 2991..3000: none was made.
  assert.equal(r.generated, 2990);
  assert.equal(out.flushes, 1);
});

Deno.test("a failing write stops the loop with the error; earlier chunks are counted", async () => {
  const boom = new Error("disk full");
  const out = new RecordingOutput((n) => {
    if (n === 5000) throw boom;
  });
  let ticks = 0;
  const r = await runEventLoop(
    stampModel,
    clock(),
    out,
    opts(new FakeTime(), { rate: 0, onTick: () => void ticks++ }),
  );
  assert.equal(r.stoppedBy, "error");
  assert.equal(r.error, boom);
  // The first 4096-event chunk completed; the failing one does not count.
  assert.equal(r.generated, 4096);
  assert.equal(out.flushes, 0);
  assert.equal(ticks, 1, "the final onTick still reports");
});

Deno.test("stdout errors: counted and returned; a closed pipe is a clean stop", async () => {
  const failing = new StdoutOutput({
    writeSync() {
      throw new Error("EIO");
    },
  });
  const r1 = await runEventLoop(
    stampModel,
    clock(),
    failing,
    opts(new FakeTime(), { count: 10, rate: 0 }),
  );
  assert.equal(r1.stoppedBy, "error");
  assert.equal((r1.error as Error).message, "EIO");
  assert.equal(failing.stats.errors, 1);
  assert.equal(failing.stats.events, 10);

  const closed = new StdoutOutput({
    writeSync() {
      throw new Deno.errors.BrokenPipe("closed");
    },
  });
  const r2 = await runEventLoop(
    stampModel,
    clock(),
    closed,
    opts(new FakeTime(), { count: 10, rate: 0 }),
  );
  assert.equal(r2.stoppedBy, "output-closed");
  assert.equal(r2.error, undefined);
  assert.equal(closed.stats.errors, 0);
  await closed.close(); // the reader is gone: nothing left to fail on
});

/** A CDC sink that records transactions (and the calls around them). */
class RecordingCdcSink implements CdcSink {
  readonly name = "fake";
  readonly applied = newCdcCounts();
  transactions = 0;
  readonly skipped = 0;
  readonly errors = 0;
  prepares = 0;
  flushes = 0;
  readonly stamps: number[] = [];
  readonly sizes: number[] = [];
  prepare(): Promise<void> {
    this.prepares++;
    return Promise.resolve();
  }
  apply(
    tx: Parameters<CdcSink["apply"]>[0],
    _txId: number,
    ts: number,
  ): Promise<void> {
    for (const c of tx) this.applied[c.table][c.op]++;
    this.transactions++;
    this.stamps.push(ts);
    this.sizes.push(tx.length);
    return Promise.resolve();
  }
  tick(): Promise<void> {
    return Promise.resolve();
  }
  flush(): Promise<void> {
    this.flushes++;
    return Promise.resolve();
  }
}

function cdcModel(count?: number) {
  const mix = { insert: 60, update: 30, delete: 10 };
  return new CdcModel(new Rng("cdc"), new CounterIds(), {
    mix,
    quotas: count === undefined ? undefined : quotasFor(count, mix),
    maxTxSize: 5,
  });
}

Deno.test("cdc: stops at the quotas, paced in changes/s, one stamp per transaction", async () => {
  const time = new FakeTime();
  const sink = new RecordingCdcSink();
  const r = await runCdcLoop(
    cdcModel(500),
    clock(100),
    sink,
    opts(time, { count: 500, rate: 100 }),
  );
  assert.equal(r.stoppedBy, "count");
  assert.equal(r.generated, 500);
  const a = sink.applied;
  assert.equal(a.users.insert + a.orders.insert, 300);
  assert.equal(a.users.update + a.orders.update, 150);
  assert.equal(a.users.delete + a.orders.delete, 50);
  assert.equal(sink.prepares, sink.transactions);
  assert.equal(sink.flushes, 1);
  // 500 changes at 100/s: 5 s of wall time.
  assert.ok(Math.abs(r.elapsedMs - 5000) <= 100, `${r.elapsedMs} ms`);
  for (let i = 1; i < sink.stamps.length; i++) {
    assert.ok(sink.stamps[i] > sink.stamps[i - 1], "stamps increase");
  }
});

Deno.test("cdc: duration and abort stop an endless run", async () => {
  const time = new FakeTime();
  const sink = new RecordingCdcSink();
  const r = await runCdcLoop(
    cdcModel(),
    clock(),
    sink,
    opts(time, { durationMs: 1000 }),
  );
  assert.equal(r.stoppedBy, "duration");
  assert.ok(Math.abs(r.generated - 1000) <= 10, `${r.generated} changes`);

  const ac = new AbortController();
  const sink2 = new RecordingCdcSink();
  sink2.prepare = () => {
    if (sink2.transactions === 7) ac.abort();
    return Promise.resolve();
  };
  const r2 = await runCdcLoop(
    cdcModel(),
    clock(),
    sink2,
    opts(new FakeTime(), { signal: ac.signal, rate: 0 }),
  );
  assert.equal(r2.stoppedBy, "signal");
  // The transaction planned when the signal came is still applied whole.
  assert.equal(sink2.transactions, 8);
  assert.equal(r2.generated, sink2.sizes.reduce((s, n) => s + n, 0));
});
