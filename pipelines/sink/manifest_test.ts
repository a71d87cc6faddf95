import assert from "node:assert/strict";
import { decodeManifest, encodeManifest } from "./manifest.ts";
import {
  parseRoutes,
  routeTopic,
  shardOfId,
  shardOfPartition,
} from "./routes.ts";

Deno.test("manifest round-trips and ignores foreign metadata", () => {
  const m = { to: 123_456, ts: 1_763_700_000 };
  assert.deepEqual(decodeManifest(encodeManifest(m)), m);
  for (const x of [null, "", "hello", '{"to":1}', '{"sink":2,"to":1,"ts":1}']) {
    assert.equal(decodeManifest(x), undefined);
  }
});

Deno.test("routes: user maps first, then the mode's defaults", () => {
  const r = parseRoutes(["my.*=fact_log"], "events");
  assert.equal(routeTopic(r, "my.topic"), "fact_log");
  assert.equal(routeTopic(r, "security.events"), "security_events");
  assert.equal(routeTopic(r, "logs.error"), "error_log");
  assert.equal(routeTopic(r, "logs.payment"), "fact_log");
  assert.equal(routeTopic(r, "other"), undefined);
  assert.equal(
    routeTopic(parseRoutes([], "cdc"), "customers.public.users"),
    "mirror",
  );
  // Any other name is a table typed from ClickHouse.
  assert.deepEqual(routeTopic(parseRoutes(["x=mine"], "events"), "x"), {
    kind: "table",
    database: "analytics",
    table: "mine",
  });
  assert.deepEqual(routeTopic(parseRoutes(["x=db.t"], "events", "d"), "x"), {
    kind: "table",
    database: "db",
    table: "t",
  });
  for (const bad of ["x=a.b.c", "x=bad-name", "=t", "x="]) {
    assert.throws(
      () => parseRoutes([bad], "events"),
      /glob=\[database\.\]table/,
    );
  }
});

Deno.test("shard choice is stable and spreads partitions", () => {
  const s = [0, 1, 2, 3].map((p) => shardOfPartition("security.events", p, 2));
  assert.deepEqual(
    s,
    [0, 1, 2, 3].map((p) => shardOfPartition("security.events", p, 2)),
  );
  assert.ok(s.includes(0) && s.includes(1));
  assert.equal(shardOfId(7, 2), 1);
  assert.equal(shardOfId(-7, 2), 1);
});
