import assert from "node:assert/strict";
import { parseCommand, usage } from "../runtime/cli.ts";
import { CDC_SPEC, missingPasswordError } from "./config.ts";

const URL_NO_PW = "postgres://postgres@127.0.0.1:15432/shop";

Deno.test("cdc config: no password anywhere is one clear error naming PGPASSWORD", () => {
  const err = missingPasswordError(URL_NO_PW, undefined);
  assert.ok(err);
  assert.equal(
    err.message,
    "PGPASSWORD is not set (and --postgres-url postgres://postgres@127.0.0.1:15432/shop has no password)",
  );
  assert.match(err.hint!, /PGPASSWORD=postgres/);
  assert.ok(missingPasswordError(URL_NO_PW, ""), "empty counts as unset");
});

Deno.test("cdc config: PGPASSWORD or a password in the URL is enough", () => {
  assert.equal(missingPasswordError(URL_NO_PW, "secret"), undefined);
  assert.equal(
    missingPasswordError("postgres://u:pw@127.0.0.1:15432/shop", undefined),
    undefined,
  );
  // A URL pg cannot parse either is left to the connect's own error.
  assert.equal(missingPasswordError("not a url", undefined), undefined);
});

Deno.test("cdc config: bare --schemas means true, --schemas true|false still work", () => {
  const schemas = (args: string[]) =>
    parseCommand(CDC_SPEC, args, () => undefined).options.schemas;
  assert.equal(schemas([]), "false");
  assert.equal(schemas(["--schemas"]), "true");
  assert.equal(schemas(["--schemas", "--slot", "s"]), "true");
  assert.equal(schemas(["--schemas", "true"]), "true");
  assert.equal(schemas(["--schemas", "false"]), "false");
  assert.equal(schemas(["--schemas=false"]), "false");
  assert.equal(schemas(["--slot", "s", "--schemas"]), "true");
  const { options } = parseCommand(
    CDC_SPEC,
    ["--schemas", "--tables", "public.a"],
    () => undefined,
  );
  assert.deepEqual(options.tables, ["public.a"]);
  assert.throws(
    () => schemas(["--schemas", "yes"]),
    /--schemas must be one of true, false, got "yes"/,
  );
  assert.match(usage(CDC_SPEC), /--schemas \[<string>\].*bare: true/);
});
