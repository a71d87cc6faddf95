/**
 * The shipper's HTTP ingest doors (issue 13, item 11) against the real
 * cluster, through `deno task ship` with its task permissions: bearer token,
 * JSON content types only, no CORS allowance, the concurrency cap, slow
 * heads and bodies cut off while others are served, and every `202`-ed
 * event in Kafka.
 */
import assert from "node:assert/strict";
import {
  freshTopic,
  pollUntil,
  readTopic,
  runTask,
  startTask,
  topicMessageCount,
} from "./_helpers.ts";

const URL_ = "http://127.0.0.1:18080";
const TOKEN = "tests-0123456789-abcdef";
const enc = new TextEncoder();
const dec = new TextDecoder();

const auth = { authorization: `Bearer ${TOKEN}` };
const ndjson = { "content-type": "application/x-ndjson" };

async function post(
  body: string,
  headers: Record<string, string>,
): Promise<Response> {
  return await fetch(`${URL_}/v1/logs`, { method: "POST", body, headers });
}

/** Status of a POST, body discarded. */
async function status(
  body: string,
  headers: Record<string, string>,
): Promise<number> {
  const r = await post(body, headers);
  await r.body?.cancel();
  return r.status;
}

/** Reads one TCP reply until EOF or `ms`. */
async function rawReply(c: Deno.Conn, ms: number): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  const timer = setTimeout(() => c.close(), ms);
  try {
    while (Date.now() < deadline) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      c.close();
    } catch { /* closed */ }
  }
  return text;
}

Deno.test({
  name:
    "ship http: off loopback without SHIPPER_HTTP_TOKEN it refuses to start in one line",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // Blank, whatever the runner has (empty counts as unset; a child cannot
    // unset one variable, and reading ours needs a permission -P lacks).
    const env = { SHIPPER_HTTP_TOKEN: "" };
    const r = await runTask("ship", [
      "--http-host",
      "0.0.0.0",
      "--path",
      "",
      "--metrics-port",
      "0",
    ], { env });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      JSON.parse(lines[0]).msg,
      /^--http-host 0.0.0.0 is not loopback: set SHIPPER_HTTP_TOKEN/,
    );
  },
});

Deno.test({
  name:
    "ship http: token, content type, no CORS, cap, slowloris cut off; every 202 is in Kafka",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("ship-doors");
    const dlq = await freshTopic("ship-doors-dlq");
    const p = startTask("ship", [
      "--path",
      "",
      "--topic",
      topic,
      "--dlq-topic",
      dlq,
      "--state-dir",
      `.data/shipper/tests/doors-${crypto.randomUUID().slice(0, 8)}`,
      "--http-port",
      "18080",
      "--http-max-concurrent",
      "1",
      "--http-header-timeout",
      "1s",
      "--http-body-timeout",
      "1s",
      "--metrics-port",
      "0",
    ], { env: { SHIPPER_HTTP_TOKEN: TOKEN, LOG_LEVEL: "info" } });
    const accepted: string[] = [];
    const line = (id: string) => JSON.stringify({ event_id: id }) + "\n";
    try {
      await pollUntil(async () => {
        const r = await fetch(`${URL_}/ping`, { headers: auth });
        await r.body?.cancel();
        return r.ok;
      }, { timeoutMs: 30_000, what: "shipper /ping" });

      // Token.
      assert.equal(await status(line("no-token"), ndjson), 401);
      assert.equal(
        await status(line("bad-token"), {
          ...ndjson,
          authorization: `Bearer ${TOKEN}x`,
        }),
        401,
      );
      const ping = await fetch(`${URL_}/ping`);
      await ping.body?.cancel();
      assert.equal(ping.status, 401, "/ping also wants the token");
      assert.equal(await status(line("ok-1"), { ...auth, ...ndjson }), 202);
      accepted.push("ok-1");

      // What a cross-site form or simple fetch can send: 415.
      assert.equal(
        await status(line("plain"), { ...auth, "content-type": "text/plain" }),
        415,
      );
      // CORS preflight: no allowance.
      const pre = await fetch(`${URL_}/v1/logs`, {
        method: "OPTIONS",
        headers: {
          origin: "http://evil.example",
          "access-control-request-method": "POST",
        },
      });
      await pre.body?.cancel();
      assert.equal(pre.status, 405);
      assert.deepEqual(
        [...pre.headers.keys()].filter((k) => k.startsWith("access-control")),
        [],
      );

      // A slowloris body holds the only slot: others get 503 + Retry-After,
      // it is cut off after the body timeout, then others are served again.
      const slow = await Deno.connect({ hostname: "127.0.0.1", port: 18080 });
      await slow.write(enc.encode(
        `POST /v1/logs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n` +
          `content-type: application/x-ndjson\r\ncontent-length: 100000\r\n\r\n` +
          line("slow-0"),
      ));
      const t0 = Date.now();
      const busy = await pollUntil(async () => {
        const r = await post(line("over-cap"), { ...auth, ...ndjson });
        await r.body?.cancel();
        return r.status === 503 ? r : undefined;
      }, { timeoutMs: 900, intervalMs: 20, what: "a 503 over the cap" });
      assert.equal(busy.headers.get("retry-after"), "1");
      const slowReply = await rawReply(slow, 5_000);
      assert.match(slowReply, /^HTTP\/1.1 408 /);
      assert.ok(Date.now() - t0 < 3_000, `cut after ${Date.now() - t0} ms`);

      // A slowloris head: cut off too.
      const t1 = Date.now();
      const head = await Deno.connect({ hostname: "127.0.0.1", port: 18080 });
      await head.write(enc.encode("POST /v1/logs HTT"));
      assert.match(await rawReply(head, 5_000), /^HTTP\/1.1 408 /);
      assert.ok(Date.now() - t1 < 3_000, `cut after ${Date.now() - t1} ms`);

      for (let i = 2; i <= 20; i++) {
        const id = `ok-${i}`;
        const s = await status(line(id), { ...auth, ...ndjson });
        assert.equal(s, 202, id);
        accepted.push(id);
      }
      await pollUntil(
        async () => await topicMessageCount(topic) >= accepted.length,
        { timeoutMs: 60_000, what: `${accepted.length} events in ${topic}` },
      );
    } finally {
      p.kill("SIGTERM");
      const r = await p.wait();
      assert.equal(r.code, 0, r.stderr.slice(-4000));
    }
    const ids = (await readTopic(topic)).map((m) =>
      JSON.parse(m.value!).event_id as string
    ).sort();
    assert.deepEqual(ids, [...accepted].sort(), "exactly the 202-ed events");
    assert.equal(await topicMessageCount(dlq), 0);
  },
});
