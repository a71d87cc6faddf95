import assert from "node:assert/strict";
import { encodeChange } from "./cdc.ts";

const meta = { topic: "customers.public.users", partition: 0, offset: 9 };
const env = (op: string, before: unknown, after: unknown, lsn: unknown = 123) =>
  JSON.stringify({
    before,
    after,
    source: { connector: "postgresql", schema: "public", table: "users", lsn },
    op,
    ts_ms: 1,
    transaction: null,
  });

Deno.test("insert/update → row versioned by LSN; delete → _deleted row", () => {
  const after = {
    id: 5,
    name: "a",
    email: null,
    created_at: 1_700_000_000_123_456,
  };
  const c = encodeChange(env("c", null, after), meta, "mirror");
  assert.equal(c.kind, "row");
  if (c.kind !== "row") return;
  assert.equal(c.table, "pg_users");
  const row = JSON.parse(c.line + ',"_ingested_at":1}');
  assert.equal(row.id, 5);
  assert.equal(row.email, null);
  assert.equal(row.created_at, 1_700_000_000);
  assert.equal(row.created_at_us, 1_700_000_000_123_456);
  assert.equal(row._version, 123);
  assert.equal(row._deleted, 0);
  const d = encodeChange(env("d", { id: 5 }, null, 200), meta, "mirror");
  assert.ok(d.kind === "row" && JSON.parse(d.line + "}")._deleted === 1);
});

Deno.test("tombstones skip, truncates carry the LSN, junk is invalid", () => {
  assert.equal(encodeChange(null, meta, "mirror").kind, "skip");
  const t = encodeChange(env("t", null, null, 300), meta, "mirror");
  assert.deepEqual(t, { kind: "truncate", table: "pg_users", version: 300 });
  assert.equal(encodeChange("{", meta, "mirror").kind, "invalid");
  assert.equal(
    encodeChange(env("x", null, null), meta, "mirror").kind,
    "invalid",
  );
  assert.equal(
    encodeChange(env("c", null, { id: 1 }, "zz"), meta, "mirror").kind,
    "invalid",
  );
  const toast = encodeChange(
    env("u", null, { id: 1, name: "__debezium_unavailable_value" }),
    meta,
    "mirror",
  );
  assert.equal(toast.kind, "invalid");
});

Deno.test("prototype keys as source.table are unknown tables: dead letters with a reason", () => {
  for (
    const table of ["constructor", "__proto__", "toString", "hasOwnProperty"]
  ) {
    for (const op of ["c", "t"]) {
      const value = JSON.stringify({
        before: null,
        after: { id: 1 },
        source: { schema: "public", table, lsn: 5 },
        op,
      });
      const r = encodeChange(value, meta, "mirror");
      assert.deepEqual(
        r,
        { kind: "invalid", reason: `no mirror table for public.${table}` },
        `${table} op ${op}`,
      );
    }
  }
});

Deno.test("freshness: a change carries its commit time, a snapshot read none", () => {
  const withTs = (op: string, snapshot: string) =>
    JSON.stringify({
      before: null,
      after: { id: 7, name: "n", email: null, created_at: null },
      source: {
        connector: "postgresql",
        schema: "public",
        table: "users",
        lsn: 9,
        ts_ms: 1_700_000_000_000,
        snapshot,
      },
      op,
      ts_ms: 1_700_000_005_000,
    });
  const c = encodeChange(withTs("c", "false"), meta, "mirror");
  assert.ok(c.kind === "row");
  assert.equal(c.eventMs, 1_700_000_000_000);
  const u = encodeChange(withTs("u", "false"), meta, "mirror");
  assert.ok(u.kind === "row");
  assert.equal(u.eventMs, 1_700_000_000_000);
  // source.ts_ms of a snapshot row is when it was read, not a commit.
  for (const mark of ["first", "true", "last", "incremental"]) {
    const r = encodeChange(withTs("r", mark), meta, "mirror");
    assert.ok(r.kind === "row", mark);
    assert.equal(r.eventMs, undefined, mark);
  }
});
