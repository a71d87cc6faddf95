import assert from "node:assert/strict";
import { adoptRead, EMPTY } from "./_tracked.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("adoptRead: a small read is copied out of scratch, after what was buffered", () => {
  const scratch = new Uint8Array(16);
  scratch.set(bytes("cd\n"));
  const out = adoptRead(bytes("ab"), scratch, 3);
  assert.equal(text(out), "abcd\n");
  assert.notEqual(out.buffer, scratch.buffer);
  scratch.fill(0); // the next read overwrites scratch: out is unaffected
  assert.equal(text(out), "abcd\n");
});

Deno.test("adoptRead: a big read into an empty buffer takes scratch itself", () => {
  const scratch = new Uint8Array(16);
  scratch.set(bytes("0123456789\n"));
  const out = adoptRead(EMPTY, scratch, 11);
  assert.equal(text(out), "0123456789\n");
  assert.equal(
    out.buffer,
    scratch.buffer,
    "caller must allocate a new scratch",
  );
  assert.equal(adoptRead(EMPTY, scratch, 7).buffer === scratch.buffer, false);
});
