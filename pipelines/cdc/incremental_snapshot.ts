/**
 * The pure core of the incremental snapshot (Debezium's, after Netflix's
 * DBLog): a table is read in chunks by primary key while streaming goes on.
 * Around each chunk read the relay writes a low and a high watermark row to
 * the signal table; both come back through the replication stream. Between
 * them, every key the stream changes is dropped from the chunk (the stream's
 * event is at least as new as the row read); at the high watermark the rest
 * of the chunk is emitted as `op: "r"`. So a snapshot row is never emitted
 * after a newer change of the same row.
 *
 * This module holds the window bookkeeping and the chunk SQL, with no I/O.
 *
 * @module
 */
import { quoteIdent } from "./catalog.ts";
import type { TableMeta } from "./envelope.ts";

/** Debezium's default `incremental.snapshot.chunk.size`. */
export const DEFAULT_CHUNK_SIZE = 1024;

/** One row read by a chunk query: values as text, and its canonical key. */
export interface ChunkRow {
  key: string;
  texts: (string | null)[];
}

/**
 * One chunk between its watermarks. Rows arrive from the chunk read, stream
 * changes from the replication stream; either may come first after the low
 * watermark, so keys changed while open are remembered, not only deleted.
 */
export class ChunkWindow {
  #open = false;
  readonly #changed = new Set<string>();
  #rows: ChunkRow[] | undefined;

  /** `id`: the watermark id; `topic`: the table's topic (stream filter). */
  constructor(readonly id: string, readonly topic: string) {}

  /** Whether the low watermark has come through the stream. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** The chunk's rows, once read. */
  setRows(rows: ChunkRow[]): void {
    this.#rows = rows;
  }

  /** The low watermark came through the stream. */
  open(): void {
    this.#open = true;
  }

  /** The stream changed `key` of `topic`; drops it from the chunk if open. */
  streamed(topic: string, key: string): void {
    if (this.#open && topic === this.topic) this.#changed.add(key);
  }

  /**
   * The high watermark came through the stream: the rows to emit (those the
   * stream did not change inside the window), in read order.
   */
  close(): ChunkRow[] {
    const rows = this.#rows ?? [];
    return rows.filter((r) => !this.#changed.has(r.key));
  }

  /** How many rows of the chunk the stream overtook (for logs). */
  get dropped(): number {
    return (this.#rows ?? []).filter((r) => this.#changed.has(r.key)).length;
  }
}

/**
 * A record key in a comparable form: the primary key object's JSON, without
 * the Connect schema wrapper `--schemas` adds.
 */
export function canonicalKey(key: string): string {
  const k = JSON.parse(key);
  const payload = k && typeof k === "object" && "schema" in k &&
      "payload" in k
    ? k.payload
    : k;
  return JSON.stringify(payload);
}

/** The watermark row ids of chunk window `id`. */
export function watermarkIds(id: string): { open: string; close: string } {
  return { open: `${id}-open`, close: `${id}-close` };
}

/**
 * The chunk query: the next `size` rows after `$1..$n` (the last key read;
 * none on the first chunk) and up to the table's largest key at its start
 * (`$n+1..`; rows inserted later with larger keys come through the stream
 * only), in primary key order. Parameters are untyped: PostgreSQL resolves
 * each to its column's type.
 */
export function chunkQuery(
  meta: TableMeta,
  opts: { after: boolean; bounded: boolean; size: number },
): string {
  const cols = meta.columns.map((c) => quoteIdent(c.name)).join(", ");
  const key = meta.keyColumns.map(quoteIdent);
  const n = key.length;
  const params = (from: number) => key.map((_, i) => `$${from + i}`).join(", ");
  const where: string[] = [];
  if (opts.after) where.push(`(${key.join(", ")}) > (${params(1)})`);
  if (opts.bounded) {
    where.push(
      `(${key.join(", ")}) <= (${params(opts.after ? n + 1 : 1)})`,
    );
  }
  return `SELECT ${cols} FROM ${quoteIdent(meta.schema)}.${
    quoteIdent(meta.table)
  }${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${
    key.join(", ")
  } LIMIT ${opts.size}`;
}

/** The query for the table's largest primary key (the snapshot's end). */
export function maxKeyQuery(meta: TableMeta): string {
  const key = meta.keyColumns.map(quoteIdent);
  return `SELECT ${key.join(", ")} FROM ${quoteIdent(meta.schema)}.${
    quoteIdent(meta.table)
  } ORDER BY ${key.map((k) => `${k} DESC`).join(", ")} LIMIT 1`;
}

/** The primary key values (as text) of a row read in column order. */
export function keyTexts(
  meta: TableMeta,
  texts: (string | null)[],
): string[] {
  return meta.keyColumns.map((k) => {
    const i = meta.columns.findIndex((c) => c.name === k);
    return texts[i] as string;
  });
}
