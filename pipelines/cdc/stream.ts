/**
 * The streaming source logic: replication frames in, Debezium records out.
 *
 * pgoutput (without `streaming`) sends each transaction whole, at its commit,
 * in commit order, so records are emitted as they are decoded — order is
 * preserved and nothing waits in memory for the commit; the transaction's end
 * LSN is marked after its last record and confirmed only once Kafka acked it.
 *
 * @module
 */
import type { Logger } from "../runtime/log.ts";
import {
  type ChangePosition,
  changeRecord,
  type EnvelopeSettings,
  keyChanged,
  type OutRecord,
  type TableMeta,
  tombstone,
  transactionId,
  type TransactionInfo,
  truncateRecord,
  tupleToRow,
} from "./envelope.ts";
import type { Lsn } from "./lsn.ts";
import type { CdcMetrics } from "./metrics.ts";
import {
  decodePgOutput,
  type PgOutputMessage,
  type ReplicationFrame,
  type TupleValue,
} from "./pgoutput.ts";

/** Prefix of the relay's own heartbeat messages in the WAL. */
export const HEARTBEAT_PREFIX = "deno_cdc_heartbeat";

/** What the handler needs from the rest of the relay. */
export interface StreamDeps {
  settings: EnvelopeSettings;
  /** Captured tables by `schema.table`. */
  include: Set<string>;
  /**
   * Builds table metadata for a Relation message (columns from the message,
   * primary key from the catalog).
   */
  describe: (
    msg: Extract<PgOutputMessage, { tag: "relation" }>,
  ) => Promise<TableMeta>;
  push: (r: OutRecord) => Promise<void>;
  /** Marks a transaction end LSN (confirmable once everything before is acked). */
  mark: (lsn: Lsn) => void;
  /** The server reported `lsn` as sent; confirm it if nothing is pending. */
  idle: (lsn: Lsn) => void;
  metrics: CdcMetrics;
  tombstones: boolean;
  log: Logger;
}

interface OpenTxn {
  xid: number;
  finalLsn: Lsn;
  commitTimeMs: number;
  commitTimeUs: bigint;
  totalOrder: number;
  perTable: Map<string, number>;
}

/**
 * Fills the unchanged TOASTed values of an update's new tuple from the old
 * tuple, which `REPLICA IDENTITY FULL` sends whole (detoasted), as Debezium
 * does; without it they stay Debezium's unavailable placeholder.
 */
export function fillUnchanged(
  next: TupleValue[],
  old: TupleValue[],
): TupleValue[] {
  if (!next.some((v) => v?.kind === "unchanged")) return next;
  return next.map((v, i) =>
    v?.kind === "unchanged" && old[i] && old[i].kind === "text" ? old[i] : v
  );
}

/** Turns replication frames into records, keeping per-stream state. */
export class ChangeHandler {
  readonly #byOid = new Map<number, TableMeta | null>();
  #txn: OpenTxn | undefined;
  #lastCommitLsn: Lsn | null;
  /** Highest WAL position received (for the status update's write field). */
  received: Lsn;

  /** `startLsn`: where the stream resumes (the previous commit's end). */
  constructor(private readonly deps: StreamDeps, startLsn: Lsn) {
    this.#lastCommitLsn = startLsn;
    this.received = startLsn;
  }

  /** Whether a transaction is open (its end not yet seen). */
  get inTransaction(): boolean {
    return this.#txn !== undefined;
  }

  /** Forgets a half-received transaction (after a reconnect it comes again). */
  reset(): void {
    this.#txn = undefined;
  }

  /** Handles one frame. */
  async handle(frame: ReplicationFrame): Promise<void> {
    if (frame.kind === "keepalive") {
      if (frame.walEnd > this.received) this.received = frame.walEnd;
      if (!this.#txn) this.deps.idle(frame.walEnd);
      return;
    }
    if (frame.walEnd > this.received) this.received = frame.walEnd;
    await this.#message(decodePgOutput(frame.payload), frame.walStart);
  }

  async #message(m: PgOutputMessage, walStart: Lsn): Promise<void> {
    const { deps } = this;
    switch (m.tag) {
      case "begin":
        this.#txn = {
          xid: m.xid,
          finalLsn: m.finalLsn,
          commitTimeMs: m.commitTimeMs,
          commitTimeUs: m.commitTimeUs,
          totalOrder: 0,
          perTable: new Map(),
        };
        return;
      case "commit":
        this.#txn = undefined;
        this.#lastCommitLsn = m.endLsn;
        deps.mark(m.endLsn);
        deps.metrics.committed();
        return;
      case "relation": {
        const name = `${m.schema}.${m.name}`;
        this.#byOid.set(
          m.relationOid,
          deps.include.has(name) ? await deps.describe(m) : null,
        );
        return;
      }
      case "type":
      case "origin":
        return;
      case "message":
        if (m.prefix !== HEARTBEAT_PREFIX) {
          deps.metrics.skipped("streaming");
        } else if (!m.transactional && !this.#txn) {
          deps.idle(m.lsn);
        }
        return;
      case "insert":
      case "update":
      case "delete":
        return await this.#change(m, walStart);
      case "truncate":
        for (const oid of m.relationOids) {
          const meta = this.#byOid.get(oid);
          deps.metrics.event("streaming");
          if (!meta) {
            deps.metrics.skipped("streaming");
            continue;
          }
          const { pos, tx } = this.#position(meta, walStart);
          await deps.push(
            truncateRecord(deps.settings, meta, pos, tx, Date.now()),
          );
        }
        return;
    }
  }

  #position(
    meta: TableMeta,
    lsn: Lsn,
  ): { pos: ChangePosition; tx: TransactionInfo | null } {
    const t = this.#txn;
    const pos: ChangePosition = {
      tsMs: t?.commitTimeMs ?? Date.now(),
      tsUs: t?.commitTimeUs,
      snapshot: "false",
      txId: t?.xid ?? null,
      lsn,
      lastCommitLsn: this.#lastCommitLsn,
    };
    if (!t) return { pos, tx: null };
    const table = `${meta.schema}.${meta.table}`;
    const perTable = (t.perTable.get(table) ?? 0) + 1;
    t.perTable.set(table, perTable);
    t.totalOrder++;
    this.deps.metrics.behind(Math.max(0, Date.now() - t.commitTimeMs));
    return {
      pos,
      tx: {
        id: transactionId(t.xid, t.finalLsn),
        total_order: t.totalOrder,
        data_collection_order: perTable,
      },
    };
  }

  async #change(
    m: Extract<PgOutputMessage, { tag: "insert" | "update" | "delete" }>,
    lsn: Lsn,
  ): Promise<void> {
    const { deps } = this;
    deps.metrics.event("streaming");
    const meta = this.#byOid.get(m.relationOid);
    if (!meta) {
      if (meta === undefined) {
        deps.log.warn("change for a relation never described; skipped", {
          relation_oid: m.relationOid,
        });
      }
      deps.metrics.skipped("streaming");
      return;
    }
    const s = deps.settings;
    const now = Date.now();
    if (m.tag === "insert") {
      const { pos, tx } = this.#position(meta, lsn);
      await deps.push(
        changeRecord(
          s,
          meta,
          "c",
          null,
          tupleToRow(meta, m.newTuple),
          pos,
          tx,
          now,
        ),
      );
      return;
    }
    if (m.tag === "delete") {
      const before = tupleToRow(meta, m.oldTuple);
      const { pos, tx } = this.#position(meta, lsn);
      await deps.push(changeRecord(s, meta, "d", before, null, pos, tx, now));
      if (deps.tombstones) await deps.push(tombstone(meta, before));
      return;
    }
    const before = m.oldTuple ? tupleToRow(meta, m.oldTuple) : null;
    const after = tupleToRow(
      meta,
      m.oldKind === "old" && m.oldTuple
        ? fillUnchanged(m.newTuple, m.oldTuple)
        : m.newTuple,
    );
    if (before && keyChanged(meta, before, after)) {
      // Like Debezium: a primary key change is a delete of the old key
      // (plus tombstone) and a create of the new one, each on its key's partition.
      const d = this.#position(meta, lsn);
      await deps.push(
        changeRecord(s, meta, "d", before, null, d.pos, d.tx, now),
      );
      if (deps.tombstones) await deps.push(tombstone(meta, before));
      const c = this.#position(meta, lsn);
      await deps.push(
        changeRecord(s, meta, "c", null, after, c.pos, c.tx, now),
      );
      return;
    }
    const { pos, tx } = this.#position(meta, lsn);
    await deps.push(changeRecord(s, meta, "u", before, after, pos, tx, now));
  }
}
