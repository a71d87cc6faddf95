/**
 * The one filter of Node-style process warnings (`process.emitWarning`):
 * it drops only the known, harmless warnings listed in
 * {@link DROPPED_WARNINGS}, each matched by type and message, and passes
 * every other warning through unchanged (Node's default listener still
 * prints them). `kafka.ts` installs it, so every program that loads KafkaJS
 * through the runtime gets it.
 *
 * @module
 */
import process from "node:process";

/** A warning the filter drops, matched by its type and message. */
export interface KnownWarning {
  /** The warning's type (`name` of an Error warning). */
  readonly type: string;
  /** The whole message must match. */
  readonly message: RegExp;
  /** Why dropping it is safe. */
  readonly why: string;
}

/** The warnings that are dropped; anything else is emitted. */
export const DROPPED_WARNINGS: readonly KnownWarning[] = [
  {
    type: "TimeoutNegativeWarning",
    message:
      /^-\d+(\.\d+)? is a negative number\.\nTimeout duration was set to 1\.$/,
    why:
      "KafkaJS 2.2.4 schedules setTimeout(fn, throttledUntil - Date.now()) " +
      "with throttledUntil = 0: a negative delay, clamped to 1 ms as intended, " +
      "that Node's timers report on stderr as a non-JSON line",
  },
];

/** Type and message of an `emitWarning(warning, typeOrOptions, …)` call. */
export function describeWarning(
  warning: string | Error,
  typeOrOptions?: unknown,
): { type: string; message: string } {
  if (typeof warning !== "string") {
    return { type: warning.name, message: warning.message };
  }
  const type = typeof typeOrOptions === "string"
    ? typeOrOptions
    : (typeOrOptions as { type?: unknown } | undefined)?.type;
  return {
    type: typeof type === "string" ? type : "Warning",
    message: warning,
  };
}

/** Pure: whether an `emitWarning(warning, typeOrOptions)` call is one of `dropped`. */
export function isDroppedWarning(
  warning: string | Error,
  typeOrOptions?: unknown,
  dropped: readonly KnownWarning[] = DROPPED_WARNINGS,
): boolean {
  const { type, message } = describeWarning(warning, typeOrOptions);
  return dropped.some((k) => k.type === type && k.message.test(message));
}

const INSTALLED = Symbol.for("pipelines.runtime.warningFilter");

/**
 * Wraps `process.emitWarning` so that {@link DROPPED_WARNINGS} are dropped
 * and every other warning is emitted as before. Idempotent.
 */
export function installWarningFilter(): void {
  const current = process.emitWarning as typeof process.emitWarning & {
    [INSTALLED]?: true;
  };
  if (current[INSTALLED]) return;
  const emit = current.bind(process) as (...args: unknown[]) => void;
  const filtered = Object.assign(
    (warning: string | Error, ...rest: unknown[]) => {
      if (isDroppedWarning(warning, rest[0])) return;
      emit(warning, ...rest);
    },
    { [INSTALLED]: true as const },
  );
  process.emitWarning = filtered as typeof process.emitWarning;
}
