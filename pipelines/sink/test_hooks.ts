/**
 * TEST-ONLY hooks of the sink, behind one environment variable that
 * production never sets: `SINK_TEST_FAILPOINT`. It is read once at start
 * (main.ts); unset, the sink gets no hooks at all.
 *
 * `SINK_TEST_FAILPOINT=crash-after-inserts:N` makes the process exit abruptly
 * (code {@link FAILPOINT_EXIT_CODE}) right after the N-th flush whose rows
 * and dead letters ClickHouse acknowledged, before its offsets are committed:
 * the worst moment for exactly-once, used by tests/sink_test.ts.
 *
 * @module
 */

/** The variable that enables a failpoint (tests only). */
export const TEST_FAILPOINT_ENV = "SINK_TEST_FAILPOINT";

/** Exit code of a failpoint crash. */
export const FAILPOINT_EXIT_CODE = 86;

/** Hooks the flush calls; absent in production. */
export interface SinkTestHooks {
  /** After a flush's inserts, before its offsets are committed. */
  afterInserts(): void;
}

/** A parsed failpoint. */
export interface Failpoint {
  crashAfterInserts: number;
}

/** Parses `crash-after-inserts:N`; throws on anything else. */
export function parseFailpoint(spec: string): Failpoint {
  const m = /^crash-after-inserts:([1-9][0-9]*)$/.exec(spec.trim());
  if (!m) {
    throw new Error(
      `${TEST_FAILPOINT_ENV}=${
        JSON.stringify(spec)
      } is not "crash-after-inserts:N" (N ≥ 1)`,
    );
  }
  return { crashAfterInserts: Number(m[1]) };
}

/**
 * The hooks of `failpoint`: `exit` is called once the N-th flush inserted
 * (`Deno.exit` in the process; injectable for unit tests).
 */
export function failpointHooks(
  failpoint: Failpoint,
  exit: (code: number) => void,
  warn: (msg: string) => void = () => {},
): SinkTestHooks {
  let inserted = 0;
  return {
    afterInserts() {
      if (++inserted >= failpoint.crashAfterInserts) {
        warn(
          "test failpoint crash-after-inserts reached: exiting before commit",
        );
        exit(FAILPOINT_EXIT_CODE);
      }
    },
  };
}

/**
 * Reads {@link TEST_FAILPOINT_ENV} once. Undefined (no hooks) when it is
 * unset or the process may not read it.
 */
export function readTestHooks(
  warn: (msg: string) => void,
): SinkTestHooks | undefined {
  const granted = Deno.permissions.querySync({
    name: "env",
    variable: TEST_FAILPOINT_ENV,
  }).state === "granted";
  const spec = granted ? Deno.env.get(TEST_FAILPOINT_ENV) : undefined;
  if (!spec) return undefined;
  return failpointHooks(parseFailpoint(spec), (c) => Deno.exit(c), warn);
}
