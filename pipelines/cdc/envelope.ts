/**
 * The encoder: decoded changes → Kafka records in Debezium's JSON format
 * (JsonConverter with `schemas.enable=false`), so existing Debezium consumers
 * keep working. See README "Output format".
 *
 * @module
 */
import { type Converter, UNAVAILABLE_VALUE } from "./convert.ts";
import type { Lsn } from "./lsn.ts";
import type { TupleValue } from "./pgoutput.ts";
import { type TableSchemas, withSchema } from "./schema.ts";

/** Version string carried in `source.version`. */
export const RELAY_VERSION = "deno-cdc-1.0.0";

/** A column as the relay knows it: name and value converter. */
export interface ColumnMeta {
  name: string;
  typeOid: number;
  /** `atttypmod` (-1 = none); feeds `--schemas`. */
  typeMod?: number;
  convert: Converter;
}

/** One captured table. */
export interface TableMeta {
  relationOid: number;
  schema: string;
  table: string;
  /** `<prefix>.<schema>.<table>`. */
  topic: string;
  /** Columns in attribute order (the order pgoutput tuples use). */
  columns: ColumnMeta[];
  /** Primary key column names, in key order. */
  keyColumns: string[];
  /** Connect schemas of this relation version, when `--schemas` is on. */
  schemas?: TableSchemas;
}

/** A record for Kafka; `value` null is a tombstone. */
export interface OutRecord {
  topic: string;
  key: string | null;
  value: string | null;
  /** Commit time of the source transaction (for the end-to-end lag metric). */
  commitTimeMs?: number;
}

/** Fixed parts of `source`. */
export interface EnvelopeSettings {
  /** Logical server name = topic prefix (`source.name`). */
  serverName: string;
  /** Database name (`source.db`). */
  db: string;
}

/** Where a change comes from. */
export interface ChangePosition {
  /** Commit time (streaming) or snapshot time, ms. */
  tsMs: number;
  /** The same in µs when known (pgoutput's commit time); else `tsMs` × 1000. */
  tsUs?: bigint;
  /** `incremental`: a chunk row of an incremental snapshot (Debezium 2+). */
  snapshot: SnapshotMark | "false" | "incremental";
  txId: number | null;
  /** LSN of the change (streaming) or of the snapshot's consistent point. */
  lsn: Lsn;
  /** End LSN of the previous transaction (Debezium's `lastCommitLsn`). */
  lastCommitLsn: Lsn | null;
}

/** `source.snapshot` of a snapshot record, as Debezium 3 marks them. */
export type SnapshotMark =
  | "first"
  | "first_in_data_collection"
  | "true"
  | "last_in_data_collection"
  | "last";

/**
 * Debezium's mark of a snapshot record: `first` / `last` of the whole
 * snapshot, else `first_in_data_collection` / `last_in_data_collection` of
 * its table, else `true`. A lone record is `last` (what readers wait for).
 */
export function snapshotMark(p: {
  first: boolean;
  last: boolean;
  firstInTable: boolean;
  lastInTable: boolean;
}): SnapshotMark {
  if (p.last) return "last";
  if (p.first) return "first";
  if (p.lastInTable) return "last_in_data_collection";
  if (p.firstInTable) return "first_in_data_collection";
  return "true";
}

/** Debezium's transaction block. */
export interface TransactionInfo {
  id: string;
  total_order: number;
  data_collection_order: number;
}

/** A row as a JSON object; NULL → null, unchanged TOAST → placeholder. */
export type Row = Record<string, unknown>;

/** Converts a pgoutput tuple into a row. */
export function tupleToRow(meta: TableMeta, tuple: TupleValue[]): Row {
  const row: Row = {};
  const cols = meta.columns;
  for (let i = 0; i < cols.length; i++) {
    const v = tuple[i];
    const c = cols[i];
    if (!v || v.kind === "null") row[c.name] = null;
    else if (v.kind === "unchanged") row[c.name] = UNAVAILABLE_VALUE;
    else if (v.kind === "text") row[c.name] = c.convert(v.text);
    else row[c.name] = null; // binary never requested (protocol 1)
  }
  return row;
}

/** Converts a row of text values (snapshot query) into a row. */
export function textsToRow(meta: TableMeta, values: (string | null)[]): Row {
  const row: Row = {};
  const cols = meta.columns;
  for (let i = 0; i < cols.length; i++) {
    const v = values[i];
    row[cols[i].name] = v === null || v === undefined
      ? null
      : cols[i].convert(v);
  }
  return row;
}

/** The Kafka key: the primary key columns, e.g. `{"id":42}`. */
export function keyOf(meta: TableMeta, row: Row): string {
  const key: Row = {};
  for (const k of meta.keyColumns) key[k] = row[k];
  const json = JSON.stringify(key);
  return meta.schemas ? withSchema(meta.schemas.key, json) : json;
}

/** Whether the primary key differs between two rows. */
export function keyChanged(meta: TableMeta, before: Row, after: Row): boolean {
  for (const k of meta.keyColumns) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) return true;
  }
  return false;
}

/** The constant parts of one table's `source` JSON, built once. */
interface SourceTemplate {
  head: string;
  mid: string;
  tail: string;
}
const templates = new WeakMap<TableMeta, SourceTemplate>();

function template(s: EnvelopeSettings, meta: TableMeta): SourceTemplate {
  let t = templates.get(meta);
  if (!t) {
    t = {
      head: `{"version":${
        JSON.stringify(RELAY_VERSION)
      },"connector":"postgresql","name":${
        JSON.stringify(s.serverName)
      },"ts_ms":`,
      mid: `,"db":${JSON.stringify(s.db)},"sequence":`,
      tail: `,"schema":${JSON.stringify(meta.schema)},"table":${
        JSON.stringify(meta.table)
      },"txId":`,
    };
    templates.set(meta, t);
  }
  return t;
}

/**
 * The `source` block as JSON text. Built by concatenation from a per-table
 * template: it is on the hot path (one per record) and every variable part is
 * a number, a fixed word or an LSN's digits, so no escaping is needed.
 */
export function sourceJson(
  s: EnvelopeSettings,
  meta: TableMeta,
  pos: ChangePosition,
): string {
  const t = template(s, meta);
  const lsn = pos.lsn.toString();
  const prev = pos.lastCommitLsn === null
    ? "null"
    : `\\"${pos.lastCommitLsn}\\"`;
  const us = pos.tsUs ?? BigInt(pos.tsMs) * 1000n;
  // Debezium 3.6's field order; origin/origin_lsn are null there too.
  return t.head + pos.tsMs + ',"snapshot":"' + pos.snapshot + '"' + t.mid +
    '"[' + prev + ',\\"' + lsn + '\\"]","ts_us":' + us + ',"ts_ns":' + us +
    "000" + t.tail + (pos.txId === null ? "null" : pos.txId) + ',"lsn":' +
    lsn + ',"xmin":null,"origin":null,"origin_lsn":null}';
}

function transactionJson(tx: TransactionInfo | null): string {
  if (!tx) return "null";
  return `{"id":${
    JSON.stringify(tx.id)
  },"total_order":${tx.total_order},"data_collection_order":${tx.data_collection_order}}`;
}

function envelopeJson(
  before: Row | null,
  after: Row | null,
  source: string,
  op: string,
  nowMs: number,
  tx: TransactionInfo | null,
): string {
  // Debezium 3.6's order; ts_us/ts_ns of a ms clock (exact integers as text).
  return '{"before":' + (before ? JSON.stringify(before) : "null") +
    ',"after":' + (after ? JSON.stringify(after) : "null") +
    ',"source":' + source + ',"transaction":' + transactionJson(tx) +
    ',"op":"' + op + '","ts_ms":' + nowMs + ',"ts_us":' + nowMs +
    '000,"ts_ns":' +
    nowMs + "000000}";
}

/** The envelope, with its schema when the table carries schemas. */
function wrap(meta: TableMeta, payload: string): string {
  return meta.schemas ? withSchema(meta.schemas.value, payload) : payload;
}

/** Builds one change record (`c`, `u`, `d`, `r`) for the table's topic. */
export function changeRecord(
  s: EnvelopeSettings,
  meta: TableMeta,
  op: "c" | "u" | "d" | "r",
  before: Row | null,
  after: Row | null,
  pos: ChangePosition,
  transaction: TransactionInfo | null,
  nowMs: number,
): OutRecord {
  const keyRow = after ?? before;
  if (!keyRow) throw new Error("change without before or after");
  return {
    topic: meta.topic,
    key: keyOf(meta, keyRow),
    value: wrap(
      meta,
      envelopeJson(
        before,
        after,
        sourceJson(s, meta, pos),
        op,
        nowMs,
        transaction,
      ),
    ),
    commitTimeMs: pos.snapshot === "false" ? pos.tsMs : undefined,
  };
}

/** The tombstone that follows a delete (lets compaction drop the key). */
export function tombstone(meta: TableMeta, before: Row): OutRecord {
  return { topic: meta.topic, key: keyOf(meta, before), value: null };
}

/** A truncate record (`op: "t"`): no key, no row images. */
export function truncateRecord(
  s: EnvelopeSettings,
  meta: TableMeta,
  pos: ChangePosition,
  transaction: TransactionInfo | null,
  nowMs: number,
): OutRecord {
  return {
    topic: meta.topic,
    key: null,
    value: wrap(
      meta,
      envelopeJson(
        null,
        null,
        sourceJson(s, meta, pos),
        "t",
        nowMs,
        transaction,
      ),
    ),
    commitTimeMs: pos.tsMs,
  };
}

/** The `transaction.id` Debezium uses: `<txId>:<commit LSN>`. */
export function transactionId(xid: number, commitLsn: Lsn): string {
  return `${xid}:${commitLsn}`;
}
