/**
 * Request building: JSONEachRow bodies per (table, shard) out of the ranges a
 * flush took, and the dead-letter rows/messages. Everything here is a pure
 * function of the ranges and their ingest times, so re-forming a range after
 * a crash yields byte-identical bodies.
 *
 * @module
 */
import { sqlIdentifier } from "../runtime/clickhouse.ts";
import type { Capabilities } from "./any_table.ts";
import type { DeadLetter, Range } from "./batch.ts";

/** A range with the partition it belongs to. */
export interface TakenRange {
  topic: string;
  partition: number;
  /** The shard of this partition's dead letters. */
  shard: number;
  range: Range;
}

/** One insert: the lines of several ranges for one table on one shard. */
export interface InsertRequest {
  table: string;
  shard: number;
  /** Per contributing range, its lines and their offsets (rejections). */
  parts: Array<{ taken: TakenRange; lines: string[]; offsets: number[] }>;
  rows: number;
  /** The one range of a per-range request (see {@link buildRequests}). */
  range?: { topic: string; partition: number; from: number; to: number };
}

/** Stable order of ranges: by topic, then partition. */
export function sortTaken(taken: TakenRange[]): TakenRange[] {
  return [...taken].sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition
  );
}

/**
 * Groups the taken ranges' rows into one request per (table, shard). Tables
 * for which `perRange` is true get one request per range instead: their
 * blocks then depend on that range alone, whatever the table's PARTITION BY,
 * so a re-formed range de-duplicates (see README "Exactly once").
 */
export function buildRequests(
  taken: TakenRange[],
  perRange: (table: string) => boolean = () => false,
): InsertRequest[] {
  const byKey = new Map<string, InsertRequest>();
  for (const t of sortTaken(taken)) {
    for (const [key, lines] of t.range.groups) {
      if (lines.length === 0) continue;
      const i = key.lastIndexOf("|");
      const table = key.slice(0, i);
      const shard = Number(key.slice(i + 1));
      const alone = perRange(table);
      const reqKey = alone ? `${key}|${t.topic}|${t.partition}` : key;
      let req = byKey.get(reqKey);
      if (!req) {
        byKey.set(reqKey, req = { table, shard, parts: [], rows: 0 });
        if (alone) {
          req.range = {
            topic: t.topic,
            partition: t.partition,
            from: t.range.from,
            to: t.range.to,
          };
        }
      }
      req.parts.push({
        taken: t,
        lines,
        offsets: t.range.offsets.get(key) ?? [],
      });
      req.rows += lines.length;
    }
  }
  return [...byKey.values()].sort((a, b) =>
    a.table < b.table ? -1 : a.table > b.table ? 1 : a.shard - b.shard
  );
}

/** The JSONEachRow body of a request. */
export function requestBody(req: InsertRequest): string {
  const chunks: string[] = [];
  for (const { lines } of req.parts) {
    if (lines.length) chunks.push(lines.join("\n"));
  }
  return chunks.join("\n");
}

/**
 * Locates the 1-based `row` of a request body: which part and which line.
 */
export function locateRow(
  req: InsertRequest,
  row: number,
): { part: number; index: number } | undefined {
  let n = row - 1;
  for (let p = 0; p < req.parts.length; p++) {
    const len = req.parts[p].lines.length;
    if (n < len) return { part: p, index: n };
    n -= len;
  }
  return undefined;
}

/** `topic:partition:offset`, the dead letter's `source`. */
export function sourceOf(topic: string, partition: number, offset: number) {
  return `${topic}:${partition}:${offset}`;
}

/** Epoch seconds → ISO text. */
export function isoOf(ts: number): string {
  return new Date(ts * 1000).toISOString();
}

/** One dead-letter row (closed JSONEachRow line). */
export function deadLetterLine(
  t: TakenRange,
  dl: DeadLetter,
  ts: number,
): string {
  return `{"ts":${ts},"pipeline":"sink","reason":${
    JSON.stringify(dl.reason)
  },"source":"${sourceOf(t.topic, t.partition, dl.offset)}","original":${
    JSON.stringify(dl.original)
  },"_topic":${
    JSON.stringify(t.topic)
  },"_partition":${t.partition},"_offset":${dl.offset},"_ingested_at":${ts}}`;
}

/** Dead-letter bodies per shard, ranges in stable order. */
export function deadLetterBodies(taken: TakenRange[]): Map<number, string> {
  const byShard = new Map<number, string[]>();
  for (const t of sortTaken(taken)) {
    if (t.range.deadLetters.length === 0) continue;
    let lines = byShard.get(t.shard);
    if (!lines) byShard.set(t.shard, lines = []);
    for (const dl of t.range.deadLetters) {
      lines.push(deadLetterLine(t, dl, t.range.ts));
    }
  }
  return new Map([...byShard].map(([s, lines]) => [s, lines.join("\n")]));
}

/** The dead-letter topic message (the shared DLQ contract). */
export function deadLetterMessage(
  t: TakenRange,
  dl: DeadLetter,
): { key: string; value: string } {
  const source = sourceOf(t.topic, t.partition, dl.offset);
  return {
    key: source,
    value: JSON.stringify({
      reason: dl.reason,
      source,
      original: dl.original,
      pipeline: "sink",
      ts: isoOf(t.range.ts),
    }),
  };
}

/** Where and how one request is inserted. */
export interface InsertPlan {
  /** Quoted `db.table` to insert into. */
  table: string;
  /** Key of the one-insert-per-interval rule (with the shard). */
  pace: string;
  settings: Record<string, string | number>;
}

/**
 * The plan of a request: a built-in table is `<database>.<table>_local`; a
 * table target's request holds one range and, where the server has it,
 * carries a de-duplication token naming that range, so a re-delivered range
 * is dropped whatever DEFAULT now() or the table's PARTITION BY make of its
 * blocks (see README "Exactly once").
 */
export function insertPlan(req: InsertRequest, ctx: {
  database: string;
  group: string;
  capabilities?: Capabilities;
  /** The table target the request's table belongs to, if any. */
  table?: { database: string; table: string };
}): InsertPlan {
  if (!ctx.table || !req.range) {
    return {
      table: sqlIdentifier(`${ctx.database}.${req.table}_local`),
      pace: req.table,
      settings: {},
    };
  }
  const r = req.range;
  const settings: Record<string, string | number> = {};
  if (ctx.capabilities?.dedupToken) {
    settings.insert_deduplication_token =
      `${ctx.group}:${r.topic}:${r.partition}:${r.from}-${r.to}`;
  }
  if (ctx.capabilities?.omittedDefaults) {
    settings.input_format_defaults_for_omitted_fields = 1;
  }
  return {
    table: sqlIdentifier(`${ctx.table.database}.${ctx.table.table}`),
    // One insert per range: paced per partition, so a table gets as many
    // parts per interval as the built-in tables (partitioned by Kafka
    // partition) do.
    pace: `${req.table}|${r.topic}:${r.partition}`,
    settings,
  };
}
