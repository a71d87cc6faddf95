/**
 * The reconnect loop around streaming sessions: open a connection, run one
 * session on it, and after a failure close it, reset, wait with backoff and
 * start again (the session resumes from the confirmed LSN, so nothing is
 * skipped). Errors no retry can fix end the loop. Connection-agnostic, so it
 * is unit-tested with fakes.
 *
 * @module
 */

/** What the loop drives. */
export interface ReconnectOptions<C> {
  /** An already open connection to start with. */
  first?: C;
  open: () => Promise<C>;
  /** One session on `conn`: resolves when it ended cleanly, rejects on failure. */
  run: (conn: C) => Promise<void>;
  close: (conn: C) => Promise<void>;
  /** Between a failed session and the next (reset state, check other connections). */
  afterSession: () => Promise<void>;
  /** The error to stop with when `err` is one no retry can fix, else undefined. */
  fatal: (err: unknown) => unknown;
  delayMs: (attempt: number) => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Logs a retry: `open` failed, or the `stream` ended (err undefined: closed by the server). */
  onRetry: (what: "open" | "stream", err: unknown, waitMs: number) => void;
  signal: AbortSignal;
}

/**
 * Consecutive failed opens tolerated before a fatal one (bad password, no
 * such database) ends the loop: at start-up a restarting server can answer
 * like that for a moment.
 */
export const OPEN_ATTEMPTS_BEFORE_FATAL = 5;

/** Runs sessions until `signal` aborts or a fatal error; closes the last connection. */
export async function reconnectLoop<C>(o: ReconnectOptions<C>): Promise<void> {
  let conn: C | undefined = o.first;
  try {
    for (let attempt = 0; !o.signal.aborted;) {
      if (conn === undefined) {
        try {
          conn = await o.open();
        } catch (err) {
          const fatal = o.fatal(err);
          if (fatal !== undefined && attempt > OPEN_ATTEMPTS_BEFORE_FATAL) {
            throw fatal;
          }
          const wait = o.delayMs(attempt++);
          o.onRetry("open", err, wait);
          await o.sleep(wait, o.signal);
          continue;
        }
      }
      let failure: unknown;
      try {
        await o.run(conn);
        attempt = 0;
      } catch (err) {
        failure = err;
      }
      if (o.signal.aborted) break;
      await o.close(conn);
      conn = undefined;
      await o.afterSession();
      const fatal = o.fatal(failure);
      if (fatal !== undefined) throw fatal;
      const wait = o.delayMs(attempt++);
      o.onRetry("stream", failure, wait);
      await o.sleep(wait, o.signal);
    }
  } finally {
    if (conn !== undefined) await o.close(conn);
  }
}
