/**
 * Debezium 3.6.1 side by side (issue 12, acceptance 3): `deno task bench
 * parity` (`tasks/bench/cdc_parity.ts`) runs Debezium's PostgreSQL connector
 * on Kafka Connect standalone and the relay over the same snapshot and
 * scripted changes of a table of many types, and compares every record field
 * by field. Passes only with zero differences beyond the deliberate ones,
 * which both READMEs must list. The first run on a machine fetches the jars
 * with `mvn` (~30 s) into `.cache/debezium/<version>/lib`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, runTask } from "./_helpers.ts";
import { DELIBERATE } from "../tasks/bench/_parity_diff.ts";

async function parity(args: string[]): Promise<string> {
  const r = await runTask("bench:parity", args, {
    env: { PGPASSWORD: "postgres" },
  });
  // Anywhere in stdout: Maven's and Connect's output share it and may leave
  // a line unterminated before the summary.
  const summary = /parity: \d+ records compared, \d+ differences[^\n]*/.exec(
    r.stdout,
  )?.[0] ?? r.stdout.split("\n").filter((l) => l.includes("parity:")).at(-1) ??
    "";
  assert.equal(
    r.code,
    0,
    `parity run failed (${summary}):\n${r.stdout.slice(-4000)}\n${
      r.stderr.slice(-2000)
    }`,
  );
  assert.match(
    summary,
    /parity: \d+ records compared, 0 differences/,
    `no summary with 0 differences:\n${r.stdout.slice(-4000)}\n${
      r.stderr.slice(-2000)
    }`,
  );
  const compared = Number(/(\d+) records compared/.exec(summary)![1]);
  // Snapshot (4) + the script's changes, tombstones and truncates.
  assert.ok(compared >= 25, summary);
  return summary;
}

Deno.test("parity: Debezium 3.6.1 and the relay agree field by field (decimal.handling.mode=string)", async () => {
  await parity([]);
});

Deno.test("parity: decimal.handling.mode=precise agrees with Debezium too", async () => {
  await parity(["--decimal-handling-mode", "precise"]);
});

Deno.test("parity: decimal.handling.mode=double agrees with Debezium too", async () => {
  await parity(["--decimal-handling-mode", "double"]);
});

Deno.test("parity: with schemas on both sides (JsonConverter schemas.enable), the schemas agree too", async () => {
  await parity(["--schemas"]);
});

Deno.test("parity: both READMEs list every deliberate difference", async () => {
  for (const file of ["README.md", "pipelines/cdc/README.md"]) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    for (const d of DELIBERATE) {
      // A table row whose first cell is the path (cells padded by deno fmt).
      const cell = d.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      assert.match(
        text,
        new RegExp(`^ *\\| ${cell} +\\|`, "m"),
        `${file} does not list the deliberate difference "${d.path}"`,
      );
    }
  }
});
