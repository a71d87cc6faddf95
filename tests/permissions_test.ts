/**
 * Least privilege: every pipeline task runs with explicit, scoped
 * permissions, and a process started with a pipeline's scope is denied
 * what lies outside it.
 */
import assert from "node:assert/strict";
import { CLUSTER_READY, ROOT, taskArgv } from "./_helpers.ts";

const PIPELINE_TASKS = ["generate", "ship", "sink", "cdc"];
const config = CLUSTER_READY
  ? JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`))
  : { tasks: {} };

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
          // The exceptions: the sink may read the dev cluster's
          // ClickHouse password file (env CLICKHOUSE_PASSWORD wins) and its
          // own sources, which its decode workers load (--workers).
          if (
            name === "sink" && f.startsWith("--allow-read=") &&
            [".cluster/secrets.env", "pipelines/sink", "pipelines/runtime"]
              .includes(p)
          ) continue;
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

/**
 * Runs tests/fixtures/escape_probe.ts under `name`'s flags from deno.json
 * (plus reading the probe itself); its verdict per attempt.
 */
async function escapeProbe(name: string): Promise<Record<string, string>> {
  const out = await new Deno.Command("deno", {
    args: [
      "run",
      ...permissionFlags(taskArgv(name)),
      "--allow-read=tests/fixtures/escape_probe.ts",
      "tests/fixtures/escape_probe.ts",
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout).trim());
}

for (const name of PIPELINE_TASKS) {
  Deno.test(`a process with the "${name}" task's scope is denied the rest`, async () => {
    const results = await escapeProbe(name);
    for (const [what, verdict] of Object.entries(results)) {
      assert.equal(verdict, "denied", `${name}: ${what} was ${verdict}`);
    }
  });
}

for (const name of PIPELINE_TASKS) {
  Deno.test(`the "${name}" task cannot start a subprocess, even deno (issue 13, item 15)`, async () => {
    const results = await escapeProbe(name);
    // "denied" is Deno.errors.NotCapable raised by Deno.Command.
    for (const what of ["run deno", "run /usr/bin/deno", "run sh"]) {
      assert.equal(results[what], "denied", `${name}: ${what}`);
    }
  });
}

Deno.test("tasks that start deno do it through the checked launcher, and bench:sink runs no shell", () => {
  for (const [name, line] of Object.entries<string>(config.tasks)) {
    const run = line.split(/\s+/).find((w) => w.startsWith("--allow-run="));
    const cmds = run ? run.slice(12).split(",") : [];
    assert.ok(
      !cmds.includes("sh") && !cmds.includes("bash"),
      `${name}: ${run}`,
    );
  }
  for (const file of ["tasks/start.ts", "tasks/bench/main.ts"]) {
    const src = Deno.readTextFileSync(`${ROOT}${file}`);
    assert.match(src, /launchTask\(/, `${file} uses the launcher`);
    assert.doesNotMatch(src, /new Deno\.Command\("deno"/, file);
  }
  for (
    const file of [
      "tasks/bench/ship.ts",
      "tasks/bench/sink.ts",
      "tasks/bench/cdc.ts",
      "tasks/bench/cdc_parity.ts",
    ]
  ) {
    const src = Deno.readTextFileSync(`${ROOT}${file}`);
    assert.match(src, /from "\.\.\/_launch\.ts"/, `${file} uses the launcher`);
    assert.doesNotMatch(
      src,
      /\.tasks(\.|\[)/,
      `${file} reads task lines itself`,
    );
  }
});

Deno.test("the `deno test -P` permission set is scoped: loopback, .data/.cluster writes, no ffi/sys/all", () => {
  const sets = config.permissions as Record<string, Record<string, unknown>>;
  assert.ok(sets?.default, "deno.json has no default permission set");
  for (const [name, set] of Object.entries(sets)) {
    for (const [kind, value] of Object.entries(set)) {
      assert.ok(
        Array.isArray(value) && value.length > 0,
        `set ${name}: ${kind} must be a scoped list, not ${
          JSON.stringify(value)
        }`,
      );
      assert.ok(
        !["ffi", "sys", "all", "import"].includes(kind),
        `${name}: ${kind}`,
      );
    }
    for (const host of (set.net as string[] | undefined) ?? []) {
      assert.match(
        host,
        /^(127\.0\.0\.1|localhost)(:\d+)?$/,
        `${name}: net ${host}`,
      );
    }
    for (const path of (set.write as string[] | undefined) ?? []) {
      assert.match(path, /^\.(data|cluster)(\/|$)/, `${name}: write ${path}`);
    }
  }
});

Deno.test("a process under the `-P` permission set is denied the rest", async () => {
  const out = await new Deno.Command("deno", {
    args: ["run", "-P", "tests/fixtures/escape_probe.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const results = JSON.parse(new TextDecoder().decode(out.stdout).trim());
  // The test set reads the repository and reaches the loopback cluster;
  // everything else stays closed.
  assert.equal(results["read deno.json"], "allowed");
  for (
    const what of [
      "read /etc/hostname",
      "write /tmp",
      "env HOME",
      "run sh",
      "ffi",
    ]
  ) {
    assert.equal(results[what], "denied", `-P: ${what} was ${results[what]}`);
  }
});
