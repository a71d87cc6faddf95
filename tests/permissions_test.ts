/**
 * Least privilege: every pipeline task runs with explicit, scoped
 * permissions, and a process started with a pipeline's scope is denied
 * what lies outside it.
 */
import assert from "node:assert/strict";
import { ROOT, taskArgv } from "./_helpers.ts";

const PIPELINE_TASKS = ["generate", "ship", "sink", "cdc"];
const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));

function permissionFlags(argv: string[]): string[] {
  return argv.filter((a) => /^(-A|--allow-|-[A-Z]|--deny-|-P)/.test(a));
}

Deno.test("no task grants blanket permissions", () => {
  for (const [name, line] of Object.entries<string>(config.tasks)) {
    assert.doesNotMatch(
      line,
      /(^|\s)(-A|--allow-all)(\s|$)/,
      `task ${name} uses -A`,
    );
    for (const word of line.split(/\s+/)) {
      if (word.startsWith("--allow-")) {
        assert.match(
          word,
          /^--allow-[a-z-]+=\S+$/,
          `task ${name}: ${word} has no scope`,
        );
      }
    }
  }
});

Deno.test("pipeline tasks never get run, ffi, sys or write outside .data", () => {
  for (const name of PIPELINE_TASKS) {
    const flags = permissionFlags(taskArgv(name));
    assert.ok(flags.length > 0, `task ${name} has no permissions at all?`);
    for (const f of flags) {
      assert.doesNotMatch(f, /^--allow-(run|ffi|sys|import)/, `${name}: ${f}`);
      if (f.startsWith("--allow-net=")) {
        for (const host of f.slice(12).split(",")) {
          assert.match(
            host,
            /^(127\.0\.0\.1|localhost):\d+$/,
            `${name}: net ${host} is not a loopback host:port`,
          );
        }
      }
      if (f.startsWith("--allow-write=") || f.startsWith("--allow-read=")) {
        for (const p of f.split("=")[1].split(",")) {
          assert.match(
            p,
            /^\.data(\/|$)/,
            `${name}: ${f} reaches outside .data`,
          );
        }
      }
    }
  }
});

for (const name of PIPELINE_TASKS) {
  Deno.test(`a process with the "${name}" task's scope is denied the rest`, async () => {
    const flags = permissionFlags(taskArgv(name));
    const out = await new Deno.Command("deno", {
      args: [
        "run",
        ...flags,
        "--allow-read=tests/fixtures/escape_probe.ts",
        "tests/fixtures/escape_probe.ts",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const results = JSON.parse(text) as Record<string, string>;
    for (const [what, verdict] of Object.entries(results)) {
      assert.equal(verdict, "denied", `${name}: ${what} was ${verdict}`);
    }
  });
}
