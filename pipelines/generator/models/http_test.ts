import assert from "node:assert/strict";
import { Rng } from "../prng.ts";
import { HttpModel, SERVICES } from "./http.ts";
import { newSlot } from "./mod.ts";

Deno.test("http lines: level follows status, routing by service, key = trace_id", () => {
  const model = new HttpModel(new Rng("h"));
  const slot = newSlot();
  const methods = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    model.next(slot, 1_700_000_000_000 + i);
    const e = JSON.parse(slot.line);
    assert.equal(slot.key, e.trace_id);
    assert.equal(SERVICES[slot.route], e.service);
    assert.equal(slot.error, e.status >= 500);
    const level = e.status >= 500 ? "error" : e.status >= 400 ? "warn" : "info";
    assert.equal(e.level, level);
    assert.ok(
      e.path.startsWith(
        `/api/v1/${
          e.service === "order"
            ? "orders"
            : e.service === "payment"
            ? "payments"
            : e.service
        }`,
      ),
    );
    assert.ok(e.latency_ms >= 0);
    methods.add(e.method);
  }
  assert.deepEqual([...methods].sort(), [
    "DELETE",
    "GET",
    "PATCH",
    "POST",
    "PUT",
  ]);
});

Deno.test("http model rejects rates above 1", () => {
  assert.throws(
    () =>
      new HttpModel(new Rng("x"), {
        errorRates: { auth: 0.7, order: 0, payment: 0, notify: 0 },
        warnRates: { auth: 0.5, order: 0, payment: 0, notify: 0 },
      }),
    RangeError,
  );
});
