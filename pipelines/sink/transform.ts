/**
 * The pure part of the sink: one Kafka message and the table its topic is
 * routed to → a row (table, shard, JSONEachRow line), a dead letter, a CDC
 * truncate, or nothing. The sink loop only batches, flushes and commits what
 * this returns; everything here is a function of the message and the ingest
 * time, so a range re-formed after a crash yields the same rows.
 *
 * @module
 */
import { encodeChange } from "./cdc.ts";
import type { AutoMirrors } from "./cdc_auto.ts";
import { shardOfId, shardOfPartition, type Target } from "./routes.ts";
import type { Outcome, SinkMessage } from "./_message_types.ts";
import { tableRow, type TableSink } from "./table_row.ts";
import type { EventTable } from "./tables.ts";
import { encodeEvent } from "./validate.ts";

export type { Outcome, SinkMessage, TableSink };

/** Where a topic's messages go, once resolved. */
export type Destination =
  | { kind: "event"; table: EventTable }
  | { kind: "cdc"; target: Target; auto?: AutoMirrors }
  | TableSink;

/**
 * Transforms `m` for destination `dest` (undefined: no route matched).
 * `shards` is the shard count, `ingestedSec` the range's ingest time.
 */
export function transformMessage(
  dest: Destination | undefined,
  m: SinkMessage,
  shards: number,
  ingestedSec: number,
): Outcome {
  const { topic, partition, offset, value } = m;
  if (!dest) {
    return {
      kind: "dead",
      reason: `no table is mapped to topic ${topic}`,
      original: value ?? "",
    };
  }
  const meta = { topic, partition, offset };
  switch (dest.kind) {
    case "event": {
      if (value === null) {
        return {
          kind: "dead",
          reason: "empty message (null value)",
          original: "",
        };
      }
      const enc = encodeEvent(dest.table, value, meta);
      if (!enc.ok) return { kind: "dead", reason: enc.reason, original: value };
      return {
        kind: "row",
        table: dest.table.name,
        shard: shardOfPartition(topic, partition, shards),
        line: enc.line,
        closed: false,
        eventMs: enc.eventMs,
      };
    }
    case "cdc": {
      const r = encodeChange(value, meta, dest.target, dest.auto);
      if (r.kind === "row") {
        return {
          kind: "row",
          table: r.table,
          shard: shardOfId(r.id, shards),
          line: r.line,
          closed: false,
          eventMs: r.eventMs,
        };
      }
      if (r.kind === "invalid") {
        return { kind: "dead", reason: r.reason, original: value ?? "" };
      }
      if (r.kind === "truncate") return r;
      return { kind: "skip" };
    }
    case "table":
      return tableRow(dest, m, shards, ingestedSec);
  }
}
