/**
 * PostgreSQL text-format values → Debezium JSON values (the defaults of
 * Debezium's PostgreSQL connector with `decimal.handling.mode=string`,
 * `time.precision.mode=adaptive_time_microseconds`, `binary.handling.mode=bytes`
 * rendered by JsonConverter as base64).
 *
 * pgoutput (protocol 1) and the snapshot query both deliver values as text in
 * the session's formats, which the relay pins (`DateStyle=ISO`,
 * `TimeZone=UTC`, `IntervalStyle=iso_8601`, `bytea_output=hex`,
 * `extra_float_digits=3`) so parsing here never depends on server defaults.
 * See README "Type mapping".
 *
 * @module
 */
import { exactInteger } from "./lsn.ts";
import {
  bit1,
  bits,
  bytea,
  type Converter,
  float,
  money,
  moneyPrecise,
  numericDouble,
  numericPrecise,
  numericString,
} from "./scalars.ts";

export type { Converter };
export { bits, numericPrecise, parseBytea, twosComplement } from "./scalars.ts";

/** Debezium's placeholder for a TOASTed column that did not change. */
export const UNAVAILABLE_VALUE = "__debezium_unavailable_value";

/** Session settings every relay connection uses; the parsers rely on them. */
export const SESSION_OPTIONS = [
  "-c DateStyle=ISO",
  "-c TimeZone=UTC",
  "-c IntervalStyle=iso_8601",
  "-c bytea_output=hex",
  "-c extra_float_digits=3",
].join(" ");

/** Debezium's `decimal.handling.mode` (README "Type mapping"). */
export type DecimalMode = "string" | "precise" | "double";

/** What the catalog says about a type (`pg_type`). */
export interface PgTypeInfo {
  oid: number;
  name: string;
  /** `typcategory`: `A` array, `E` enum, ... */
  category: string;
  /** Element type of an array, else 0. */
  elem: number;
  /** Base type of a domain, else 0. */
  base: number;
  /** Array element delimiter (`,` for nearly everything). */
  delim: string;
  /** An enum's labels in order, comma separated (Debezium's `allowed`). */
  labels?: string;
}

// ---------------------------------------------------------------- scalars

const bool: Converter = (t) => t === "t" || t === "true";
const int: Converter = (t) => Number(t);
const bigint: Converter = (t) => exactInteger(BigInt(t));
const text: Converter = (t) => t;

// ---------------------------------------------------------- dates & times

/** Days since 1970-01-01 of a proleptic Gregorian date (any year). */
export function daysFromCivil(y: number, m: number, d: number): number {
  // Howard Hinnant's algorithm: exact integer math, no Date year quirks.
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The civil date of a day number (inverse of {@link daysFromCivil}). */
export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
      Math.floor(doe / 146096)) / 365,
  );
  const y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [m <= 2 ? y + 1 : y, m, d];
}

const DATE_RE = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/;
const TIME_RE = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?/;
const TS_RE =
  /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?( BC)?$/;

function year(y: string, bc: string | undefined): number {
  // 1 BC is year 0 in proleptic (astronomical) numbering.
  return bc ? 1 - Number(y) : Number(y);
}

function fracMicros(f: string | undefined): bigint {
  return f ? BigInt(f.padEnd(6, "0")) : 0n;
}

/** `+05:30`, `-08`, `+00:00:00` → offset in seconds east of UTC. */
function offsetSeconds(tz: string | undefined): number {
  if (!tz) return 0;
  const sign = tz[0] === "-" ? -1 : 1;
  const parts = tz.slice(1).split(":").map(Number);
  if (parts.length === 1 && tz.length > 3) {
    // compact form +0530
    const s = tz.slice(1);
    return sign * (Number(s.slice(0, 2)) * 3600 + Number(s.slice(2, 4)) * 60);
  }
  return sign *
    ((parts[0] ?? 0) * 3600 + (parts[1] ?? 0) * 60 + (parts[2] ?? 0));
}

/**
 * What Debezium 3.6.1 writes for `±infinity` dates (pgjdbc's infinity
 * sentinels run through its epoch-day conversion): kept for parity.
 */
export const DATE_INFINITY = {
  "infinity": -2147472692,
  "-infinity": -2147472691,
};

/**
 * What Debezium 3.6.1 writes for `±infinity` timestamps, in µs
 * (`MicroTimestamp`); ms columns (`Timestamp`) get these divided by 1000.
 */
export const TIMESTAMP_INFINITY_US = {
  "infinity": 9223372036825200000n,
  "-infinity": -9223372036832400000n,
};

/** date → days since epoch (io.debezium.time.Date). */
export const date: Converter = (t) => {
  const m = DATE_RE.exec(t);
  if (!m) return DATE_INFINITY[t as keyof typeof DATE_INFINITY] ?? t;
  return daysFromCivil(year(m[1], m[4]), Number(m[2]), Number(m[3]));
};

/** time → microseconds since midnight (io.debezium.time.MicroTime). */
export const time: Converter = (t) => {
  const m = TIME_RE.exec(t);
  if (!m) return t;
  const secs = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return Number(BigInt(secs) * 1_000_000n + fracMicros(m[4]));
};

/** timetz → ISO time in UTC, e.g. `12:30:05.5Z` (io.debezium.time.ZonedTime). */
export const timetz: Converter = (t) => {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-][\d:]+)$/.exec(t);
  if (!m) return t;
  let secs = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) -
    offsetSeconds(m[5]);
  secs = ((secs % 86400) + 86400) % 86400;
  return `${hms(secs)}${fraction(m[4])}Z`;
};

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

function hms(secs: number): string {
  return `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${
    pad(secs % 60)
  }`;
}

/** `.123` from a fraction, trailing zeros dropped; "" if zero. */
function fraction(f: string | undefined): string {
  const trimmed = (f ?? "").replace(/0+$/, "");
  return trimmed ? `.${trimmed}` : "";
}

/** Parses timestamp[tz] text into microseconds since the epoch (UTC). */
export function timestampMicros(t: string): bigint | undefined {
  const m = TS_RE.exec(t);
  if (!m) return undefined;
  const days = daysFromCivil(year(m[1], m[9]), Number(m[2]), Number(m[3]));
  const secs = Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]) -
    offsetSeconds(m[8]);
  return (BigInt(days) * 86400n + BigInt(secs)) * 1_000_000n +
    fracMicros(m[7]);
}

/** timestamp → microseconds since epoch (io.debezium.time.MicroTimestamp). */
export const timestamp: Converter = (t) => {
  const us = timestampMicros(t) ??
    TIMESTAMP_INFINITY_US[t as keyof typeof TIMESTAMP_INFINITY_US];
  return us === undefined ? t : exactInteger(us);
};

/**
 * timestamp(0..3) → milliseconds since epoch (io.debezium.time.Timestamp:
 * `adaptive_time_microseconds` keeps ms for precisions up to 3).
 */
export const timestampMillis: Converter = (t) => {
  const us = timestampMicros(t) ??
    TIMESTAMP_INFINITY_US[t as keyof typeof TIMESTAMP_INFINITY_US];
  if (us === undefined) return t;
  // Floor division: 1969-12-31 23:59:59.9995 is -1 ms, not 0.
  const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
  return exactInteger(ms);
};

/**
 * timestamptz → ISO-8601 in UTC (io.debezium.time.ZonedTimestamp), with as
 * many fraction digits as the column's precision (`typmod`, default 6), as
 * Debezium 3.6 renders it.
 */
export function timestamptzOf(typeMod: number): Converter {
  const digits = typeMod >= 0 && typeMod <= 6 ? typeMod : 6;
  return (t) => {
    const us = timestampMicros(t);
    if (us === undefined) return t;
    return isoFromMicros(us, digits);
  };
}

/** timestamptz at the default precision (6 fraction digits). */
export const timestamptz: Converter = timestamptzOf(-1);

/**
 * `2024-01-02T03:04:05.123456Z`: `digits` fraction digits, or without
 * trailing zeros when `digits` is undefined.
 */
export function isoFromMicros(us: bigint, digits?: number): string {
  const dayUs = 86_400_000_000n;
  let days = us / dayUs;
  let rem = us % dayUs;
  if (rem < 0n) {
    rem += dayUs;
    days -= 1n;
  }
  const [y, mo, d] = civilFromDays(Number(days));
  const secs = Number(rem / 1_000_000n);
  const frac = pad(Number(rem % 1_000_000n), 6);
  const yy = y >= 0 && y <= 9999
    ? pad(y, 4)
    : (y < 0 ? "-" : "+") + pad(Math.abs(y), 6);
  const f = digits === undefined
    ? fraction(frac)
    : digits > 0
    ? `.${frac.slice(0, digits)}`
    : "";
  return `${yy}-${pad(mo)}-${pad(d)}T${hms(secs)}${f}Z`;
}

/** Debezium's average month for MicroDuration (365.25 / 12 days). */
const DAYS_PER_MONTH_AVG = 365.25 / 12;

/** interval (ISO-8601 style) → microseconds (io.debezium.time.MicroDuration). */
export const interval: Converter = (t) => {
  const m =
    /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$/
      .exec(t);
  if (!m) return t;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0));
  const days = (y * 12 + mo) * DAYS_PER_MONTH_AVG + d;
  const seconds = ((days * 24 + h) * 60 + mi) * 60 + s;
  return Math.trunc(seconds * 1e6);
};

// ------------------------------------------------------------------ arrays

/**
 * Parses a PostgreSQL array literal (`{1,2,NULL}`, nested, quoted, with
 * optional `[lo:hi]=` bounds) into nested arrays of element texts (or null).
 */
export function parseArrayLiteral(t: string, delim = ","): unknown[] {
  let i = 0;
  if (t[0] === "[") {
    const eq = t.indexOf("=");
    i = eq + 1;
  }
  const parseLevel = (): unknown[] => {
    if (t[i] !== "{") throw new Error(`bad array literal: ${t}`);
    i++;
    const out: unknown[] = [];
    if (t[i] === "}") {
      i++;
      return out;
    }
    while (i < t.length) {
      while (t[i] === " ") i++;
      if (t[i] === "{") {
        out.push(parseLevel());
      } else if (t[i] === '"') {
        i++;
        let s = "";
        while (i < t.length && t[i] !== '"') {
          if (t[i] === "\\") i++;
          s += t[i++];
        }
        i++; // closing quote
        out.push(s);
      } else {
        let s = "";
        while (i < t.length && t[i] !== delim && t[i] !== "}") s += t[i++];
        s = s.trim();
        out.push(s.toUpperCase() === "NULL" ? null : s);
      }
      while (t[i] === " ") i++;
      if (t[i] === delim) {
        i++;
        continue;
      }
      if (t[i] === "}") {
        i++;
        return out;
      }
      throw new Error(`bad array literal: ${t}`);
    }
    throw new Error(`bad array literal: ${t}`);
  };
  return parseLevel();
}

function arrayOf(elem: Converter, delim = ","): Converter {
  const map = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(map) : v === null ? null : elem(v as string);
  return (t) => map(parseArrayLiteral(t, delim));
}

// ---------------------------------------------------------------- registry

/** Built-in scalar types by OID. */
const SCALARS: Record<number, Converter> = {
  16: bool,
  17: bytea,
  18: text, // "char"
  19: text, // name
  20: bigint,
  21: int,
  23: int,
  24: text, // regproc
  25: text,
  26: int, // oid
  114: text, // json
  142: text, // xml
  650: text, // cidr
  700: float,
  701: float,
  790: money,
  829: text, // macaddr
  869: text, // inet
  1042: text, // bpchar
  1043: text, // varchar
  1082: date,
  1083: time,
  1114: timestamp,
  1184: timestamptz,
  1186: interval,
  1266: timetz,
  1560: bits, // bit (bit(1): boolean, see TypeRegistry)
  1562: bits, // varbit
  1700: numericString, // numeric (decimal.handling.mode=string)
  2950: text, // uuid
  3802: text, // jsonb
};

/** Built-in array types → element type. */
export const BUILTIN_ARRAYS: Readonly<Record<number, number>> = {
  1000: 16,
  1001: 17,
  1002: 18,
  1003: 19,
  1016: 20,
  1005: 21,
  1007: 23,
  1009: 25,
  1028: 26,
  199: 114,
  143: 142,
  651: 650,
  1021: 700,
  1022: 701,
  791: 790,
  1040: 829,
  1041: 869,
  1014: 1042,
  1015: 1043,
  1182: 1082,
  1183: 1083,
  1115: 1114,
  1185: 1184,
  1187: 1186,
  1270: 1266,
  1561: 1560,
  1563: 1562,
  1231: 1700,
  2951: 2950,
  3807: 3802,
};

/** Whether an OID is known without asking the catalog. */
export function isBuiltinType(oid: number): boolean {
  return oid in SCALARS || oid in BUILTIN_ARRAYS;
}

/**
 * Maps type OIDs to converters. Built-ins are known; others (enums, domains,
 * arrays of those, extension types) are resolved once from `pg_type` through
 * the `lookup` callback and cached.
 */
export class TypeRegistry {
  readonly #info = new Map<number, PgTypeInfo>();
  readonly #cache = new Map<string, Converter>();

  /**
   * `lookup` reads `pg_type` rows for the given OIDs; `decimalMode` is
   * `--decimal-handling-mode`.
   */
  constructor(
    private readonly lookup: (oids: number[]) => Promise<PgTypeInfo[]> = () =>
      Promise.resolve([]),
    readonly decimalMode: DecimalMode = "string",
  ) {}

  /** Loads catalog info for every OID (and the OIDs they refer to). */
  async resolve(oids: Iterable<number>): Promise<void> {
    let todo = [...new Set(oids)].filter((o) =>
      !isBuiltinType(o) && !this.#info.has(o)
    );
    while (todo.length > 0) {
      const rows = await this.lookup(todo);
      const next: number[] = [];
      for (const r of rows) {
        this.#info.set(r.oid, r);
        for (const ref of [r.elem, r.base]) {
          if (ref && !isBuiltinType(ref) && !this.#info.has(ref)) {
            next.push(ref);
          }
        }
      }
      // OIDs the catalog does not know are treated as text.
      for (const o of todo) {
        if (!this.#info.has(o)) {
          this.#info.set(o, {
            oid: o,
            name: `oid_${o}`,
            category: "U",
            elem: 0,
            base: 0,
            delim: ",",
          });
        }
      }
      todo = [...new Set(next)];
    }
  }

  /** Catalog info of a resolved non-built-in type. */
  info(oid: number): PgTypeInfo | undefined {
    return this.#info.get(oid);
  }

  /**
   * The converter for `oid` with the column's `typeMod` (text if unknown;
   * call {@link resolve} first). An array's typmod is its element's.
   */
  converter(oid: number, typeMod = -1): Converter {
    const key = `${oid}:${typeMod}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const c = this.#build(oid, typeMod, 0);
    this.#cache.set(key, c);
    return c;
  }

  /** Scalars whose JSON form depends on the typmod or the decimal mode. */
  #scalar(oid: number, typeMod: number): Converter | undefined {
    switch (oid) {
      case 1114:
        return typeMod >= 0 && typeMod <= 3 ? timestampMillis : timestamp;
      case 1184:
        return timestamptzOf(typeMod);
      case 1560:
        return typeMod <= 1 ? bit1 : bits;
      case 1700:
        if (this.decimalMode === "double") return numericDouble;
        if (this.decimalMode === "precise") {
          return numericPrecise(
            typeMod >= 4 ? (typeMod - 4) & 0xffff : undefined,
          );
        }
        return numericString;
      case 790:
        if (this.decimalMode === "double") return (t) => Number(money(t));
        return this.decimalMode === "precise" ? moneyPrecise : money;
    }
    return SCALARS[oid];
  }

  #build(oid: number, typeMod: number, depth: number): Converter {
    if (depth > 8) return text;
    const scalar = this.#scalar(oid, typeMod);
    if (scalar) return scalar;
    if (BUILTIN_ARRAYS[oid]) {
      return arrayOf(this.#build(BUILTIN_ARRAYS[oid], typeMod, depth + 1));
    }
    const info = this.#info.get(oid);
    if (!info) return text;
    if (info.base) return this.#build(info.base, typeMod, depth + 1); // domain
    if (info.category === "A" && info.elem) {
      const elemInfo = this.#info.get(info.elem);
      return arrayOf(
        this.#build(info.elem, typeMod, depth + 1),
        elemInfo?.delim ?? ",",
      );
    }
    return text; // enums, composites, ranges, extension types
  }
}
