import assert from "node:assert/strict";
import { FieldSet, scanObject } from "./json_scan.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const WANTED = new FieldSet(["k", "src_ip", "n", "o", "__proto__", "é"]);

/** What the slow path sees: `JSON.parse` of the decoded line. */
function reference(bytes: Uint8Array): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return undefined;
  }
  const out: Record<string, unknown> = Object.create(null);
  for (const name of WANTED.names) {
    if (Object.hasOwn(v, name)) {
      out[name] = (v as Record<string, unknown>)[name];
    }
  }
  return out;
}

function check(bytes: Uint8Array) {
  const got = scanObject(bytes, WANTED);
  const want = reference(bytes);
  const show = JSON.stringify(dec.decode(bytes)).slice(0, 200);
  assert.equal(got === undefined, want === undefined, `verdict for ${show}`);
  if (got && want) assert.deepEqual({ ...got }, { ...want }, `fields ${show}`);
}

Deno.test("json scan: valid objects give JSON.parse's fields", () => {
  const lines = [
    '{"k":"a1","v":1}',
    '  {"src_ip":"10.0.0.1" , "n": -12.5e+3, "k": null}  ',
    '\uFEFF{"k":"bom"}',
    '{"k":"x","k":"last wins"}',
    '{"o":{"a":[1,2,{"b":"c"}],"d":{}},"n":[]}',
    '{"k":"esc \\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"}',
    '{"\\u006b":"escaped key"}',
    '{"é":"ünï","k":"日本"}',
    '{"__proto__":{"x":1},"k":true}',
    '{"k":false,"n":0,"z":1E5,"y":-0,"w":0.5}',
    "{}",
    '{ "a" : [ ] , "b" : { } }',
    '{"n":123456789012345678901234567890}',
  ];
  for (const l of lines) check(enc.encode(l));
  const got = scanObject(enc.encode('{"src_ip":"1.2.3.4","x":1}'), WANTED)!;
  assert.equal(got.src_ip, "1.2.3.4");
  assert.equal(Object.getPrototypeOf(got), null);
});

Deno.test("json scan: anything but one valid object is refused", () => {
  const lines = [
    "",
    " ",
    "[]",
    '"s"',
    "1",
    "null",
    "{",
    "}",
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a" 1}',
    "{'a':1}",
    '{"a":01}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":1e}',
    '{"a":-}',
    '{"a":+1}',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":"\\x"}',
    '{"a":"\\u12"}',
    '{"a":"tab\there"}',
    '{"a":[1,]}',
    '{"a":[1 2]}',
    '{"a":{"b"}}',
    '{"a":1}{"b":2}',
    '{"a":1} x',
    '{"a":NaN}',
    '{"a":Infinity}',
    '\uFEFF\uFEFF{"a":1}',
    '{"a":1}\u00a0',
  ];
  for (const l of lines) check(enc.encode(l));
  check(
    new Uint8Array([
      0x7b,
      0x22,
      0x6b,
      0x22,
      0x3a,
      0x22,
      0xff,
      0xc0,
      0x22,
      0x7d,
    ]),
  ); // bad UTF-8 in a string: valid for both
  check(new Uint8Array([0x7b, 0xff, 0x7d])); // outside a string: invalid for both
});

Deno.test("json scan: fuzzed lines agree with JSON.parse", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const value = (depth: number): unknown => {
    switch (rnd(depth > 2 ? 5 : 7)) {
      case 0:
        return rnd(2) === 0 ? "s" + rnd(100) : 'é\u0001"\\/\u2028x';
      case 1:
        return rnd(3) === 0 ? -rnd(1e6) / 7 : rnd(1e9);
      case 2:
        return rnd(2) === 0;
      case 3:
        return null;
      case 4:
        return "10.0." + rnd(256);
      case 5:
        return Array.from({ length: rnd(4) }, () => value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = rnd(5); i > 0; i--) {
          o[["k", "src_ip", "n", "o", "x", "é"][rnd(6)]] = value(depth + 1);
        }
        return o;
      }
    }
  };
  const alphabet = enc.encode('{}[]:,"\\ \t\n0123456789.-+eEtrufalsnx\u00e9');
  for (let iter = 0; iter < 20000; iter++) {
    const obj: Record<string, unknown> = {};
    for (let i = rnd(6); i > 0; i--) {
      obj[["k", "src_ip", "n", "o", "a", "b"][rnd(6)]] = value(0);
    }
    let bytes = enc.encode(JSON.stringify(obj, null, rnd(3) === 0 ? 1 : 0));
    // Mutate: replace, insert or delete a few bytes.
    for (let m = rnd(4); m > 0 && bytes.length > 0; m--) {
      const at = rnd(bytes.length);
      const op = rnd(4);
      const b = op === 3 ? rnd(256) : alphabet[rnd(alphabet.length)];
      const next = new Uint8Array(bytes.length + 1);
      if (op === 0) {
        bytes = bytes.slice();
        bytes[at] = b;
      } else if (op === 1 || op === 3) {
        next.set(bytes.subarray(0, at));
        next[at] = b;
        next.set(bytes.subarray(at), at + 1);
        bytes = next;
      } else {
        bytes = new Uint8Array([
          ...bytes.subarray(0, at),
          ...bytes.subarray(at + 1),
        ]);
      }
    }
    check(bytes);
  }
});

Deno.test("json scan: deep nesting does not overflow", () => {
  const deep = '{"o":' + "[".repeat(100_000) + "]".repeat(100_000) + "}";
  const bytes = enc.encode(deep);
  assert.ok(scanObject(bytes, new FieldSet(["k"])));
  assert.equal(
    scanObject(enc.encode(deep.slice(0, -2) + "}"), new FieldSet(["k"])),
    undefined,
  );
});
