import assert from "node:assert/strict";
import { parsePromText, sumOf } from "./prom_text.ts";

Deno.test("parses samples with labels, escapes and special values", () => {
  const text = [
    "# HELP x_total things",
    "# TYPE x_total counter",
    'x_total{topic="a",pipeline="sink"} 3',
    'x_total{topic="b\\"q",pipeline="sink"} 4.5',
    "up 1",
    'h_bucket{le="+Inf"} 7',
    "weird +Inf",
  ].join("\n");
  const s = parsePromText(text);
  assert.equal(s.length, 5);
  assert.equal(sumOf(s, "x_total"), 7.5);
  assert.equal(sumOf(s, "x_total", { topic: 'b"q' }), 4.5);
  assert.equal(sumOf(s, "up"), 1);
  assert.equal(sumOf(s, "weird"), Infinity);
  assert.equal(sumOf(s, "missing"), 0);
});
