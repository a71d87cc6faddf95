import assert from "node:assert/strict";
import frames from "./testdata/pgoutput_frames.json" with { type: "json" };
import { prom } from "../runtime/metrics.ts";
import { createLogger } from "../runtime/log.ts";
import { buildMeta } from "./catalog.ts";
import { TypeRegistry, UNAVAILABLE_VALUE } from "./convert.ts";
import type { OutRecord } from "./envelope.ts";
import { CdcMetrics } from "./metrics.ts";
import { parseFrame } from "./pgoutput.ts";
import { ChangeHandler } from "./stream.ts";

function hex(h: string): Uint8Array {
  return new Uint8Array(h.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** Replays the captured stream (see pgoutput_test.ts) through the handler. */
async function replay(include: string[], tombstones = true) {
  const out: OutRecord[] = [];
  const marks: bigint[] = [];
  const idle: bigint[] = [];
  const h = new ChangeHandler({
    settings: { serverName: "customers", db: "shop" },
    include: new Set(include),
    describe: (m) =>
      buildMeta(
        m.relationOid,
        m.schema,
        m.name,
        m.columns,
        ["id"],
        "customers",
        new TypeRegistry(),
      ),
    push: (r) => {
      out.push(r);
      return Promise.resolve();
    },
    mark: (l) => marks.push(l),
    idle: (l) => idle.push(l),
    metrics: new CdcMetrics(new prom.Registry(), "customers"),
    tombstones,
    log: createLogger("test", "error"),
  }, 1n);
  for (const f of frames as string[]) await h.handle(parseFrame(hex(f)));
  return { out, marks, idle };
}

Deno.test("stream: records, tombstones, PK change, TOAST, truncate, marks", async () => {
  const { out, marks, idle } = await replay(["cap.t", "cap.f"]);
  const summary = out.map((r) =>
    `${r.topic.split(".").pop()}:${r.key}:${
      r.value === null ? "tombstone" : JSON.parse(r.value).op
    }`
  );
  assert.deepEqual(summary, [
    't:{"id":1}:c',
    't:{"id":1}:u',
    't:{"id":1}:d', // primary key change 1 → 2
    't:{"id":1}:tombstone',
    't:{"id":2}:c',
    'f:{"id":1}:c',
    'f:{"id":1}:u',
    'f:{"id":1}:d',
    'f:{"id":1}:tombstone',
    't:{"id":2}:d',
    't:{"id":2}:tombstone',
    "t:null:t",
    "f:null:t",
    'f:{"id":5}:c',
  ]);
  const v = (i: number) => JSON.parse(out[i].value!);
  assert.equal(v(0).after.m, "happy", "enum as string");
  assert.equal(v(0).after.n, "1.50");
  assert.equal(v(1).after.big, UNAVAILABLE_VALUE);
  assert.deepEqual(v(6).before, { id: 1, v: "a" }, "REPLICA IDENTITY FULL");
  assert.deepEqual(v(5).transaction, {
    id: `${v(5).source.txId}:${v(5).transaction.id.split(":")[1]}`,
    total_order: 1,
    data_collection_order: 1,
  });
  assert.equal(v(7).transaction.total_order, 3);
  assert.equal(v(11).source.table, "t");
  assert.equal(v(12).transaction.total_order, 2);
  // one mark per commit, each the commit's end LSN, ascending
  assert.equal(marks.length, 7);
  assert.deepEqual([...marks].sort((a, b) => (a < b ? -1 : 1)), marks);
  assert.equal(marks[0], 26861144n);
  // keepalives between transactions are reported as idle positions
  assert.ok(idle.includes(26853824n));
});

Deno.test("stream: tables outside the include list are skipped; tombstones optional", async () => {
  const { out } = await replay(["cap.f"], false);
  assert.ok(out.every((r) => r.topic === "customers.cap.f"));
  assert.ok(out.every((r) => r.value !== null), "no tombstones");
  assert.equal(out.length, 5); // c, u, d, t, c
});
