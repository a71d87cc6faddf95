/**
 * Debezium field schema (JsonConverter `schemas.enable=true`) → ClickHouse
 * columns and the JSONEachRow fragment of a value, for mirrors the sink
 * creates itself. Pure; see README "CDC mirrors of any table" for the table
 * PostgreSQL → Debezium schema → ClickHouse (ClickHouse 18.16: no
 * DateTime64, no Nullable(Array), Decimal only from unquoted numbers).
 *
 * @module
 */

/** A Kafka Connect field schema (the parts the mapping reads). */
export interface ConnectField {
  type: string;
  optional?: boolean;
  name?: string;
  field?: string;
  parameters?: Record<string, string>;
  items?: ConnectField;
}

/** Debezium's placeholder for a TOASTed value an update did not send. */
export const UNAVAILABLE = "__debezium_unavailable_value";

/** The ClickHouse side of one PostgreSQL column. */
export interface ColumnMapping {
  /** PostgreSQL column name (the field). */
  field: string;
  /** ClickHouse columns it fills: name and type. */
  columns: Array<[string, string]>;
  /** JSONEachRow fragment(s) for a value; a string reason if invalid. */
  encode: (v: unknown) => string | { reason: string };
}

/** How one value is written (element types of arrays use the same). */
interface Scalar {
  type: string;
  /** JSON text of a non-null value, or undefined when it does not fit. */
  json: (v: unknown) => string | undefined;
}

const INT_RE = /^-?\d+$/;
const DEC_RE = /^-?\d+(\.\d+)?$/;

const intScalar = (type: string): Scalar => ({
  type,
  // Quoted: ClickHouse parses quoted integers, JSON.parse keeps them exact.
  json: (v) =>
    typeof v === "number" && Number.isInteger(v)
      ? `"${BigInt(v)}"`
      : typeof v === "string" && INT_RE.test(v)
      ? `"${v}"`
      : typeof v === "bigint"
      ? `"${v}"`
      : undefined,
});

/** ES2024 `JSON.rawJSON` (not yet in the TypeScript lib). */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** JSON.stringify that writes BigInts (exact 64-bit integers) as numbers. */
export function stringify(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) => typeof x === "bigint" ? rawJSON(x.toString()) : x,
  );
}

/**
 * JSON.parse keeping integers beyond 2^53 exact (as BigInt), from the
 * source text: Debezium int64 values such as 9007199254740993.
 */
export function parseExact(text: string): unknown {
  return JSON.parse(
    text,
    (_k, v, ctx?: { source?: string }) =>
      typeof v === "number" && !Number.isSafeInteger(v) && ctx?.source &&
        /^-?\d+$/.test(ctx.source)
        ? BigInt(ctx.source)
        : v,
  );
}

const STRING: Scalar = {
  type: "String",
  json: (v) => typeof v === "string" ? JSON.stringify(v) : stringify(v),
};

/** Microseconds of an ISO-8601 UTC timestamp (`…T…[.ffffff]Z`). */
export function isoMicros(s: string): bigint | undefined {
  const m =
    /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/
      .exec(s);
  if (!m) return undefined;
  const base = new Date(0);
  base.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const secs = BigInt(base.getTime() / 1000) + BigInt(m[4]) * 3600n +
    BigInt(m[5]) * 60n + BigInt(m[6]);
  return secs * 1_000_000n + BigInt((m[7] ?? "").padEnd(6, "0").slice(0, 6));
}

/** `±infinity` as Int64/Int32 sentinels (Debezium 3's choice for infinity). */
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/**
 * Debezium 3.6.1's numbers for `±infinity` (the relay writes the same):
 * timestamps in µs (÷1000 for ms `Timestamp` columns) and dates in days.
 */
const DBZ_TS_INFINITY_US = 9223372036825200000n;
const DBZ_TS_NEG_INFINITY_US = -9223372036832400000n;
const DBZ_DATE_INFINITY = -2147472692;
const DBZ_DATE_NEG_INFINITY = -2147472691;

function micros(
  v: unknown,
  zoned: boolean,
  unitUs = 1n,
): bigint | undefined {
  if (v === "infinity") return INT64_MAX;
  if (v === "-infinity") return INT64_MIN;
  if (zoned) return typeof v === "string" ? isoMicros(v) : undefined;
  const n = typeof v === "number" && Number.isInteger(v)
    ? BigInt(v)
    : typeof v === "bigint"
    ? v
    : typeof v === "string" && INT_RE.test(v)
    ? BigInt(v)
    : undefined;
  if (n === undefined) return undefined;
  const us = n * unitUs;
  // A float64 parse may round the sentinels: compare at ms precision.
  if (us / 1000n === DBZ_TS_INFINITY_US / 1000n) return INT64_MAX;
  if (us / 1000n === DBZ_TS_NEG_INFINITY_US / 1000n) return INT64_MIN;
  return us;
}

function days(v: unknown): number | undefined {
  if (v === "infinity" || v === DBZ_DATE_INFINITY) return 2147483647;
  if (v === "-infinity" || v === DBZ_DATE_NEG_INFINITY) return -2147483648;
  return typeof v === "number" && Number.isInteger(v) ? v : undefined;
}

/** Bytes of a base64 text, or undefined. */
function fromBase64(v: unknown): Uint8Array | undefined {
  if (typeof v !== "string") return undefined;
  try {
    return Uint8Array.from(atob(v), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * `io.debezium.data.Bits` (little-endian bytes of the bit string as an
 * integer) → the PostgreSQL bit text, `length` digits for `bit(n)`; a
 * varbit's leading zeros are not in the encoding (at least one digit).
 */
export function bitsText(b64: unknown, length?: number): string | undefined {
  const bytes = fromBase64(b64);
  if (!bytes) return undefined;
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  const digits = n.toString(2);
  return length === undefined ? digits : digits.padStart(length, "0");
}

/**
 * A Connect `Decimal` (`precise`: base64 of the unscaled big-endian two's
 * complement) → decimal text at `scale`.
 */
export function decimalText(b64: unknown, scale: number): string | undefined {
  const bytes = fromBase64(b64);
  if (!bytes || bytes.length === 0) return undefined;
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  if (bytes[0] & 0x80) n -= 1n << BigInt(bytes.length * 8);
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(scale + 1, "0");
  const int = digits.slice(0, digits.length - scale);
  const frac = scale > 0 ? `.${digits.slice(digits.length - scale)}` : "";
  return `${neg ? "-" : ""}${int}${frac}`;
}

/** `YYYY-MM-DD` for ClickHouse Date (1970…2105), else undefined. */
function dateText(d: number): string | undefined {
  if (d < 0 || d > 49710) return undefined;
  return new Date(d * 86_400_000).toISOString().slice(0, 10);
}

/** A decimal's precision and scale from the source-type parameters. */
function decimalType(f: ConnectField): string | undefined {
  const p = f.parameters ?? {};
  const t = p["__debezium.source.column.type"];
  if (t === "MONEY") return "Decimal(20, 2)";
  if (t !== "NUMERIC") return undefined;
  const len = Number(p["__debezium.source.column.length"]);
  const scale = p["__debezium.source.column.scale"];
  if (scale === undefined || !(len > 0 && len <= 38)) return undefined;
  return `Decimal(${len}, ${Number(scale)})`;
}

/** The single-column scalar of a field (arrays' elements, simple columns). */
function scalarOf(f: ConnectField): Scalar {
  switch (f.type) {
    case "boolean":
      return {
        type: "UInt8",
        json: (v) => typeof v === "boolean" ? (v ? "1" : "0") : undefined,
      };
    case "int8":
      return intScalar("Int8");
    case "int16":
      return intScalar("Int16");
    case "int32":
      return f.name === "io.debezium.time.Date"
        ? { type: "Int32", json: (v) => days(v)?.toString() }
        : intScalar("Int32");
    case "int64":
      return f.name === "io.debezium.time.MicroTimestamp"
        ? { type: "Int64", json: (v) => q(micros(v, false)) }
        : f.name === "io.debezium.time.Timestamp"
        ? { type: "Int64", json: (v) => q(micros(v, false, 1000n)) }
        : intScalar("Int64");
    case "float":
    case "double":
      return {
        type: f.type === "float" ? "Float32" : "Float64",
        // NaN/±Infinity arrive as strings: ClickHouse 18.16 JSON cannot read them.
        json: (v) => typeof v === "number" ? JSON.stringify(v) : "null",
      };
    case "string": {
      const dec = decimalType(f);
      if (dec) {
        // Unquoted: ClickHouse 18.16 reads Decimal only from a JSON number.
        return {
          type: dec,
          json: (v) =>
            typeof v === "string" && DEC_RE.test(v)
              ? v
              : v === "NaN"
              ? "null"
              : undefined,
        };
      }
      if (f.name === "io.debezium.time.ZonedTimestamp") {
        return { type: "Int64", json: (v) => q(micros(v, true)) };
      }
      if (f.name === "io.debezium.data.Uuid") {
        return {
          type: "UUID",
          json: (v) => typeof v === "string" ? JSON.stringify(v) : undefined,
        };
      }
      return STRING;
    }
    case "bytes":
      return bytesScalar(f);
    case "struct":
      if (f.name === "io.debezium.data.VariableScaleDecimal") {
        // decimal.handling.mode=precise without a scale: exact text.
        return {
          type: "String",
          json: (v) => {
            const x = v as { scale?: unknown; value?: unknown } | null;
            const t = typeof x?.scale === "number"
              ? decimalText(x.value, x.scale)
              : undefined;
            return t === undefined ? undefined : JSON.stringify(t);
          },
        };
      }
      return STRING;
    case "array": {
      const elem = f.items ? scalarOf(f.items) : STRING;
      const inner = elem.type.startsWith("Array(")
        ? elem.type
        : `Nullable(${elem.type})`;
      return {
        type: `Array(${inner})`,
        json: (v) => {
          if (!Array.isArray(v)) return undefined;
          const parts: string[] = [];
          for (const x of v) {
            const j = x === null ? "null" : elem.json(x);
            if (j === undefined) return undefined;
            parts.push(j);
          }
          return `[${parts.join(",")}]`;
        },
      };
    }
    default:
      return STRING;
  }
}

/** `bytes` fields: Bits → bit text, Decimal → Decimal(p, s), else base64. */
function bytesScalar(f: ConnectField): Scalar {
  const p = f.parameters ?? {};
  if (f.name === "io.debezium.data.Bits") {
    const fixed = p["__debezium.source.column.type"] === "BIT";
    const length = fixed && p.length ? Number(p.length) : undefined;
    return {
      type: "String",
      json: (v) => {
        const t = bitsText(v, length);
        return t === undefined ? undefined : JSON.stringify(t);
      },
    };
  }
  if (f.name === "org.apache.kafka.connect.data.Decimal") {
    const scale = Number(p.scale ?? 0);
    const precision = Number(p["connect.decimal.precision"]);
    const type = p["__debezium.source.column.type"] === "MONEY"
      ? "Decimal(20, 2)"
      : precision > 0 && precision <= 38
      ? `Decimal(${precision}, ${scale})`
      : "String";
    return {
      type,
      json: (v) => {
        const t = decimalText(v, scale);
        if (t === undefined) return undefined;
        // Unquoted: ClickHouse 18.16 reads Decimal only from a JSON number.
        return type === "String" ? JSON.stringify(t) : t;
      },
    };
  }
  return STRING;
}

function q(v: bigint | undefined): string | undefined {
  return v === undefined ? undefined : `"${v}"`;
}

function nullable(type: string, optional: boolean): string {
  return optional && !type.startsWith("Array(") ? `Nullable(${type})` : type;
}

/** `"name":` as JSON text. */
function key(name: string): string {
  return `${JSON.stringify(name)}:`;
}

/** The ClickHouse columns and encoder of one Debezium field. */
export function mapField(f: ConnectField): ColumnMapping {
  const name = f.field ?? "";
  const optional = f.optional !== false;
  const placeholder = (cols: string[]) =>
    cols.map((c) => `${key(c)}${JSON.stringify(UNAVAILABLE)}`).join(",");
  // Timestamps and dates: a queryable column plus the exact value.
  const pair = f.name === "io.debezium.time.MicroTimestamp" ||
    f.name === "io.debezium.time.Timestamp" ||
    f.name === "io.debezium.time.ZonedTimestamp" ||
    f.name === "io.debezium.time.Date";
  if (pair) {
    const isDate = f.name === "io.debezium.time.Date";
    const exact = isDate ? `${name}_days` : `${name}_us`;
    const columns: Array<[string, string]> = isDate
      ? [[name, nullable("Date", true)], [exact, nullable("Int32", optional)]]
      : [[name, nullable("DateTime('UTC')", true)], [
        exact,
        nullable("Int64", optional),
      ]];
    return {
      field: name,
      columns,
      encode: (v) => {
        if (v === null || v === undefined) {
          return `${key(name)}null,${key(exact)}null`;
        }
        if (v === UNAVAILABLE) return placeholder([name, exact]);
        if (isDate) {
          const d = days(v);
          if (d === undefined) {
            return { reason: `column "${name}": not a date` };
          }
          return `${key(name)}${JSON.stringify(dateText(d) ?? null)},${
            key(exact)
          }${d}`;
        }
        const us = micros(
          v,
          f.name === "io.debezium.time.ZonedTimestamp",
          f.name === "io.debezium.time.Timestamp" ? 1000n : 1n,
        );
        if (us === undefined) {
          return { reason: `column "${name}": not a timestamp` };
        }
        // DateTime holds 1970…2106 only: NULL outside, the exact *_us stays.
        const sec = us / 1_000_000n;
        const dt = us >= 0n && sec < 4294967296n ? String(sec) : "null";
        return `${key(name)}${dt},${key(exact)}"${us}"`;
      },
    };
  }
  const s = scalarOf(f);
  return {
    field: name,
    columns: [[name, nullable(s.type, optional)]],
    encode: (v) => {
      if (v === UNAVAILABLE) return placeholder([name]);
      if (v === null || v === undefined) {
        return `${key(name)}${s.type.startsWith("Array(") ? "[]" : "null"}`;
      }
      const j = s.json(v);
      if (j === undefined) {
        return { reason: `column "${name}": value does not fit ${s.type}` };
      }
      return `${key(name)}${j}`;
    },
  };
}
