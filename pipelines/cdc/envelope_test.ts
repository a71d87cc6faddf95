import assert from "node:assert/strict";
import { TypeRegistry } from "./convert.ts";
import {
  type ChangePosition,
  changeRecord,
  keyChanged,
  RELAY_VERSION,
  snapshotMark,
  type TableMeta,
  textsToRow,
  tombstone,
  truncateRecord,
} from "./envelope.ts";

const types = new TypeRegistry();
const meta: TableMeta = {
  relationOid: 1,
  schema: "public",
  table: "users",
  topic: "customers.public.users",
  columns: [
    { name: "id", typeOid: 23, convert: types.converter(23) },
    { name: "name", typeOid: 1043, convert: types.converter(1043) },
    { name: "created_at", typeOid: 1114, convert: types.converter(1114) },
  ],
  keyColumns: ["id"],
};
const settings = { serverName: "customers", db: "shop" };
const pos: ChangePosition = {
  tsMs: 1700000000123,
  snapshot: "false",
  txId: 747,
  lsn: 27236696n,
  lastCommitLsn: 27236496n,
  tsUs: 1700000000123456n,
};

Deno.test("change record: Debezium envelope, field order and values", () => {
  const after = textsToRow(meta, ["2", 'Al "ice"', "1970-01-01 00:00:01"]);
  const r = changeRecord(settings, meta, "c", null, after, pos, {
    id: "747:27236792",
    total_order: 1,
    data_collection_order: 1,
  }, 1700000000200);
  assert.equal(r.topic, "customers.public.users");
  assert.equal(r.key, '{"id":2}');
  assert.equal(r.commitTimeMs, 1700000000123);
  const v = JSON.parse(r.value!);
  // Debezium 3.6.1's order (side-by-side run, tasks/bench/cdc_parity.ts).
  assert.deepEqual(Object.keys(v), [
    "before",
    "after",
    "source",
    "transaction",
    "op",
    "ts_ms",
    "ts_us",
    "ts_ns",
  ]);
  assert.deepEqual(Object.keys(v.source), [
    "version",
    "connector",
    "name",
    "ts_ms",
    "snapshot",
    "db",
    "sequence",
    "ts_us",
    "ts_ns",
    "schema",
    "table",
    "txId",
    "lsn",
    "xmin",
    "origin",
    "origin_lsn",
  ]);
  // ns beyond 2^53: exact in the JSON text.
  assert.match(
    r.value!,
    /"ts_us":1700000000123456,"ts_ns":1700000000123456000,/,
  );
  assert.match(
    r.value!,
    /"ts_us":1700000000200000,"ts_ns":1700000000200000000\}$/,
  );
  assert.deepEqual(v, {
    before: null,
    after: { id: 2, name: 'Al "ice"', created_at: 1000000 },
    source: {
      version: RELAY_VERSION,
      connector: "postgresql",
      name: "customers",
      ts_ms: 1700000000123,
      snapshot: "false",
      db: "shop",
      sequence: '["27236496","27236696"]',
      ts_us: 1700000000123456,
      ts_ns: 1700000000123456000,
      schema: "public",
      table: "users",
      txId: 747,
      lsn: 27236696,
      xmin: null,
      origin: null,
      origin_lsn: null,
    },
    op: "c",
    ts_ms: 1700000000200,
    ts_us: 1700000000200000,
    ts_ns: 1700000000200000000,
    transaction: {
      id: "747:27236792",
      total_order: 1,
      data_collection_order: 1,
    },
  });
});

Deno.test("snapshot record: no transaction, sequence starts with null", () => {
  const row = textsToRow(meta, ["1", null, null]);
  const r = changeRecord(
    settings,
    meta,
    "r",
    null,
    row,
    {
      ...pos,
      snapshot: "last",
      lastCommitLsn: null,
    },
    null,
    1,
  );
  const v = JSON.parse(r.value!);
  assert.equal(v.op, "r");
  assert.equal(v.source.snapshot, "last");
  assert.equal(v.source.sequence, '[null,"27236696"]');
  assert.equal(v.transaction, null);
  assert.deepEqual(v.after, { id: 1, name: null, created_at: null });
  assert.equal(r.commitTimeMs, undefined, "no lag sample for snapshot rows");
});

Deno.test("delete, tombstone and truncate records", () => {
  const before = textsToRow(meta, ["5", null, null]);
  const d = JSON.parse(
    changeRecord(settings, meta, "d", before, null, pos, null, 1).value!,
  );
  assert.equal(d.op, "d");
  assert.deepEqual(d.before, { id: 5, name: null, created_at: null });
  assert.equal(d.after, null);
  assert.deepEqual(tombstone(meta, before), {
    topic: meta.topic,
    key: '{"id":5}',
    value: null,
  });
  const t = truncateRecord(settings, meta, pos, null, 1);
  assert.equal(t.key, null);
  const tv = JSON.parse(t.value!);
  assert.equal(tv.op, "t");
  assert.equal(tv.before, null);
  assert.equal(tv.after, null);
});

Deno.test("exotic server names and schemas are escaped; big LSNs exact", () => {
  const m2 = { ...meta, schema: 'we"ird', table: "t\\x" };
  const r = changeRecord(
    { serverName: 'na"me', db: "d\nb" },
    m2,
    "c",
    null,
    { id: 1 },
    { ...pos, lsn: 2n ** 60n },
    null,
    1,
  );
  const v = JSON.parse(r.value!);
  assert.equal(v.source.name, 'na"me');
  assert.equal(v.source.db, "d\nb");
  assert.equal(v.source.schema, 'we"ird');
  assert.equal(v.source.table, "t\\x");
  assert.ok(r.value!.includes(`"lsn":${2n ** 60n}`));
});

Deno.test("keyChanged compares primary key columns only", () => {
  assert.equal(
    keyChanged(meta, { id: 1, name: "a" }, { id: 1, name: "b" }),
    false,
  );
  assert.equal(keyChanged(meta, { id: 1 }, { id: 2 }), true);
});

Deno.test("snapshot marks: first, first/last in data collection, last", () => {
  // Two tables of two rows, as Debezium 3.6.1 marked them side by side.
  const rows = [
    { first: true, last: false, firstInTable: true, lastInTable: false },
    { first: false, last: false, firstInTable: false, lastInTable: true },
    { first: false, last: false, firstInTable: true, lastInTable: false },
    { first: false, last: true, firstInTable: false, lastInTable: true },
  ];
  assert.deepEqual(rows.map(snapshotMark), [
    "first",
    "last_in_data_collection",
    "first_in_data_collection",
    "last",
  ]);
  assert.equal(
    snapshotMark({
      first: false,
      last: false,
      firstInTable: false,
      lastInTable: false,
    }),
    "true",
  );
  assert.equal(
    snapshotMark({
      first: true,
      last: true,
      firstInTable: true,
      lastInTable: true,
    }),
    "last",
  );
});
