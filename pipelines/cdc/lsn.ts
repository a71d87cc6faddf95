/**
 * PostgreSQL log sequence numbers (LSNs): 64-bit WAL positions written as
 * `XXXXXXXX/XXXXXXXX`. Kept as `bigint` so arithmetic never loses bits.
 *
 * @module
 */

/** A WAL position. */
export type Lsn = bigint;

/** Parses `16/B374D848` into a bigint. */
export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** Formats a bigint LSN as `16/B374D848`. */
export function formatLsn(lsn: Lsn): string {
  const hi = (lsn >> 32n).toString(16).toUpperCase();
  const lo = (lsn & 0xffffffffn).toString(16).toUpperCase();
  return `${hi}/${lo}`;
}

/** The larger of two LSNs. */
export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

/** A bigint as a JSON number without precision loss. */
export function exactInteger(n: bigint): number | unknown {
  const asNumber = Number(n);
  return Number.isSafeInteger(asNumber) ? asNumber : rawJson(n.toString());
}

declare global {
  interface JSON {
    /** `JSON.rawJSON` (V8 ≥ 11.4); lib.d.ts lacks it. */
    rawJSON(text: string): unknown;
  }
}

/** `JSON.rawJSON`: `text` serialised verbatim by `JSON.stringify`. */
export function rawJson(text: string): unknown {
  return JSON.rawJSON(text);
}
