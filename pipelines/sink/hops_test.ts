import assert from "node:assert/strict";
import { HopHistogram } from "../runtime/hops.ts";
import { Range } from "./batch.ts";
import type { InsertRequest } from "./encoder.ts";
import { observeFetch, observeInsert } from "./hops.ts";

Deno.test("observeFetch: mean of now - record timestamp, weighted by messages", () => {
  const h = new HopHistogram();
  const t = 1_780_000_000_000;
  observeFetch(
    h,
    [{ timestamp: String(t) }, { timestamp: String(t + 200) }],
    t + 300,
  );
  observeFetch(h, [], t + 300);
  assert.equal(h.mean("fetch"), 0.2);
  observeFetch(
    h,
    [{ timestamp: String(t) }, { timestamp: String(t) }],
    t + 800,
  );
  // (2 × 0.2 + 2 × 0.8) / 4
  assert.equal(h.mean("fetch"), 0.5);
});

Deno.test("observeInsert: each row from its fetch time to the ack, per table and shard", () => {
  const h = new HopHistogram();
  const t = 1_780_000_000_000;
  const range = new Range();
  range.addRow(10, "security_events", 0, "{", t, t - 50);
  range.addRow(11, "security_events", 0, "{", t + 100, t - 50);
  range.addRow(12, "security_events", 1, "{", t + 900, t - 50);
  const req: InsertRequest = {
    table: "security_events",
    shard: 0,
    parts: [{
      taken: { topic: "security.events", partition: 0, shard: 0, range },
      lines: ["a", "b"],
      offsets: [10, 11],
    }],
    rows: 2,
  };
  observeInsert(h, req, t + 1050);
  // Shard 0 only: rows fetched at t and t+100, acknowledged at t+1050.
  assert.equal(h.mean("insert"), 1);
});
