import assert from "node:assert/strict";
import { createLogger, createRegistry } from "../runtime/mod.ts";
import type { DiskBuffer } from "./disk_buffer.ts";
import { headEnd, type IngestServer, startIngestServer } from "./http_front.ts";
import {
  bearerChecker,
  createIngestHandler,
  isJsonContentType,
} from "./http_source.ts";
import { createMetrics } from "./metrics.ts";
import { needsPermissions } from "../../tests/_gate.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const log = createLogger("test", "error", () => {});
const TOKEN = "t0ken-of-sixteen-chars";

Deno.test("http: only JSON media types pass; an absent one does not", () => {
  assert.ok(isJsonContentType("application/json"));
  assert.ok(isJsonContentType("Application/X-NDJSON; charset=utf-8"));
  assert.ok(isJsonContentType("application/ndjson"));
  for (
    const t of [
      null,
      "",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
    ]
  ) {
    assert.equal(isJsonContentType(t), false, String(t));
  }
});

Deno.test("http: the bearer check wants the exact token", () => {
  const ok = bearerChecker(TOKEN);
  assert.equal(ok(`Bearer ${TOKEN}`), true);
  assert.equal(ok(`bearer ${TOKEN}`), true);
  assert.equal(ok(null), false);
  assert.equal(ok(""), false);
  assert.equal(ok("Bearer"), false);
  assert.equal(ok(`Bearer ${TOKEN}x`), false);
  assert.equal(ok(`Bearer ${TOKEN.slice(1)}`), false);
  assert.equal(ok(`Basic ${TOKEN}`), false);
});

Deno.test("http: the end of a request head is found with CRLF or bare LF", () => {
  const b = enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY");
  assert.equal(headEnd(b, b.length), b.length - 4);
  assert.equal(headEnd(b, 20), -1);
  const lf = enc.encode("GET / HTTP/1.1\nHost: x\n\n");
  assert.equal(headEnd(lf, lf.length), lf.length);
});

interface Rig {
  server: IngestServer;
  url: string;
  stored: string[];
  /** Appends wait for this (to hold requests in flight). */
  gate: { wait?: Promise<void> };
}

function rig(opts: { maxConcurrent?: number } = {}): Rig {
  const stored: string[] = [];
  const gate: Rig["gate"] = {};
  const buffer = {
    append: async (records: Uint8Array[]) => {
      await gate.wait;
      for (const r of records) stored.push(dec.decode(r));
    },
  } as unknown as DiskBuffer;
  const server = startIngestServer({
    hostname: "127.0.0.1",
    port: 0,
    maxConnections: 8,
    headerTimeoutMs: 300,
    connectionTimeoutMs: 5_000,
    maxHeaderBytes: 4096,
    log,
    handler: createIngestHandler({
      buffer,
      maxBodyBytes: 1 << 20,
      maxLineBytes: 4096,
      metrics: createMetrics(createRegistry("t")),
      log,
      stopping: () => false,
      token: TOKEN,
      maxConcurrent: opts.maxConcurrent ?? 4,
      bodyTimeoutMs: 300,
    }),
  });
  return { server, url: `http://127.0.0.1:${server.port}`, stored, gate };
}

const auth = { authorization: `Bearer ${TOKEN}` };
const ndjson = { "content-type": "application/x-ndjson" };

async function post(
  r: Rig,
  body: string,
  headers: Record<string, string>,
): Promise<
  { status: number; headers: Headers; json: Record<string, unknown> }
> {
  const res = await fetch(`${r.url}/v1/logs`, {
    method: "POST",
    body,
    headers,
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

/** A raw TCP client: sends `text`, returns the connection. */
async function raw(r: Rig, text: string): Promise<Deno.TcpConn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port: r.server.port });
  await c.write(enc.encode(text));
  return c;
}

/** Reads until EOF (or `ms`); returns what came and when it ended. */
async function readAll(
  c: Deno.Conn,
  ms: number,
): Promise<{ text: string; eof: boolean }> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return { text, eof: false };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      c.read(buf).catch(() => null),
      new Promise<"wait">((res) => timer = setTimeout(() => res("wait"), left)),
    ]);
    clearTimeout(timer);
    if (n === "wait") return { text, eof: false };
    if (n === null) return { text, eof: true };
    text += dec.decode(buf.subarray(0, n));
  }
}

Deno.test(
  "http: token, content type and CORS preflight are enforced (issue 13, item 11)",
  needsPermissions(
    { name: "net", host: "127.0.0.1" },
  ),
  async () => {
    const r = rig();
    try {
      const body = '{"id":1}\n{"id":2}\n';
      const none = await post(r, body, ndjson);
      assert.equal(none.status, 401);
      assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
      const wrong = await post(r, body, {
        ...ndjson,
        authorization: `Bearer ${TOKEN}-not`,
      });
      assert.equal(wrong.status, 401);
      assert.equal(r.stored.length, 0, "nothing of a 401 is kept");

      for (const ct of ["text/plain", "application/x-www-form-urlencoded"]) {
        const res = await post(r, body, { ...auth, "content-type": ct });
        assert.equal(res.status, 415, ct);
      }
      // fetch sends text/plain for a string body: drop it to test "absent".
      const absent = await raw(
        r,
        `POST /v1/logs HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${TOKEN}\r\n` +
          `content-length: ${body.length}\r\n\r\n${body}`,
      );
      const absentReply = await readAll(absent, 3_000);
      absent.close();
      assert.match(absentReply.text, /^HTTP\/1.1 415/);
      assert.equal(r.stored.length, 0, "nothing of a 415 is kept");

      const pre = await fetch(`${r.url}/v1/logs`, {
        method: "OPTIONS",
        headers: {
          origin: "http://evil.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization,content-type",
        },
      });
      await pre.body?.cancel();
      assert.equal(pre.status, 405);
      for (const [k] of pre.headers) {
        assert.doesNotMatch(k, /^access-control-/, `${k} must not be sent`);
      }

      const ok = await post(r, body, { ...auth, ...ndjson });
      assert.equal(ok.status, 202);
      assert.deepEqual(ok.json, { accepted: 2 });
      const arr = await post(r, '[{"id":3}]', {
        ...auth,
        "content-type": "application/json; charset=utf-8",
      });
      assert.equal(arr.status, 202);
      assert.deepEqual(r.stored, ['{"id":1}', '{"id":2}', '{"id":3}']);
    } finally {
      await r.server.shutdown();
    }
  },
);

Deno.test(
  "http: over the concurrency cap 503; slow heads and bodies are cut off, others still served",
  needsPermissions(
    { name: "net", host: "127.0.0.1" },
  ),
  async () => {
    const r = rig({ maxConcurrent: 2 });
    try {
      // Two requests held in the buffer append fill the cap.
      let release!: () => void;
      r.gate.wait = new Promise((res) => release = res);
      const held = [1, 2].map((i) =>
        post(r, `{"id":${i}}`, { ...auth, ...ndjson })
      );
      const t0 = Date.now();
      let over;
      for (;;) {
        over = await post(r, '{"id":9}', { ...auth, ...ndjson });
        if (over.status === 503 || Date.now() - t0 > 3_000) break;
      }
      assert.equal(over.status, 503);
      assert.equal(over.headers.get("retry-after"), "1");
      release();
      r.gate.wait = undefined;
      assert.deepEqual((await Promise.all(held)).map((h) => h.status), [
        202,
        202,
      ]);

      // Slowloris head: half a request line, never finished.
      const t1 = Date.now();
      const head = await raw(r, "POST /v1/logs HT");
      const headReply = await readAll(head, 3_000);
      head.close();
      assert.ok(headReply.eof, "the front closed the slow head");
      assert.match(headReply.text, /^HTTP\/1.1 408/);
      assert.ok(Date.now() - t1 < 2_000, `closed after ${Date.now() - t1} ms`);

      // Slowloris body: headers promise 1000 bytes, 10 arrive.
      const t2 = Date.now();
      const slow = await raw(
        r,
        `POST /v1/logs HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${TOKEN}\r\n` +
          `content-type: application/x-ndjson\r\ncontent-length: 1000\r\n\r\n{"id":"sl`,
      );
      const slowReply = await readAll(slow, 3_000);
      slow.close();
      assert.match(slowReply.text, /^HTTP\/1.1 408/);
      assert.ok(
        Date.now() - t2 < 2_000,
        `answered after ${Date.now() - t2} ms`,
      );

      // Others are served meanwhile and afterwards; nothing accepted is lost.
      const after = await post(r, '{"id":10}', { ...auth, ...ndjson });
      assert.equal(after.status, 202);
      assert.deepEqual(r.stored.sort(), ['{"id":10}', '{"id":1}', '{"id":2}']);
      assert.ok(!r.stored.some((s) => s.includes("sl")));
      await pollConnections(r, 0);
    } finally {
      await r.server.shutdown();
    }
  },
);

async function pollConnections(r: Rig, n: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (r.server.connections !== n) {
    if (Date.now() > deadline) {
      assert.fail(`${r.server.connections} connections open, want ${n}`);
    }
    await new Promise((res) => setTimeout(res, 20));
  }
}

Deno.test(
  "http: chunked bodies and Expect: 100-continue (curl's large uploads) are served",
  needsPermissions({ name: "net", host: "127.0.0.1" }),
  async () => {
    const r = rig();
    try {
      const c = await raw(
        r,
        `POST /v1/logs HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${TOKEN}\r\n` +
          "content-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n" +
          "expect: 100-continue\r\n\r\n",
      );
      // One plain read: a raced one would be left pending and eat the reply.
      const first = new Uint8Array(256);
      const n = await c.read(first);
      assert.equal(
        dec.decode(first.subarray(0, n ?? 0)),
        "HTTP/1.1 100 Continue\r\n\r\n",
      );
      await c.write(enc.encode('9\r\n{"id":"a"\r\n4;x=y\r\n}\n{"\r\n'));
      await c.write(enc.encode('8\r\nid":"b"}\r\n0\r\n\r\n'));
      const res = await readAll(c, 3_000);
      c.close();
      assert.match(res.text, /^HTTP\/1.1 202 /);
      assert.match(res.text, /connection: close/);
      assert.ok(res.eof);
      assert.deepEqual(r.stored, ['{"id":"a"}', '{"id":"b"}']);
    } finally {
      await r.server.shutdown();
    }
  },
);

Deno.test(
  "http: shutdown closes connections still sending their head at once",
  needsPermissions({ name: "net", host: "127.0.0.1" }),
  async () => {
    const r = rig();
    const c = await raw(r, "POST /v1/lo");
    await pollConnections(r, 1);
    const t0 = Date.now();
    await r.server.shutdown();
    assert.ok(Date.now() - t0 < 250, `shutdown took ${Date.now() - t0} ms`);
    const reply = await readAll(c, 1_000);
    c.close();
    assert.ok(reply.eof);
  },
);
