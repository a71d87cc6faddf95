import assert from "node:assert/strict";
import { CapturedTables, parseSignal, signalTableDdl } from "./signals.ts";

const envelope = (after: Record<string, unknown> | null, op = "c", lsn = 42) =>
  JSON.stringify({ before: null, after, source: { lsn }, op });

Deno.test("execute-snapshot, as Debezium documents it, names the tables", () => {
  assert.deepEqual(
    parseSignal(envelope({
      id: "ad-hoc-1",
      type: "execute-snapshot",
      data: '{"data-collections": ["public.t", "s.u"], "type": "incremental"}',
    })),
    { kind: "execute-snapshot", id: "ad-hoc-1", tables: ["public.t", "s.u"] },
  );
  // The --schemas wrapper is looked through; type defaults to incremental.
  assert.deepEqual(
    parseSignal(JSON.stringify({
      schema: {},
      payload: JSON.parse(envelope({
        id: "2",
        type: "execute-snapshot",
        data: '{"data-collections": ["t"]}',
      })),
    })),
    { kind: "execute-snapshot", id: "2", tables: ["public.t"] },
  );
});

Deno.test("watermarks carry their LSN; deletes, tombstones and other types are ignored", () => {
  assert.deepEqual(
    parseSignal(
      envelope({ id: "w-open", type: "snapshot-window-open" }, "c", 7),
    ),
    { kind: "window-open", id: "w-open", lsn: 7n },
  );
  assert.deepEqual(
    parseSignal(envelope({ id: "w-close", type: "snapshot-window-close" })),
    { kind: "window-close", id: "w-close", lsn: 42n },
  );
  assert.equal(parseSignal(null).kind, "ignored");
  assert.equal(parseSignal(envelope(null, "d")).kind, "ignored");
  assert.equal(
    parseSignal(envelope({ id: "x", type: "pause-snapshot", data: null })).kind,
    "ignored",
  );
  assert.equal(
    parseSignal(envelope({ id: "x", type: "execute-snapshot", data: "{" }))
      .kind,
    "ignored",
  );
  assert.equal(
    parseSignal(envelope({
      id: "x",
      type: "execute-snapshot",
      data: '{"data-collections": ["t"], "type": "blocking"}',
    })).kind,
    "ignored",
  );
});

Deno.test("captured tables: names, schema wildcards, the relay's own tables excluded", () => {
  const c = new CapturedTables(["public.users", "shop.*"], [
    "shop.signals",
  ]);
  assert.ok(c.has("public.users"));
  assert.ok(c.has("shop.orders"));
  assert.ok(c.has("shop.created_later"));
  assert.ok(!c.has("shop.signals"));
  assert.ok(!c.has("public.orders"));
  assert.deepEqual(c.schemas, ["shop"]);
  c.add("shop.signals"); // the stream must still see the signal table
  assert.ok(c.has("shop.signals"));
  assert.equal(
    signalTableDdl("shop.signals"),
    'CREATE TABLE IF NOT EXISTS "shop"."signals" (id text PRIMARY KEY, type text NOT NULL, data text)',
  );
});
