import assert from "node:assert/strict";
import { CatchUp } from "./catch_up.ts";

Deno.test("CatchUp: reached once, when the stream passes the start-time WAL position", () => {
  const c = new CatchUp();
  assert.equal(c.pending, false);
  assert.equal(c.reached(500n, () => 0), undefined, "no session yet");
  c.begin(1_000n, 245_000_000n, 10_000);
  assert.equal(c.pending, true);
  assert.equal(c.reached(1_000n, () => 10_100), undefined);
  assert.equal(c.reached(244_999_999n, () => 14_000), undefined);
  assert.deepEqual(c.reached(245_000_100n, () => 14_500), {
    seconds: 4.5,
    bytes: 244_999_000,
    target: 245_000_000n,
  });
  assert.equal(c.pending, false);
  assert.equal(c.reached(300_000_000n, () => 15_000), undefined, "only once");
});

Deno.test("CatchUp: a new session starts over; no backlog is 0 bytes", () => {
  const c = new CatchUp();
  c.begin(100n, 200n, 0);
  c.reached(200n, () => 10);
  // Reconnect: resumes at the confirmed position, already at the server's.
  c.begin(300n, 300n, 1_000);
  assert.deepEqual(c.reached(300n, () => 1_250), {
    seconds: 0.25,
    bytes: 0,
    target: 300n,
  });
});

Deno.test("CatchUp: clear() stops watching", () => {
  const c = new CatchUp();
  c.begin(0n, 10n, 0);
  c.clear();
  assert.equal(c.pending, false);
  assert.equal(c.reached(20n, () => 5), undefined);
});
