import assert from "node:assert/strict";
import { EVENT_TABLES } from "./tables.ts";
import { encodeEvent } from "./validate.ts";

const meta = { topic: "security.events", partition: 2, offset: 41 };
const good = {
  event_id: "0b6e3f4a-8d1c-4c1e-9a7b-2f0e5d6c7b8a",
  timestamp: "2026-11-21T23:27:54.123Z",
  event_type: "port_scan",
  severity: "high",
  src_ip: "10.0.0.1",
  src_port: 5555,
  dst_ip: "192.168.1.2",
  dst_port: 22,
  protocol: "ssh",
  user: "",
  host: "h1",
  action: "blocked",
  message: 'say "hi"',
  scenario_id: "s-1",
  extra: "ignored",
};

Deno.test("encodeEvent writes every column in order, enriched, line left open", () => {
  const r = encodeEvent(
    EVENT_TABLES.security_events,
    JSON.stringify(good),
    meta,
  );
  assert.ok(r.ok);
  const row = JSON.parse(r.line + ',"_ingested_at":1}');
  assert.deepEqual(Object.keys(row), EVENT_TABLES.security_events.columns);
  assert.equal(row.timestamp, Math.floor(Date.parse(good.timestamp) / 1000));
  assert.equal(row.timestamp_ms, Date.parse(good.timestamp));
  assert.equal(row.message, 'say "hi"');
  assert.equal(row._topic, "security.events");
  assert.equal(row._partition, 2);
  assert.equal(row._offset, 41);
});

Deno.test("encodeEvent defaults optional fields and derives is_error", () => {
  const http = {
    event_id: good.event_id,
    timestamp: good.timestamp,
    service: "payment",
    method: "POST",
    path: "/pay",
    status: 503,
    latency_ms: 12.5,
    client_ip: "10.1.1.1",
    trace_id: "0123456789abcdef0123456789abcdef",
    level: "error",
  };
  const r = encodeEvent(EVENT_TABLES.fact_log, JSON.stringify(http), meta);
  assert.ok(r.ok);
  const row = JSON.parse(r.line + ',"_ingested_at":1}');
  assert.equal(row.is_error, 1);
  assert.equal(row.user_id, "");
  assert.deepEqual(Object.keys(row), EVENT_TABLES.fact_log.columns);
  const ok = encodeEvent(
    EVENT_TABLES.fact_log,
    JSON.stringify({ ...http, status: 404, level: "warn" }),
    meta,
  );
  assert.ok(ok.ok && ok.line.includes('"is_error":0'));
});

Deno.test("encodeEvent names the problem of invalid messages", () => {
  const cases: Array<[string, RegExp]> = [
    ["{nope", /^invalid JSON/],
    ["[1]", /^not a JSON object: array/],
    ["null", /^not a JSON object: null/],
    [
      JSON.stringify({ ...good, event_id: undefined }),
      /missing required field "event_id"/,
    ],
    [
      JSON.stringify({ ...good, src_port: "80" }),
      /field "src_port": expected an integer 0\.\.65535, got "80"/,
    ],
    [JSON.stringify({ ...good, src_port: 70000 }), /src_port/],
    [JSON.stringify({ ...good, src_ip: "10.0.0.256" }), /IPv4/],
    [JSON.stringify({ ...good, severity: "bad" }), /one of info\|low/],
    [JSON.stringify({ ...good, timestamp: "2026-11-21 10:00:00" }), /ISO-8601/],
    [
      JSON.stringify({ ...good, timestamp: "1960-01-01T00:00:00Z" }),
      /between 1970/,
    ],
    [JSON.stringify({ ...good, user: 5 }), /field "user": expected a string/],
  ];
  for (const [text, reason] of cases) {
    const r = encodeEvent(EVENT_TABLES.security_events, text, meta);
    assert.ok(!r.ok, text);
    assert.match(r.reason, reason);
  }
});
