import assert from "node:assert/strict";
import { prom } from "../runtime/metrics.ts";
import { createLogger } from "../runtime/log.ts";
import type { OutRecord, TableMeta } from "./envelope.ts";
import { IncrementalSnapshots } from "./incremental.ts";
import { CdcMetrics } from "./metrics.ts";
import { CapturedTables } from "./signals.ts";

const meta = (table: string): TableMeta => ({
  relationOid: 1,
  schema: "s",
  table,
  topic: `p.s.${table}`,
  columns: [
    { name: "id", typeOid: 23, convert: (t) => Number(t) },
    { name: "v", typeOid: 25, convert: (t) => t },
  ],
  keyColumns: ["id"],
});

/**
 * A fake connection: answers the stage's queries from a table held in
 * memory and records the statements (the SQL itself is tested elsewhere).
 */
function fakeClient(rows: [string, string][]) {
  const log: { text: string; values?: unknown[] }[] = [];
  const watermarks: string[] = [];
  return {
    log,
    watermarks,
    query(q: unknown, values?: unknown[]) {
      const text = typeof q === "string" ? q : (q as { text: string }).text;
      const vals = values ?? (q as { values?: unknown[] }).values;
      log.push({ text, values: vals });
      let out: unknown[] = [];
      if (text.includes("consistent_point::text")) out = [{ cp: "0/10" }];
      else if (text.includes("DESC LIMIT 1")) out = [[rows.at(-1)![0]]];
      else if (text.startsWith('SELECT "id", "v"')) {
        const after = text.includes(">") ? Number(vals![0]) : 0;
        out = rows.filter(([id]) => Number(id) > after);
      } else if (text.includes('"dbz_signal" (id, type, data)')) {
        watermarks.push(vals![0] as string);
      }
      return Promise.resolve({ rows: out });
    },
  };
}

const signalRecord = (id: string, type: string, lsn: number): OutRecord => ({
  topic: "p.s.dbz_signal",
  key: JSON.stringify({ id }),
  value: JSON.stringify({
    before: null,
    after: { id, type, data: null },
    source: { lsn },
    op: "c",
  }),
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(cond(), "condition not reached");
}

Deno.test("a table found later is read alone between watermarks; the rows the stream changed meanwhile are dropped", async () => {
  const client = fakeClient([["1", "a"], ["2", "b"], ["3", "c"]]);
  const sent: OutRecord[] = [];
  let drained = 0;
  const stage = await IncrementalSnapshots.open({
    cfg: {
      slot: "sl",
      stateTable: "public.st",
      signalTable: "s.dbz_signal",
      incrementalChunkSize: 1024,
      newTablePollMs: 0,
      snapshotMode: "initial",
      topicPrefix: "p",
      publication: "pub",
    },
    client: client as never,
    describe: (name) => Promise.resolve(meta(name.split(".")[1])),
    captured: new CapturedTables(["s.*"], ["s.dbz_signal"]),
    sink: {
      push: (r) => Promise.resolve(void sent.push(r)),
      drain: () => Promise.resolve(void drained++),
    },
    ensureTopics: () => Promise.resolve(),
    settings: { serverName: "p", db: "shop" },
    metrics: new CdcMetrics(new prom.Registry(), "p"),
    log: createLogger("test", "error"),
  }, [meta("a")]);
  try {
    // First start of the slot: the start table counts as snapshotted.
    const saved = client.log.filter((q) => q.text.includes("INSERT INTO"))
      .map((q) => q.values!.slice(1, 3));
    assert.deepEqual(saved, [["s.a", "completed"], ["", "completed"]]);
    assert.ok(stage.include.has("s.dbz_signal"));

    // The first Relation message of s.c queues it; the chunk is read.
    await stage.described(meta("c"));
    await stage.described(meta("a")); // known: nothing to do
    assert.deepEqual(stage.pending, ["s.c"]);
    await until(() => client.watermarks.length === 2);
    const [open, close] = client.watermarks;
    assert.match(open, /-open$/);
    assert.match(close, /-close$/);

    await stage.push(signalRecord(open, "snapshot-window-open", 100));
    await stage.push({
      topic: "p.s.c",
      key: JSON.stringify({ id: 2 }),
      value: '{"op":"u"}',
    });
    await stage.push({ topic: "p.s.a", key: '{"id":3}', value: '{"op":"u"}' });
    await stage.push(signalRecord(close, "snapshot-window-close", 200));
    // Signals are consumed; the stream's records pass; the chunk's rows
    // follow at the high watermark, without key 2.
    assert.deepEqual(
      sent.map((r) => [r.topic, r.key, JSON.parse(r.value!).op]),
      [
        ["p.s.c", '{"id":2}', "u"],
        ["p.s.a", '{"id":3}', "u"],
        ["p.s.c", '{"id":1}', "r"],
        ["p.s.c", '{"id":3}', "r"],
      ],
    );
    const r = JSON.parse(sent[2].value!);
    assert.deepEqual(r.after, { id: 1, v: "a" });
    assert.equal(r.source.snapshot, "incremental");
    assert.equal(r.source.lsn, 200);
    assert.equal(drained, 1, "progress is written after Kafka acked the chunk");
    const last = client.log.filter((q) => q.text.includes("INSERT INTO"))
      .at(-1)!;
    assert.deepEqual(last.values!.slice(1, 4), ["s.c", "completed", '["3"]']);
    assert.deepEqual(stage.pending, []);

    // A replayed execute-snapshot signal of the same id is not run twice;
    // a new one re-reads the table; an uncaptured table is refused.
    const exec = (id: string, tables: string[]) => ({
      ...signalRecord(id, "execute-snapshot", 300),
      value: JSON.stringify({
        after: {
          id,
          type: "execute-snapshot",
          data: JSON.stringify({ "data-collections": tables }),
        },
        source: { lsn: 300 },
        op: "c",
      }),
    });
    await stage.push(exec("sig-1", ["s.a", "other.t"]));
    assert.deepEqual(stage.pending, ["s.a"]);
    await until(() => client.watermarks.length === 4);
    const [, , open2, close2] = client.watermarks;
    await stage.push(exec("sig-1", ["s.a"]));
    await stage.push(signalRecord(open2, "snapshot-window-open", 400));
    await stage.push(signalRecord(close2, "snapshot-window-close", 500));
    assert.equal(sent.filter((x) => x.topic === "p.s.a").length, 4);
    assert.deepEqual(stage.pending, []);
    assert.equal(sent.filter((x) => x.topic === "p.s.dbz_signal").length, 0);
  } finally {
    stage.stop();
  }
});
