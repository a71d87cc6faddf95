import assert from "node:assert/strict";
import {
  civilFromDays,
  date,
  daysFromCivil,
  interval,
  parseArrayLiteral,
  parseBytea,
  time,
  timestamp,
  timestamptz,
  timetz,
  TypeRegistry,
  UNAVAILABLE_VALUE,
} from "./convert.ts";

const reg = new TypeRegistry();
const conv = (oid: number, text: string) => reg.converter(oid)(text);
const json = (v: unknown) => JSON.stringify(v);

Deno.test("integers: int2/int4 numbers, int8 exact even beyond 2^53", () => {
  assert.equal(conv(21, "-32768"), -32768);
  assert.equal(conv(23, "2147483647"), 2147483647);
  assert.equal(conv(20, "42"), 42);
  assert.equal(
    json({ v: conv(20, "9223372036854775807") }),
    '{"v":9223372036854775807}',
  );
  assert.equal(
    json({ v: conv(20, "-9007199254740993") }),
    '{"v":-9007199254740993}',
  );
});

Deno.test("numeric and money are decimal strings (decimal.handling.mode=string)", () => {
  assert.equal(conv(1700, "12.50"), "12.50");
  assert.equal(conv(1700, "-0.000001"), "-0.000001");
  // Debezium 3.6.1 writes NaN numerics upper-case (side-by-side run).
  assert.equal(conv(1700, "NaN"), "NAN");
  assert.equal(conv(790, "$1,234.56"), "1234.56");
  assert.equal(conv(790, "-$0.99"), "-0.99");
});

Deno.test("floats: numbers; NaN/Infinity as strings", () => {
  assert.equal(conv(701, "3.141592653589793"), 3.141592653589793);
  assert.equal(conv(700, "1.5"), 1.5);
  assert.equal(conv(701, "NaN"), "NaN");
  assert.equal(conv(701, "-Infinity"), "-Infinity");
});

Deno.test("bool, text types, uuid, json/jsonb stay as in PostgreSQL", () => {
  assert.equal(conv(16, "t"), true);
  assert.equal(conv(16, "f"), false);
  assert.equal(conv(1043, "héllo"), "héllo");
  assert.equal(conv(1042, "ab  "), "ab  ");
  assert.equal(conv(25, ""), "");
  assert.equal(
    conv(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
  );
  assert.equal(conv(114, '{"a": [1, 2]}'), '{"a": [1, 2]}');
  assert.equal(conv(3802, '{"a": [1, 2]}'), '{"a": [1, 2]}');
});

Deno.test("bytea → base64 (hex and escape input)", () => {
  assert.equal(conv(17, "\\x00ff10"), "AP8Q");
  assert.equal(conv(17, "\\x"), "");
  assert.deepEqual([...parseBytea("a\\000\\\\")], [0x61, 0, 0x5c]);
});

Deno.test("date → days since epoch", () => {
  assert.equal(date("1970-01-01"), 0);
  assert.equal(date("2024-02-29"), 19782);
  assert.equal(date("1969-12-31"), -1);
  assert.equal(date("0001-01-01 BC"), daysFromCivil(0, 1, 1));
  // Debezium 3.6.1's values for ±infinity (side-by-side run).
  assert.equal(date("infinity"), -2147472692);
  assert.equal(date("-infinity"), -2147472691);
  for (const d of [-800000, -1, 0, 1, 19782, 2932896]) {
    const [y, m, dd] = civilFromDays(d);
    assert.equal(daysFromCivil(y, m, dd), d);
  }
});

Deno.test("time → µs since midnight; timetz → UTC ISO time", () => {
  assert.equal(time("00:00:00"), 0);
  assert.equal(time("13:45:30.123456"), 49530123456);
  assert.equal(time("24:00:00"), 86400000000);
  assert.equal(timetz("12:30:05.5+02"), "10:30:05.5Z");
  assert.equal(timetz("23:00:00-05:30"), "04:30:00Z");
});

Deno.test("timestamp → µs since epoch (MicroTimestamp), exact", () => {
  assert.equal(timestamp("1970-01-01 00:00:00"), 0);
  assert.equal(
    timestamp("2026-11-21 23:27:54.123456"),
    Date.UTC(2026, 10, 21, 23, 27, 54, 123) * 1000 + 456,
  );
  assert.equal(timestamp("1969-12-31 23:59:59.9"), -100000);
  assert.equal(
    json({ v: timestamp("294276-12-31 23:59:59.999999") }),
    '{"v":9224318015999999999}',
  );
  assert.equal(json({ v: timestamp("infinity") }), '{"v":9223372036825200000}');
  assert.equal(
    json({ v: timestamp("-infinity") }),
    '{"v":-9223372036832400000}',
  );
});

Deno.test("timestamp(0..3) → ms since epoch (Timestamp), as Debezium's adaptive mode", () => {
  const ms = (t: string) => reg.converter(1114, 3)(t);
  assert.equal(ms("2000-01-01 00:00:00.001"), 946684800001);
  assert.equal(ms("1969-12-31 23:59:59.999"), -1);
  assert.equal(reg.converter(1114, 0)("1970-01-01 00:00:01"), 1000);
  assert.equal(reg.converter(1114, 4)("1970-01-01 00:00:01"), 1000000);
  assert.equal(json(ms("infinity")), "9223372036825200");
  assert.equal(json(ms("-infinity")), "-9223372036832400");
});

Deno.test("timestamptz → ISO-8601 UTC (ZonedTimestamp), fraction of the column's precision", () => {
  assert.equal(
    timestamptz("2026-11-21 23:27:54.123+00"),
    "2026-11-21T23:27:54.123000Z",
  );
  assert.equal(
    timestamptz("2026-11-21 23:27:54+00"),
    "2026-11-21T23:27:54.000000Z",
  );
  assert.equal(
    timestamptz("2026-11-22 01:27:54.5+02"),
    "2026-11-21T23:27:54.500000Z",
  );
  assert.equal(
    timestamptz("2026-11-21 18:57:54.000001-04:30"),
    "2026-11-21T23:27:54.000001Z",
  );
  assert.equal(timestamptz("-infinity"), "-infinity");
  assert.equal(
    reg.converter(1184, 3)("2024-01-01 00:00:00.12+00"),
    "2024-01-01T00:00:00.120Z",
  );
  assert.equal(
    reg.converter(1184, 0)("2024-01-01 00:00:00+00"),
    "2024-01-01T00:00:00Z",
  );
  assert.equal(reg.converter(1184, 3)("infinity"), "infinity");
});

Deno.test("bit(n > 1)/varbit → Bits (little-endian bytes, base64); bit(1) → boolean", () => {
  const bit8 = reg.converter(1560, 8);
  assert.equal(bit8("10100101"), "pQ==");
  assert.equal(bit8("00000000"), "");
  assert.equal(bit8("00000001"), "AQ==");
  const varbit = reg.converter(1562, 16);
  assert.equal(varbit("101"), "BQ==");
  assert.equal(varbit("1111000011110000"), "8PA=");
  assert.equal(varbit("100000000"), "AAE="); // 256: [0x00, 0x01]
  assert.equal(varbit(""), "");
  assert.equal(reg.converter(1560, 1)("1"), true);
  assert.equal(reg.converter(1560, 1)("0"), false);
});

Deno.test("decimal.handling.mode=precise: Decimal bytes, VariableScaleDecimal without scale", () => {
  const precise = new TypeRegistry(undefined, "precise");
  // numeric(12,3): typmod = (12 << 16 | 3) + 4.
  const scaled = precise.converter(1700, ((12 << 16) | 3) + 4);
  assert.equal(scaled("12345.678"), "ALxhTg=="); // 12345678 = 0x00bc614e
  assert.equal(scaled("-0.001"), "/w=="); // -1
  assert.equal(scaled("0.000"), "AA==");
  assert.equal(scaled("1.5"), "Bdw="); // padded to scale 3: 1500
  assert.equal(scaled("NaN"), null);
  const free = precise.converter(1700, -1);
  assert.deepEqual(free("3.14"), { scale: 2, value: "ATo=" }); // 314
  assert.deepEqual(free("-128"), { scale: 0, value: "gA==" });
  assert.deepEqual(free("128"), { scale: 0, value: "AIA=" });
  assert.equal(precise.converter(790)("$1,234.56"), "AeJA"); // 123456
  assert.equal(precise.converter(790)("-$0.99"), "nQ=="); // -99
  // Arrays of numerics take the element's typmod.
  assert.deepEqual(precise.converter(1231, -1)("{1.5}"), [{
    scale: 1,
    value: "Dw==",
  }]);
});

Deno.test("decimal.handling.mode=double: JSON numbers", () => {
  const double = new TypeRegistry(undefined, "double");
  assert.equal(double.converter(1700, -1)("12.50"), 12.5);
  assert.equal(double.converter(1700, -1)("NaN"), "NaN");
  assert.equal(double.converter(790)("-$1,234.56"), -1234.56);
});

Deno.test("interval → µs (MicroDuration, 365.25/12 days per month)", () => {
  assert.equal(interval("PT0S"), 0);
  assert.equal(
    interval("P1DT2H3M4.5S"),
    ((24 + 2) * 3600 + 3 * 60 + 4.5) * 1e6,
  );
  assert.equal(interval("P1M"), Math.trunc(30.4375 * 86400 * 1e6));
  assert.equal(interval("P-1Y"), -Math.trunc(365.25 * 86400 * 1e6));
  assert.equal(interval("PT-1M-30S"), -90e6);
});

Deno.test("array literals: nested, quoted, NULL, bounds", () => {
  assert.deepEqual(parseArrayLiteral("{}"), []);
  assert.deepEqual(parseArrayLiteral("{1,2,NULL}"), ["1", "2", null]);
  assert.deepEqual(parseArrayLiteral('{"a b","c\\"d","NULL",x}'), [
    "a b",
    'c"d',
    "NULL",
    "x",
  ]);
  assert.deepEqual(parseArrayLiteral("{{1,2},{3,4}}"), [["1", "2"], [
    "3",
    "4",
  ]]);
  assert.deepEqual(parseArrayLiteral("[0:1]={7,8}"), ["7", "8"]);
  assert.deepEqual(parseArrayLiteral("{(1;2);(3;4)}", ";"), [
    "(1",
    "2)",
    "(3",
    "4)",
  ]);
});

Deno.test("arrays → JSON arrays of converted elements", () => {
  assert.deepEqual(conv(1007, "{1,2,NULL}"), [1, 2, null]);
  assert.deepEqual(conv(1009, '{"a,b",c}'), ["a,b", "c"]);
  assert.deepEqual(conv(1231, "{1.10,2}"), ["1.10", "2"]);
  assert.deepEqual(conv(1000, "{t,f}"), [true, false]);
  assert.deepEqual(conv(1115, '{"1970-01-01 00:00:01"}'), [1000000]);
  assert.deepEqual(conv(1001, '{"\\\\x01ff"}'), ["Af8="]);
  assert.deepEqual(conv(1007, "{{1,2},{3,4}}"), [[1, 2], [3, 4]]);
});

Deno.test("catalog-resolved types: domains use the base type, enum arrays", async () => {
  const r = new TypeRegistry((oids) =>
    Promise.resolve(
      [
        {
          oid: 9001,
          name: "positive_int",
          category: "N",
          elem: 0,
          base: 23,
          delim: ",",
        },
        {
          oid: 9002,
          name: "mood",
          category: "E",
          elem: 0,
          base: 0,
          delim: ",",
        },
        {
          oid: 9003,
          name: "_mood",
          category: "A",
          elem: 9002,
          base: 0,
          delim: ",",
        },
      ].filter((t) => oids.includes(t.oid)),
    )
  );
  await r.resolve([9001, 9003, 424242]);
  assert.equal(r.converter(9001)("7"), 7);
  assert.deepEqual(r.converter(9003)("{happy,sad}"), ["happy", "sad"]);
  assert.equal(
    r.converter(424242)("whatever"),
    "whatever",
    "unknown types are text",
  );
});

Deno.test("the TOAST placeholder is Debezium's", () => {
  assert.equal(UNAVAILABLE_VALUE, "__debezium_unavailable_value");
});
