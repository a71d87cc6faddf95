/**
 * Command-line and environment configuration, validated once at start.
 *
 * Every pipeline declares its options in one table; this module turns the
 * table into a `node:util` `parseArgs` call, reads environment fallbacks,
 * converts and validates values, and renders `--help`. Mistakes raise a
 * {@link UsageError}, which {@link runMain} prints with the usage and exit
 * code 2 — never a stack trace.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The kinds of value an option can hold. */
export type OptionType = "string" | "number" | "integer" | "boolean" | "list";

/** One option of a command: its flag, environment fallback and validation. */
export interface OptionSpec {
  /** Value kind; `list` is comma separated (or the flag repeated). */
  type: OptionType;
  /** One line for `--help`. */
  description: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** Default when neither flag nor environment sets it. */
  default?: string | number | boolean | string[];
  /** Single-letter alias. */
  short?: string;
  /** Allowed values (for `string` and `list`). */
  choices?: readonly string[];
  /** Inclusive lower bound (for `number`/`integer`). */
  min?: number;
  /** Inclusive upper bound (for `number`/`integer`). */
  max?: number;
  /** The option must end up with a value. */
  required?: boolean;
  /** Hide the value in logs and `--help` defaults (passwords, tokens). */
  secret?: boolean;
  /**
   * Read from {@link env} only: the flag is refused (a password on the
   * command line is visible to every user in `ps`).
   */
  envOnly?: boolean;
  /**
   * The value a `string` flag given without one stands for: with `"true"`,
   * a bare `--schemas` (last, or before another `--flag`) is
   * `--schemas true`, and `--schemas false` still works.
   */
  bare?: string;
}

/** A command: name, one-line summary, options and optional positionals. */
export interface CommandSpec {
  /** The task name users type, e.g. `sink`. */
  name: string;
  /** One line shown at the top of `--help`. */
  summary: string;
  /** Options by long flag name (kebab-case). */
  options: Record<string, OptionSpec>;
  /** Names of positional arguments, for usage only. */
  positionals?: string;
  /** Extra text after the option list (examples). */
  epilog?: string;
}

/** Value type of one option kind. */
type ValueOf<S extends OptionSpec> = S["type"] extends "number" | "integer"
  ? number
  : S["type"] extends "boolean" ? boolean
  : S["type"] extends "list" ? string[]
  : string;

/** Parsed values keyed by flag name; options without a value are undefined. */
export type ParsedOptions<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]["required"] extends true ? ValueOf<O[K]>
    : O[K]["default"] extends undefined ? ValueOf<O[K]> | undefined
    : ValueOf<O[K]>;
};

/** A mistake in the user's flags or environment; printed with usage, exit 2. */
export class UsageError extends Error {
  /** Creates the error with a message that names the fix. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The user asked for `--help`; carries the text to print. */
export class HelpRequested extends Error {
  /** Creates the request with the rendered help text. */
  constructor(readonly text: string) {
    super("help requested");
    this.name = "HelpRequested";
  }
}

/** Renders the usage text of a command. */
export function usage(spec: CommandSpec): string {
  const lines = [
    `${spec.summary}`,
    "",
    `Usage: deno task ${spec.name} [options]${
      spec.positionals ? " " + spec.positionals : ""
    }`,
    "",
    "Options:",
  ];
  const entries = Object.entries(spec.options).sort(([a], [b]) =>
    a.localeCompare(b)
  );
  for (const [flag, o] of entries) {
    const arg = o.bare !== undefined ? ` [<${o.type}>]` : ` <${o.type}>`;
    const left = `  ${o.short ? `-${o.short}, ` : ""}--${flag}${
      o.type === "boolean" ? "" : arg
    }`;
    const extras: string[] = [];
    if (o.choices) extras.push(`one of: ${o.choices.join(", ")}`);
    if (o.bare !== undefined) extras.push(`bare: ${o.bare}`);
    if (o.default !== undefined && !o.secret) {
      extras.push(`default: ${formatDefault(o.default)}`);
    }
    if (o.env) extras.push(`${o.envOnly ? "env only" : "env"}: ${o.env}`);
    if (o.required) extras.push("required");
    lines.push(
      `${left.padEnd(34)} ${o.description}${
        extras.length ? ` (${extras.join("; ")})` : ""
      }`,
    );
  }
  lines.push(`${"  -h, --help".padEnd(34)} Show this help and exit`);
  if (spec.epilog) lines.push("", spec.epilog);
  return lines.join("\n");
}

function formatDefault(v: string | number | boolean | string[]): string {
  return Array.isArray(v) ? v.join(",") : String(v);
}

/**
 * Parses `args` (and `env`) against `spec`. Throws {@link UsageError} on any
 * mistake and {@link HelpRequested} on `--help`.
 */
export function parseCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec & { options: O },
  args: string[],
  env: (name: string) => string | undefined = readEnv,
): { options: ParsedOptions<O>; positionals: string[] } {
  const parseOptions: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const [flag, o] of Object.entries(spec.options)) {
    parseOptions[flag] = {
      type: o.type === "boolean" ? "boolean" : "string",
      ...(o.short ? { short: o.short } : {}),
      ...(o.type === "list" ? { multiple: true } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: withBareValues(spec, args),
      options: parseOptions,
      strict: true,
      allowPositionals: spec.positionals !== undefined,
    });
  } catch (err) {
    throw new UsageError(cleanParseError(err));
  }
  if (parsed.values.help) throw new HelpRequested(usage(spec));
  const out: Record<string, unknown> = {};
  for (const [flag, o] of Object.entries(spec.options)) {
    const raw = parsed.values[flag] as string | string[] | boolean | undefined;
    if (o.envOnly && raw !== undefined) {
      throw new UsageError(
        `--${flag} is not accepted on the command line (every user sees it in ps); set ${o.env} instead`,
      );
    }
    const fromEnv = o.env ? env(o.env) : undefined;
    out[flag] = convert(flag, o, raw, fromEnv);
  }
  return {
    options: out as ParsedOptions<O>,
    positionals: parsed.positionals,
  };
}

/**
 * `args` with the {@link OptionSpec.bare} value inserted after each such
 * flag that has no value of its own (last, or followed by a `-…` argument).
 */
export function withBareValues(spec: CommandSpec, args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    out.push(args[i]);
    if (args[i] === "--") {
      out.push(...args.slice(i + 1));
      break;
    }
    const m = /^--([^=]+)$/.exec(args[i]);
    const bare = m ? spec.options[m[1]]?.bare : undefined;
    const next = args[i + 1];
    if (bare !== undefined && (next === undefined || next.startsWith("-"))) {
      out.push(bare);
    }
  }
  return out;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    // Not granted --allow-env for this name: treat as unset.
    return undefined;
  }
}

function cleanParseError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // node's messages carry a hint about "--" that does not apply to tasks.
  return msg.replace(/\. To specify a positional argument.*$/s, "").trim();
}

function convert(
  flag: string,
  o: OptionSpec,
  raw: string | string[] | boolean | undefined,
  fromEnv: string | undefined,
): unknown {
  const source = raw !== undefined ? `--${flag}` : `${o.env}`;
  let value: unknown;
  if (raw === undefined && (fromEnv === undefined || fromEnv === "")) {
    value = o.default;
  } else if (o.type === "boolean") {
    value = typeof raw === "boolean" ? raw : parseBool(source, fromEnv!);
  } else if (o.type === "list") {
    const parts = Array.isArray(raw) ? raw : [fromEnv!];
    value = parts.flatMap((p) => p.split(",")).map((s) => s.trim()).filter(
      Boolean,
    );
  } else {
    const text = (raw ?? fromEnv) as string;
    if (o.type === "number" || o.type === "integer") {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) {
        throw new UsageError(`${source} must be a number, got "${text}"`);
      }
      if (o.type === "integer" && !Number.isInteger(n)) {
        throw new UsageError(`${source} must be a whole number, got "${text}"`);
      }
      value = n;
    } else {
      value = text;
    }
  }
  if (value === undefined) {
    if (o.required) {
      throw new UsageError(
        `--${flag} is required${o.env ? ` (or set ${o.env})` : ""}`,
      );
    }
    return undefined;
  }
  if (typeof value === "number") {
    if (o.min !== undefined && value < o.min) {
      throw new UsageError(`${source} must be at least ${o.min}, got ${value}`);
    }
    if (o.max !== undefined && value > o.max) {
      throw new UsageError(`${source} must be at most ${o.max}, got ${value}`);
    }
  }
  if (o.choices) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (!o.choices.includes(String(v))) {
        throw new UsageError(
          `${source} must be one of ${o.choices.join(", ")}, got "${v}"`,
        );
      }
    }
  }
  return value;
}

function parseBool(source: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(t)) return true;
  if (["0", "false", "no", "off"].includes(t)) return false;
  throw new UsageError(`${source} must be true or false, got "${text}"`);
}

/**
 * Parses a duration such as `500ms`, `2s`, `5m`, `1h` or a bare number of
 * seconds into milliseconds.
 */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) {
    throw new UsageError(
      `"${text}" is not a duration (use e.g. 500ms, 10s, 5m, 1h)`,
    );
  }
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
  return Math.round(n * factor);
}

/**
 * Parses a byte size such as `512`, `64KiB`, `10MB`, `1GiB` into bytes.
 */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$/i.exec(text);
  if (!m) {
    throw new UsageError(
      `"${text}" is not a size (use e.g. 1048576, 64KiB, 10MiB)`,
    );
  }
  const unit = (m[2] ?? "b").toLowerCase();
  const factor = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: 1024 ** 2,
    gb: 1e9,
    gib: 1024 ** 3,
  }[unit]!;
  return Math.round(Number(m[1]) * factor);
}
