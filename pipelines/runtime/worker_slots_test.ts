import assert from "node:assert/strict";
import { WorkerSlots, type WorkerSlotsOptions } from "./worker_slots.ts";

/**
 * A tiny real worker (a blob URL: no read permission needed): answers
 * `{id, n}` with `{id, out: {n, name}}` after `n` ms, `{id, error}` for a
 * negative `n`, and dies for `n === 0`.
 */
const WORKER = URL.createObjectURL(
  new Blob([
    `self.onmessage = (e) => {
      const { id, n } = e.data;
      if (n === 0) setTimeout(() => { throw new Error("boom"); });
      else if (n < 0) self.postMessage({ id, error: "negative" });
      else setTimeout(() => self.postMessage({ id, out: { n, name: self.name } }), n);
    };`,
  ], { type: "text/javascript" }),
);

type Out = { n: number; name: string };

function slots(
  extra: Partial<WorkerSlotsOptions<string>> = {},
): WorkerSlots<Out, string> {
  return new WorkerSlots<Out, string>({
    size: 2,
    url: WORKER,
    name: "t",
    answerError: (m) => new Error(`answered: ${m}`),
    crashError: (m) => new Error(`died: ${m}`),
    ...extra,
  });
}

Deno.test("WorkerSlots: answers matched by id, jobs spread over the least busy workers", async () => {
  const settled: string[] = [];
  const s = slots({ onSettle: (tag) => settled.push(tag) });
  try {
    // Slow first jobs answer last: each answer still reaches its own job.
    const ns = [40, 30, 20, 10, 5, 1];
    const outs = await Promise.all(ns.map((n) => s.run({ n }, [], `j${n}`)));
    assert.deepEqual(outs.map((o) => o.n), ns);
    const names = outs.map((o) => o.name);
    assert.deepEqual(names.slice(0, 2), ["t-0", "t-1"]);
    assert.equal(names.filter((n) => n === "t-0").length, 3);
    assert.equal(settled.length, ns.length);
    assert.equal(s.pending, 0);
  } finally {
    s.close(new Error("closed"));
  }
});

Deno.test("WorkerSlots: an answered error rejects with answerError, after onSettle", async () => {
  const order: string[] = [];
  const s = slots({ onSettle: (tag) => order.push(tag) });
  try {
    await assert.rejects(
      s.run({ n: -1 }, [], "bad").finally(() => order.push("rejected")),
      /^Error: answered: negative$/,
    );
    assert.deepEqual(order, ["bad", "rejected"]);
    assert.equal((await s.run({ n: 1 }, [], "ok")).n, 1, "worker still up");
  } finally {
    s.close(new Error("closed"));
  }
});

Deno.test("WorkerSlots: a dead worker fails only its jobs, is reported once and replaced", async () => {
  const crashes: Error[] = [];
  const settled: string[] = [];
  const s = slots({
    onCrash: (err) => crashes.push(err),
    onSettle: (tag) => settled.push(tag),
  });
  try {
    const other = s.run({ n: 50 }, [], "other"); // t-0
    const slow = s.run({ n: 200 }, [], "slow"); // t-1, with the crash
    const dead = s.run({ n: 0 }, [], "dead"); // t-0 has 1, t-1 has 1: t-0
    await assert.rejects(dead, /died: .*boom/);
    await assert.rejects(other, /died: .*boom/);
    assert.equal(crashes.length, 1);
    assert.match(crashes[0].message, /boom/);
    assert.deepEqual(settled.sort(), ["dead", "other"]);
    assert.equal((await slow).name, "t-1", "the other worker goes on");
    // The dead slot gets a fresh worker on next use.
    const again = await Promise.all([1, 1].map((n) => s.run({ n }, [], "x")));
    assert.deepEqual(again.map((o) => o.name).sort(), ["t-0", "t-1"]);
  } finally {
    s.close(new Error("closed"));
  }
});

Deno.test("WorkerSlots: close fails unanswered jobs with the given error", async () => {
  const settled: string[] = [];
  const s = slots({ onSettle: (tag) => settled.push(tag) });
  const jobs = [s.run({ n: 500 }, [], "a"), s.run({ n: 500 }, [], "b")];
  s.close(new Error("pool closed"));
  for (const j of jobs) await assert.rejects(j, /^Error: pool closed$/);
  assert.deepEqual(settled, ["a", "b"]);
  assert.equal(s.pending, 0);
});

Deno.test("WorkerSlots: transferred buffers move to the worker", async () => {
  const s = slots();
  try {
    const buf = new Uint8Array(16);
    const out = await s.run({ n: 1, buf }, [buf.buffer], "t");
    assert.equal(out.n, 1);
    assert.equal(buf.byteLength, 0, "detached: moved, not copied");
  } finally {
    s.close(new Error("closed"));
  }
});
