/**
 * Scalar converters of the relay whose JSON form is not a plain number or
 * text: floats, money and numeric (each `decimal.handling.mode`), bit
 * strings (`io.debezium.data.Bits`) and bytea. Re-exported by `convert.ts`,
 * which maps type OIDs to them.
 *
 * @module
 */

/** Turns one non-NULL text value into its JSON value. */
export type Converter = (text: string) => unknown;

/** float4/float8: numbers; NaN and ±Infinity (not JSON numbers) as strings. */
export const float: Converter = (t) => {
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
};

/** money: text like `-$1,234.56` → decimal string `-1234.56`. */
export const money: Converter = (t) => {
  const negative = t.includes("-") || /^\(.*\)$/.test(t);
  const digits = t.replace(/[^0-9.]/g, "");
  return negative ? `-${digits}` : digits;
};

/**
 * bit(n > 1)/varbit → io.debezium.data.Bits: the bit string as an integer
 * (first bit most significant) in little-endian bytes without trailing zero
 * bytes (Java's `BitSet.toByteArray`), base64; all zeros → `""`.
 */
export const bits: Converter = (t) => {
  const out: number[] = [];
  for (let end = t.length; end > 0; end -= 8) {
    out.push(parseInt(t.slice(Math.max(0, end - 8), end), 2));
  }
  while (out.length > 0 && out[out.length - 1] === 0) out.pop();
  return base64(Uint8Array.from(out));
};

/** bit(1) → boolean (Debezium's mapping for a single bit). */
export const bit1: Converter = (t) => t === "1";

/** numeric NaN as Debezium 3.6.1 writes it with `decimal.handling.mode=string`. */
export const numericString: Converter = (t) => t === "NaN" ? "NAN" : t;

/** Two's complement big-endian bytes of an integer (Java's `BigInteger.toByteArray`). */
export function twosComplement(n: bigint): Uint8Array {
  const out: number[] = [];
  let v = n;
  do {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (
    !(v === 0n && (out[0] & 0x80) === 0) &&
    !(v === -1n && (out[0] & 0x80) !== 0)
  );
  return Uint8Array.from(out);
}

/** `-12.340` → unscaled `-12340n` at `scale` (padded or exact). */
function unscaled(t: string, scale: number): bigint {
  const neg = t.startsWith("-");
  const [int, frac = ""] = t.replace(/^[-+]/, "").split(".");
  const digits = int + frac.padEnd(scale, "0").slice(0, scale);
  const v = BigInt(digits || "0");
  return neg ? -v : v;
}

/**
 * numeric with `decimal.handling.mode=precise`: a column with a scale →
 * `org.apache.kafka.connect.data.Decimal` (base64 of the unscaled value);
 * without one → `io.debezium.data.VariableScaleDecimal` `{scale, value}`.
 * NaN has no decimal form: null.
 */
export function numericPrecise(scale: number | undefined): Converter {
  return (t) => {
    if (t === "NaN") return null;
    if (scale !== undefined) return base64(twosComplement(unscaled(t, scale)));
    // Debezium drops trailing fraction zeros here (0.10 → scale 1).
    const v = t.includes(".") ? t.replace(/\.?0+$/, "") : t;
    const s = v.includes(".") ? v.length - v.indexOf(".") - 1 : 0;
    return { scale: s, value: base64(twosComplement(unscaled(v, s))) };
  };
}

/** money with `precise`: a Decimal of scale 2 (Debezium's `money.fraction.digits`). */
export const moneyPrecise: Converter = (t) =>
  base64(twosComplement(unscaled(money(t) as string, 2)));

/** numeric/money with `double`: a JSON number (NaN as the string "NaN"). */
export const numericDouble: Converter = (t) => float(t);

/** bytea (hex output `\x0a0b`, or legacy escape format) → base64. */
export const bytea: Converter = (t) => base64(parseBytea(t));

/** Parses bytea text output in hex or escape format. */
export function parseBytea(t: string): Uint8Array {
  if (t.startsWith("\\x")) {
    const hex = t.slice(2);
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) {
      out[i] = parseInt(hex.substr(i * 2, 2), 16);
    }
    return out;
  }
  const bytes: number[] = [];
  for (let i = 0; i < t.length; i++) {
    if (t[i] !== "\\") {
      bytes.push(...new TextEncoder().encode(t[i]));
    } else if (t[i + 1] === "\\") {
      bytes.push(0x5c);
      i++;
    } else {
      bytes.push(parseInt(t.substr(i + 1, 3), 8));
      i += 3;
    }
  }
  return Uint8Array.from(bytes);
}

/** Base64 of bytes (JsonConverter's rendering of `bytes`). */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
