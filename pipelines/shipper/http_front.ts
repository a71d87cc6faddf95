/**
 * The HTTP/1.1 server of the ingest port, written small on purpose.
 * `Deno.serve` has no header timeout and no connection cap: a client that
 * sends half a request line and never finishes keeps its connection (and
 * its header buffer) for good (measured: still open after 75 s), and any
 * number of them may. It also cannot be fed from a front in this process
 * without a second socket the task's permissions would have to name (Unix
 * socket permissions take absolute paths only). So this server caps open
 * connections, requires the request head within a deadline and a size,
 * bounds each connection's life, answers one request per connection
 * (`connection: close`, so the head deadline covers every request), and
 * hands the handler a standard `Request` whose body streams from the socket
 * (`content-length` or `chunked`; `Expect: 100-continue` is honoured).
 *
 * @module
 */
import type { Logger } from "../runtime/mod.ts";

/** Settings of the server. */
export interface FrontOptions {
  /** The public listener (already bound). */
  listener: Deno.Listener;
  /** Answers one request. */
  handler: (req: Request) => Response | Promise<Response>;
  /** Most connections open at once; beyond: canned 503 and close. */
  maxConnections: number;
  /** Longest wait for the whole request head (line + headers). */
  headerTimeoutMs: number;
  /** Largest request head; larger: 431 and close. */
  maxHeaderBytes: number;
  /** Longest life of one connection once its head arrived. */
  connectionTimeoutMs: number;
  /** Counts connections the server answers itself, by status code. */
  onRefused?: (code: "400" | "408" | "431" | "503") => void;
  log: Logger;
}

const te = new TextEncoder();

/** A complete `Connection: close` response, for answers the front gives. */
function canned(status: string, error: string, extra = ""): Uint8Array {
  const body = JSON.stringify({ error });
  return te.encode(
    `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\nconnection: close\r\n${extra}\r\n` +
      body,
  );
}

const BUSY = canned(
  "503 Service Unavailable",
  "too many connections",
  "retry-after: 1\r\n",
);
const HEAD_TIMEOUT = canned("408 Request Timeout", "request head too slow");
const BAD_REQUEST = canned("400 Bad Request", "malformed request");
const HEAD_TOO_LARGE = canned(
  "431 Request Header Fields Too Large",
  "request head too large",
);

/** Index just past the blank line ending an HTTP/1 head, or -1. */
export function headEnd(buf: Uint8Array, len: number): number {
  for (let i = 3; i < len; i++) {
    if (buf[i] === 10) {
      if (buf[i - 1] === 10) return i + 1; // bare LF, tolerated by parsers
      if (buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) {
        return i + 1;
      }
    }
  }
  return -1;
}

/** A parsed request head. */
export interface Head {
  method: string;
  target: string;
  headers: Headers;
}

/** Parses a request head (without the final blank line); undefined: malformed. */
export function parseHead(text: string): Head | undefined {
  const lines = text.split(/\r?\n/);
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0]);
  if (!m) return undefined;
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const i = line.indexOf(":");
    if (i <= 0) return undefined;
    try {
      headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
    } catch {
      return undefined; // an invalid header name or value
    }
  }
  return { method: m[1], target: m[2], headers };
}

/** Reads a connection through a small buffer (lines, exact lengths). */
class ConnReader {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;

  constructor(private readonly conn: Deno.Conn, leftover: Uint8Array) {
    this.#buf = new Uint8Array(Math.max(65536, leftover.length));
    this.#buf.set(leftover);
    this.#end = leftover.length;
  }

  async #fill(): Promise<void> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("connection closed mid-body");
    this.#end += n;
  }

  /** Up to `max` bytes (at least one), copied. */
  async some(max: number): Promise<Uint8Array> {
    if (this.#start === this.#end) await this.#fill();
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** One line without its CRLF (at most 4 KiB: chunk-size lines). */
  async line(): Promise<string> {
    for (;;) {
      const i = this.#buf.subarray(this.#start, this.#end).indexOf(10);
      if (i >= 0) {
        const text = new TextDecoder().decode(
          this.#buf.subarray(this.#start, this.#start + i),
        );
        this.#start += i + 1;
        return text.replace(/\r$/, "");
      }
      if (this.#end - this.#start > 4096) throw new Error("line too long");
      await this.#fill();
    }
  }
}

/** The request body as a stream: `content-length` bytes or `chunked`. */
function bodyStream(
  r: ConnReader,
  headers: Headers,
): ReadableStream<Uint8Array> | undefined | "bad" {
  const coding = headers.get("transfer-encoding");
  if (coding !== null) {
    if (coding.toLowerCase() !== "chunked") return "bad";
    let left = 0;
    let done = false;
    return new ReadableStream<Uint8Array>({
      async pull(ctl) {
        if (done) return ctl.close();
        if (left === 0) {
          const size = parseInt((await r.line()).split(";")[0], 16);
          if (!Number.isFinite(size) || size < 0) throw new Error("bad chunk");
          if (size === 0) {
            // Trailers, then the blank line.
            while ((await r.line()) !== "");
            done = true;
            return ctl.close();
          }
          left = size;
        }
        const part = await r.some(left);
        left -= part.length;
        if (left === 0) await r.line(); // the CRLF after the chunk
        ctl.enqueue(part);
      },
    });
  }
  const cl = headers.get("content-length");
  if (cl === null) return undefined;
  if (!/^\d{1,15}$/.test(cl)) return "bad";
  let left = Number(cl);
  if (left === 0) return undefined;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const part = await r.some(left);
      left -= part.length;
      ctl.enqueue(part);
      if (left === 0) ctl.close();
    },
  });
}

/** Serializes a response with `connection: close`. */
async function writeResponse(
  conn: Deno.Conn,
  res: Response,
  head: boolean,
): Promise<void> {
  const body = new Uint8Array(await res.arrayBuffer());
  let text = `HTTP/1.1 ${res.status} ${res.statusText || "-"}\r\n`;
  for (const [k, v] of res.headers) {
    if (k === "content-length" || k === "connection") continue;
    text += `${k}: ${v}\r\n`;
  }
  text += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  await writeAll(conn, te.encode(text));
  if (!head && body.length > 0) await writeAll(conn, body);
}

/** The running server; {@link close} stops accepting and ends every connection. */
export class HttpFront {
  #open = new Set<Deno.Conn>();
  /** Connections whose request head arrived (a request in progress). */
  #active = new Set<Deno.Conn>();
  #busy = new Set<Promise<void>>();
  #closed = false;
  readonly done: Promise<void>;

  /** Starts accepting. */
  constructor(private readonly o: FrontOptions) {
    this.done = this.#accept();
  }

  /** Connections open now (for tests and /health). */
  get connections(): number {
    return this.#open.size;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.o.listener.accept();
      } catch (err) {
        if (this.#closed) return;
        this.o.log.warn("http: accept failed", {
          error: (err as Error).message,
        });
        continue;
      }
      if (this.#open.size >= this.o.maxConnections) {
        this.o.onRefused?.("503");
        void writeAndClose(conn, BUSY);
        continue;
      }
      this.#open.add(conn);
      const p: Promise<void> = this.#serve(conn).catch(() => {}).finally(
        () => {
          this.#open.delete(conn);
          this.#active.delete(conn);
          this.#busy.delete(p);
          close(conn);
        },
      );
      this.#busy.add(p);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const o = this.o;
    const buf = new Uint8Array(o.maxHeaderBytes);
    let len = 0;
    let end = -1;
    let timedOut = false;
    // A pending read rejects once the connection is closed: the only way
    // to abandon it.
    const headTimer = setTimeout(() => {
      timedOut = true;
      o.onRefused?.("408");
      void writeAndClose(conn, HEAD_TIMEOUT);
    }, o.headerTimeoutMs);
    try {
      while (end < 0) {
        if (len === buf.length) {
          o.onRefused?.("431");
          return await writeAndClose(conn, HEAD_TOO_LARGE);
        }
        const n = await conn.read(buf.subarray(len));
        if (n === null) return;
        len += n;
        end = headEnd(buf, len);
      }
    } catch {
      return;
    } finally {
      clearTimeout(headTimer);
    }
    if (timedOut || this.#closed) return;
    this.#active.add(conn);
    const head = parseHead(new TextDecoder().decode(buf.subarray(0, end)));
    const reader = new ConnReader(conn, buf.subarray(end, len));
    const body = head && bodyStream(reader, head.headers);
    if (!head || body === "bad") {
      o.onRefused?.("400");
      return await writeAndClose(conn, BAD_REQUEST);
    }
    const life = setTimeout(() => close(conn), o.connectionTimeoutMs);
    try {
      if (body && /^100-continue$/i.test(head.headers.get("expect") ?? "")) {
        await writeAll(conn, te.encode("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      const host = head.headers.get("host") ?? "localhost";
      const hasBody = head.method !== "GET" && head.method !== "HEAD";
      const req = new Request(new URL(head.target, `http://${host}`), {
        method: head.method,
        headers: head.headers,
        body: hasBody ? body : undefined,
      });
      let res: Response;
      try {
        res = await o.handler(req);
      } catch (err) {
        // The client went away, its body broke, or its life ran out.
        o.log.debug("http: request failed", { error: (err as Error).message });
        return;
      }
      await writeResponse(conn, res, head.method === "HEAD");
    } finally {
      clearTimeout(life);
    }
  }

  /** Stops accepting; open connections go on. */
  stopAccepting(): void {
    this.#closed = true;
    close(this.o.listener);
  }

  /**
   * Stops accepting, closes connections still sending their head, waits up
   * to `graceMs` for the requests in flight, then closes what is left.
   */
  async close(graceMs = 0): Promise<void> {
    this.stopAccepting();
    for (const c of this.#open) if (!this.#active.has(c)) close(c);
    if (graceMs > 0 && this.#busy.size > 0) {
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(this.#busy),
        new Promise((r) => t = setTimeout(r, graceMs)),
      ]);
      clearTimeout(t);
    }
    for (const c of this.#open) close(c);
    await this.done;
  }
}

/** Settings of {@link startIngestServer}. */
export interface IngestServerOptions extends Omit<FrontOptions, "listener"> {
  hostname: string;
  port: number;
}

/** The running ingest server. */
export interface IngestServer {
  /** Open connections. */
  readonly connections: number;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish, then closes the rest. */
  shutdown(): Promise<void>;
}

/** Binds the port and serves the handler. */
export function startIngestServer(o: IngestServerOptions): IngestServer {
  const listener = Deno.listen({ hostname: o.hostname, port: o.port });
  const front = new HttpFront({ ...o, listener });
  const port = (listener.addr as Deno.NetAddr).port;
  o.log.info("http ingest listening", { url: `http://${o.hostname}:${port}` });
  return {
    get connections() {
      return front.connections;
    },
    port,
    // Within the runtime's 15 s shutdown deadline; bodies slower than this
    // are cut (never 202-ed, so nothing accepted is lost).
    shutdown: () => front.close(Math.min(o.connectionTimeoutMs, 8_000)),
  };
}

function close(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

async function writeAll(c: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await c.write(data.subarray(off));
}

async function writeAndClose(c: Deno.Conn, data: Uint8Array): Promise<void> {
  try {
    await writeAll(c, data);
  } catch { /* peer gone */ }
  close(c);
}
