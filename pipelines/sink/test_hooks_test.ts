import assert from "node:assert/strict";
import {
  FAILPOINT_EXIT_CODE,
  failpointHooks,
  parseFailpoint,
  readTestHooks,
} from "./test_hooks.ts";

Deno.test("test hooks: crash-after-inserts:N parses, anything else is refused", () => {
  assert.deepEqual(parseFailpoint("crash-after-inserts:2"), {
    crashAfterInserts: 2,
  });
  for (const bad of ["", "crash-after-inserts:0", "crash:2", "2"]) {
    assert.throws(() => parseFailpoint(bad), /SINK_TEST_FAILPOINT/);
  }
});

Deno.test("test hooks: the failpoint exits with 86 at the N-th flush, not before", () => {
  const exits: number[] = [];
  const h = failpointHooks({ crashAfterInserts: 3 }, (c) => exits.push(c));
  h.afterInserts();
  h.afterInserts();
  assert.deepEqual(exits, []);
  h.afterInserts();
  assert.deepEqual(exits, [FAILPOINT_EXIT_CODE]);
});

Deno.test("test hooks: none without the variable (or the permission to read it)", () => {
  assert.equal(readTestHooks(() => {}), undefined);
});
