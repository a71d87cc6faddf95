import assert from "node:assert/strict";
import { type DecimalMode, TypeRegistry } from "./convert.ts";
import { changeRecord, type TableMeta, tombstone } from "./envelope.ts";
import { columnSchema, tableSchemas } from "./schema.ts";
import { fillUnchanged } from "./stream.ts";

const none = () => undefined;

Deno.test("schema: built-in types carry Debezium's names and source type", () => {
  const numeric = columnSchema(
    // numeric(10,2): typmod = (10 << 16 | 2) + 4
    {
      name: "amount",
      typeOid: 1700,
      typeMod: (10 << 16 | 2) + 4,
      optional: true,
    },
    none,
  );
  assert.deepEqual(numeric, {
    type: "string",
    optional: true,
    field: "amount",
    parameters: {
      "__debezium.source.column.type": "NUMERIC",
      "__debezium.source.column.length": "10",
      "__debezium.source.column.scale": "2",
    },
  });
  const ts = columnSchema(
    { name: "at", typeOid: 1114, typeMod: -1, optional: false },
    none,
  );
  assert.equal(ts.type, "int64");
  assert.equal(ts.name, "io.debezium.time.MicroTimestamp");
  assert.equal(ts.optional, false);
  assert.equal(
    columnSchema(
      { name: "j", typeOid: 3802, typeMod: -1, optional: true },
      none,
    )
      .name,
    "io.debezium.data.Json",
  );
  const arr = columnSchema(
    { name: "ids", typeOid: 1007, typeMod: -1, optional: true },
    none,
  );
  assert.equal(arr.type, "array");
  assert.equal(arr.items?.type, "int32");
});

Deno.test("schema: enums, domains and arrays of them from the catalog", () => {
  const info = new Map([
    [90001, {
      oid: 90001,
      name: "mood",
      category: "E",
      elem: 0,
      base: 0,
      delim: ",",
    }],
    [90002, {
      oid: 90002,
      name: "posint",
      category: "N",
      elem: 0,
      base: 23,
      delim: ",",
    }],
    [90003, {
      oid: 90003,
      name: "_mood",
      category: "A",
      elem: 90001,
      base: 0,
      delim: ",",
    }],
  ]);
  const lookup = (oid: number) => info.get(oid);
  const e = columnSchema({
    name: "m",
    typeOid: 90001,
    typeMod: -1,
    optional: true,
  }, lookup);
  assert.equal(e.name, "io.debezium.data.Enum");
  assert.equal(e.parameters?.["__debezium.source.column.type"], "MOOD");
  const d = columnSchema({
    name: "p",
    typeOid: 90002,
    typeMod: -1,
    optional: true,
  }, lookup);
  assert.equal(d.type, "int32");
  assert.equal(d.parameters?.["__debezium.source.column.type"], "POSINT");
  const a = columnSchema({
    name: "ms",
    typeOid: 90003,
    typeMod: -1,
    optional: true,
  }, lookup);
  assert.equal(a.type, "array");
  assert.equal(a.items?.name, "io.debezium.data.Enum");
});

const types = new TypeRegistry();
const meta: TableMeta = {
  relationOid: 1,
  schema: "public",
  table: "t",
  topic: "p.public.t",
  columns: [
    { name: "id", typeOid: 23, convert: types.converter(23) },
    { name: "v", typeOid: 25, convert: types.converter(25) },
  ],
  keyColumns: ["id"],
};
meta.schemas = tableSchemas(
  meta.topic,
  [
    { name: "id", typeOid: 23, typeMod: -1, optional: false },
    { name: "v", typeOid: 25, typeMod: -1, optional: true },
  ],
  ["id"],
  none,
);

Deno.test("schema: records are wrapped as JsonConverter schemas.enable=true", () => {
  const r = changeRecord(
    { serverName: "p", db: "d" },
    meta,
    "c",
    null,
    { id: 1, v: "x" },
    { tsMs: 1, snapshot: "false", txId: 5, lsn: 10n, lastCommitLsn: null },
    null,
    2,
  );
  const key = JSON.parse(r.key!);
  assert.deepEqual(key.payload, { id: 1 });
  assert.equal(key.schema.name, "p.public.t.Key");
  assert.deepEqual(key.schema.fields[0].field, "id");
  const value = JSON.parse(r.value!);
  assert.equal(value.schema.name, "p.public.t.Envelope");
  assert.deepEqual(
    value.schema.fields.map((f: { field: string }) => f.field),
    [
      "before",
      "after",
      "source",
      "transaction",
      "op",
      "ts_ms",
      "ts_us",
      "ts_ns",
    ],
  );
  // Every payload field has its schema field (Debezium 3.6.1's source).
  assert.deepEqual(
    value.schema.fields[2].fields.map((f: { field: string }) => f.field),
    Object.keys(value.payload.source),
  );
  assert.equal(value.schema.fields[1].fields[1].field, "v");
  assert.deepEqual(value.payload.after, { id: 1, v: "x" });
  assert.equal(value.payload.op, "c");
  const t = tombstone(meta, { id: 1, v: "x" });
  assert.equal(t.value, null);
  assert.deepEqual(JSON.parse(t.key!).payload, { id: 1 });
});

Deno.test("TOAST: unchanged values are filled from a full old tuple", () => {
  const filled = fillUnchanged(
    [{ kind: "text", text: "1" }, { kind: "unchanged" }, { kind: "null" }],
    [{ kind: "text", text: "1" }, { kind: "text", text: "big" }, {
      kind: "text",
      text: "old",
    }],
  );
  assert.deepEqual(filled, [
    { kind: "text", text: "1" },
    { kind: "text", text: "big" },
    { kind: "null" },
  ]);
});

Deno.test("schema: bits, ms timestamps, enum labels and decimal modes as Debezium 3.6.1", () => {
  const col = (typeOid: number, typeMod: number, mode?: DecimalMode) =>
    columnSchema(
      { name: "c", typeOid, typeMod, optional: true },
      (oid) =>
        oid === 9000
          ? {
            oid,
            name: "mood",
            category: "E",
            elem: 0,
            base: 0,
            delim: ",",
            labels: "sad,ok,happy",
          }
          : undefined,
      mode,
    );
  const bit8 = col(1560, 8);
  assert.equal(bit8.type, "bytes");
  assert.equal(bit8.name, "io.debezium.data.Bits");
  assert.equal(bit8.parameters?.length, "8");
  assert.equal(col(1560, 1).type, "boolean");
  assert.equal(col(1562, 16).name, "io.debezium.data.Bits");
  assert.equal(col(1114, 3).name, "io.debezium.time.Timestamp");
  assert.equal(col(1114, 6).name, "io.debezium.time.MicroTimestamp");
  assert.equal(col(9000, -1).parameters?.allowed, "sad,ok,happy");
  const numeric = (10 << 16 | 2) + 4;
  assert.equal(col(1700, numeric).type, "string");
  assert.equal(col(1700, numeric, "double").type, "double");
  const precise = col(1700, numeric, "precise");
  assert.equal(precise.type, "bytes");
  assert.equal(precise.name, "org.apache.kafka.connect.data.Decimal");
  assert.equal(precise.parameters?.scale, "2");
  assert.equal(precise.parameters?.["connect.decimal.precision"], "10");
  const free = col(1700, -1, "precise");
  assert.equal(free.type, "struct");
  assert.equal(free.name, "io.debezium.data.VariableScaleDecimal");
  assert.deepEqual(free.fields?.map((f) => f.field), ["scale", "value"]);
  assert.equal(col(790, -1, "precise").parameters?.scale, "2");
});
