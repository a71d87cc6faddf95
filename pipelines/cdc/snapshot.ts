/**
 * The initial snapshot: reads every captured table inside a REPEATABLE READ
 * transaction pinned to the slot's exported snapshot, so it sees exactly the
 * data before the slot's consistent point, and emits each row as `op: "r"`.
 * Rows are fetched through a cursor in pages (bounded memory); the very last
 * row of the snapshot carries `source.snapshot = "last"`.
 *
 * @module
 */
import type { Logger } from "../runtime/log.ts";
import type { pg } from "../runtime/postgres.ts";
import { quoteIdent } from "./catalog.ts";
import {
  type ChangePosition,
  changeRecord,
  type EnvelopeSettings,
  type OutRecord,
  snapshotMark,
  type TableMeta,
  textsToRow,
} from "./envelope.ts";
import type { Lsn } from "./lsn.ts";
import type { CdcMetrics } from "./metrics.ts";

/** Inputs of {@link runSnapshot}. */
export interface SnapshotInput {
  /** A fresh ordinary connection (session formats pinned). */
  client: pg.Client;
  snapshotName: string;
  consistentPoint: Lsn;
  tables: TableMeta[];
  settings: EnvelopeSettings;
  push: (r: OutRecord) => Promise<void>;
  metrics: CdcMetrics;
  log: Logger;
  signal: AbortSignal;
  fetchSize: number;
}

/** Every value as text: the same converters as the stream then apply. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v };

/** A snapshot row held back until the next one tells how to mark it. */
interface Held {
  meta: TableMeta;
  texts: (string | null)[];
  firstInTable: boolean;
}

/** Reads all tables; returns the number of rows emitted. */
export async function runSnapshot(inp: SnapshotInput): Promise<number> {
  const { client, metrics } = inp;
  const snap = metrics.labels("snapshot");
  const started = Date.now();
  metrics.totalTables.set(snap, inp.tables.length);
  metrics.remainingTables.set(snap, inp.tables.length);
  metrics.snapshotRunning.set(snap, 1);
  metrics.snapshotCompleted.set(snap, 0);
  metrics.snapshotAborted.set(snap, 0);
  let total = 0;
  // One record is held back so the last one can be marked "last".
  let held: Held | undefined;
  let txId: number | null = null;
  let emitted = 0;
  const emit = async (item: Held, next: Held | undefined) => {
    const pos: ChangePosition = {
      tsMs: started,
      snapshot: snapshotMark({
        first: emitted++ === 0,
        last: next === undefined,
        firstInTable: item.firstInTable,
        lastInTable: next?.meta !== item.meta,
      }),
      txId,
      lsn: inp.consistentPoint,
      lastCommitLsn: null,
    };
    const row = textsToRow(item.meta, item.texts);
    await inp.push(
      changeRecord(
        inp.settings,
        item.meta,
        "r",
        null,
        row,
        pos,
        null,
        Date.now(),
      ),
    );
  };
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    // The snapshot name comes from the server; still, quote it as a literal.
    await client.query(
      `SET TRANSACTION SNAPSHOT '${inp.snapshotName.replace(/'/g, "''")}'`,
    );
    const x = await client.query(
      "SELECT txid_snapshot_xmax(txid_current_snapshot())::text AS xid",
    );
    txId = Number(x.rows[0].xid);
    let remaining = inp.tables.length;
    for (const meta of inp.tables) {
      const cols = meta.columns.map((c) => quoteIdent(c.name)).join(", ");
      await client.query(
        `DECLARE cdc_snapshot NO SCROLL CURSOR FOR SELECT ${cols} FROM ${
          quoteIdent(meta.schema)
        }.${quoteIdent(meta.table)}`,
      );
      let rowsInTable = 0;
      while (true) {
        if (inp.signal.aborted) throw new Error("snapshot aborted by shutdown");
        const page = await client.query({
          text: `FETCH FORWARD ${inp.fetchSize} FROM cdc_snapshot`,
          rowMode: "array",
          types: TEXT_TYPES,
        } as pg.QueryConfig);
        for (const texts of page.rows as (string | null)[][]) {
          const item = { meta, texts, firstInTable: held?.meta !== meta };
          if (held) await emit(held, item);
          held = item;
          metrics.event("snapshot");
        }
        rowsInTable += page.rows.length;
        total += page.rows.length;
        metrics.rowsScanned.set(
          { ...snap, table: `${meta.schema}.${meta.table}` },
          rowsInTable,
        );
        metrics.snapshotDuration.set(snap, (Date.now() - started) / 1000);
        if (page.rows.length < inp.fetchSize) break;
      }
      await client.query("CLOSE cdc_snapshot");
      remaining--;
      metrics.remainingTables.set(snap, remaining);
      inp.log.info("snapshot of table done", {
        table: `${meta.schema}.${meta.table}`,
        rows: rowsInTable,
      });
    }
    if (held) await emit(held, undefined);
    await client.query("COMMIT");
  } catch (err) {
    metrics.snapshotRunning.set(snap, 0);
    metrics.snapshotAborted.set(snap, 1);
    try {
      await client.query("ROLLBACK");
    } catch { /* connection may be gone */ }
    throw err;
  }
  metrics.snapshotRunning.set(snap, 0);
  metrics.snapshotDuration.set(snap, (Date.now() - started) / 1000);
  return total;
}

/** Marks the snapshot as completed in the metrics. */
export function markSnapshotCompleted(metrics: CdcMetrics): void {
  metrics.snapshotCompleted.set(metrics.labels("snapshot"), 1);
}
