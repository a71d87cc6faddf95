/**
 * Snapshot state per slot, kept in PostgreSQL itself (`--state-table`, one
 * row per slot) so it cannot be lost while the slot survives: a restored or
 * rebuilt database loses both together. The row says `snapshotting` from
 * before the slot is created until Kafka acknowledged every snapshot record,
 * then `completed`.
 *
 * At start, {@link decideStart} picks: resume the slot, snapshot again (only
 * a slot this relay created and whose snapshot never completed), create a
 * new one — or refuse. An existing slot is never dropped on a guess: its
 * unconsumed changes would be lost and deleted rows would stay in mirrors.
 * The older per-slot file (`<state-dir>/<slot>.snapshot.json`) is read once
 * to migrate a completed snapshot into the table.
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import type { pg } from "../runtime/postgres.ts";
import { quoteIdent, splitTableName } from "./catalog.ts";

/** A slot's recorded snapshot state. */
export interface SlotState {
  status: "snapshotting" | "completed";
  /** PostgreSQL system identifier and database the slot lives in. */
  systemId: string;
  db: string;
}

/** What to do with the slot at start. */
export type StartDecision =
  | { action: "resume"; record: boolean }
  | { action: "redo" }
  | { action: "create" };

/**
 * The start decision (pure). `record`: resume and write `completed` (a
 * migrated file, or an explicit `--snapshot-mode never`).
 */
export function decideStart(a: {
  slot: string;
  slotExists: boolean;
  mode: "initial" | "never";
  row: SlotState | undefined;
  legacyFileCompleted: boolean;
  systemId: string;
  db: string;
  table: string;
}): StartDecision {
  if (!a.slotExists) return { action: "create" };
  const row = a.row && a.row.systemId === a.systemId && a.row.db === a.db
    ? a.row
    : undefined;
  if (row?.status === "completed") return { action: "resume", record: false };
  if (a.mode === "never") {
    return { action: "resume", record: row === undefined };
  }
  if (row?.status === "snapshotting") return { action: "redo" };
  if (a.legacyFileCompleted) return { action: "resume", record: true };
  throw new PipelineError(
    `replication slot "${a.slot}" exists but ${a.table} records no snapshot for it; refusing to drop it (its unconsumed changes would be lost)`,
    `if its snapshot completed (its topics hold it), resume once with --snapshot-mode never (this records it); to snapshot from scratch instead, drop the slot: SELECT pg_drop_replication_slot('${a.slot}');`,
  );
}

/** `schema.table` quoted. */
function qualified(table: string): string {
  return splitTableName(table).map(quoteIdent).join(".");
}

/** The DDL of the state table. */
export function stateTableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(table)} (
    slot text PRIMARY KEY, system_id text NOT NULL, db text NOT NULL,
    status text NOT NULL CHECK (status IN ('snapshotting', 'completed')),
    consistent_point pg_lsn, updated_at timestamptz NOT NULL DEFAULT now())`;
}

/** Creates the state table if missing; explains a privilege problem. */
export async function ensureStateTable(
  c: pg.Client,
  table: string,
): Promise<void> {
  try {
    await c.query(stateTableDdl(table));
  } catch (err) {
    throw new PipelineError(
      `cannot create the snapshot state table ${table}: ${
        (err as Error).message
      }`,
      `create it as a privileged user and grant the relay's role SELECT, INSERT, UPDATE on it: ${
        stateTableDdl(table).replace(/\s+/g, " ")
      }; or choose another --state-table`,
    );
  }
}

/** The recorded state of `slot`, if any. */
export async function readSlotState(
  c: pg.Client,
  table: string,
  slot: string,
): Promise<SlotState | undefined> {
  const r = await c.query(
    `SELECT status, system_id, db FROM ${qualified(table)} WHERE slot = $1`,
    [slot],
  );
  const row = r.rows[0];
  return row
    ? { status: row.status, systemId: row.system_id, db: row.db }
    : undefined;
}

/** Records `status` for `slot` (upsert). */
export async function writeSlotState(
  c: pg.Client,
  table: string,
  slot: string,
  s: SlotState & { consistentPoint?: string },
): Promise<void> {
  await c.query(
    `INSERT INTO ${qualified(table)}
       (slot, system_id, db, status, consistent_point, updated_at)
     VALUES ($1, $2, $3, $4, $5::pg_lsn, now())
     ON CONFLICT (slot) DO UPDATE SET system_id = $2, db = $3, status = $4,
       consistent_point = COALESCE($5::pg_lsn, ${
      qualified(table)
    }.consistent_point),
       updated_at = now()`,
    [slot, s.systemId, s.db, s.status, s.consistentPoint ?? null],
  );
}

/**
 * Whether the older state file says the snapshot of `slot` completed on
 * this system and database (missing or unreadable: false).
 */
export async function legacyFileCompleted(
  dir: string,
  slot: string,
  systemId: string,
  db: string,
): Promise<boolean> {
  try {
    const s = JSON.parse(
      await Deno.readTextFile(`${dir}/${slot}.snapshot.json`),
    );
    return s?.slot === slot && s.systemId === systemId && s.db === db;
  } catch (err) {
    if (
      err instanceof Deno.errors.NotFound || err instanceof SyntaxError
    ) return false;
    throw err;
  }
}
