/**
 * End to end (issue 8): the whole flow at 2,000 events/s + 200 changes/s for
 * 60 s, then the books must balance exactly: generated = Kafka = ClickHouse,
 * PostgreSQL = mirror. Then the same with one kill -9 of every process.
 */
import assert from "node:assert/strict";
import { ROOT } from "./_helpers.ts";
import type { VerifyReport } from "../tasks/flow/report.ts";

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

/** `deno task verify --json` of the latest run, parsed. */
async function verifyJson(): Promise<{ code: number; report: VerifyReport }> {
  const v = await new Deno.Command("deno", {
    args: ["task", "-q", "verify", "--json"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(v.stdout);
  let report: VerifyReport;
  try {
    report = JSON.parse(stdout);
  } catch {
    throw new Error(
      `verify --json printed no JSON document:\n${stdout}\n${
        new TextDecoder().decode(v.stderr)
      }`,
    );
  }
  return { code: v.code, report };
}

/** The run balanced: start and verify passed, every table exactly. */
async function assertBalanced(
  label: string,
  r: { code: number; out: string },
): Promise<VerifyReport> {
  assert.equal(
    r.code,
    0,
    `${label}: start/verify failed\n${r.out.slice(-6000)}`,
  );
  const { code, report } = await verifyJson();
  const dump = JSON.stringify(report, null, 2);
  assert.equal(code, 0, `${label}: verify --json failed\n${dump}`);
  assert.equal(report.pass, true, `${label}:\n${dump}`);
  assert.ok(report.checks.every((c) => c.ok), `${label}:\n${dump}`);
  const tables = new Map(report.tables.map((t) => [t.name, t]));
  assert.deepEqual([...tables.keys()], [
    "security → Kafka",
    "security → ClickHouse",
    "http → Kafka",
    "http → ClickHouse fact_log",
    "http errors → ClickHouse error_log",
    "mirror users",
    "mirror orders",
  ]);
  for (const t of report.tables) {
    assert.equal(t.missing, 0, `${label}: ${t.name} missing`);
    assert.equal(t.unexpected, 0, `${label}: ${t.name} unexpected`);
    assert.equal(t.found, t.expected, `${label}: ${t.name}`);
    if (!t.duplicatesAllowed) {
      assert.equal(t.duplicates ?? 0, 0, `${label}: ${t.name} duplicates`);
    }
    assert.equal(t.different ?? 0, 0, `${label}: ${t.name} different rows`);
  }
  assert.deepEqual(report.deadLetters, { "dlq.shipper": 0, "dlq.sink": 0 });
  // The run moved real data through every stage.
  const sec = tables.get("security → ClickHouse")!;
  assert.ok(sec.found > 30_000, `${label}: too few security events: ${dump}`);
  assert.ok(tables.get("mirror users")!.expected > 0, `${label}: no users`);
  console.log(dump);
  return report;
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
    // verify --json re-runs the checks on its own and agrees.
    await assertBalanced("plain run", r);
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
    const report = await assertBalanced("chaos run", r);
    assert.equal(report.settings.chaos, true);
    const killed = report.kills.map((k) => k.process);
    assert.equal(
      new Set(killed).size,
      7,
      `expected one kill per process, saw ${killed}\n${r.out.slice(-3000)}`,
    );
    assert.equal(killed.length, 7);
  },
});
