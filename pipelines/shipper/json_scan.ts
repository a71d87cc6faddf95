/**
 * A strict JSON validator over bytes that also picks a few top-level fields
 * out of an object — the shipper's fast path for NDJSON: it must know that a
 * line is one valid JSON object (else: dead letter) and needs only the
 * routing and key fields, while the line itself travels byte-for-byte.
 * `JSON.parse` would decode the whole line to a string and build every
 * field (it was the largest cost of our own code in the CPU profile).
 *
 * Contract: {@link scanObject} returns the wanted fields exactly as
 * `JSON.parse(new TextDecoder().decode(bytes))` would give them, or
 * `undefined` whenever the line is not a JSON object (invalid, or valid but
 * an array/string/number...). Callers then take the slow path with
 * `JSON.parse`, which also words the reason. So an error here can only cost
 * speed, except accepting invalid JSON — which the grammar below rules out
 * and the fuzz test against `JSON.parse` checks.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const decoder = new TextDecoder();

/** A set of wanted top-level field names, prepared for byte comparison. */
export class FieldSet {
  readonly names: readonly string[];
  readonly #bytes: Uint8Array[];

  /** Prepares `names`. */
  constructor(names: Iterable<string>) {
    this.names = [...new Set(names)];
    const enc = new TextEncoder();
    this.#bytes = this.names.map((n) => enc.encode(n));
  }

  /** Index of the name equal to `b[start, end)` (no escapes), or -1. */
  match(b: Uint8Array, start: number, end: number): number {
    const len = end - start;
    outer: for (let k = 0; k < this.#bytes.length; k++) {
      const w = this.#bytes[k];
      if (w.length !== len) continue;
      for (let j = 0; j < len; j++) {
        if (w[j] !== b[start + j]) continue outer;
      }
      return k;
    }
    return -1;
  }
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && isWs(b[i])) i++;
  return i;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) ||
    (c >= 0x61 && c <= 0x66);
}

/**
 * Scans a string starting at the quote `b[i]`; returns the index after the
 * closing quote, or -1. Sets `escaped` when the string holds escapes.
 */
function scanString(b: Uint8Array, i: number, state: { escaped: boolean }) {
  const n = b.length;
  i++;
  while (i < n) {
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      state.escaped = true;
      const e = b[i + 1];
      if (e === 0x75) { // \uXXXX
        if (
          !isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) ||
          !isHex(b[i + 5])
        ) return -1;
        i += 6;
      } else if (
        e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 ||
        e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74
      ) i += 2;
      else return -1;
    } else if (c < 0x20) return -1;
    else i++;
  }
  return -1;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Scans a number at `b[i]`; returns the index after it, or -1. */
function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++; // -
  if (b[i] === 0x30) i++;
  else if (b[i] >= 0x31 && b[i] <= 0x39) {
    while (isDigit(b[i])) i++;
  } else return -1;
  if (b[i] === 0x2e) { // .
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) { // e E
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

function scanLiteral(b: Uint8Array, i: number, word: string): number {
  for (let j = 0; j < word.length; j++) {
    if (b[i + j] !== word.charCodeAt(j)) return -1;
  }
  return i + word.length;
}

/**
 * Scans one value at `b[i]` (nested containers iteratively: no recursion,
 * so deep nesting cannot overflow the stack); returns the index after it,
 * or -1 when invalid.
 */
function scanValue(b: Uint8Array, i: number, state: { escaped: boolean }) {
  // Stack of open containers: true = object, false = array.
  const stack: boolean[] = [];
  for (;;) {
    // Expecting a value at i.
    i = skipWs(b, i);
    const c = b[i];
    if (c === QUOTE) i = scanString(b, i, state);
    else if (c === 0x7b || c === 0x5b) { // { [
      const isObj = c === 0x7b;
      i = skipWs(b, i + 1);
      if (b[i] === (isObj ? 0x7d : 0x5d)) i++; // empty
      else {
        stack.push(isObj);
        if (isObj) {
          if (b[i] !== QUOTE) return -1;
          i = scanString(b, i, state);
          if (i < 0) return -1;
          i = skipWs(b, i);
          if (b[i] !== 0x3a) return -1; // :
          i++;
        }
        continue; // the first member's value
      }
    } else if (c === 0x74) i = scanLiteral(b, i, "true");
    else if (c === 0x66) i = scanLiteral(b, i, "false");
    else if (c === 0x6e) i = scanLiteral(b, i, "null");
    else if (c === 0x2d || isDigit(c)) i = scanNumber(b, i);
    else return -1;
    if (i < 0) return -1;
    // After a value: close containers or move to the next member.
    for (;;) {
      if (stack.length === 0) return i;
      i = skipWs(b, i);
      const isObj = stack[stack.length - 1];
      if (b[i] === 0x2c) { // ,
        i = skipWs(b, i + 1);
        if (isObj) {
          if (b[i] !== QUOTE) return -1;
          i = scanString(b, i, state);
          if (i < 0) return -1;
          i = skipWs(b, i);
          if (b[i] !== 0x3a) return -1;
          i++;
        }
        break; // next value
      }
      if (b[i] !== (isObj ? 0x7d : 0x5d)) return -1;
      stack.pop();
      i++;
    }
  }
}

/** The value in `b[start, end)`, as `JSON.parse` of the line would give it. */
function valueOf(
  b: Uint8Array,
  start: number,
  end: number,
  escaped: boolean,
): unknown {
  const c = b[start];
  if (c === QUOTE && !escaped) {
    const body = b.subarray(start + 1, end - 1);
    // Short ASCII (keys: ids, IPs) without a native decoder call.
    if (body.length <= 64) {
      let ascii = true;
      for (let j = 0; j < body.length; j++) {
        if (body[j] >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        return String.fromCharCode.apply(null, body as unknown as number[]);
      }
    }
    return decoder.decode(body);
  }
  if (c === 0x74) return true;
  if (c === 0x66) return false;
  if (c === 0x6e) return null;
  if (c === 0x2d || isDigit(c)) {
    return Number(String.fromCharCode(...b.subarray(start, end)));
  }
  return JSON.parse(decoder.decode(b.subarray(start, end)));
}

/**
 * If `b` is exactly one valid JSON object (optional UTF-8 BOM and
 * whitespace around it), returns its top-level fields named in `wanted`
 * (absent ones missing; the last of duplicate keys wins, as in
 * `JSON.parse`); otherwise `undefined`. The result has no prototype.
 */
export function scanObject(
  b: Uint8Array,
  wanted: FieldSet,
): Record<string, unknown> | undefined {
  const n = b.length;
  let i = n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  i = skipWs(b, i);
  if (b[i] !== 0x7b) return undefined;
  const out: Record<string, unknown> = Object.create(null);
  const state = { escaped: false };
  i = skipWs(b, i + 1);
  if (b[i] === 0x7d) return skipWs(b, i + 1) === n ? out : undefined;
  for (;;) {
    if (b[i] !== QUOTE) return undefined;
    state.escaped = false;
    const keyStart = i;
    i = scanString(b, i, state);
    if (i < 0) return undefined;
    const keyEnd = i;
    const keyEscaped = state.escaped;
    i = skipWs(b, i);
    if (b[i] !== 0x3a) return undefined;
    i = skipWs(b, i + 1);
    const valStart = i;
    state.escaped = false;
    i = scanValue(b, i, state);
    if (i < 0) return undefined;
    let k = -1;
    if (keyEscaped) {
      const key = JSON.parse(decoder.decode(b.subarray(keyStart, keyEnd)));
      k = wanted.names.indexOf(key);
    } else k = wanted.match(b, keyStart + 1, keyEnd - 1);
    if (k >= 0) {
      out[wanted.names[k]] = valueOf(b, valStart, i, state.escaped);
    }
    i = skipWs(b, i);
    if (b[i] === 0x2c) {
      i = skipWs(b, i + 1);
      continue;
    }
    if (b[i] !== 0x7d) return undefined;
    return skipWs(b, i + 1) === n ? out : undefined;
  }
}
