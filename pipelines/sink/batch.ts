/**
 * Batching state. Every assigned Kafka partition keeps a queue of offset
 * ranges; a flush takes at most ONE range per partition (the first), so each
 * Kafka partition contributes exactly one contiguous range to an insert. The
 * tables are partitioned by (_topic, _partition), hence that range becomes its
 * own part whose block hash depends only on the range's messages and ingest
 * time — which is what makes a re-formed range de-duplicate.
 *
 * A range recovered from the manifest must end exactly at its recorded
 * offset: later messages start a new range.
 *
 * @module
 */
import { HopClock } from "../runtime/hops.ts";
import type { PendingRange } from "./manifest.ts";

/** A message that became a dead letter. */
export interface DeadLetter {
  offset: number;
  reason: string;
  original: string;
}

/** A CDC truncate seen in a range (applied after the range's rows). */
export interface Truncate {
  table: string;
  version: number;
}

/** One contiguous offset range of one partition. */
export class Range {
  /** First and last offset seen (inclusive); -1 while empty. */
  from = -1;
  to = -1;
  /** Complete JSON lines by `table|shard`. */
  readonly groups = new Map<string, string[]>();
  /** The Kafka offset of each line of {@link groups}, same keys and order. */
  readonly offsets = new Map<string, number[]>();
  /** Event (or commit) times of the rows by `table|shard`, for freshness. */
  readonly eventTimes = new Map<string, number[]>();
  /** Per `table|shard`: when its rows were fetched (the `insert` hop). */
  readonly fetchTimes = new Map<string, HopClock>();
  readonly deadLetters: DeadLetter[] = [];
  readonly truncates: Truncate[] = [];
  rows = 0;
  bytes = 0;
  /** Messages consumed into this range (rows, dead letters, skipped). */
  messages = 0;
  /** When the first message arrived (ms), for the time trigger. */
  firstAt = 0;
  /** No more messages may join (being flushed, or recovered and complete). */
  sealed = false;
  /** Taken by a flush that has not finished yet. */
  inFlight = false;
  /** Ingest time (epoch s): when the range opened, or from the manifest. */
  ts = 0;
  /** The manifest of this range is committed to Kafka. */
  intentCommitted = false;

  /**
   * @param recovered a manifest entry: the range must end at `to` and carry
   *   ingest time `ts`.
   */
  constructor(readonly recovered?: PendingRange) {
    if (recovered) {
      this.ts = recovered.ts;
      this.intentCommitted = true;
    }
  }

  /** Whether `offset` may still join this range. */
  accepts(offset: number): boolean {
    if (this.sealed) return false;
    return !this.recovered || offset <= this.recovered.to;
  }

  #suffix = "";

  #touch(offset: number, now: number) {
    if (this.from < 0) {
      this.from = offset;
      this.firstAt = now;
      // The ingest time is fixed when the range opens (a recovered range
      // brings its own), so rows are complete as they arrive.
      if (!this.ts) this.ts = Math.floor(now / 1000);
      this.#suffix = `,"_ingested_at":${this.ts}}`;
    }
    this.to = offset;
    this.messages++;
    if (this.recovered && offset >= this.recovered.to) this.sealed = true;
  }

  /**
   * The range's ingest time (epoch s), fixing it if the range is new: rows of
   * any table that carry `_ingested_at` take it before they are added.
   */
  ingestTs(now: number): number {
    if (!this.ts) this.ts = Math.floor(now / 1000);
    return this.ts;
  }

  /**
   * Adds a valid row for `table` on `shard`: an open line (see validate.ts)
   * that gets `_ingested_at` appended, or a `closed` complete line.
   */
  addRow(
    offset: number,
    table: string,
    shard: number,
    line: string,
    now: number,
    eventMs?: number,
    closed = false,
  ) {
    this.#touch(offset, now);
    const key = `${table}|${shard}`;
    let g = this.groups.get(key);
    if (!g) {
      this.groups.set(key, g = []);
      this.offsets.set(key, []);
    }
    g.push(closed ? line : line + this.#suffix);
    this.offsets.get(key)!.push(offset);
    let f = this.fetchTimes.get(key);
    if (!f) this.fetchTimes.set(key, f = new HopClock());
    f.mark(now);
    if (eventMs !== undefined && Number.isFinite(eventMs)) {
      let t = this.eventTimes.get(key);
      if (!t) this.eventTimes.set(key, t = []);
      t.push(eventMs);
    }
    this.rows++;
    this.bytes += line.length + 40;
  }

  /** Adds a dead letter. */
  addDeadLetter(offset: number, reason: string, original: string, now: number) {
    this.#touch(offset, now);
    this.deadLetters.push({ offset, reason, original });
    this.rows++;
    this.bytes += original.length + reason.length + 80;
  }

  /** Records a message that produces nothing (tombstone). */
  addSkip(offset: number, now: number) {
    this.#touch(offset, now);
  }

  /** Records a CDC truncate. */
  addTruncate(offset: number, t: Truncate, now: number) {
    this.#touch(offset, now);
    this.truncates.push(t);
  }

  /** A recovered range that has not yet reached its recorded end. */
  get incomplete(): boolean {
    return !!this.recovered && this.to < this.recovered.to;
  }
}

/** Rows and bytes buffered (not in flight), and the oldest row's arrival. */
export interface Buffered {
  rows: number;
  bytes: number;
  /** When the oldest buffered row arrived (ms); Infinity if none. */
  oldest: number;
}

/** What `states` buffer together (see {@link PartitionState.buffered}). */
export function bufferedOf(states: Iterable<PartitionState>): Buffered {
  let rows = 0, bytes = 0, oldest = Infinity;
  for (const st of states) {
    const b = st.buffered();
    rows += b.rows;
    bytes += b.bytes;
    oldest = Math.min(oldest, b.oldest);
  }
  return { rows, bytes, oldest };
}

/** Whether `b` reached the batch (and buffer) limits. */
export function isFull(
  b: Buffered,
  c: { batchRows: number; batchBytes: number },
): boolean {
  return b.rows >= c.batchRows || b.bytes >= c.batchBytes;
}

/** Everything the sink tracks for one assigned partition. */
export class PartitionState {
  /** Next offset to accept; lower offsets are re-deliveries, skipped. */
  next = -1;
  readonly ranges: Range[] = [];
  /** Set when the partition is revoked: no commits for it any more. */
  dropped = false;

  /**
   * @param committed the group's committed offset (-1 if none)
   * @param pending the manifest found in the commit metadata
   */
  constructor(
    readonly topic: string,
    readonly partition: number,
    public committed: number,
    pending?: PendingRange,
  ) {
    if (committed >= 0) this.next = committed;
    if (pending) this.ranges.push(new Range(pending));
  }

  /** The range an `offset` joins (a new one if the last cannot take it). */
  rangeFor(offset: number): Range {
    const last = this.ranges[this.ranges.length - 1];
    if (last && last.accepts(offset)) return last;
    const r = new Range();
    this.ranges.push(r);
    return r;
  }

  /** Rows and bytes buffered and not taken by a running flush. */
  buffered(): Buffered {
    let rows = 0, bytes = 0, oldest = Infinity;
    for (const r of this.ranges) {
      if (r.messages === 0 || r.inFlight) continue;
      rows += r.rows;
      bytes += r.bytes;
      oldest = Math.min(oldest, r.firstAt);
    }
    return { rows, bytes, oldest };
  }

  /**
   * The range the next flush should take: the first one, if it has messages
   * and (when recovered) is complete. Seals it.
   */
  takeForFlush(): Range | undefined {
    const r = this.ranges[0];
    if (!r || r.inFlight || r.messages === 0 || r.incomplete) return undefined;
    r.sealed = true;
    r.inFlight = true;
    return r;
  }

  /** Puts a range back after a failed flush (it keeps its messages). */
  retry(r: Range) {
    r.inFlight = false;
  }

  /** Removes a range once it is committed. */
  release(r: Range) {
    const i = this.ranges.indexOf(r);
    if (i >= 0) this.ranges.splice(i, 1);
  }
}
