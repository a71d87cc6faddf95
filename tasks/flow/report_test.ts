import assert from "node:assert/strict";
import { type Check, compareIds, type RunManifest } from "./reconcile.ts";
import { buildReport, renderReport } from "./report.ts";

const manifest = {
  runId: "r1",
  runDir: ".data/runs/r1",
  eventsDir: ".data/runs/r1/events",
  startedAt: "2026-01-01T00:00:00Z",
  endedAt: "2026-01-01T00:01:00Z",
  settings: { rate: 2000, cdcRate: 200, chaos: true },
  before: {},
  after: {},
  kills: [{ process: "sink", atS: 12.5 }],
  freshness: { fact_log: { p50: 1.5, p99: 2.25, count: 3 } },
} satisfies RunManifest;

function checks(): Check[] {
  const expected = new Set(["a", "b", "c"]);
  return [
    ...compareIds("security → Kafka", expected, ["a", "a", "b", "c"], {
      duplicatesAllowed: true,
    }),
    ...compareIds("security → ClickHouse", expected, ["a", "a", "d"]),
    {
      name: "dead letters in dlq.sink",
      deadLetters: "dlq.sink",
      expected: 0,
      actual: 2,
      ok: false,
    },
    {
      name: "mirror users: PostgreSQL = ClickHouse FINAL",
      table: {
        name: "mirror users",
        expected: 5,
        found: 4,
        missing: 1,
        unexpected: 0,
        different: 0,
      },
      expected: 5,
      actual: 4,
      ok: false,
    },
  ];
}

Deno.test("verify's JSON report has per-table counts, dead letters, pass", () => {
  const r = JSON.parse(JSON.stringify(buildReport(manifest, checks())));
  assert.equal(r.pass, false);
  assert.equal(r.runId, "r1");
  assert.deepEqual(r.kills, [{ process: "sink", atS: 12.5 }]);
  assert.deepEqual(r.tables, [
    {
      name: "security → Kafka",
      expected: 3,
      found: 3,
      missing: 0,
      unexpected: 0,
      duplicates: 1,
      duplicatesAllowed: true,
      ok: true,
    },
    {
      name: "security → ClickHouse",
      expected: 3,
      found: 1,
      missing: 2,
      unexpected: 1,
      duplicates: 1,
      duplicatesAllowed: false,
      ok: false,
    },
    {
      name: "mirror users",
      expected: 5,
      found: 4,
      missing: 1,
      unexpected: 0,
      different: 0,
      ok: false,
    },
  ]);
  assert.deepEqual(r.deadLetters, { "dlq.sink": 2 });
  assert.deepEqual(r.freshness, manifest.freshness);
  // The table lines, without the bookkeeping fields.
  assert.equal(r.checks.length, 6);
  assert.deepEqual(r.checks[3], {
    name: "security → ClickHouse: duplicates",
    expected: 0,
    actual: 1,
    ok: false,
  });
});

Deno.test("a table passes only when all of its checks pass", () => {
  const expected = new Set(["a"]);
  const dupOnly = compareIds("t", expected, ["a", "a"]);
  const r = buildReport(manifest, dupOnly);
  assert.equal(r.tables[0].ok, false);
  assert.equal(r.tables[0].missing, 0);
  assert.equal(r.pass, false);
  const fine = buildReport(manifest, compareIds("t", expected, ["a"]));
  assert.equal(fine.tables[0].ok, true);
  assert.equal(fine.pass, true);
});

Deno.test("verify's human output: run line, table, freshness", () => {
  const text = renderReport(buildReport(manifest, checks()));
  const lines = text.split("\n");
  assert.equal(lines[0], "");
  assert.equal(
    lines[1],
    "run r1: 2026-01-01T00:00:00Z → 2026-01-01T00:01:00Z, rate 2000/s + 200 changes/s, kill -9: sink@12.5s",
  );
  assert.equal(lines[2], "");
  assert.match(lines[3], /^check\s+expected\s+actual\s+result$/);
  assert.match(
    lines[4],
    /^security → Kafka: distinct events\s+3\s+3\s+PASS$/,
  );
  assert.ok(lines.includes("FAIL: 4 of 6 checks failed"));
  assert.equal(
    lines.at(-1),
    "  fact_log         p50 1.500 s   p99 2.250 s   (3 rows)",
  );
  assert.equal(
    lines.at(-2),
    "freshness (event created / PostgreSQL commit → row acknowledged by ClickHouse):",
  );
});
