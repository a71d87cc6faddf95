import assert from "node:assert/strict";
import { expandGlob, planGlob } from "./glob.ts";
import { needsPermissions } from "../../tests/_gate.ts";

/** A fresh directory under .data/tests (inside the test run's write scope). */
async function tempDir(): Promise<string> {
  await Deno.mkdir(".data/tests", { recursive: true });
  return await Deno.makeTempDir({ dir: ".data/tests", prefix: "shipper-" });
}

Deno.test("glob: plans split the literal base from the pattern", () => {
  const p = planGlob(".data/events/*.ndjson");
  assert.equal(p.base, ".data/events");
  assert.ok(p.regex.test("security-1.ndjson"));
  assert.ok(!p.regex.test("sub/security-1.ndjson"));
  assert.ok(!p.regex.test("a.ndjson.1"));
  const deep = planGlob("/var/lib/docker/containers/**/*-json.log");
  assert.equal(deep.base, "/var/lib/docker/containers");
  assert.ok(deep.regex.test("abc/abc-json.log"));
  assert.ok(deep.regex.test("x-json.log"));
  const lit = planGlob("/etc/hostname");
  assert.ok(lit.literal);
  assert.equal(lit.base, "/etc/hostname");
  assert.ok(planGlob("a/file-[0-9].log").regex.test("file-3.log"));
  assert.ok(planGlob("a/?.log").regex.test("x.log"));
});

Deno.test(
  "glob: expands against the file system",
  needsPermissions({ name: "write", path: ".data" }, {
    name: "read",
    path: ".data",
  }),
  async () => {
    const dir = await tempDir();
    try {
      await Deno.mkdir(`${dir}/sub/deeper`, { recursive: true });
      for (
        const f of ["a.log", "b.log", "c.txt", "sub/d.log", "sub/deeper/e.log"]
      ) {
        await Deno.writeTextFile(`${dir}/${f}`, "x\n");
      }
      assert.deepEqual(await expandGlob(planGlob(`${dir}/*.log`)), [
        `${dir}/a.log`,
        `${dir}/b.log`,
      ]);
      assert.deepEqual(
        (await expandGlob(planGlob(`${dir}/**/*.log`))).map((p) =>
          p.slice(dir.length + 1)
        ).sort(),
        ["a.log", "b.log", "sub/d.log", "sub/deeper/e.log"],
      );
      assert.deepEqual(await expandGlob(planGlob(`${dir}/missing/*.log`)), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
