/**
 * Validation and enrichment of event messages: parse the JSON, check every
 * field against the table's schema, and write the row as one JSONEachRow
 * line with the Kafka enrichment columns. The line is left open (no
 * `_ingested_at`, no closing brace): the ingest time is the batch's manifest
 * time, added when the batch is sealed, so a re-formed batch is identical.
 *
 * @module
 */
import type { EventTable, FieldSpec } from "./tables.ts";

/** Where a message came from (the enrichment columns). */
export interface MessageMeta {
  topic: string;
  partition: number;
  offset: number;
}

/** A valid row (open JSON line) or the reason it is invalid. */
export type Encoded =
  | { ok: true; line: string; eventMs?: number }
  | { ok: false; reason: string };

/** 8-4-4-4-12 hex digits; a loop is cheaper than a RegExp on the hot path. */
function isUuid(v: string): boolean {
  if (v.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = v.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (
      !((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))
    ) return false;
  }
  return true;
}
const IPV4_RE =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ISO_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
const HEX32_RE = /^[0-9a-f]{32}$/;
/** DateTime covers 1970 .. 2106; keep a margin. */
const MAX_EPOCH_MS = Date.UTC(2105, 11, 31);

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") {
    return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  }
  if (typeof v === "object") return Array.isArray(v) ? "array" : "object";
  return `${typeof v} ${String(v)}`;
}

function bad(f: FieldSpec, expected: string, v: unknown): { reason: string } {
  return {
    reason: `field "${f.name}": expected ${expected}, got ${describe(v)}`,
  };
}

/**
 * Checks one field value and returns its JSON fragment (`"name":value`),
 * or an error reason.
 */
function field(f: FieldSpec, v: unknown): string | { reason: string } {
  if (v === undefined || v === null) {
    if (f.required) return { reason: `missing required field "${f.name}"` };
    return f.key + '""';
  }
  switch (f.kind) {
    case "string":
      if (typeof v !== "string") return bad(f, "a string", v);
      return f.key + JSON.stringify(v);
    case "uuid":
      if (typeof v !== "string" || !isUuid(v)) return bad(f, "a UUID", v);
      return f.key + '"' + v + '"';
    case "hex32":
      if (typeof v !== "string" || !HEX32_RE.test(v)) {
        return bad(f, "32 lowercase hex digits", v);
      }
      return f.key + '"' + v + '"';
    case "ipv4":
      if (typeof v !== "string" || !IPV4_RE.test(v)) {
        return bad(f, "an IPv4 address", v);
      }
      return f.key + '"' + v + '"';
    case "enum":
      if (typeof v !== "string" || !f.valueSet!.has(v)) {
        return bad(f, `one of ${f.values!.join("|")}`, v);
      }
      return f.key + '"' + v + '"';
    case "port":
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) {
        return bad(f, "an integer 0..65535", v);
      }
      return f.key + v;
    case "status":
      if (typeof v !== "number" || !Number.isInteger(v) || v < 100 || v > 599) {
        return bad(f, "an integer 100..599", v);
      }
      return f.key + v;
    case "float_nonneg":
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
        return bad(f, "a number >= 0", v);
      }
      return f.key + v;
    case "iso_time": {
      if (typeof v !== "string" || !ISO_RE.test(v)) {
        return bad(f, "an ISO-8601 timestamp with zone", v);
      }
      const ms = Date.parse(v);
      if (!Number.isFinite(ms) || ms < 0 || ms > MAX_EPOCH_MS) {
        return bad(f, "a timestamp between 1970 and 2105", v);
      }
      // DateTime as epoch seconds: independent of the server's time zone.
      return f.key + Math.floor(ms / 1000) + ',"' + f.name + '_ms":' + ms;
    }
  }
}

/** The enrichment columns except `_ingested_at` (added per batch). */
export function enrichment(meta: MessageMeta): string {
  return `,"_topic":${
    JSON.stringify(meta.topic)
  },"_partition":${meta.partition},"_offset":${meta.offset}`;
}

/** Parses JSON text, or returns the reason it is not a JSON object. */
export function parseObject(
  text: string,
): { ok: true; value: Record<string, unknown> } | {
  ok: false;
  reason: string;
} {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return { ok: false, reason: `not a JSON object: ${describe(v)}` };
  }
  return { ok: true, value: v as Record<string, unknown> };
}

/**
 * Validates an event message against `table` and encodes the open row line
 * (see module docs). Unknown extra fields are ignored.
 */
export function encodeEvent(
  table: EventTable,
  text: string,
  meta: MessageMeta,
): Encoded {
  const parsed = parseObject(text);
  if (!parsed.ok) return parsed;
  const ev = parsed.value;
  // Fragments joined once: the row is one flat string, not a tree of ~30
  // concatenations that the GC would have to trace while it is buffered.
  const parts = FRAGMENTS;
  parts.length = 0;
  for (let i = 0; i < table.fields.length; i++) {
    const f = table.fields[i];
    const frag = field(f, ev[f.name]);
    if (typeof frag !== "string") return { ok: false, reason: frag.reason };
    parts.push(frag);
  }
  let tail = enrichment(meta);
  if (table.derive) tail = table.derive(ev) + tail;
  // Event creation time, for the freshness histogram (already validated).
  const eventMs = typeof ev.timestamp === "string"
    ? Date.parse(ev.timestamp)
    : undefined;
  return { ok: true, line: "{" + parts.join(",") + tail, eventMs };
}

const FRAGMENTS: string[] = [];
