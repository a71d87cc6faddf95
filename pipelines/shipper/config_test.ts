import assert from "node:assert/strict";
import { parseCommand, UsageError } from "../runtime/cli.ts";
import { buildConfig, isLoopback, SPEC, TOKEN_ENV } from "./config.ts";

const TOKEN = "0123456789abcdef-token";

function cfg(args: string[], env: Record<string, string> = {}) {
  const options = parseCommand(SPEC, args, () => undefined).options;
  return buildConfig(options, (name) => env[name]);
}

Deno.test("ship config: loopback addresses", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.ok(isLoopback(h), h);
  }
  for (const h of ["0.0.0.0", "::", "10.0.0.5", "example.com", "127.0.0.1.x"]) {
    assert.equal(isLoopback(h), false, h);
  }
});

Deno.test("ship config: HTTP ingest off loopback needs SHIPPER_HTTP_TOKEN", async () => {
  await assert.rejects(
    cfg(["--http-host", "0.0.0.0"]),
    (err: Error) =>
      err instanceof UsageError &&
      err.message.startsWith(
        `--http-host 0.0.0.0 is not loopback: set ${TOKEN_ENV}`,
      ) && !err.message.includes("\n"),
  );
  const open = await cfg(["--http-host", "0.0.0.0"], { [TOKEN_ENV]: TOKEN });
  assert.equal(open.httpToken, TOKEN);
  // Loopback without a token is the dev default; HTTP off needs none.
  assert.equal((await cfg([])).httpToken, undefined);
  const off = await cfg(["--http-host", "0.0.0.0", "--http-port", "0"]);
  assert.equal(off.httpPort, 0);
});

Deno.test("ship config: a short token is refused; limits have defaults", async () => {
  await assert.rejects(
    cfg([], { [TOKEN_ENV]: "short" }),
    /SHIPPER_HTTP_TOKEN must be at least 16 characters/,
  );
  const c = await cfg(["--http-header-timeout", "2s"]);
  assert.equal(c.httpHeaderTimeoutMs, 2000);
  assert.equal(c.httpBodyTimeoutMs, 30_000);
  assert.equal(c.httpMaxConcurrent, 64);
  assert.equal(c.httpMaxConnections, 256);
});
