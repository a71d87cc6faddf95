import assert from "node:assert/strict";
import { createLogger } from "./log.ts";
import { backoffMs } from "./retry.ts";
import { Shutdown, sleep } from "./shutdown.ts";

const quiet = createLogger("unit", "error", () => {});

Deno.test("closers run once, in reverse order, even if one fails", async () => {
  const order: string[] = [];
  const s = new Shutdown(quiet, 1_000);
  s.add("first", () => {
    order.push("first");
  });
  s.add("broken", () => {
    throw new Error("x");
  });
  s.add("last", async () => {
    await sleep(5);
    order.push("last");
  });
  await Promise.all([s.run(), s.run()]);
  assert.deepEqual(order, ["last", "first"]);
  assert.ok(s.signal.aborted);
});

Deno.test("a hanging closer does not block past the deadline", async () => {
  const s = new Shutdown(quiet, 50);
  let release!: () => void;
  s.add("hang", () => new Promise<void>((r) => release = r));
  const t0 = Date.now();
  await s.run();
  assert.ok(Date.now() - t0 < 1_000);
  release();
});

Deno.test("sleep ends early on abort; backoff stays within bounds", async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  const p = sleep(10_000, ac.signal);
  ac.abort();
  await p;
  assert.ok(Date.now() - t0 < 1_000);
  for (let i = 0; i < 20; i++) {
    const b = backoffMs(i, 100, 1_000);
    assert.ok(b >= 50 && b <= 1_000, `attempt ${i}: ${b}`);
  }
});
