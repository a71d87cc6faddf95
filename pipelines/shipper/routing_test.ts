import assert from "node:assert/strict";
import {
  compileRouting,
  DEFAULT_ROUTING,
  isValidTopic,
  parseRouteFlag,
  renderTopic,
} from "./routing.ts";

Deno.test("routing: built-in routes follow the data contracts", () => {
  const route = compileRouting(DEFAULT_ROUTING);
  assert.deepEqual(
    route(
      { event_type: "port_scan", src_ip: "1.2.3.4", service: "auth" },
      "file",
    ),
    { ok: true, destinations: [{ topic: "security.events", key: "1.2.3.4" }] },
  );
  assert.deepEqual(
    route({ service: "payment", level: "error", trace_id: "t1" }, "http"),
    {
      ok: true,
      destinations: [
        { topic: "logs.payment", key: "t1" },
        { topic: "logs.error", key: "t1" },
      ],
    },
  );
  assert.deepEqual(
    route({ service: "auth", level: "info", trace_id: "t2" }, "file"),
    { ok: true, destinations: [{ topic: "logs.auth", key: "t2" }] },
  );
  const none = route({ service: "billing", level: "info" }, "file");
  assert.equal(none.ok, false);
});

Deno.test("routing: default topic, key field, source filter", () => {
  const route = compileRouting({
    rules: [{ source: "http", topic: "from.http" }],
    defaultTopic: "other",
    keyField: "id",
  });
  assert.deepEqual(route({ id: 7 }, "http"), {
    ok: true,
    destinations: [{ topic: "from.http", key: "7" }],
  });
  assert.deepEqual(route({}, "file"), {
    ok: true,
    destinations: [{ topic: "other", key: null }],
  });
});

Deno.test("routing: a template giving an illegal topic is refused", () => {
  const route = compileRouting({ rules: [{ topic: "logs.{service}" }] });
  const r = route({ service: "../etc" }, "file");
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /invalid topic name/);
  assert.equal(renderTopic("a.{x}.{y}", { x: 1 }), undefined);
  assert.equal(renderTopic("a.{x}", { x: "b" }), "a.b");
  assert.ok(isValidTopic("logs.auth") && !isValidTopic("a b"));
  assert.throws(() => compileRouting({ rules: [{ topic: "bad topic" }] }));
});

Deno.test("routing: --route flags", () => {
  assert.deepEqual(parseRouteFlag("level=error:logs.error"), {
    when: { field: "level", equals: "error" },
    topic: "logs.error",
  });
  assert.deepEqual(parseRouteFlag("service:logs.{service}"), {
    when: { field: "service", exists: true },
    topic: "logs.{service}",
  });
  assert.deepEqual(parseRouteFlag("*:all"), { topic: "all" });
  assert.throws(() => parseRouteFlag("nocolon"), /CONDITION:TOPIC/);
});

Deno.test("routing: the router lists every field it reads", () => {
  assert.deepEqual(
    [...compileRouting(DEFAULT_ROUTING).fields].sort(),
    ["event_type", "level", "service", "src_ip", "trace_id"],
  );
  assert.deepEqual(
    [
      ...compileRouting({
        rules: [{ topic: "a.{x}.{y}", when: { field: "c", equals: 1 } }],
        defaultTopic: "d",
        keyField: "k",
      }).fields,
    ].sort(),
    ["c", "k", "x", "y"],
  );
  assert.deepEqual(
    [...compileRouting({ rules: [], defaultTopic: "t" }).fields],
    [],
  );
});
