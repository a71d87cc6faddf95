/**
 * The one way tasks start other tasks: `deno run <the exact flags of the
 * task's line in deno.json> <script> [args]`, checked before spawning.
 *
 * `--allow-run=deno` cannot be narrowed by Deno to certain arguments, so a
 * task holding it could run `deno run -A anything`. Tasks that must start
 * pipelines (`start`, `bench`, `bench:*`) therefore never build a `deno`
 * command line themselves: they call this launcher, which takes the child's
 * permissions from `deno.json` and refuses a line with `-A`, `--allow-all`,
 * a permission set (`-P`), an unscoped `--allow-*`, or anything but
 * `deno run`. The guarantee is against our own mistakes and a tampered task
 * line being run silently, not against code that already runs inside such a
 * task (which could call `Deno.Command` directly).
 *
 * @module
 */

/** Flags the launcher refuses in a task line (blanket permissions). */
const BLANKET = /^(-A|--allow-all|-P|--permission-set(=.*)?)$/;

/**
 * Why `argv` (a task line, split) may not be launched, or undefined when it
 * is a plain `deno run` with only scoped permission flags.
 */
export function launchRefusal(argv: readonly string[]): string | undefined {
  if (argv[0] !== "deno" || argv[1] !== "run") {
    return `not a plain "deno run" line: ${argv.slice(0, 2).join(" ")}`;
  }
  const script = argv.findIndex((a, i) => i > 1 && !a.startsWith("-"));
  if (script < 0) return "no script to run";
  for (const flag of argv.slice(2, script)) {
    if (BLANKET.test(flag)) return `blanket permission ${flag}`;
    if (flag.startsWith("--allow-") && !/^--allow-[a-z-]+=\S+$/.test(flag)) {
      return `unscoped permission ${flag}`;
    }
    if (!/^--(allow|deny)-[a-z-]+=\S+$/.test(flag)) {
      return `unexpected flag ${flag} (only scoped --allow-*/--deny-*)`;
    }
  }
  return undefined;
}

/**
 * The argv of a `deno.json` task (`deno run <flags> <script> [fixed args]`),
 * split and checked with {@link launchRefusal}; throws when refused.
 */
export function taskArgv(name: string, root = "."): string[] {
  const cfg = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`));
  const line: string | undefined = cfg.tasks?.[name];
  if (!line) throw new Error(`no task "${name}" in deno.json`);
  const argv = line.trim().split(/\s+/);
  const why = launchRefusal(argv);
  if (why) throw new Error(`refusing to launch task "${name}": ${why}`);
  return argv;
}

/** Options of {@link launchTask}: those of `Deno.Command` but args and cwd. */
export type LaunchOptions = Omit<Deno.CommandOptions, "args" | "cwd"> & {
  /** Repository root (where deno.json is); default the current directory. */
  root?: string;
};

/** A `Deno.Command` running task `name` with extra `args` after its own. */
export function launchTask(
  name: string,
  args: readonly string[] = [],
  opts: LaunchOptions = {},
): Deno.Command {
  const { root = ".", ...rest } = opts;
  const [cmd, ...own] = taskArgv(name, root);
  return new Deno.Command(cmd, { ...rest, cwd: root, args: [...own, ...args] });
}
