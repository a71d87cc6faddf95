/**
 * Native service processes: start one detached (`daemonize.sh`), find it
 * again by pid file + command-line marker, stop it (graceful signal, then
 * KILL), restart it, and tell whether it still matches its spec.
 *
 * @module
 */

import type { Service } from "../../schemas/topology.ts";
import { abs, ROOT } from "./paths.ts";
import type { NativeSpec } from "./spec.ts";

/** `.cluster/<svc>/pid` path (absolute). */
export function pidFile(svc: Service): string {
  return abs(`${svc.dir}/pid`);
}

/** `.cluster/<svc>/log` path (repo-relative, for messages). */
export function logFile(svc: Service): string {
  return `${svc.dir}/log`;
}

/** Pid of a running service process, or undefined when it is not running. */
export async function runningPid(
  svc: Service,
  spec: Pick<NativeSpec, "marker">,
): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile(svc))).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return (await processAlive(pid, spec.marker)) ? pid : undefined;
}

/**
 * True when `pid` exists, is not a zombie and its command line contains `marker`.
 * Uses `ps` (Deno requires --allow-all to read /proc/<pid>/*).
 */
export async function processAlive(
  pid: number,
  marker?: string,
): Promise<boolean> {
  const args = await processArgs(pid);
  return args !== undefined && (marker === undefined || args.includes(marker));
}

/**
 * Command line (`ps args`, arguments joined by spaces) of a live process, or
 * undefined when it does not exist or is a zombie.
 */
export async function processArgs(pid: number): Promise<string | undefined> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "stat=,args=", "-ww", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return undefined;
  const line = new TextDecoder().decode(out.stdout).trim();
  const m = /^(\S+)\s+(.*)$/.exec(line);
  if (!m || m[1].startsWith("Z") || m[1].startsWith("X")) return undefined;
  return m[2];
}

/** Start a service detached (new session, log appended to `.cluster/<svc>/log`). */
export async function startService(
  svc: Service,
  spec: NativeSpec,
): Promise<void> {
  await spec.prepare();
  await Deno.mkdir(abs(svc.dir), { recursive: true });
  const logPath = abs(logFile(svc));
  await Deno.writeTextFile(
    logPath,
    `\n=== ${new Date().toISOString()} starting ${svc.name}\n`,
    { append: true },
  );
  const out = await new Deno.Command(abs("tasks/cluster/daemonize.sh"), {
    args: [pidFile(svc), logPath, ...spec.argv],
    cwd: ROOT,
    env: spec.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `could not start ${svc.name}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/** Send a signal with the `kill` binary (Deno.kill would need unscoped --allow-run). */
export async function signal(
  pid: number,
  sig: "TERM" | "INT" | "KILL" | "HUP",
): Promise<void> {
  await new Deno.Command("kill", {
    args: [`-${sig}`, String(pid)],
    stdout: "null",
    stderr: "null",
  })
    .output();
}

/** Stop a service: graceful signal, then KILL after the deadline. Returns true if it was running. */
export async function stopService(
  svc: Service,
  spec: Pick<NativeSpec, "marker" | "stopSignal" | "stopGraceMs">,
  graceMs = spec.stopGraceMs ?? 30_000,
): Promise<boolean> {
  const pid = await runningPid(svc, spec);
  if (pid === undefined) return false;
  await signal(pid, spec.stopSignal);
  const deadline = Date.now() + graceMs;
  while (await processAlive(pid)) {
    if (Date.now() > deadline) {
      await signal(pid, "KILL");
      await new Promise((r) => setTimeout(r, 200));
      if (!(await processAlive(pid))) break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await Deno.remove(pidFile(svc)).catch(() => {});
  return true;
}

/** Last lines of a service log, for error messages. */
export async function tailLog(svc: Service, lines = 12): Promise<string> {
  try {
    const text = await Deno.readTextFile(abs(logFile(svc)));
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** True when a running command line is `spec.argv` (possibly plus take-over args). */
export function argvMatches(args: string, spec: NativeSpec): boolean {
  const want = spec.argv.join(" ");
  if (args === want) return true;
  if (!spec.takeOverArgs || !args.startsWith(want + " ")) return false;
  const pid = /(\d+)$/.exec(args)?.[1];
  return pid !== undefined &&
    args === [...spec.argv, ...spec.takeOverArgs(Number(pid))].join(" ");
}

/**
 * Why a running service no longer matches its spec: its command line differs
 * from `argv` (e.g. the JMX agent or a flag was added), or a startup config
 * file differs from the generated one. Empty when it matches or is not
 * running. Nothing is written.
 */
export async function configDrift(
  svc: Service,
  spec: NativeSpec,
): Promise<string[]> {
  const pid = await runningPid(svc, spec);
  if (pid === undefined) return [];
  const reasons: string[] = [];
  if (spec.compareArgv !== false) {
    const args = await processArgs(pid);
    if (args !== undefined && !argvMatches(args, spec)) {
      reasons.push("command line changed");
    }
  }
  for (const [path, content] of Object.entries(spec.startupFiles ?? {})) {
    let old: string | undefined;
    try {
      old = await Deno.readTextFile(path);
    } catch { /* missing */ }
    if (old !== content) {
      reasons.push(`${path.slice(path.lastIndexOf("/") + 1)} changed`);
    }
  }
  return reasons;
}

/**
 * Restart a running service with its current spec: a seamless take-over when
 * the spec supports it (HAProxy), else stop then start. Waiting for health
 * is the caller's job.
 */
export async function restartService(
  svc: Service,
  spec: NativeSpec,
): Promise<void> {
  const old = await runningPid(svc, spec);
  if (old === undefined || !spec.takeOverArgs) {
    await stopService(svc, spec);
    await startService(svc, spec);
    return;
  }
  await startService(svc, {
    ...spec,
    argv: [...spec.argv, ...spec.takeOverArgs(old)],
  });
  // A new process that cannot start (bad config) exits at once and leaves
  // the old one serving: keep tracking the old one and report.
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    const fresh = await runningPid(svc, spec);
    if (fresh === undefined) {
      await Deno.writeTextFile(pidFile(svc), `${old}\n`);
      throw new Error(
        `the new ${svc.name} process exited; the old one (pid ${old}) keeps serving. See ${
          logFile(svc)
        }`,
      );
    }
    if (!(await processAlive(old))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  // Still alive: the old process drains open connections, then exits.
}
