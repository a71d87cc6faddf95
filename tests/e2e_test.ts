/**
 * End to end (issue 8): the whole flow at 2,000 events/s + 200 changes/s for
 * 60 s, then the books must balance exactly: generated = Kafka = ClickHouse,
 * PostgreSQL = mirror. Then the same with one kill -9 of every process.
 */
import assert from "node:assert/strict";
import { ROOT } from "./_helpers.ts";

async function runStart(
  args: string[],
): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("deno", {
    args: ["task", "-q", "start", "--no-up", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

function assertBalanced(label: string, r: { code: number; out: string }) {
  const table = r.out.slice(r.out.indexOf("check "));
  assert.equal(
    r.code,
    0,
    `${label}: start/verify failed\n${r.out.slice(-6000)}`,
  );
  assert.match(table, /PASS: all \d+ checks/, `${label}:\n${table}`);
  assert.doesNotMatch(table, /FAIL/, `${label}:\n${table}`);
  // The run moved real data through every stage.
  const m = /security → ClickHouse: distinct events\s+(\d+)/.exec(table);
  assert.ok(
    m && Number(m[1]) > 30_000,
    `${label}: too few security events: ${m?.[1]}`,
  );
  assert.match(table, /mirror users: PostgreSQL = ClickHouse FINAL/);
  console.log(table);
}

Deno.test({
  name:
    "e2e: 60 s at 2,000 events/s + 200 changes/s, then verify: zero loss, zero duplicates, mirror = PostgreSQL",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const r = await runStart([
      "--duration",
      "60",
      "--rate",
      "2000",
      "--cdc-rate",
      "200",
    ]);
    assertBalanced("plain run", r);
    // verify can be re-run on its own and agrees.
    const v = await new Deno.Command("deno", {
      args: ["task", "-q", "verify"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      v.code,
      0,
      new TextDecoder().decode(v.stdout) + new TextDecoder().decode(v.stderr),
    );
  },
});

Deno.test({
  name:
    "e2e: the same run with one kill -9 of every pipeline process still verifies exactly",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const r = await runStart([
      "--duration",
      "60",
      "--rate",
      "2000",
      "--cdc-rate",
      "200",
      "--chaos",
    ]);
    const kills = (r.out.match(/!! kill -9 /g) ?? []).length;
    assert.equal(
      kills,
      7,
      `expected one kill per process, saw ${kills}\n${r.out.slice(-3000)}`,
    );
    assertBalanced("chaos run", r);
  },
});
