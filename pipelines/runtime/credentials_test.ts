import assert from "node:assert/strict";
import {
  clickhouseAuthHeaders,
  clickhouseCredentials,
  CLUSTER_SECRETS_PATH,
  parseEnvFile,
} from "./credentials.ts";

const FILE = {
  CLICKHOUSE_USER: "default",
  CLICKHOUSE_PASSWORD: "fromfile",
  CLICKHOUSE_READONLY_USER: "dashboards",
  CLICKHOUSE_READONLY_PASSWORD: "rofile",
};
const envOf = (e: Record<string, string>) => (n: string) => e[n];

Deno.test("parseEnvFile: KEY=value lines, comments and blanks skipped, '=' kept in values", () => {
  const got = parseEnvFile("# c\n\nA=1\n B = x=y \nnot a pair\n=nokey\n");
  assert.deepEqual({ ...got }, { A: "1", B: "x=y" });
  // No prototype keys leak in.
  assert.equal(parseEnvFile("")["constructor"], undefined);
});

Deno.test("clickhouseCredentials: env wins, then the secrets file, then default without password", () => {
  assert.deepEqual(
    clickhouseCredentials(
      "admin",
      envOf({ CLICKHOUSE_PASSWORD: "fromenv", CLICKHOUSE_USER: "u" }),
      () => FILE,
    ),
    { username: "u", password: "fromenv", source: "env" },
  );
  // An empty env password is a choice (no password), not a fallback.
  assert.deepEqual(
    clickhouseCredentials(
      "admin",
      envOf({ CLICKHOUSE_PASSWORD: "" }),
      () => FILE,
    ),
    { username: "default", password: "", source: "env" },
  );
  assert.deepEqual(
    clickhouseCredentials("admin", envOf({}), () => FILE),
    { username: "default", password: "fromfile", source: "file" },
  );
  assert.deepEqual(
    clickhouseCredentials("readonly", envOf({}), () => FILE),
    { username: "dashboards", password: "rofile", source: "file" },
  );
  // Nothing anywhere (a cluster from before passwords): default, no password.
  assert.deepEqual(
    clickhouseCredentials("readonly", envOf({}), () => undefined),
    { username: "default", password: "", source: "none" },
  );
});

Deno.test({
  name:
    "clickhouseCredentials: without read permission the file is not read, and nothing throws or prompts",
  // Only meaningful where reading the secrets file is not granted (plain
  // `deno test`); `deno test -P` may read it.
  ignore: Deno.permissions.querySync({
    name: "read",
    path: CLUSTER_SECRETS_PATH,
  }).state === "granted",
  fn: () => {
    const c = clickhouseCredentials("admin", () => undefined);
    assert.equal(c.source, "none");
  },
});

Deno.test("clickhouseAuthHeaders: HTTP Basic, UTF-8, password not in any URL", () => {
  const h = clickhouseAuthHeaders({ username: "default", password: "pä:ss" });
  const decoded = new TextDecoder().decode(
    Uint8Array.from(
      atob(h.Authorization.replace(/^Basic /, "")),
      (c) => c.charCodeAt(0),
    ),
  );
  assert.equal(decoded, "default:pä:ss");
});
