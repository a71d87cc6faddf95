/**
 * Standby status updates: tell PostgreSQL which WAL position Kafka has
 * acknowledged (flush = apply = confirmed), promptly after it advances and
 * at least every status interval (wal_sender_timeout), and on request.
 *
 * @module
 */
import type { Lsn } from "./lsn.ts";

/** Where a status update goes (the replication connection). */
export interface StatusTarget {
  sendStatus(write: Lsn, flush: Lsn, apply: Lsn): void;
}

/** What the last update said and when. */
export interface StatusState {
  lastSent: Lsn;
  lastSentAt: number;
}

/**
 * The `write` and `flush` positions to send now, or `undefined` when
 * nothing changed and the interval has not passed (and not forced). `write`
 * is what was received, never behind what is confirmed.
 */
export function statusToSend(
  s: StatusState,
  confirmed: Lsn,
  received: Lsn,
  now: number,
  intervalMs: number,
  force: boolean,
): { write: Lsn; flush: Lsn } | undefined {
  if (!force && confirmed === s.lastSent && now - s.lastSentAt < intervalMs) {
    return undefined;
  }
  return {
    write: received > confirmed ? received : confirmed,
    flush: confirmed,
  };
}

/** Sends standby status updates for the current connection. */
export class StatusReporter {
  #state: StatusState = { lastSent: -1n, lastSentAt: 0 };
  /** The connection to report on (none while reconnecting). */
  target: StatusTarget | undefined;

  /** `confirmed`/`received` are read at each send; `onConfirmed` sees each one (metrics). */
  constructor(
    private readonly opts: {
      intervalMs: number;
      confirmed: () => Lsn;
      received: () => Lsn;
      onConfirmed?: (lsn: Lsn) => void;
      now?: () => number;
    },
  ) {}

  /** How often {@link send} should be called: at most every second. */
  get tickMs(): number {
    return Math.min(1000, this.opts.intervalMs);
  }

  /** Sends an update if due (always with `force`); returns whether it sent. */
  send(force = false): boolean {
    const confirmed = this.opts.confirmed();
    this.opts.onConfirmed?.(confirmed);
    if (!this.target) return false;
    const now = (this.opts.now ?? Date.now)();
    const out = statusToSend(
      this.#state,
      confirmed,
      this.opts.received(),
      now,
      this.opts.intervalMs,
      force,
    );
    if (!out) return false;
    this.target.sendStatus(out.write, out.flush, out.flush);
    this.#state = { lastSent: confirmed, lastSentAt: now };
    return true;
  }
}
