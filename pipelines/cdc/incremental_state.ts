/**
 * Per-table snapshot progress of a slot, in PostgreSQL beside the slot's
 * state (`<--state-table>_tables`): `completed` tables are never read again;
 * a `running` one resumes after `last_key` (the last chunk Kafka acked) up to
 * `max_key` (its largest key when its snapshot began). The row with an empty
 * table name marks the slot's set as initialized: tables found at the first
 * start were covered by the initial snapshot (or by `--snapshot-mode never`).
 *
 * @module
 */
import type { pg } from "../runtime/postgres.ts";
import { quoteIdent, splitTableName } from "./catalog.ts";

/** One table's incremental snapshot progress. */
export interface TableProgress {
  status: "running" | "completed";
  /** Primary key (texts) of the last emitted chunk's last row; null = start. */
  lastKey: string[] | null;
  /** Largest key when the snapshot began; null = not read yet. */
  maxKey: string[] | null;
  /** The execute-snapshot signal that started it (replays are ignored). */
  signalId: string | null;
  /** Marker row only: the slot's consistent point it was initialized for. */
  consistentPoint?: string | null;
}

/** The progress table's name for a `--state-table`. */
export function progressTable(stateTable: string): string {
  return `${splitTableName(stateTable).join(".")}_tables`;
}

function qualified(table: string): string {
  return splitTableName(table).map(quoteIdent).join(".");
}

/** The DDL of the progress table. */
export function progressTableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(table)} (
    slot text NOT NULL, table_name text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'completed')),
    last_key text, max_key text, signal_id text, consistent_point text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slot, table_name))`;
}

/** Every recorded table of `slot` (`""` = the initialized marker). */
export async function loadProgress(
  c: Pick<pg.Client, "query">,
  table: string,
  slot: string,
): Promise<Map<string, TableProgress>> {
  await c.query(progressTableDdl(table));
  const r = await c.query(
    `SELECT table_name, status, last_key, max_key, signal_id,
            consistent_point FROM ${qualified(table)} WHERE slot = $1`,
    [slot],
  );
  return new Map(
    r.rows.map((x) => [x.table_name as string, {
      status: x.status,
      lastKey: x.last_key === null ? null : JSON.parse(x.last_key),
      maxKey: x.max_key === null ? null : JSON.parse(x.max_key),
      signalId: x.signal_id,
      consistentPoint: x.consistent_point,
    }]),
  );
}

/** Records one table's progress (upsert). */
export async function saveProgress(
  c: Pick<pg.Client, "query">,
  table: string,
  slot: string,
  name: string,
  p: TableProgress,
): Promise<void> {
  await c.query(
    `INSERT INTO ${qualified(table)}
       (slot, table_name, status, last_key, max_key, signal_id,
        consistent_point, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, now())
     ON CONFLICT (slot, table_name) DO UPDATE SET status = $3, last_key = $4,
       max_key = $5, signal_id = $6, consistent_point = $7, updated_at = now()`,
    [
      slot,
      name,
      p.status,
      p.lastKey === null ? null : JSON.stringify(p.lastKey),
      p.maxKey === null ? null : JSON.stringify(p.maxKey),
      p.signalId,
      p.consistentPoint ?? null,
    ],
  );
}

/** The slot's consistent point as the state table records it (text). */
export async function slotConsistentPoint(
  c: Pick<pg.Client, "query">,
  stateTable: string,
  slot: string,
): Promise<string | null> {
  const r = await c.query(
    `SELECT consistent_point::text AS cp FROM ${
      qualified(stateTable)
    } WHERE slot = $1`,
    [slot],
  );
  return r.rows[0]?.cp ?? null;
}

/** Forgets a slot's progress (its slot is new: everything is read again). */
export async function clearProgress(
  c: Pick<pg.Client, "query">,
  table: string,
  slot: string,
): Promise<void> {
  await c.query(`DELETE FROM ${qualified(table)} WHERE slot = $1`, [slot]);
}
