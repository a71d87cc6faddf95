import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  throws as assertThrows,
} from "node:assert/strict";
import { ConvertError, parseInstant, valueConverter } from "./convert.ts";
import { parseType } from "./_type_parser.ts";
import { buildRowConverter } from "./row.ts";

const ok = (type: string, v: unknown) => valueConverter(type)(v);
const no = (type: string, v: unknown): string => {
  try {
    valueConverter(type)(v);
  } catch (err) {
    if (err instanceof ConvertError) return err.message;
    throw err;
  }
  throw new Error(`${type} accepted ${JSON.stringify(v)}`);
};
const eq = (a: unknown, b: unknown) => assertEquals(a, b);

Deno.test("parseType: parametric, enums, named tuples, nesting", () => {
  const t = parseType("Map(String, Array(Nullable(Decimal(10, 2))))");
  eq(t.name, "Map");
  eq(t.args.length, 2);
  const e = parseType("Enum8('a' = 1, 'it\\'s' = -2)");
  eq(e.args, [{ kind: "enum", name: "a", value: 1 }, {
    kind: "enum",
    name: "it's",
    value: -2,
  }]);
  const tu = parseType("Tuple(x UInt8, y String)");
  eq(tu.args.map((a) => a.kind === "type" ? a.field : ""), ["x", "y"]);
  assertThrows(() => parseType("Array(String"));
});

Deno.test("integers: range-checked, 64-bit exact from digit strings", () => {
  eq(ok("Int8", -128), "-128");
  assertMatch(no("Int8", 128), /-128\.\.127/);
  assertMatch(no("UInt8", -1), /0\.\.255/);
  eq(ok("UInt8", true), "1");
  eq(ok("UInt8", false), "0");
  assertMatch(no("Int32", 1.5), /integer/);
  assertMatch(no("Int32", "12a"), /integer/);
  eq(ok("UInt64", "18446744073709551615"), "18446744073709551615");
  assertMatch(no("UInt64", "18446744073709551616"), /UInt64/);
  eq(ok("Int64", "-9223372036854775808"), "-9223372036854775808");
  assertMatch(no("Int64", 2 ** 60), /digit strings/);
  eq(ok("Int64", 9007199254740991), "9007199254740991");
  eq(ok("UInt32", "007"), "7");
  eq(ok("Int128", "-170141183460469231731687303715884105728").length, 40);
  eq(ok("UInt256", "1"), "1");
});

Deno.test("floats and decimals", () => {
  eq(ok("Float64", 1.5), "1.5");
  eq(ok("Float32", "2.5e3"), "2500");
  assertMatch(no("Float64", "abc"), /finite number/);
  eq(ok("Decimal(10, 2)", 12.34), "12.34");
  eq(ok("Decimal(10, 2)", "-0.50"), "-0.5");
  eq(ok("Decimal(10, 2)", "1e3"), "1000");
  eq(ok("Decimal(10, 2)", 1e-2), "0.01");
  eq(ok("Decimal64(4)", "12345678901234.5678"), "12345678901234.5678");
  assertMatch(no("Decimal(5, 2)", "1234.5"), /3 integer and 2 fraction/);
  assertMatch(no("Decimal(5, 2)", "1.234"), /Decimal\(5, 2\)/);
  eq(
    ok("Decimal256(2)", "1" + "0".repeat(70) + ".25"),
    "1" + "0".repeat(70) + ".25",
  );
});

Deno.test("Bool, strings, FixedString, JSON objects into String", () => {
  eq(ok("Bool", true), "true");
  eq(ok("Bool", 0), "false");
  assertMatch(no("Bool", "yes"), /boolean/);
  eq(ok("String", 'a"b'), '"a\\"b"');
  eq(ok("String", 42), '"42"');
  eq(ok("String", { a: [1] }), JSON.stringify('{"a":[1]}'));
  eq(ok("FixedString(3)", "abc"), '"abc"');
  assertMatch(no("FixedString(3)", "abcd"), /at most 3 bytes/);
  assertMatch(no("FixedString(2)", "éé"), /at most 2 bytes/);
});

Deno.test("dates and times: ISO with zone, epoch s and ms", () => {
  eq(parseInstant("2024-03-01T10:00:00+02:00")?.sec, 1709280000);
  eq(parseInstant("2024-03-01T08:00:00.123456789Z")?.nanos, "123456789");
  eq(parseInstant(1709280000)?.sec, 1709280000);
  eq(parseInstant(1709280000123)?.sec, 1709280000);
  eq(parseInstant(1709280000123)?.nanos, "123000000");
  eq(parseInstant("2024-02-30"), undefined);
  eq(parseInstant("2024-03-01T10:00:00"), undefined); // no zone
  eq(ok("DateTime", "2024-03-01T08:00:00Z"), "1709280000");
  eq(ok("DateTime('Asia/Tokyo')", 1709280000123), "1709280000");
  assertMatch(no("DateTime", "2024-03-01 10:00:00"), /with zone/);
  assertMatch(no("DateTime", "1969-12-31T23:59:59Z"), /1970 and 2106/);
  eq(ok("Date", "2024-03-01"), '"2024-03-01"');
  eq(ok("Date", "2024-03-01T23:30:00-01:00"), '"2024-03-02"');
  eq(ok("Date32", "1950-01-01"), '"1950-01-01"');
  assertMatch(no("Date", "1950-01-01"), /Date/);
  eq(ok("DateTime64(3, 'UTC')", "2024-03-01T08:00:00.5Z"), '"1709280000.500"');
  eq(ok("DateTime64(6)", 1.5), '"0000000001.500000"');
  eq(ok("DateTime64(0)", 1709280000), '"1709280000"');
  assertMatch(no("DateTime64(3)", "soon"), /DateTime64/);
});

Deno.test("UUID, IPv4, IPv6, Enum", () => {
  eq(
    ok("UUID", "3F2504E0-4F89-11D3-9A0C-0305E82C3301"),
    '"3f2504e0-4f89-11d3-9a0c-0305e82c3301"',
  );
  assertMatch(no("UUID", "3F2504E0-4F89"), /UUID/);
  eq(ok("IPv4", "10.0.0.1"), '"10.0.0.1"');
  assertMatch(no("IPv4", "10.0.0.256"), /IPv4/);
  eq(ok("IPv6", "2001:DB8::1"), '"2001:db8::1"');
  eq(ok("IPv6", "1.2.3.4"), '"::ffff:1.2.3.4"');
  assertMatch(no("IPv6", "2001:db8:::1"), /IPv6/);
  const en = "Enum8('low' = 1, 'high' = 2)";
  eq(ok(en, "high"), '"high"');
  eq(ok(en, 1), '"low"');
  assertMatch(no(en, "mid"), /one of low\|high/);
});

Deno.test("Nullable, LowCardinality, Array, Map, Tuple, JSON", () => {
  eq(ok("Nullable(Int32)", null), "null");
  eq(ok("Nullable(Int32)", 5), "5");
  assertMatch(no("Int32", null), /integer/);
  eq(ok("LowCardinality(String)", "x"), '"x"');
  eq(ok("LowCardinality(Nullable(String))", null), "null");
  eq(ok("Array(UInt8)", [1, 2]), "[1,2]");
  assertMatch(no("Array(UInt8)", [1, 300]), /element 1: .*0\.\.255/);
  eq(ok("Array(Array(String))", [["a"], []]), '[["a"],[]]');
  eq(ok("Map(String, UInt64)", { a: "1", b: 2 }), '{"a":1,"b":2}');
  assertMatch(no("Map(String, UInt64)", { a: -1 }), /key "a"/);
  eq(ok("Map(UInt16, String)", { "7": "x" }), '{"7":"x"}');
  eq(ok("Tuple(UInt8, String)", [1, "a"]), '[1,"a"]');
  eq(ok("Tuple(x UInt8, y String)", { x: 1, y: "a" }), '{"x":1,"y":"a"}');
  eq(ok("Tuple(x UInt8, y String)", [1, "a"]), '{"x":1,"y":"a"}');
  assertMatch(no("Tuple(UInt8, String)", [1]), /array of 2/);
  eq(ok("JSON", { a: 1 }), '{"a":1}');
  assertMatch(no("AggregateFunction(sum, UInt64)", 1), /not supported/);
});

Deno.test("rows: defaults for missing/null, unknown counted, metadata only where present", () => {
  const conv = buildRowConverter([
    { name: "id", type: "UInt64" },
    { name: "name", type: "String", default_kind: "DEFAULT" },
    { name: "note", type: "Nullable(String)" },
    { name: "double_id", type: "UInt64", default_kind: "MATERIALIZED" },
    { name: "_topic", type: "LowCardinality(String)" },
    { name: "_offset", type: "UInt64" },
    { name: "_key", type: "Nullable(String)" },
    { name: "_timestamp", type: "DateTime64(3)" },
    { name: "_ingested_at", type: "DateTime" },
  ]);
  const meta = {
    topic: "t",
    partition: 2,
    offset: 7,
    key: null,
    timestampMs: 1709280000123,
  };
  const r = conv.convert(
    { id: "5", name: null, note: null, extra: 1, _topic: "spoof" },
    meta,
    1709280001,
  );
  eq(r, {
    ok: true,
    line:
      '{"id":5,"note":null,"_topic":"t","_offset":7,"_timestamp":"1709280000.123","_ingested_at":1709280001}',
    unknown: 1,
  });
  eq(conv.metadata, [
    "_topic",
    "_offset",
    "_key",
    "_timestamp",
    "_ingested_at",
  ]);
  const bad = conv.convert({ id: -1 }, meta, 0);
  eq(bad.ok, false);
  assertMatch((bad as { reason: string }).reason, /^column "id": expected/);
  // A `_topic` column of a type the topic does not fit is an ordinary column.
  const plain = buildRowConverter([{ name: "_partition", type: "String" }]);
  eq(plain.convert({ _partition: "p" }, meta, 0), {
    ok: true,
    line: '{"_partition":"p"}',
    unknown: 0,
  });
});
