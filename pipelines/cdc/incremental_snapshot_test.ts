import assert from "node:assert/strict";
import type { TableMeta } from "./envelope.ts";
import {
  canonicalKey,
  chunkQuery,
  ChunkWindow,
  keyTexts,
  maxKeyQuery,
  watermarkIds,
} from "./incremental_snapshot.ts";

const row = (id: number, v = "x") => ({
  key: JSON.stringify({ id }),
  texts: [String(id), v],
});

Deno.test("a key the stream changed inside the window is dropped from the chunk", () => {
  const w = new ChunkWindow("w1", "p.s.t");
  w.setRows([row(1), row(2), row(3)]);
  w.streamed("p.s.t", JSON.stringify({ id: 2 })); // before the low watermark
  w.open();
  w.streamed("p.s.t", JSON.stringify({ id: 3 }));
  w.streamed("p.s.other", JSON.stringify({ id: 1 })); // another table
  assert.deepEqual(w.close().map((r) => r.key), [
    JSON.stringify({ id: 1 }),
    JSON.stringify({ id: 2 }),
  ]);
  assert.equal(w.dropped, 1);
});

Deno.test("a change seen before the chunk's rows arrive still drops the row", () => {
  const w = new ChunkWindow("w2", "t");
  w.open();
  w.streamed("t", JSON.stringify({ id: 7 }));
  w.setRows([row(6), row(7), row(8)]);
  assert.deepEqual(w.close().map((r) => r.texts[0]), ["6", "8"]);
});

Deno.test("an empty chunk emits nothing", () => {
  const w = new ChunkWindow("w3", "t");
  w.open();
  assert.deepEqual(w.close(), []);
  assert.deepEqual(watermarkIds("w3"), { open: "w3-open", close: "w3-close" });
});

Deno.test("keys compare without the --schemas wrapper", () => {
  const plain = JSON.stringify({ id: 5, k: "a" });
  const wrapped = JSON.stringify({
    schema: { type: "struct", fields: [] },
    payload: { id: 5, k: "a" },
  });
  assert.equal(canonicalKey(wrapped), canonicalKey(plain));
  assert.equal(canonicalKey(plain), plain);
});

const meta = (keys: string[]): TableMeta => ({
  relationOid: 1,
  schema: "s",
  table: "T",
  topic: "p.s.T",
  columns: ["a", "b", "v"].map((name) => ({
    name,
    typeOid: 25,
    convert: (t: string) => t,
  })),
  keyColumns: keys,
});

Deno.test("chunk SQL: after the last key, up to the largest, in key order", () => {
  assert.equal(
    chunkQuery(meta(["a"]), { after: false, bounded: true, size: 3 }),
    'SELECT "a", "b", "v" FROM "s"."T" WHERE ("a") <= ($1) ORDER BY "a" LIMIT 3',
  );
  assert.equal(
    chunkQuery(meta(["b", "a"]), { after: true, bounded: true, size: 1024 }),
    'SELECT "a", "b", "v" FROM "s"."T" WHERE ("b", "a") > ($1, $2) AND ("b", "a") <= ($3, $4) ORDER BY "b", "a" LIMIT 1024',
  );
  assert.equal(
    maxKeyQuery(meta(["b", "a"])),
    'SELECT "b", "a" FROM "s"."T" ORDER BY "b" DESC, "a" DESC LIMIT 1',
  );
  assert.deepEqual(keyTexts(meta(["b", "a"]), ["1", "2", "3"]), ["2", "1"]);
});

/** A seeded generator (mulberry32): the simulation is reproducible. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Wal =
  | { kind: "change"; id: number; v: number | null }
  | { kind: "open" }
  | { kind: "close" };

Deno.test("simulated DBLog: chunks interleaved with changes never emit a stale row, and the fold equals the table", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = rng(seed);
    const table = new Map<number, number>();
    for (let id = 1; id <= 40; id++) table.set(id, 0);
    const wal: Wal[] = [];
    let version = 0;
    const change = () => {
      const id = 1 + Math.floor(rand() * 45);
      const del = rand() < 0.15 && table.has(id);
      version++;
      if (del) table.delete(id);
      else table.set(id, version);
      wal.push({ kind: "change", id, v: del ? null : version });
    };
    // Chunks of 8 keys up to the largest key at the start (40); changes
    // commit before, between and after each chunk's watermarks; the read
    // sees the table at some moment between them.
    const chunks: { id: number; v: number }[][] = [];
    for (let from = 0; from < 40; from += 8) {
      for (let i = rand() * 4; i > 0; i--) change();
      wal.push({ kind: "open" });
      for (let i = rand() * 3; i > 0; i--) change();
      chunks.push(
        [...table].filter(([id]) => id > from && id <= from + 8)
          .map(([id, v]) => ({ id, v })),
      );
      for (let i = rand() * 3; i > 0; i--) change();
      wal.push({ kind: "close" });
    }
    for (let i = rand() * 4; i > 0; i--) change();

    // The stream: every change is emitted; chunk rows at the high watermark.
    const out: { id: number; v: number | null }[] = [];
    let w: ChunkWindow | undefined;
    let n = 0;
    for (const e of wal) {
      if (e.kind === "open") {
        w = new ChunkWindow(String(n), "t");
        w.open();
        w.setRows(
          chunks[n].map((r) => ({ key: String(r.id), texts: [String(r.v)] })),
        );
      } else if (e.kind === "close") {
        for (const r of w!.close()) {
          out.push({ id: Number(r.key), v: Number(r.texts[0]) });
        }
        w = undefined;
        n++;
      } else {
        w?.streamed("t", String(e.id));
        out.push({ id: e.id, v: e.v });
      }
    }
    const folded = new Map<number, number>();
    const seen = new Map<number, number>();
    for (const o of out) {
      // Versions grow with the WAL: a row emitted after a newer change of
      // the same key would be stale.
      const before = seen.get(o.id) ?? -1;
      if (o.v !== null) {
        assert.ok(o.v >= before, `seed ${seed}: key ${o.id} went back`);
        seen.set(o.id, o.v);
      }
      if (o.v === null) folded.delete(o.id);
      else folded.set(o.id, o.v);
    }
    assert.deepEqual(folded, table, `seed ${seed}`);
  }
});
