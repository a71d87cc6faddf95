/**
 * JSON value → JSONEachRow value text, per ClickHouse column type. The types
 * come from the target table itself (`system.columns.type`), so the table is
 * the contract: {@link valueConverter} turns a type string into a function
 * that checks one JSON value and returns its JSON text, or throws a
 * {@link ConvertError} with a reason (the row builder adds the column name).
 *
 * Output is chosen to be read identically by ClickHouse 18.16 and current
 * servers: integers and decimals as exact number text, DateTime as epoch
 * seconds (independent of the server's time zone), Date as `YYYY-MM-DD`.
 *
 * @module
 */
import { parseType, type TypeNode } from "./_type_parser.ts";

/** A value that does not fit its column type. */
export class ConvertError extends Error {
  /** Creates the error; `message` is the reason without the column. */
  constructor(message: string) {
    super(message);
    this.name = "ConvertError";
  }
}

/** Converts one JSON value (never `undefined`) to JSON text, or throws. */
export type ValueConverter = (v: unknown) => string;

/** Short description of a value for reasons. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") {
    return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  }
  if (typeof v === "object") return Array.isArray(v) ? "an array" : "an object";
  return `${typeof v} ${String(v)}`;
}

function fail(expected: string, v: unknown): never {
  throw new ConvertError(`expected ${expected}, got ${describeValue(v)}`);
}

const INT_RE = /^[-+]?\d+$/;

function intConverter(bits: number, signed: boolean): ValueConverter {
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const max = signed
    ? (1n << BigInt(bits - 1)) - 1n
    : (1n << BigInt(bits)) - 1n;
  const nmin = Number(min), nmax = Number(max);
  const name = `${signed ? "Int" : "UInt"}${bits}`;
  const range = `an integer ${min}..${max} (${name})`;
  return (v) => {
    if (typeof v === "number") {
      if (!Number.isInteger(v)) fail(range, v);
      if (bits <= 32 || Number.isSafeInteger(v)) {
        if (v < nmin || v > nmax) fail(range, v);
        return String(v);
      }
      throw new ConvertError(
        `${v} is beyond 2^53 and not exact as a JSON number; send ${name} values that large as digit strings`,
      );
    }
    if (typeof v === "boolean" && bits === 8 && !signed) return v ? "1" : "0";
    if (typeof v === "string" && INT_RE.test(v.trim())) {
      const b = BigInt(v.trim());
      if (b < min || b > max) fail(range, v);
      return b.toString();
    }
    return fail(range, v);
  };
}

const FLOAT_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function floatConverter(bits: 32 | 64): ValueConverter {
  const what = `a finite number (Float${bits})`;
  return (v) => {
    if (typeof v === "number") return String(v);
    if (typeof v === "string" && FLOAT_RE.test(v.trim())) {
      const n = Number(v.trim());
      if (Number.isFinite(n)) return String(n);
    }
    return fail(what, v);
  };
}

const DEC_RE = /^([-+])?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/;

function decimalConverter(p: number, s: number): ValueConverter {
  const what = `a decimal with at most ${
    p - s
  } integer and ${s} fraction digits (Decimal(${p}, ${s}))`;
  return (v) => {
    let text: string;
    if (typeof v === "number" && Number.isFinite(v)) text = String(v);
    else if (typeof v === "string") text = v.trim();
    else return fail(what, v);
    const m = DEC_RE.exec(text);
    if (!m || (!m[2] && !m[3])) return fail(what, v);
    let int = m[2] ?? "", frac = m[3] ?? "";
    const exp = Number(m[4] ?? 0);
    if (exp > 0) {
      const f = frac.padEnd(exp, "0");
      int += f.slice(0, exp);
      frac = f.slice(exp);
    } else if (exp < 0) {
      const i = int.padStart(-exp, "0");
      frac = i.slice(i.length + exp) + frac;
      int = i.slice(0, i.length + exp);
    }
    int = int.replace(/^0+/, "");
    frac = frac.replace(/0+$/, "");
    if (int.length > p - s || frac.length > s) return fail(what, v);
    const neg = m[1] === "-" && (int !== "" || frac !== "");
    return (neg ? "-" : "") + (int || "0") + (frac ? "." + frac : "");
  };
}

const boolConverter: ValueConverter = (v) => {
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v === 0 || v === 1) return v === 1 ? "true" : "false";
  if (v === "true" || v === "false") return v;
  return fail("a boolean", v);
};

function stringConverter(fixed?: number): ValueConverter {
  const enc = new TextEncoder();
  return (v) => {
    let s: string;
    if (typeof v === "string") s = v;
    else if (typeof v === "number" || typeof v === "boolean") s = String(v);
    // JSON objects and arrays into a String column: serialised.
    else if (typeof v === "object" && v !== null) s = JSON.stringify(v);
    else return fail("a string", v);
    if (fixed !== undefined && enc.encode(s).length > fixed) {
      fail(`at most ${fixed} bytes (FixedString(${fixed}))`, v);
    }
    return JSON.stringify(s);
  };
}

const UUID_RE =
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const uuidConverter: ValueConverter = (v) => {
  if (typeof v !== "string" || !UUID_RE.test(v)) return fail("a UUID", v);
  return `"${v.toLowerCase()}"`;
};

const IPV4_RE =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv4Converter: ValueConverter = (v) => {
  if (typeof v !== "string" || !IPV4_RE.test(v)) {
    return fail("an IPv4 address", v);
  }
  return `"${v}"`;
};

function isIPv6(s: string): boolean {
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  try {
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}
const ipv6Converter: ValueConverter = (v) => {
  if (typeof v !== "string") return fail("an IPv6 address", v);
  if (IPV4_RE.test(v)) return `"::ffff:${v}"`;
  if (!isIPv6(v)) return fail("an IPv6 address", v);
  return `"${v.toLowerCase()}"`;
};

const ISO_RE =
  /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d\d(?::?\d\d)?)?)?$/;

/** Epoch ms at/after which a number is taken as milliseconds (year 5138 in s). */
const MS_THRESHOLD = 1e11;

/**
 * A time as epoch seconds plus a 9-digit fraction: from ISO-8601 with zone
 * (a date alone is midnight UTC), or epoch seconds / milliseconds.
 */
export function parseInstant(
  v: unknown,
): { sec: number; nanos: string } | undefined {
  if (typeof v === "number" && Number.isFinite(v)) {
    const ms = Math.abs(v) >= MS_THRESHOLD ? v : v * 1000;
    const sec = Math.floor(ms / 1000);
    const frac = Math.round((ms - sec * 1000) * 1e6);
    return { sec, nanos: String(Math.min(frac, 999_999_999)).padStart(9, "0") };
  }
  if (typeof v !== "string") return undefined;
  const m = ISO_RE.exec(v.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  if (h !== undefined && zone === undefined) return undefined; // no zone
  const base = Date.UTC(+y, +mo - 1, +d, +(h ?? 0), +(mi ?? 0), +(s ?? 0));
  const dt = new Date(base);
  if (
    !Number.isFinite(base) || dt.getUTCDate() !== +d ||
    dt.getUTCMonth() !== +mo - 1 || +(h ?? 0) > 23 || +(mi ?? 0) > 59 ||
    +(s ?? 0) > 59
  ) return undefined;
  let offsetMin = 0;
  if (zone && zone !== "Z" && zone !== "z") {
    const zm = /^([+-])(\d\d):?(\d\d)?$/.exec(zone)!;
    offsetMin = (zm[1] === "-" ? -1 : 1) * (+zm[2] * 60 + +(zm[3] ?? 0));
  }
  return {
    sec: Math.floor(base / 1000) - offsetMin * 60,
    nanos: (frac ?? "").padEnd(9, "0"),
  };
}

const DATE_TEXT = "an ISO-8601 date/time with zone, or epoch seconds/ms";

function dateConverter(minDay: number, maxDay: number, name: string) {
  const what = `${DATE_TEXT} within the range of ${name}`;
  return (v: unknown): string => {
    const t = parseInstant(v);
    if (!t) return fail(what, v);
    const day = Math.floor(t.sec / 86400);
    if (day < minDay || day > maxDay) return fail(what, v);
    return `"${new Date(day * 86400_000).toISOString().slice(0, 10)}"`;
  };
}

const MAX_DATETIME = 4294967295;

const dateTimeConverter: ValueConverter = (v) => {
  const t = parseInstant(v);
  if (!t || t.sec < 0 || t.sec > MAX_DATETIME) {
    return fail(`${DATE_TEXT} between 1970 and 2106 (DateTime)`, v);
  }
  return String(t.sec);
};

/**
 * DateTime64 covers 1900 .. 2299; as epoch text (the only zone-independent
 * input form) servers read it from 1970 on.
 */
const DT64_MIN = 0, DT64_MAX = 10413791999;

function dateTime64Converter(precision: number): ValueConverter {
  return (v) => {
    const t = parseInstant(v);
    if (!t || t.sec < DT64_MIN || t.sec > DT64_MAX) {
      return fail(`${DATE_TEXT} between 1970 and 2299 (DateTime64)`, v);
    }
    // Epoch seconds as text, zero-padded to 10 digits (shorter ones read
    // as a date), with the fraction: exact to nanoseconds.
    const sec = String(t.sec).padStart(10, "0");
    return precision === 0
      ? `"${sec}"`
      : `"${sec}.${t.nanos.slice(0, precision)}"`;
  };
}

function enumConverter(node: TypeNode): ValueConverter {
  const names = new Set<string>();
  const byValue = new Map<number, string>();
  for (const a of node.args) {
    if (a.kind !== "enum") continue;
    names.add(a.name);
    byValue.set(a.value, a.name);
  }
  const list = [...names].slice(0, 12).join("|") +
    (names.size > 12 ? "|…" : "");
  return (v) => {
    if (typeof v === "string" && names.has(v)) return JSON.stringify(v);
    if (typeof v === "number" && byValue.has(v)) {
      return JSON.stringify(byValue.get(v));
    }
    return fail(`one of ${list}`, v);
  };
}

function nullable(inner: ValueConverter): ValueConverter {
  return (v) => v === null ? "null" : inner(v);
}

function arrayConverter(inner: ValueConverter): ValueConverter {
  return (v) => {
    if (!Array.isArray(v)) return fail("an array", v);
    const out = new Array<string>(v.length);
    for (let i = 0; i < v.length; i++) {
      try {
        out[i] = inner(v[i] === undefined ? null : v[i]);
      } catch (err) {
        throw new ConvertError(`element ${i}: ${(err as Error).message}`);
      }
    }
    return "[" + out.join(",") + "]";
  };
}

function mapConverter(key: ValueConverter, value: ValueConverter) {
  return (v: unknown): string => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      return fail("an object (Map)", v);
    }
    const out: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      try {
        const kt = key(k);
        out.push((kt[0] === '"' ? kt : JSON.stringify(kt)) + ":" + value(x));
      } catch (err) {
        throw new ConvertError(
          `key ${JSON.stringify(k)}: ${(err as Error).message}`,
        );
      }
    }
    return "{" + out.join(",") + "}";
  };
}

function tupleConverter(
  items: Array<{ field?: string; conv: ValueConverter }>,
): ValueConverter {
  const named = items.every((x) => x.field !== undefined);
  const what = named
    ? `an array of ${items.length} or an object with ${
      items.map((x) => x.field).join(", ")
    } (Tuple)`
    : `an array of ${items.length} (Tuple)`;
  return (v) => {
    let values: unknown[];
    if (Array.isArray(v) && v.length === items.length) values = v;
    else if (
      named && v !== null && typeof v === "object" && !Array.isArray(v)
    ) {
      const o = v as Record<string, unknown>;
      values = items.map((x) => o[x.field!] ?? null);
    } else return fail(what, v);
    const out = items.map((x, i) => {
      try {
        return x.conv(values[i]);
      } catch (err) {
        throw new ConvertError(
          `${x.field ?? `element ${i + 1}`}: ${(err as Error).message}`,
        );
      }
    });
    // Named tuples are JSON objects for current servers (18.16 has none).
    if (named) {
      return "{" +
        out.map((x, i) => JSON.stringify(items[i].field) + ":" + x).join(",") +
        "}";
    }
    return "[" + out.join(",") + "]";
  };
}

const jsonObjectConverter: ValueConverter = (v) => {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return fail("a JSON object", v);
  }
  return JSON.stringify(v);
};

function unsupported(text: string): ValueConverter {
  return () => {
    throw new ConvertError(`type ${text} is not supported by the sink`);
  };
}

function num(node: TypeNode, i: number): number {
  const a = node.args[i];
  if (a?.kind !== "number") throw new Error(`bad type ${node.text}`);
  return Number(a.value);
}

function inner(node: TypeNode, i = 0): TypeNode {
  const a = node.args[i];
  if (a?.kind !== "type") throw new Error(`bad type ${node.text}`);
  return a.type;
}

const INTS = /^(U?)Int(8|16|32|64|128|256)$/;
const DECIMAL_P: Record<string, number> = {
  Decimal32: 9,
  Decimal64: 18,
  Decimal128: 38,
  Decimal256: 76,
};

/** The converter of one parsed type. */
export function converterOf(node: TypeNode): ValueConverter {
  const n = node.name;
  const ints = INTS.exec(n);
  if (ints) return intConverter(Number(ints[2]), ints[1] === "");
  switch (n) {
    case "String":
      return stringConverter();
    case "FixedString":
      return stringConverter(num(node, 0));
    case "Float32":
      return floatConverter(32);
    case "Float64":
      return floatConverter(64);
    case "Decimal":
      return decimalConverter(
        num(node, 0),
        node.args.length > 1 ? num(node, 1) : 0,
      );
    case "Decimal32":
    case "Decimal64":
    case "Decimal128":
    case "Decimal256":
      return decimalConverter(DECIMAL_P[n], num(node, 0));
    case "Bool":
    case "Boolean":
      return boolConverter;
    case "Date":
      return dateConverter(0, 65535, "Date");
    case "Date32":
      return dateConverter(-25567, 120529, "Date32");
    case "DateTime":
      return dateTimeConverter;
    case "DateTime64":
      return dateTime64Converter(num(node, 0));
    case "UUID":
      return uuidConverter;
    case "IPv4":
      return ipv4Converter;
    case "IPv6":
      return ipv6Converter;
    case "Enum8":
    case "Enum16":
    case "Enum":
      return enumConverter(node);
    case "Nullable":
      return nullable(converterOf(inner(node)));
    case "LowCardinality":
      return converterOf(inner(node));
    case "SimpleAggregateFunction":
      return converterOf(inner(node, 1));
    case "Array":
      return arrayConverter(converterOf(inner(node)));
    case "Map":
      return mapConverter(
        converterOf(inner(node)),
        converterOf(inner(node, 1)),
      );
    case "Tuple":
      return tupleConverter(node.args.map((a) => {
        if (a.kind !== "type") throw new Error(`bad type ${node.text}`);
        return { field: a.field, conv: converterOf(a.type) };
      }));
    case "JSON":
    case "Object":
      return jsonObjectConverter;
    default:
      return unsupported(node.text);
  }
}

/** The converter of a ClickHouse type string (`system.columns.type`). */
export function valueConverter(type: string): ValueConverter {
  let node: TypeNode;
  try {
    node = parseType(type);
  } catch {
    return unsupported(type);
  }
  return converterOf(node);
}

/** `T` of `Nullable(T)` / `LowCardinality(T)` wrappers, as a type name. */
export function baseTypeName(type: string): string {
  try {
    let node = parseType(type);
    while (
      (node.name === "Nullable" || node.name === "LowCardinality") &&
      node.args[0]?.kind === "type"
    ) node = node.args[0].type;
    return node.name;
  } catch {
    return type;
  }
}

/** Whether `type` accepts NULL. */
export function isNullable(type: string): boolean {
  return /^(LowCardinality\()?Nullable\(/.test(type);
}
