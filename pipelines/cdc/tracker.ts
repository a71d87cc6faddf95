/**
 * Which WAL position may be confirmed to PostgreSQL: a transaction's end LSN
 * becomes confirmable only once Kafka acknowledged every record pushed up to
 * its commit. Pure bookkeeping over sequence numbers, unit-tested alone.
 *
 * @module
 */
import { type Lsn, maxLsn } from "./lsn.ts";

/** Tracks pushed vs acknowledged records and the LSN marks between them. */
export class AckTracker {
  #pushed = 0;
  #acked = 0;
  /** Commit marks, ascending by seq; each becomes confirmable once acked ≥ seq. */
  #marks: Array<{ seq: number; lsn: Lsn }> = [];
  #confirmed: Lsn;

  /** Starts with `confirmed` = where the slot resumes from. */
  constructor(confirmed: Lsn) {
    this.#confirmed = confirmed;
  }

  /** The highest LSN whose records are all acknowledged. */
  get confirmed(): Lsn {
    return this.#confirmed;
  }

  /** Records pushed but not yet acknowledged. */
  get pending(): number {
    return this.#pushed - this.#acked;
  }

  /** Sequence number of the last pushed record. */
  get pushedSeq(): number {
    return this.#pushed;
  }

  /** Sequence number of the last acknowledged record. */
  get ackedSeq(): number {
    return this.#acked;
  }

  /** Registers one pushed record; returns its sequence number. */
  push(): number {
    return ++this.#pushed;
  }

  /**
   * Marks a transaction end: `lsn` is confirmable once everything pushed so
   * far is acknowledged (at once if nothing is pending).
   */
  mark(lsn: Lsn): void {
    if (this.#pushed === this.#acked && this.#marks.length === 0) {
      this.#confirmed = maxLsn(this.#confirmed, lsn);
      return;
    }
    const last = this.#marks[this.#marks.length - 1];
    // Consecutive marks with no record in between collapse into one, so the
    // queue never outgrows the pending records (empty transactions).
    if (last && last.seq === this.#pushed) last.lsn = maxLsn(last.lsn, lsn);
    else this.#marks.push({ seq: this.#pushed, lsn });
  }

  /** Kafka acknowledged every record up to and including `seq`. */
  ack(seq: number): void {
    if (seq > this.#pushed) throw new Error("ack beyond pushed records");
    this.#acked = Math.max(this.#acked, seq);
    while (this.#marks.length > 0 && this.#marks[0].seq <= this.#acked) {
      this.#confirmed = maxLsn(this.#confirmed, this.#marks.shift()!.lsn);
    }
  }

  /**
   * The server reported `lsn` as fully sent (keepalive). If nothing is in
   * flight it holds no change of ours, so it can be confirmed: this is what
   * lets the slot advance while the captured tables are idle.
   */
  advanceIdle(lsn: Lsn): boolean {
    if (this.#pushed !== this.#acked || this.#marks.length > 0) return false;
    const before = this.#confirmed;
    this.#confirmed = maxLsn(this.#confirmed, lsn);
    return this.#confirmed !== before;
  }
}
