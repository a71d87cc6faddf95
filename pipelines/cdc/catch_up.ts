/**
 * How long a streaming session took to reach the server's WAL position of the
 * moment it started. The slot only moves while a relay reads it, so WAL
 * written while none ran (by any table: the walsender decodes unpublished
 * tables too, and spills a transaction over `logical_decoding_work_mem` to
 * disk) is decoded first; a change committed meanwhile waits behind it. A run
 * measured 4–5 s for 244 MB (one spilled 267 MB transaction): that catch-up,
 * not steady-state latency, was the mirror's 5 s freshness p99 (see README
 * "Mirror freshness").
 *
 * @module
 */
import type { Lsn } from "./lsn.ts";

/** One session's catch-up, once reached. */
export interface CaughtUp {
  /** From the session's start to the stream reaching `target`. */
  seconds: number;
  /** WAL between where the session resumed and `target`. */
  bytes: number;
  target: Lsn;
}

/** Watches one session at a time for reaching its start-time WAL position. */
export class CatchUp {
  #target: Lsn | undefined;
  #from: Lsn = 0n;
  #startMs = 0;

  /**
   * A session starts at `from` while the server's WAL is at `target` (a
   * target at or before `from` is reached by the first position seen).
   */
  begin(from: Lsn, target: Lsn, nowMs: number): void {
    this.#from = from;
    this.#target = target;
    this.#startMs = nowMs;
  }

  /** Stops watching (a session whose start position is unknown). */
  clear(): void {
    this.#target = undefined;
  }

  /** Whether a session is still catching up (a cheap check per frame). */
  get pending(): boolean {
    return this.#target !== undefined;
  }

  /**
   * The stream has received WAL up to `lsn`: the catch-up, the first time
   * it reaches the target; otherwise undefined. `now` is read only then
   * (this runs per frame while pending).
   */
  reached(lsn: Lsn, now: () => number): CaughtUp | undefined {
    const target = this.#target;
    if (target === undefined || lsn < target) return undefined;
    this.#target = undefined;
    return {
      seconds: Math.max(0, now() - this.#startMs) / 1000,
      bytes: target > this.#from ? Number(target - this.#from) : 0,
      target,
    };
  }
}
