/**
 * A message routed to any table (`--map glob=[db.]table`) → one complete
 * JSONEachRow line through the table's converter (row.ts), or a dead letter
 * with its reason. Pure: the same on the main thread and in a decode worker
 * (decode_chunk.ts).
 *
 * @module
 */
import type { RowConverter } from "./row.ts";
import { shardOfPartition } from "./routes.ts";
import type { Outcome, SinkMessage } from "./_message_types.ts";
import { parseObject } from "./validate.ts";

/** Any table, typed from ClickHouse (`--map glob=[db.]table`). */
export interface TableSink {
  kind: "table";
  /** The batch key: the local table rows are inserted into, `db.table`. */
  insertTable: string;
  /** The current converter (rebuilt when the table changes). */
  converter: RowConverter;
  /** Optional JSON Schema check: undefined = valid, else the reason. */
  validate?: (value: unknown) => string | undefined;
  /** Unknown fields make the message a dead letter instead of being ignored. */
  strict?: boolean;
}

/**
 * The row (or dead letter) of `m` in table `dest`; `ingestedSec` is the
 * range's ingest time.
 */
export function tableRow(
  dest: TableSink,
  m: SinkMessage,
  shards: number,
  ingestedSec: number,
): Outcome {
  if (m.value === null) {
    return { kind: "dead", reason: "empty message (null value)", original: "" };
  }
  const parsed = parseObject(m.value);
  if (!parsed.ok) {
    return { kind: "dead", reason: parsed.reason, original: m.value };
  }
  if (dest.validate) {
    const why = dest.validate(parsed.value);
    if (why !== undefined) {
      return { kind: "dead", reason: `schema: ${why}`, original: m.value };
    }
  }
  const r = dest.converter.convert(parsed.value, m, ingestedSec);
  if (!r.ok) return { kind: "dead", reason: r.reason, original: m.value };
  if (dest.strict && r.unknown > 0) {
    const cols = new Set(dest.converter.columns);
    const extra = Object.keys(parsed.value).filter((k) => !cols.has(k));
    return {
      kind: "dead",
      reason: `unknown field(s) ${extra.slice(0, 5).join(", ")} (strict route)`,
      original: m.value,
    };
  }
  return {
    kind: "row",
    table: dest.insertTable,
    // One shard per Kafka partition: a retried range reaches the shard that
    // holds the first attempt's block hashes.
    shard: shardOfPartition(m.topic, m.partition, shards),
    line: r.line,
    closed: true,
    unknown: r.unknown,
  };
}
