import assert from "node:assert/strict";
import { parseBody } from "./http_source.ts";

const dec = new TextDecoder();

Deno.test("http: NDJSON bodies keep each line; blank lines are ignored", () => {
  const r = parseBody('{"a":1}\r\n\n  {"b":2}\n', 100);
  assert.ok(r.ok);
  assert.deepEqual(r.records.map((x) => dec.decode(x)), [
    '{"a":1}',
    '  {"b":2}',
  ]);
});

Deno.test("http: JSON arrays become one record per element", () => {
  const r = parseBody(' [{"a":1},{"b":[2]}]', 100);
  assert.ok(r.ok);
  assert.deepEqual(r.records.map((x) => dec.decode(x)), [
    '{"a":1}',
    '{"b":[2]}',
  ]);
});

Deno.test("http: the first bad line is named; limits give 413", () => {
  assert.deepEqual(parseBody("", 100), {
    ok: false,
    status: 400,
    error: "empty body",
  });
  const bad = parseBody('{"a":1}\n{"a":\n{"c":3}', 100);
  assert.equal(bad.ok, false);
  assert.match((bad as { error: string }).error, /^line 2: invalid JSON/);
  const scalar = parseBody('{"a":1}\n"str"', 100);
  assert.match(
    (scalar as { error: string }).error,
    /^line 2: not a JSON object/,
  );
  const el = parseBody('[{"a":1}, 5]', 100);
  assert.match(
    (el as { error: string }).error,
    /^element 2: not a JSON object/,
  );
  const long = parseBody(`{"a":"${"x".repeat(200)}"}`, 100);
  assert.equal((long as { status: number }).status, 413);
  assert.match((long as { error: string }).error, /^line 1: \d+ bytes exceeds/);
  assert.equal((parseBody("[1,", 100) as { status: number }).status, 400);
});
