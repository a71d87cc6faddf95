/**
 * Structured logging: one JSON object per line on stderr, so stdout stays
 * free for data (the generator can write events to stdout). The level comes
 * from `LOG_LEVEL` (debug, info, warn, error; default info).
 *
 * @module
 */

/** Log levels, lowest first. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LEVELS}. */
export type Level = typeof LEVELS[number];

/** Fields attached to a log line. Errors are reduced to their message. */
export type Fields = Record<string, unknown>;

/** A structured logger bound to a component name and fixed fields. */
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Fields): Logger;
  /** Whether `level` would be written. */
  enabled(level: Level): boolean;
}

/** Where lines go; replaceable for tests. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();
const stderrSink: LogSink = (line) => {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
};

/** Reads `LOG_LEVEL`, falling back to `info` if unset, denied or unknown. */
export function levelFromEnv(): Level {
  let v: string | undefined;
  try {
    v = Deno.env.get("LOG_LEVEL");
  } catch {
    v = undefined;
  }
  return (LEVELS as readonly string[]).includes(v ?? "") ? v as Level : "info";
}

/** Creates a logger for `component` writing at `level` and above. */
export function createLogger(
  component: string,
  level: Level = levelFromEnv(),
  sink: LogSink = stderrSink,
  base: Fields = {},
): Logger {
  const min = LEVELS.indexOf(level);
  const write = (lvl: Level, msg: string, fields?: Fields) => {
    if (LEVELS.indexOf(lvl) < min) return;
    const line: Fields = {
      ts: new Date().toISOString(),
      level: lvl,
      component,
      msg,
      ...base,
    };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) line[k] = plain(v);
    }
    sink(JSON.stringify(line));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) =>
      createLogger(component, level, sink, { ...base, ...fields }),
    enabled: (lvl) => LEVELS.indexOf(lvl) >= min,
  };
}

function plain(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  if (typeof v === "bigint") return v.toString();
  return v;
}
