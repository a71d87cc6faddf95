import assert from "node:assert/strict";
import {
  backoffMs,
  KAFKA_CLIENT_RETRY,
  retryPolicy,
  SERVICE_RETRY,
} from "./retry.ts";

Deno.test("SERVICE_RETRY: 0.5 s doubling, capped at 10 s, jitter in the upper half", () => {
  assert.equal(SERVICE_RETRY.initialMs, 500);
  assert.equal(SERVICE_RETRY.maxMs, 10_000);
  for (let attempt = 0; attempt < 12; attempt++) {
    const cap = Math.min(10_000, 500 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const d = SERVICE_RETRY.delayMs(attempt);
      assert.ok(d >= cap / 2 && d <= cap, `attempt ${attempt}: ${d}`);
    }
  }
  assert.ok(SERVICE_RETRY.delayMs(1_000) <= 10_000);
});

Deno.test("KAFKA_CLIENT_RETRY matches KafkaJS's bounds; policies are frozen", () => {
  assert.equal(KAFKA_CLIENT_RETRY.initialMs, 200);
  assert.equal(KAFKA_CLIENT_RETRY.maxMs, 5_000);
  assert.ok(KAFKA_CLIENT_RETRY.delayMs(20) <= 5_000);
  assert.ok(Object.isFrozen(SERVICE_RETRY));
});

Deno.test("retryPolicy rejects nonsense bounds", () => {
  assert.throws(() => retryPolicy(0, 100), RangeError);
  assert.throws(() => retryPolicy(500, 100), RangeError);
  assert.ok(backoffMs(0, 100, 100) >= 50);
});
