import assert from "node:assert/strict";
import { createLogger } from "./log.ts";

Deno.test("logger writes one JSON object per line, filtered by level", () => {
  const lines: string[] = [];
  const log = createLogger("unit", "info", (l) => lines.push(l));
  log.debug("hidden");
  log.info("hello", { n: 1, err: new Error("boom"), big: 2n });
  log.child({ partition: 3 }).warn("careful");
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]);
  assert.equal(first.level, "info");
  assert.equal(first.component, "unit");
  assert.equal(first.msg, "hello");
  assert.equal(first.err, "boom");
  assert.equal(first.big, "2");
  assert.equal(JSON.parse(lines[1]).partition, 3);
  assert.equal(log.enabled("debug"), false);
});
