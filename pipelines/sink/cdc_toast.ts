/**
 * TOAST for auto mirrors: an update that did not re-send a large unchanged
 * column carries Debezium's `__debezium_unavailable_value`. Before a flush
 * inserts, such a row takes that column's value from the latest earlier
 * version of its key: an earlier row of the same flush (same key → same
 * partition → same part, in order), else the mirror's current version
 * (`FINAL`, on the key's shard). Values are copied as JSON text, never
 * re-parsed, so decimals and 64-bit integers stay exact. A row with no
 * earlier version (or whose latest is a delete) becomes a dead letter.
 *
 * @module
 */
import { UNAVAILABLE } from "./cdc_types.ts";
import { ident } from "./cdc_auto.ts";
import type { InsertRequest } from "./encoder.ts";

const PLACEHOLDER = `:${JSON.stringify(UNAVAILABLE)}`;
const PLACEHOLDER_RE = new RegExp(
  `[{,]"((?:[^"\\\\]|\\\\.)+)":${JSON.stringify(UNAVAILABLE)}`,
  "g",
);

/** Index just after the JSON value starting at `i` in `text`. */
export function jsonValueEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '"') {
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
    return j + 1;
  }
  if (c === "[" || c === "{") {
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const ch = text[j];
      if (ch === '"') {
        j = jsonValueEnd(text, j);
        continue;
      }
      if (ch === "[" || ch === "{") depth++;
      else if (ch === "]" || ch === "}") {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return j;
  }
  let j = i;
  while (j < text.length && !",}] \n".includes(text[j])) j++;
  return j;
}

/** The raw JSON text of top-level field `name` of a line, or undefined. */
export function rawField(line: string, name: string): string | undefined {
  const k = `${JSON.stringify(name)}:`;
  for (const lead of ["{", ","]) {
    const at = line.indexOf(lead + k);
    if (at >= 0) {
      const start = at + 1 + k.length;
      return line.slice(start, jsonValueEnd(line, start));
    }
  }
  return undefined;
}

/** Columns of a line still holding the placeholder. */
export function placeholderColumns(line: string): string[] {
  if (!line.includes(PLACEHOLDER)) return [];
  return [...line.matchAll(PLACEHOLDER_RE)].map((m) => JSON.parse(`"${m[1]}"`));
}

/** Replaces each placeholder column of `line` from `source` (raw texts). */
export function fillLine(
  line: string,
  cols: string[],
  source: (col: string) => string | undefined,
): string | undefined {
  let out = line;
  for (const c of cols) {
    const raw = source(c);
    if (raw === undefined) return undefined;
    out = out.replace(
      `${JSON.stringify(c)}${PLACEHOLDER}`,
      () => `${JSON.stringify(c)}:${raw}`,
    );
  }
  return out;
}

/** Reads the current versions of `keys` (FINAL) as JSONEachRow text. */
export type FetchLatest = (
  shard: number,
  sql: string,
) => Promise<string>;

/** A row that could not be completed: to become a dead letter. */
export interface Unresolved {
  req: InsertRequest;
  part: number;
  index: number;
  reason: string;
}

/** The SQL reading the latest version of `keys` with columns `cols`. */
export function latestSql(
  localTable: string,
  keys: string[],
  cols: string[],
): string {
  const list = keys.map((k) =>
    `'${k.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`
  )
    .join(",");
  // _deleted is filtered here, not in WHERE: it must not act before FINAL.
  return `SELECT _key, _deleted, ${
    cols.map(ident).join(", ")
  } FROM ${localTable} FINAL WHERE _key IN (${list})`;
}

/**
 * Completes the placeholder rows of one request in place; returns the rows
 * it could not complete (the caller dead-letters them).
 */
export async function resolveToast(
  req: InsertRequest,
  localTable: string,
  fetch: FetchLatest,
): Promise<Unresolved[]> {
  // Pass 1: which keys need the mirror (no earlier row in this request).
  const seen = new Set<string>();
  const need = new Set<string>();
  const cols = new Set<string>();
  for (const p of req.parts) {
    for (const line of p.lines) {
      const key = keyOf(line);
      const ph = placeholderColumns(line);
      if (ph.length > 0 && !seen.has(key)) {
        need.add(key);
        ph.forEach((c) => cols.add(c));
      }
      seen.add(key);
    }
  }
  if (
    need.size === 0 &&
    !req.parts.some((p) => p.lines.some((l) => l.includes(PLACEHOLDER)))
  ) {
    return [];
  }
  const stored = new Map<string, string>();
  if (need.size > 0) {
    const text = await fetch(
      req.shard,
      latestSql(localTable, [...need], [...cols]),
    );
    for (const l of text.split("\n")) {
      if (!l) continue;
      if (rawField(l, "_deleted") === "1") continue;
      stored.set(JSON.parse(rawField(l, "_key") ?? '""'), l);
    }
  }
  // Pass 2: in order, from the latest earlier row of the key.
  const latest = new Map<string, string>();
  const out: Unresolved[] = [];
  req.parts.forEach((p, pi) => {
    for (let i = 0; i < p.lines.length; i++) {
      const line = p.lines[i];
      const key = keyOf(line);
      const ph = placeholderColumns(line);
      if (ph.length > 0) {
        const prev = latest.get(key);
        const from = prev !== undefined
          ? (rawField(prev, "_deleted") === "1" ? undefined : prev)
          : stored.get(key);
        const filled = from === undefined
          ? undefined
          : fillLine(line, ph, (c) => rawField(from, c));
        if (filled === undefined) {
          out.push({
            req,
            part: pi,
            index: i,
            reason: `TOASTed column(s) ${
              ph.join(", ")
            } unchanged by this update and no earlier version of key ${key} in the mirror`,
          });
          continue;
        }
        p.lines[i] = filled;
        latest.set(key, filled);
      } else latest.set(key, line);
    }
  });
  return out;
}

/** The `_key` of a mirror line (itself JSON: the key values). */
function keyOf(line: string): string {
  return JSON.parse(rawField(line, "_key") ?? '""');
}

/** Rows of a request still holding a placeholder. */
export function toastCount(req: InsertRequest): number {
  let n = 0;
  for (const p of req.parts) {
    for (const l of p.lines) if (l.includes(PLACEHOLDER)) n++;
  }
  return n;
}
