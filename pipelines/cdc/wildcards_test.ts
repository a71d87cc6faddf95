import assert from "node:assert/strict";
import { isWildcard, publicationDdl } from "./wildcards.ts";

Deno.test("a wildcard publication covers the schemas, plus named tables outside them", () => {
  assert.ok(isWildcard("s.*"));
  assert.ok(!isWildcard("s.t"));
  assert.equal(
    publicationDdl("p", ["shop.*", "public.users"], ["shop.signals"]),
    'CREATE PUBLICATION "p" FOR TABLES IN SCHEMA "shop", TABLE "public"."users"',
  );
  assert.equal(
    publicationDdl("p", ["a.*", "b.*"], ["public.sig"]),
    'CREATE PUBLICATION "p" FOR TABLES IN SCHEMA "a", "b", TABLE "public"."sig"',
  );
});
