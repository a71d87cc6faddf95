import assert from "node:assert/strict";
import { pgClientConfig, redactUrl } from "./postgres.ts";

const URL_ = "postgres://app@127.0.0.1:15432/shop";

Deno.test("pgClientConfig: an ordinary client sets only name, URL and connect timeout", () => {
  assert.deepEqual(pgClientConfig({ url: URL_, applicationName: "a" }), {
    connectionString: URL_,
    application_name: "a",
    connectionTimeoutMillis: 5_000,
  });
});

Deno.test("pgClientConfig: replication, session options, statement timeout and password", () => {
  const c = pgClientConfig({
    url: URL_,
    applicationName: "deno-cdc-slot",
    password: "p@ss",
    replication: "database",
    options: "-c DateStyle=ISO",
    statementTimeoutMs: 30_000,
  });
  assert.equal(c.replication, "database");
  assert.equal(c.options, "-c DateStyle=ISO");
  assert.equal(c.statement_timeout, 30_000);
  assert.equal(
    c.connectionString,
    "postgres://app:p%40ss@127.0.0.1:15432/shop",
  );
  assert.equal(
    redactUrl(c.connectionString!),
    "postgres://app:***@127.0.0.1:15432/shop",
  );
});
