import assert from "node:assert/strict";
import { PartitionState } from "./batch.ts";
import {
  buildRequests,
  deadLetterBodies,
  deadLetterMessage,
  insertPlan,
  locateRow,
  requestBody,
  type TakenRange,
} from "./encoder.ts";

function taken(
  topic: string,
  partition: number,
  ts: number,
  n: number,
  from = 0,
) {
  const st = new PartitionState(topic, partition, from);
  for (let o = from; o < from + n; o++) {
    st.rangeFor(o).addRow(
      o,
      "security_events",
      partition % 2,
      `{"o":${o}`,
      ts * 1000,
    );
  }
  const range = st.takeForFlush()!;
  return { topic, partition, shard: partition % 2, range } as TakenRange;
}

Deno.test("bodies are a pure function of the ranges (byte-identical re-forms)", () => {
  const a = [taken("t", 0, 7, 3), taken("t", 2, 8, 2), taken("t", 1, 7, 1)];
  const b = [taken("t", 2, 8, 2), taken("t", 1, 7, 1), taken("t", 0, 7, 3)];
  const ra = buildRequests(a), rb = buildRequests(b);
  assert.equal(ra.length, 2, "one request per table and shard");
  assert.deepEqual(ra.map(requestBody), rb.map(requestBody));
  assert.equal(
    requestBody(ra[0]),
    '{"o":0,"_ingested_at":7}\n{"o":1,"_ingested_at":7}\n{"o":2,"_ingested_at":7}\n{"o":0,"_ingested_at":8}\n{"o":1,"_ingested_at":8}',
  );
  assert.deepEqual(locateRow(ra[0], 4), { part: 1, index: 0 });
  assert.equal(locateRow(ra[0], 6), undefined);
});

Deno.test("dead letters: table rows per shard and the shared DLQ message shape", () => {
  const st = new PartitionState("logs.auth", 1, 5);
  st.rangeFor(5).addDeadLetter(
    5,
    "invalid JSON: x",
    "{oops",
    1_763_700_000_500,
  );
  const range = st.takeForFlush()!;
  const t: TakenRange = { topic: "logs.auth", partition: 1, shard: 1, range };
  const bodies = deadLetterBodies([t]);
  const row = JSON.parse(bodies.get(1)!);
  assert.equal(row.source, "logs.auth:1:5");
  assert.equal(row.original, "{oops");
  assert.equal(row.pipeline, "sink");
  assert.equal(row._offset, 5);
  const msg = JSON.parse(deadLetterMessage(t, t.range.deadLetters[0]).value);
  assert.deepEqual(Object.keys(msg), [
    "reason",
    "source",
    "original",
    "pipeline",
    "ts",
  ]);
  assert.equal(msg.ts, "2025-11-21T04:40:00.000Z");
});

Deno.test("table targets: one request per range, token names the range", () => {
  const mk = (partition: number, offsets: number[]) => {
    const st = new PartitionState("t", partition, -1);
    for (const o of offsets) {
      st.rangeFor(o).addRow(
        o,
        "db.x_local",
        0,
        `{"o":${o}}`,
        0,
        undefined,
        true,
      );
    }
    return { topic: "t", partition, shard: 0, range: st.takeForFlush()! };
  };
  const taken = [mk(0, [5, 6]), mk(2, [9])];
  const reqs = buildRequests(taken, (t) => t === "db.x_local");
  assert.equal(reqs.length, 2);
  assert.deepEqual(reqs.map((r) => r.range), [
    { topic: "t", partition: 0, from: 5, to: 6 },
    { topic: "t", partition: 2, from: 9, to: 9 },
  ]);
  assert.deepEqual(reqs[0].parts[0].offsets, [5, 6]);
  assert.equal(requestBody(reqs[0]), '{"o":5}\n{"o":6}');
  // Built-in behaviour: one request per table and shard.
  assert.equal(buildRequests(taken).length, 1);
  const ctx = {
    database: "analytics",
    group: "g",
    table: { database: "db", table: "x_local" },
  };
  const caps = { version: "24.8", dedupToken: true, omittedDefaults: true };
  assert.deepEqual(insertPlan(reqs[0], { ...ctx, capabilities: caps }), {
    table: "`db`.`x_local`",
    pace: "db.x_local|t:0",
    settings: {
      insert_deduplication_token: "g:t:0:5-6",
      input_format_defaults_for_omitted_fields: 1,
    },
  });
  const old = { version: "18.16", dedupToken: false, omittedDefaults: false };
  assert.deepEqual(
    insertPlan(reqs[1], { ...ctx, capabilities: old }).settings,
    {},
  );
  assert.deepEqual(
    insertPlan({ table: "fact_log", shard: 1, parts: [], rows: 0 }, ctx),
    { table: "`analytics`.`fact_log_local`", pace: "fact_log", settings: {} },
  );
});
