import assert from "node:assert/strict";
import { requirePermissions } from "../../tests/_gate.ts";
import { createLogger } from "../runtime/mod.ts";
import { planGlob } from "./glob.ts";
import { FileWake, idleMs, watchRoot } from "./_wake.ts";

requirePermissions(
  import.meta,
  { name: "read", path: ".data" },
  { name: "write", path: ".data" },
);

const log = createLogger("test", "error", () => {});

async function tempDir(): Promise<string> {
  await Deno.mkdir(".data/tests", { recursive: true });
  return await Deno.makeTempDir({ dir: ".data/tests", prefix: "wake-" });
}

/** How long `wait(ms)` took, in ms. */
async function timed(w: FileWake, ms: number, act?: () => Promise<void>) {
  const t0 = performance.now();
  const waiting = w.wait(ms, new AbortController().signal);
  await act?.();
  await waiting;
  return performance.now() - t0;
}

Deno.test("watchRoot: a glob's base, a literal's directory, recursive with **", () => {
  assert.deepEqual(watchRoot(planGlob("d/*.log")), {
    path: "d",
    recursive: false,
  });
  assert.deepEqual(watchRoot(planGlob("d/**/*.log")), {
    path: "d",
    recursive: true,
  });
  assert.deepEqual(watchRoot(planGlob("d/app.log")), {
    path: "d",
    recursive: false,
  });
});

Deno.test("idleMs: the poll, or what is left of an open batch's linger", () => {
  const o = { pollMs: 250, once: false, limits: { lingerMs: 50 } };
  assert.equal(idleMs(o, { empty: true, firstAt: 0 }, 1000), 250);
  assert.equal(idleMs(o, { empty: false, firstAt: 980 }, 1000), 30);
  assert.equal(idleMs(o, { empty: false, firstAt: 900 }, 1000), 1);
  assert.equal(idleMs({ ...o, once: true }, { empty: true, firstAt: 0 }), 10);
});

Deno.test("FileWake: an append wakes a 10 s wait; with nothing changing it times out", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/a.log`, "1\n");
  const w = new FileWake([planGlob(`${dir}/*.log`)], log);
  try {
    await w.ensure();
    assert.deepEqual(w.watching, [dir]);
    const woke = await timed(w, 10_000, async () => {
      await new Promise((r) => setTimeout(r, 20));
      await Deno.writeTextFile(`${dir}/a.log`, "2\n", { append: true });
    });
    assert.ok(woke < 5_000, `woke after ${woke} ms`);
    assert.equal(w.takeChanged(), true, "an append asks for a re-scan");
    assert.equal(w.takeChanged(), false, "once");
    const quiet = await timed(w, 200);
    assert.ok(quiet >= 190, `quiet wait ended after ${quiet} ms`);
  } finally {
    w.close();
  }
});

Deno.test("FileWake: a change before the wait makes it return at once; a new file asks for a re-scan", async () => {
  const dir = await tempDir();
  const w = new FileWake([planGlob(`${dir}/*.log`)], log);
  try {
    await w.ensure();
    await Deno.writeTextFile(`${dir}/new.log`, "1\n");
    // Let the event arrive before waiting.
    const deadline = Date.now() + 5_000;
    while (!w.takeChanged()) {
      assert.ok(Date.now() < deadline, "no create event within 5 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    const t = await timed(w, 10_000);
    assert.ok(t < 100, `pending change: wait took ${t} ms`);
  } finally {
    w.close();
  }
});

Deno.test("FileWake: a missing directory is watched once it exists; disabled never watches", async () => {
  const dir = `${await tempDir()}/later`;
  const w = new FileWake([planGlob(`${dir}/*.log`)], log);
  const off = new FileWake([planGlob(`${dir}/*.log`)], log, false);
  try {
    await w.ensure();
    assert.deepEqual(w.watching, []);
    await Deno.mkdir(dir);
    await w.ensure();
    await off.ensure();
    assert.deepEqual(w.watching, [dir]);
    assert.deepEqual(off.watching, []);
    const t = await timed(off, 200, async () => {
      await Deno.writeTextFile(`${dir}/a.log`, "1\n");
    });
    assert.ok(t >= 190, `disabled: woke after ${t} ms`);
  } finally {
    w.close();
    off.close();
  }
});
