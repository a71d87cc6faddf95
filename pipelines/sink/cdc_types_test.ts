import assert from "node:assert/strict";
import { TypeRegistry } from "../cdc/convert.ts";
import { columnSchema } from "../cdc/schema.ts";
import { bitsText, decimalText, mapField, parseExact } from "./cdc_types.ts";
import type { DecimalMode } from "../cdc/convert.ts";

/** The relay's schema and value for one column, through the sink's mapping. */
function roundTrip(
  typeOid: number,
  typeMod: number,
  text: string,
  mode: DecimalMode = "string",
) {
  const field = columnSchema(
    { name: "c", typeOid, typeMod, optional: true },
    () => undefined,
    mode,
  );
  const converted = new TypeRegistry(undefined, mode).converter(
    typeOid,
    typeMod,
  )(text);
  // Through JSON text, as the sink reads it from Kafka.
  const value = (parseExact(JSON.stringify({ v: converted })) as {
    v: unknown;
  }).v;
  const m = mapField(field);
  return { columns: m.columns, json: m.encode(value) };
}

const numeric = (p: number, s: number) => ((p << 16) | s) + 4;

Deno.test("sink cdc types: precise decimals become Decimal(p, s) numbers", () => {
  assert.deepEqual(roundTrip(1700, numeric(12, 3), "12345.678", "precise"), {
    columns: [["c", "Nullable(Decimal(12, 3))"]],
    json: '"c":12345.678',
  });
  assert.equal(
    roundTrip(1700, numeric(12, 3), "-0.001", "precise").json,
    '"c":-0.001',
  );
  // NaN has no decimal form: null, as Debezium.
  assert.equal(
    roundTrip(1700, numeric(10, 2), "NaN", "precise").json,
    '"c":null',
  );
  assert.deepEqual(roundTrip(790, -1, "-$1,234.56", "precise"), {
    columns: [["c", "Nullable(Decimal(20, 2))"]],
    json: '"c":-1234.56',
  });
  // Without a scale: VariableScaleDecimal → exact text.
  assert.deepEqual(roundTrip(1700, -1, "3.1400", "precise"), {
    columns: [["c", "Nullable(String)"]],
    json: '"c":"3.14"',
  });
  assert.equal(decimalText("gA==", 0), "-128");
  assert.equal(decimalText("AIA=", 2), "1.28");
});

Deno.test("sink cdc types: double decimals become Float64", () => {
  assert.deepEqual(roundTrip(1700, numeric(10, 2), "12.50", "double"), {
    columns: [["c", "Nullable(Float64)"]],
    json: '"c":12.5',
  });
  assert.equal(roundTrip(790, -1, "$1.25", "double").json, '"c":1.25');
});

Deno.test("sink cdc types: Bits back to bit text, ms timestamps and infinity sentinels", () => {
  assert.deepEqual(roundTrip(1560, 4, "0101"), {
    columns: [["c", "Nullable(String)"]],
    json: '"c":"0101"',
  });
  assert.equal(roundTrip(1560, 8, "00000000").json, '"c":"00000000"');
  assert.equal(roundTrip(1562, 8, "1100").json, '"c":"1100"');
  assert.equal(bitsText("", undefined), "0");
  assert.equal(
    roundTrip(1114, 3, "1970-01-01 00:00:01.5").json,
    '"c":1,"c_us":"1500000"',
  );
  assert.equal(
    roundTrip(1114, -1, "infinity").json,
    '"c":null,"c_us":"9223372036854775807"',
  );
  assert.equal(
    roundTrip(1114, 3, "-infinity").json,
    '"c":null,"c_us":"-9223372036854775808"',
  );
  assert.equal(
    roundTrip(1082, -1, "infinity").json,
    '"c":null,"c_days":2147483647',
  );
  assert.equal(
    roundTrip(1082, -1, "-infinity").json,
    '"c":null,"c_days":-2147483648',
  );
});
