/**
 * HTTP ingest: `POST /v1/logs` (NDJSON or a JSON array of objects) and
 * `GET /ping`. A request is answered `202` only after its events are durably
 * in the disk buffer (fsync), so an accepted event survives `kill -9`.
 *
 * Answers: 202 `{"accepted": n}`; 400 malformed (naming the first bad line or
 * element; nothing of that request is kept); 413 body or one event over its
 * limit; 503 + `Retry-After` when the buffer is full or the shipper stops.
 *
 * @module
 */
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

/** Reads a body up to `max` bytes; undefined when it is larger. */
async function readLimited(
  req: Request,
  max: number,
): Promise<Uint8Array | undefined> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > max) return undefined;
  if (!req.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
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
}

function reply(
  m: ShipperMetrics,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  m.httpRequests.inc({ code: String(status) });
  return Response.json(body, { status, headers });
}

/** Creates the request handler of the ingest server. */
export function createIngestHandler(
  o: IngestOptions,
): (req: Request) => Promise<Response> {
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  return async (req) => {
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
    if (o.stopping()) {
      return reply(o.metrics, 503, { error: "shutting down" }, {
        "retry-after": "1",
      });
    }
    const body = await readLimited(req, o.maxBodyBytes);
    if (!body) {
      return reply(o.metrics, 413, {
        error: `body exceeds the limit of ${o.maxBodyBytes} bytes`,
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
  };
}
