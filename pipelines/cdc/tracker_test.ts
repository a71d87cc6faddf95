import assert from "node:assert/strict";
import { AckTracker } from "./tracker.ts";

Deno.test("LSN is confirmed only after every record before the commit is acked", () => {
  const t = new AckTracker(100n);
  t.push();
  t.push();
  t.mark(200n); // txn 1 ends after record 2
  t.push();
  t.mark(300n); // txn 2 ends after record 3
  assert.equal(t.confirmed, 100n);
  t.ack(1);
  assert.equal(t.confirmed, 100n);
  t.ack(2);
  assert.equal(t.confirmed, 200n);
  t.ack(3);
  assert.equal(t.confirmed, 300n);
  assert.equal(t.pending, 0);
});

Deno.test("a mark with nothing pending confirms at once; empty txns collapse", () => {
  const t = new AckTracker(0n);
  t.mark(50n);
  assert.equal(t.confirmed, 50n);
  t.push();
  t.mark(60n);
  t.mark(70n); // empty transaction after it: same seq, one mark
  t.ack(1);
  assert.equal(t.confirmed, 70n);
});

Deno.test("idle advance only when nothing is in flight", () => {
  const t = new AckTracker(10n);
  t.push();
  assert.equal(t.advanceIdle(500n), false);
  assert.equal(t.confirmed, 10n);
  t.mark(20n);
  t.ack(1);
  assert.equal(t.advanceIdle(500n), true);
  assert.equal(t.confirmed, 500n);
  assert.equal(t.advanceIdle(400n), false, "never goes backwards");
  assert.equal(t.confirmed, 500n);
});

Deno.test("acking beyond what was pushed is a bug", () => {
  const t = new AckTracker(0n);
  assert.throws(() => t.ack(1));
});
