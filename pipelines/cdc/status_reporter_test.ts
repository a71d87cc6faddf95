import assert from "node:assert/strict";
import { StatusReporter, statusToSend } from "./status_reporter.ts";

Deno.test("statusToSend: due when confirmed moved, the interval passed, or forced", () => {
  const s = { lastSent: 100n, lastSentAt: 1_000 };
  assert.equal(statusToSend(s, 100n, 100n, 1_500, 1_000, false), undefined);
  assert.deepEqual(statusToSend(s, 120n, 150n, 1_500, 1_000, false), {
    write: 150n,
    flush: 120n,
  });
  assert.deepEqual(statusToSend(s, 100n, 90n, 2_000, 1_000, false), {
    write: 100n, // never behind confirmed
    flush: 100n,
  });
  assert.deepEqual(statusToSend(s, 100n, 100n, 1_001, 1_000, true), {
    write: 100n,
    flush: 100n,
  });
});

Deno.test("StatusReporter sends to the current target only, and reports each confirmed LSN", () => {
  let confirmed = 10n;
  let now = 0;
  const seen: bigint[] = [];
  const sent: bigint[][] = [];
  const r = new StatusReporter({
    intervalMs: 10_000,
    confirmed: () => confirmed,
    received: () => 50n,
    onConfirmed: (l) => seen.push(l),
    now: () => now,
  });
  assert.equal(r.tickMs, 1000);
  assert.equal(r.send(), false); // no connection yet
  r.target = { sendStatus: (w, f, a) => sent.push([w, f, a]) };
  assert.equal(r.send(), true); // first update
  now = 500;
  assert.equal(r.send(), false); // unchanged, within the interval
  confirmed = 20n;
  assert.equal(r.send(), true); // acks advanced
  now = 20_000;
  assert.equal(r.send(), true); // interval passed
  assert.equal(r.send(true), true);
  r.target = undefined;
  assert.equal(r.send(true), false);
  assert.deepEqual(sent, [
    [50n, 10n, 10n],
    [50n, 20n, 20n],
    [50n, 20n, 20n],
    [50n, 20n, 20n],
  ]);
  assert.deepEqual(seen, [10n, 10n, 10n, 20n, 20n, 20n, 20n]);
});
