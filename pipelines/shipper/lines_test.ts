import assert from "node:assert/strict";
import { LineCutter, OVERSIZE_SAMPLE_BYTES } from "./lines.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function run(cutter: LineCutter, chunks: string[], stopAfter = Infinity) {
  const lines: Array<[string, number]> = [];
  const over: Array<[string, number, number]> = [];
  let base = 0;
  let rest = new Uint8Array(0);
  for (const c of chunks) {
    const bytes = new Uint8Array([...rest, ...enc.encode(c)]);
    const used = cutter.cut(bytes, base, (l, end) => {
      lines.push([dec.decode(l), end]);
      return lines.length >= stopAfter;
    }, (s, size, end) => {
      over.push([dec.decode(s), size, end]);
      return false;
    });
    base += used;
    rest = bytes.slice(used);
  }
  return { lines, over, consumed: base, rest: dec.decode(rest) };
}

Deno.test("lines: complete lines with end offsets; partial tail left", () => {
  const r = run(new LineCutter(100), ["a\nbb\r\ncc", "c\n", "dd"]);
  assert.deepEqual(r.lines, [["a", 2], ["bb", 6], ["ccc", 10]]);
  assert.equal(r.consumed, 10);
  assert.equal(r.rest, "dd");
});

Deno.test("lines: an over-size line in one chunk is reported, not emitted", () => {
  const r = run(new LineCutter(5), ["ok\n0123456789\nok2\n"]);
  assert.deepEqual(r.lines, [["ok", 3], ["ok2", 18]]);
  assert.deepEqual(r.over, [["0123456789", 10, 14]]);
});

Deno.test("lines: an over-size line across chunks is skipped as it streams", () => {
  const cutter = new LineCutter(4);
  const r = run(cutter, ["x\nabcdef", "ghij", "kl\ny\n"]);
  assert.deepEqual(r.lines, [["x", 2], ["y", 17]]);
  assert.equal(r.over.length, 1);
  assert.equal(r.over[0][0], "abcdef");
  assert.equal(r.over[0][1], 12);
  assert.equal(r.over[0][2], 15);
  assert.equal(cutter.skipping, false);
});

Deno.test("lines: the sample of a huge line is capped", () => {
  const big = "z".repeat(OVERSIZE_SAMPLE_BYTES * 2);
  const r = run(new LineCutter(10), [big + "\n"]);
  assert.equal(r.over[0][0].length, OVERSIZE_SAMPLE_BYTES);
  assert.equal(r.over[0][1], big.length);
});

Deno.test("lines: a handler returning true stops right after that line", () => {
  const cutter = new LineCutter(100);
  const bytes = enc.encode("a\nb\nc\n");
  const seen: string[] = [];
  const used = cutter.cut(bytes, 0, (l) => {
    seen.push(dec.decode(l));
    return seen.length === 2;
  }, () => false);
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(used, 4);
});
