/**
 * Starts pipeline processes exactly as their `deno.json` tasks define them
 * (same permission flags, no task runner in between so signals reach the
 * pipeline itself), logs each to a file, and stops them in order.
 *
 * @module
 */

import { taskArgv } from "../_launch.ts";

/** The checked argv of a `deno.json` task (see `tasks/_launch.ts`). */
export { taskArgv };

/** How to start one supervised process. */
export interface ProcessSpec {
  /** Display name, unique within a run (e.g. `generator-security`). */
  name: string;
  /** The deno.json task to run. */
  task: string;
  /** Extra arguments after the task's own. */
  args: string[];
  /** Extra environment (e.g. METRICS_PORT). */
  env?: Record<string, string>;
  /** Where `/metrics` is served, for the live view. */
  metricsUrl?: string;
}

/** A running (or exited) supervised process. */
export class Supervised {
  #child: Deno.ChildProcess | undefined;
  #exit: Promise<Deno.CommandStatus> | undefined;
  /** Times this process was (re)started. */
  starts = 0;
  #running = false;
  #stopping = false;

  /** Creates the handle; call {@link start}. */
  constructor(readonly spec: ProcessSpec, readonly logPath: string) {}

  /** Process id of the current incarnation. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the process, appending its stdout/stderr to the log file. */
  async start(): Promise<void> {
    const [cmd, ...rest] = taskArgv(this.spec.task);
    const log = await Deno.open(this.logPath, {
      create: true,
      append: true,
    });
    const child = new Deno.Command(cmd, {
      args: [...rest, ...this.spec.args],
      env: { NO_COLOR: "1", ...this.spec.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.starts++;
    // Both streams go to one file; the file closes when both end.
    const done = Promise.all([
      child.stdout.pipeTo(writerOf(log), { preventClose: true }),
      child.stderr.pipeTo(writerOf(log), { preventClose: true }),
    ]).catch(() => {}).finally(() => log.close());
    this.#running = true;
    this.#stopping = false;
    this.#exit = child.status.then(async (s) => {
      await done;
      this.#running = false;
      return s;
    });
  }

  /** Resolves with the exit status of the current incarnation. */
  get exited(): Promise<Deno.CommandStatus> {
    if (!this.#exit) throw new Error(`${this.spec.name} was never started`);
    return this.#exit;
  }

  /** True when the process ended without being asked to (not by kill/stop). */
  get exitedEarly(): boolean {
    return this.starts > 0 && !this.#running && !this.#stopping;
  }

  /** Sends a signal; ignores a process that is already gone. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    this.#stopping = true;
    try {
      this.#child?.kill(signal);
    } catch { /* already exited */ }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 20_000): Promise<Deno.CommandStatus | undefined> {
    if (!this.#exit) return undefined;
    this.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), graceMs);
    });
    const status = await Promise.race([this.#exit, timeout]);
    clearTimeout(timer);
    if (status) return status;
    this.kill("SIGKILL");
    return await this.#exit;
  }
}

function writerOf(file: Deno.FsFile): WritableStream<Uint8Array> {
  return new WritableStream({
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
    },
  });
}
