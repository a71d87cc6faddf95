import assert from "node:assert/strict";
import { RotatingFileOutput } from "./file.ts";
import { requirePermissions } from "../../../tests/_gate.ts";

requirePermissions(import.meta, { name: "write", path: ".data" });

/** A scratch directory under `.data/tests` (the test task may write only under .data). */
async function tempDir(): Promise<string> {
  const root = new URL("../../../", import.meta.url).pathname;
  const dir = `${root}.data/tests/gen-file-test-${
    crypto.randomUUID().slice(0, 8)
  }`;
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

function readAll(paths: string[]): { lines: string[]; sizes: number[] } {
  const lines: string[] = [];
  const sizes: number[] = [];
  for (const p of paths) {
    const text = Deno.readTextFileSync(p);
    sizes.push(new TextEncoder().encode(text).length);
    assert.ok(text.endsWith("\n"), `${p} ends mid-line`);
    lines.push(...text.slice(0, -1).split("\n"));
  }
  return { lines, sizes };
}

Deno.test("size rotation: no line split, no file over the limit, nothing lost", async () => {
  const dir = await tempDir();
  try {
    const out = new RotatingFileOutput({
      dir,
      kind: "security",
      maxBytes: 5000,
      maxAgeMs: 0,
    });
    const want: string[] = [];
    for (let i = 0; i < 3000; i++) {
      // Varying lengths, including multi-byte UTF-8, so boundaries land anywhere.
      const line = JSON.stringify({
        i,
        pad: "x".repeat(i % 97),
        u: i % 5 ? "" : "é€",
      });
      want.push(line);
      out.writeLine(line);
    }
    await out.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(names.length, out.paths.length);
    assert.ok(out.paths.length > 10);
    for (const n of names) {
      assert.match(n, /^security-\d{8}T\d{6}-\d{6}\.ndjson$/);
    }
    const { lines, sizes } = readAll(out.paths);
    assert.deepEqual(lines, want);
    for (const s of sizes) assert.ok(s <= 5000, `file of ${s} bytes`);
    assert.equal(out.stats.events, 3000);
    assert.equal(out.stats.bytes, sizes.reduce((a, b) => a + b, 0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("age rotation closes old files at line boundaries", async () => {
  const dir = await tempDir();
  let now = 1_000_000;
  try {
    const out = new RotatingFileOutput({
      dir,
      kind: "http",
      maxBytes: 1 << 20,
      maxAgeMs: 1000,
      now: () => now,
    });
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 100; j++) out.writeLine(`{"i":${i},"j":${j}}`);
      now += 600;
      await out.tick();
    }
    await out.close();
    assert.ok(out.paths.length >= 4, `${out.paths.length} files`);
    assert.equal(readAll(out.paths).lines.length, 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a line larger than the file limit is an error", async () => {
  const dir = await tempDir();
  try {
    const out = new RotatingFileOutput({
      dir,
      kind: "security",
      maxBytes: 1024,
      maxAgeMs: 0,
    });
    assert.throws(() => out.writeLine("y".repeat(2000)), RangeError);
    await out.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
