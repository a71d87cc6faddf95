/**
 * HTTP ingest: `POST /v1/logs` (NDJSON or a JSON array of objects) and
 * `GET /ping`. A request is answered `202` only after its events are durably
 * in the disk buffer (fsync), so an accepted event survives `kill -9`.
 *
 * Answers: 202 `{"accepted": n}`; 400 malformed (naming the first bad line or
 * element; nothing of that request is kept); 401 without the bearer token
 * (when one is set); 405 for CORS preflights (no `Access-Control-Allow-*`);
 * 408 when the body does not arrive within the body timeout; 413 body or one
 * event over its limit; 415 for a missing or non-JSON `Content-Type` (what a
 * browser's cross-site "simple" request can send); 503 + `Retry-After` when
 * the buffer is full, too many requests are in flight, or the shipper stops.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "../runtime/mod.ts";
import { BufferFullError, type DiskBuffer } from "./disk_buffer.ts";
import type { ShipperMetrics } from "./metrics.ts";

/** The outcome of parsing a request body. */
export type ParsedBody =
  | { ok: true; records: Uint8Array[] }
  | { ok: false; status: 400 | 413; error: string };

const te = new TextEncoder();

function isObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses a body: a JSON array of objects (first non-blank char `[`) or NDJSON
 * (one object per line, blank lines ignored). Each event becomes one record
 * (NDJSON lines are kept byte-for-byte).
 */
export function parseBody(text: string, maxLineBytes: number): ParsedBody {
  const first = text.search(/\S/);
  if (first < 0) return { ok: false, status: 400, error: "empty body" };
  const records: Uint8Array[] = [];
  if (text[first] === "[") {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (err) {
      return {
        ok: false,
        status: 400,
        error: `body is not a valid JSON array: ${(err as Error).message}`,
      };
    }
    if (!Array.isArray(arr)) {
      return { ok: false, status: 400, error: "body is not a JSON array" };
    }
    for (const [i, el] of arr.entries()) {
      if (!isObject(el)) {
        return {
          ok: false,
          status: 400,
          error: `element ${i + 1}: not a JSON object`,
        };
      }
      const bytes = te.encode(JSON.stringify(el));
      if (bytes.length > maxLineBytes) {
        return {
          ok: false,
          status: 413,
          error: `element ${
            i + 1
          }: ${bytes.length} bytes exceeds the limit of ${maxLineBytes} bytes per event`,
        };
      }
      records.push(bytes);
    }
  } else {
    let start = 0;
    let lineNo = 0;
    while (start < text.length) {
      let nl = text.indexOf("\n", start);
      if (nl < 0) nl = text.length;
      lineNo++;
      let line = text.slice(start, nl);
      start = nl + 1;
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line.trim() === "") continue;
      const bytes = te.encode(line);
      if (bytes.length > maxLineBytes) {
        return {
          ok: false,
          status: 413,
          error:
            `line ${lineNo}: ${bytes.length} bytes exceeds the limit of ${maxLineBytes} bytes per line`,
        };
      }
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (err) {
        return {
          ok: false,
          status: 400,
          error: `line ${lineNo}: invalid JSON: ${(err as Error).message}`,
        };
      }
      if (!isObject(v)) {
        return {
          ok: false,
          status: 400,
          error: `line ${lineNo}: not a JSON object`,
        };
      }
      records.push(bytes);
    }
  }
  if (records.length === 0) {
    return { ok: false, status: 400, error: "no events in body" };
  }
  return { ok: true, records };
}

/** Media types accepted for `POST /v1/logs` (parameters such as charset ignored). */
export const JSON_CONTENT_TYPES: readonly string[] = [
  "application/json",
  "application/x-ndjson",
  "application/ndjson",
];

/**
 * Whether a `Content-Type` is one of {@link JSON_CONTENT_TYPES}. An absent
 * one is refused: cross-site forms and `fetch` without preflight can only
 * send text/plain, form-urlencoded or multipart, so demanding a JSON type
 * makes every browser-forged POST either fail here or need a preflight,
 * which we never allow.
 */
export function isJsonContentType(value: string | null): boolean {
  if (value === null) return false;
  const type = value.split(";")[0].trim().toLowerCase();
  return JSON_CONTENT_TYPES.includes(type);
}

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/**
 * A checker of `Authorization: Bearer <token>`; compares SHA-256 digests in
 * constant time, so neither the token's bytes nor its length leak by timing.
 */
export function bearerChecker(
  token: string,
): (header: string | null) => boolean {
  const expected = sha256(token);
  return (header) => {
    const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? "");
    // Hash something even when malformed: the same work either way.
    const given = sha256(m ? m[1] : "");
    return timingSafeEqual(given, expected) && m !== null;
  };
}

/** Why a body could not be read. */
export type ReadFailure = "too-large" | "timeout";

/**
 * Reads a body up to `max` bytes within `timeoutMs`; a slow (slowloris) or
 * oversize body is cancelled and its chunks dropped at once.
 */
export async function readLimited(
  req: Request,
  max: number,
  timeoutMs: number,
): Promise<Uint8Array | ReadFailure> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > max) return "too-large";
  if (!req.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), expired]);
      if (r === "timeout") {
        reader.cancel().catch(() => {});
        return "timeout";
      }
      if (r.done) break;
      total += r.value.length;
      if (total > max) {
        reader.cancel().catch(() => {});
        return "too-large";
      }
      parts.push(r.value);
    }
  } finally {
    clearTimeout(timer);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Settings of the ingest handler. */
export interface IngestOptions {
  buffer: DiskBuffer;
  maxBodyBytes: number;
  maxLineBytes: number;
  metrics: ShipperMetrics;
  log: Logger;
  /** True once shutdown started: new requests get 503. */
  stopping: () => boolean;
  /** Bearer token every request must carry; undefined: none (loopback only). */
  token?: string;
  /** Most `POST /v1/logs` in flight; beyond: 503 + `Retry-After`. */
  maxConcurrent: number;
  /** Longest wait for a whole request body; slower: 408. */
  bodyTimeoutMs: number;
}

function reply(
  m: ShipperMetrics,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  m.httpRequests.inc({ code: String(status) });
  // One request per connection: the front's header deadline then applies to
  // every request (keep-alive would let a client dawdle between requests).
  return Response.json(body, {
    status,
    headers: { connection: "close", ...headers },
  });
}

/** Creates the request handler of the ingest server. */
export function createIngestHandler(
  o: IngestOptions,
): (req: Request) => Promise<Response> {
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const authorized = o.token ? bearerChecker(o.token) : () => true;
  let inFlight = 0;
  return async (req) => {
    // A CORS preflight gets no allowance: browsers then send nothing.
    if (req.method === "OPTIONS") {
      return reply(o.metrics, 405, { error: "CORS is not allowed" }, {
        allow: "GET, POST",
      });
    }
    if (!authorized(req.headers.get("authorization"))) {
      return reply(o.metrics, 401, { error: "missing or wrong bearer token" }, {
        "www-authenticate": 'Bearer realm="shipper"',
      });
    }
    const path = new URL(req.url).pathname;
    if (path === "/ping") {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return reply(o.metrics, 405, { error: "use GET" }, { allow: "GET" });
      }
      return reply(o.metrics, 200, { ok: true });
    }
    if (path !== "/v1/logs") {
      return reply(o.metrics, 404, { error: "not found" });
    }
    if (req.method !== "POST") {
      return reply(o.metrics, 405, { error: "use POST" }, { allow: "POST" });
    }
    if (!isJsonContentType(req.headers.get("content-type"))) {
      return reply(o.metrics, 415, {
        error: `Content-Type must be one of ${JSON_CONTENT_TYPES.join(", ")}`,
      });
    }
    if (o.stopping()) {
      return reply(o.metrics, 503, { error: "shutting down" }, {
        "retry-after": "1",
      });
    }
    if (inFlight >= o.maxConcurrent) {
      return reply(o.metrics, 503, { error: "too many requests in flight" }, {
        "retry-after": "1",
      });
    }
    inFlight++;
    try {
      return await ingest(req);
    } finally {
      inFlight--;
    }
  };

  async function ingest(req: Request): Promise<Response> {
    const body = await readLimited(req, o.maxBodyBytes, o.bodyTimeoutMs);
    if (body === "too-large") {
      return reply(o.metrics, 413, {
        error: `body exceeds the limit of ${o.maxBodyBytes} bytes`,
      });
    }
    if (body === "timeout") {
      return reply(o.metrics, 408, {
        error: `body not received within ${o.bodyTimeoutMs} ms`,
      });
    }
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return reply(o.metrics, 400, { error: "body is not valid UTF-8" });
    }
    const parsed = parseBody(text, o.maxLineBytes);
    if (!parsed.ok) {
      return reply(o.metrics, parsed.status, { error: parsed.error });
    }
    try {
      await o.buffer.append(parsed.records);
    } catch (err) {
      if (err instanceof BufferFullError) {
        return reply(o.metrics, 503, { error: "buffer full, retry later" }, {
          "retry-after": "1",
        });
      }
      o.log.error("buffer append failed", { err });
      return reply(o.metrics, 503, { error: "buffer unavailable" }, {
        "retry-after": "5",
      });
    }
    o.metrics.httpEventsAccepted.inc(parsed.records.length);
    return reply(o.metrics, 202, { accepted: parsed.records.length });
  }
}
