/**
 * The shape of one native service's spec (command line, stop signal, startup
 * files), on its own so that the process handling (./processes.ts) and the
 * spec builders (./specs.ts) can both use it without importing each other.
 *
 * @module
 */

/** How to run one service natively. */
export interface NativeSpec {
  /** Absolute binary and arguments. */
  argv: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** A string that must appear in `/proc/<pid>/cmdline` (guards against pid reuse). */
  marker: string;
  /** Graceful stop signal. */
  stopSignal: "TERM" | "INT";
  /** How long a graceful stop may take before SIGKILL (default 30 s). */
  stopGraceMs?: number;
  /**
   * Config files the process reads only when it starts (absolute path ->
   * generated content). `prepare` writes them; a running process whose file
   * differs from the generated one is restarted by `up` (see {@link configDrift}).
   */
  startupFiles?: Record<string, string>;
  /** Startup files holding a secret, written 0600 (absolute paths). */
  secretFiles?: string[];
  /**
   * False when the running command line cannot be compared with `argv`
   * (PostgreSQL is started through setpriv).
   */
  compareArgv?: boolean;
  /**
   * Seamless restart: extra arguments that make a new process take over from
   * the running one (HAProxy `-sf <old pid>`: the new process binds the same
   * ports, then the old one finishes its connections and exits).
   */
  takeOverArgs?: (oldPid: number) => string[];
  /** Write configs, create folders, format storage... (idempotent). */
  prepare: () => Promise<void>;
}
