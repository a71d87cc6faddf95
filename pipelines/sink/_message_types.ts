/**
 * The messages the sink's pure transform takes and what each becomes:
 * shared by transform.ts and table_row.ts (which a decode worker loads alone).
 *
 * @module
 */

/** A Kafka message as the transform needs it. */
export interface SinkMessage {
  topic: string;
  partition: number;
  offset: number;
  /** UTF-8 decoded value; null for a tombstone. */
  value: string | null;
  key: string | null;
  /** Kafka message timestamp (epoch ms). */
  timestampMs: number;
}

/** What one message becomes. */
export type Outcome =
  | {
    kind: "row";
    table: string;
    shard: number;
    line: string;
    /** Complete line; otherwise the batch appends `_ingested_at` and `}`. */
    closed: boolean;
    eventMs?: number;
    /** Fields of the message the table has no column for. */
    unknown?: number;
  }
  | { kind: "dead"; reason: string; original: string }
  | { kind: "truncate"; table: string; version: number }
  | { kind: "skip" };
