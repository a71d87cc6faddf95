/**
 * The native launcher's process handling, on harmless `sleep` children in a
 * temporary state folder under .data/tests (never a cluster service).
 */
import assert from "node:assert/strict";
import type { Service } from "../../schemas/topology.ts";
import { needsPermissions } from "../../tests/_gate.ts";
import { abs } from "./paths.ts";
import {
  argvMatches,
  configDrift,
  pidFile,
  processAlive,
  processArgs,
  runningPid,
  startService,
  stopService,
} from "./processes.ts";
import type { NativeSpec } from "./spec.ts";

const FILES = needsPermissions(
  { name: "read", path: ".data" },
  { name: "write", path: ".data" },
);
const PROCESSES = needsPermissions(
  { name: "read", path: ".data" },
  { name: "write", path: ".data" },
  { name: "run", command: abs("tasks/cluster/daemonize.sh") },
  { name: "run", command: "ps" },
  { name: "run", command: "kill" },
);

/** A service whose state folder is a fresh directory under .data/tests. */
async function tempService(): Promise<Service> {
  await Deno.mkdir(abs(".data/tests"), { recursive: true });
  const dir = await Deno.makeTempDir({
    dir: abs(".data/tests"),
    prefix: "proc-",
  });
  return {
    name: "sleeper",
    kind: "zookeeper",
    address: "127.0.0.1:1",
    dir: dir.slice(abs("").length),
    dependsOn: [],
  };
}

/** `sleep` with an odd duration, so the marker names this child only. */
function sleeper(seconds: string, overrides: Partial<NativeSpec> = {}) {
  const spec: NativeSpec = {
    argv: ["sleep", seconds],
    marker: `sleep ${seconds}`,
    stopSignal: "TERM",
    prepare: () => Promise.resolve(),
    ...overrides,
  };
  return spec;
}

async function until<T>(what: string, f: () => Promise<T | undefined>) {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("processes: argvMatches accepts the argv, or the argv plus take-over args", () => {
  const spec = sleeper("1", {
    takeOverArgs: (pid) => ["-sf", String(pid)],
  });
  assert.equal(argvMatches("sleep 1", spec), true);
  assert.equal(argvMatches("sleep 1 -sf 4242", spec), true);
  assert.equal(argvMatches("sleep 1 -sf", spec), false);
  assert.equal(argvMatches("sleep 1 -x 4242", spec), false);
  assert.equal(argvMatches("sleep 2", spec), false);
  assert.equal(argvMatches("sleep 1 -sf 4242", sleeper("1")), false);
});

Deno.test(
  "processes: no, garbage or pid-1 pid file means not running",
  FILES,
  async () => {
    const svc = await tempService();
    const spec = sleeper("1");
    assert.equal(await runningPid(svc, spec), undefined);
    for (const text of ["", "abc", "1", "-5", "12.5"]) {
      await Deno.writeTextFile(pidFile(svc), text);
      assert.equal(await runningPid(svc, spec), undefined, `pid file ${text}`);
    }
  },
);

Deno.test(
  "processes: start, find by pid file and marker, stop",
  PROCESSES,
  async () => {
    const svc = await tempService();
    const spec = sleeper("271.828");
    await startService(svc, spec);
    const pid = await until("the pid", () => runningPid(svc, spec));
    assert.equal(
      Number((await Deno.readTextFile(pidFile(svc))).trim()),
      pid,
    );
    assert.equal(await processArgs(pid), "sleep 271.828");
    assert.equal(argvMatches((await processArgs(pid))!, spec), true);
    assert.deepEqual(await configDrift(svc, spec), []);
    assert.deepEqual(
      await configDrift(svc, sleeper("271.828", { argv: ["sleep", "271.8"] })),
      ["command line changed"],
    );
    const conf = abs(`${svc.dir}/sleeper.conf`);
    await Deno.writeTextFile(conf, "a=1\n");
    assert.deepEqual(
      await configDrift(svc, { ...spec, startupFiles: { [conf]: "a=2\n" } }),
      ["sleeper.conf changed"],
    );
    // The log got the start banner.
    assert.match(
      await Deno.readTextFile(abs(`${svc.dir}/log`)),
      /=== .* starting sleeper/,
    );

    assert.equal(await stopService(svc, spec, 5_000), true);
    assert.equal(await processAlive(pid), false);
    await assert.rejects(Deno.stat(pidFile(svc)), Deno.errors.NotFound);
    assert.equal(await stopService(svc, spec, 5_000), false, "already stopped");
  },
);

Deno.test(
  "processes: a stale pid file (dead or foreign pid) is not a running service",
  PROCESSES,
  async () => {
    const svc = await tempService();
    const spec = sleeper("314.159");
    await startService(svc, spec);
    const pid = await until("the pid", () => runningPid(svc, spec));
    // Another live process (this test runner) under the pid: marker differs.
    await Deno.writeTextFile(pidFile(svc), `${Deno.pid}\n`);
    assert.equal(await processAlive(Deno.pid), true);
    assert.equal(await runningPid(svc, spec), undefined);
    assert.equal(await stopService(svc, spec, 5_000), false, "not ours: kept");
    // Back to the child, stopped: its pid file now names a dead process.
    await Deno.writeTextFile(pidFile(svc), `${pid}\n`);
    assert.equal(await stopService(svc, spec, 5_000), true);
    await Deno.writeTextFile(pidFile(svc), `${pid}\n`);
    assert.equal(await processAlive(pid), false);
    assert.equal(await runningPid(svc, spec), undefined);
  },
);

Deno.test(
  "processes: a child ignoring the stop signal is killed after the grace time",
  PROCESSES,
  async () => {
    const svc = await tempService();
    // `exec`: the sleep itself ignores TERM (no shell left behind).
    const spec = sleeper("161.803", {
      argv: ["sh", "-c", "trap '' TERM; exec sleep 161.803"],
    });
    await startService(svc, spec);
    const pid = await until("the pid", () => runningPid(svc, spec));
    await until(
      "the exec",
      async () => (await processArgs(pid)) === "sleep 161.803",
    );
    const t0 = Date.now();
    assert.equal(await stopService(svc, spec, 300), true);
    assert.ok(Date.now() - t0 >= 300, "waited for the grace time first");
    assert.equal(await processAlive(pid), false);
  },
);
