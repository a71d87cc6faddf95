/**
 * Incremental snapshots while streaming: a table newly covered by the
 * publication (seen by polling `pg_publication_tables` every
 * `--new-table-poll`, or by its first Relation message), a captured table
 * without a completed snapshot at start, or one named by an
 * `execute-snapshot` signal is read alone, chunk by chunk, with the
 * watermark algorithm of `incremental_snapshot.ts`; the other tables are
 * not read again. It sits between the stream and the Kafka sink: it sees
 * every record (to drop overtaken chunk rows), consumes the signal table's,
 * and emits each chunk's rows at its high watermark.
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import type { Logger } from "../runtime/log.ts";
import type { pg } from "../runtime/postgres.ts";
import { quoteIdent, topicOf } from "./catalog.ts";
import type { CdcConfig } from "./config.ts";
import {
  changeRecord,
  type EnvelopeSettings,
  keyOf,
  type OutRecord,
  type TableMeta,
  textsToRow,
} from "./envelope.ts";
import {
  canonicalKey,
  chunkQuery,
  type ChunkRow,
  ChunkWindow,
  keyTexts,
  maxKeyQuery,
  watermarkIds,
} from "./incremental_snapshot.ts";
import {
  clearProgress,
  loadProgress,
  progressTable,
  saveProgress,
  slotConsistentPoint,
  type TableProgress,
} from "./incremental_state.ts";
import type { Lsn } from "./lsn.ts";
import type { CdcMetrics } from "./metrics.ts";
import {
  type CapturedTables,
  parseSignal,
  type Signal,
  WINDOW_CLOSE,
  WINDOW_OPEN,
} from "./signals.ts";

/** What `streamChanges` lets a stage between stream and sink do. */
export interface StreamHooks {
  /** The stream's include filter. */
  include: Set<string>;
  /** Every record on its way to the sink. */
  push(r: OutRecord): Promise<void>;
  /** A Relation message was described (before its changes are pushed). */
  described(meta: TableMeta): Promise<void>;
}

/** What {@link IncrementalSnapshots} needs. */
export interface IncrementalDeps {
  cfg: Pick<
    CdcConfig,
    | "slot"
    | "stateTable"
    | "signalTable"
    | "incrementalChunkSize"
    | "newTablePollMs"
    | "snapshotMode"
    | "topicPrefix"
    | "publication"
  >;
  /** Its own ordinary connection (watermarks, chunk reads, progress). */
  client: Pick<pg.Client, "query">;
  /** Current metadata of a table (describeTables on the relay). */
  describe: (name: string) => Promise<TableMeta>;
  captured: CapturedTables;
  sink: { push(r: OutRecord): Promise<void>; drain(): Promise<void> };
  ensureTopics: (topics: string[]) => Promise<void>;
  settings: EnvelopeSettings;
  metrics: CdcMetrics;
  log: Logger;
}

/** Every value as text: the stream's converters then apply. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v };

interface OpenChunk {
  window: ChunkWindow;
  table: string;
  meta: TableMeta;
  lastKey: string[] | null;
  done: boolean;
}

/** The stage between stream and sink that runs incremental snapshots. */
export class IncrementalSnapshots implements StreamHooks {
  readonly include: Set<string>;
  readonly #d: IncrementalDeps;
  readonly #signalTable: string;
  readonly #signalTopic: string;
  #progress = new Map<string, TableProgress>();
  readonly #queue: string[] = [];
  readonly #topics = new Set<string>();
  readonly #scanned = new Map<string, number>();
  readonly #discovering = new Set<string>();
  #chunk: OpenChunk | undefined;
  #busy = false;
  #stopped = false;
  #timers: ReturnType<typeof setInterval>[] = [];

  /** Use {@link IncrementalSnapshots.open}. */
  private constructor(d: IncrementalDeps) {
    this.#d = d;
    this.#signalTable = d.cfg.signalTable;
    const [s, t] = this.#signalTable.split(".");
    this.#signalTopic = this.#signalTable
      ? topicOf(d.cfg.topicPrefix, s, t)
      : "";
    this.include = d.captured;
    if (this.#signalTable) d.captured.add(this.#signalTable);
  }

  /**
   * Loads the slot's progress. First start of a slot (or a slot created
   * anew): the start tables are recorded as covered by the initial
   * snapshot. Later starts: a start table without a record is queued.
   */
  static async open(
    d: IncrementalDeps,
    startTables: TableMeta[],
  ): Promise<IncrementalSnapshots> {
    const me = new IncrementalSnapshots(d);
    for (const t of startTables) me.#topics.add(t.topic);
    if (!d.cfg.signalTable) return me;
    const table = progressTable(d.cfg.stateTable);
    me.#progress = await loadProgress(d.client, table, d.cfg.slot);
    const cp = await slotConsistentPoint(
      d.client,
      d.cfg.stateTable,
      d.cfg.slot,
    );
    const marker = me.#progress.get("");
    if (!marker || (marker.consistentPoint ?? null) !== cp) {
      await clearProgress(d.client, table, d.cfg.slot);
      me.#progress.clear();
      const done: TableProgress = {
        status: "completed",
        lastKey: null,
        maxKey: null,
        signalId: null,
      };
      for (const t of startTables) {
        await me.#save(`${t.schema}.${t.table}`, done);
      }
      await me.#save("", { ...done, consistentPoint: cp });
    }
    // Watermarks of a chunk that a previous run left open mean nothing now.
    const [s, t] = d.cfg.signalTable.split(".");
    await d.client.query(
      `DELETE FROM ${quoteIdent(s)}.${quoteIdent(t)} WHERE type = ANY($1)`,
      [[WINDOW_OPEN, WINDOW_CLOSE]],
    );
    for (const t of startTables) {
      const name = `${t.schema}.${t.table}`;
      if (!me.#progress.has(name)) await me.#discover(name);
    }
    for (const [name, p] of me.#progress) {
      if (name && p.status === "running" && !me.#queue.includes(name)) {
        me.#queue.push(name);
      }
    }
    return me;
  }

  /** Starts the publication poll and the queued snapshots. */
  start(): void {
    if (!this.#signalTable) return;
    const ms = this.#d.cfg.newTablePollMs;
    if (ms > 0) {
      this.#timers.push(setInterval(() => void this.#poll(), ms));
    }
    this.#timers.push(setInterval(() => void this.#kick(), 1_000));
    void this.#kick();
  }

  /** Stops polling and starting chunks. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
  }

  /** Tables whose snapshot is queued or running (for logs and tests). */
  get pending(): string[] {
    return [...this.#queue];
  }

  /** A table's first Relation message: new tables are picked up here too. */
  async described(meta: TableMeta): Promise<void> {
    const name = `${meta.schema}.${meta.table}`;
    if (name === this.#signalTable) return;
    if (!this.#topics.has(meta.topic)) await this.#ensureTopic(meta.topic);
    if (this.#signalTable && !this.#progress.has(name)) {
      await this.#discover(name);
    }
  }

  /** Every stream record: signals consumed, overtaken chunk rows dropped. */
  async push(r: OutRecord): Promise<void> {
    if (this.#signalTopic && r.topic === this.#signalTopic) {
      await this.#onSignal(parseSignal(r.value));
      return;
    }
    const c = this.#chunk;
    if (c && c.window.isOpen && r.key !== null && r.topic === c.meta.topic) {
      c.window.streamed(r.topic, canonicalKey(r.key));
    }
    await this.#d.sink.push(r);
  }

  async #ensureTopic(topic: string): Promise<void> {
    await this.#d.ensureTopics([topic]);
    this.#topics.add(topic);
  }

  async #save(name: string, p: TableProgress): Promise<void> {
    await saveProgress(
      this.#d.client,
      progressTable(this.#d.cfg.stateTable),
      this.#d.cfg.slot,
      name,
      p,
    );
    this.#progress.set(name, p);
  }

  /** A captured table with no record: queue it (`never` mode: record it). */
  async #discover(name: string, signalId: string | null = null) {
    // The poll and a Relation message may find the same table at once.
    if (signalId === null && this.#discovering.has(name)) return;
    this.#discovering.add(name);
    try {
      await this.#record(name, signalId);
    } finally {
      this.#discovering.delete(name);
    }
  }

  async #record(name: string, signalId: string | null) {
    if (signalId === null && this.#progress.has(name)) return;
    const [s, t] = name.split(".");
    const topic = topicOf(this.#d.cfg.topicPrefix, s, t);
    if (!this.#topics.has(topic)) await this.#ensureTopic(topic);
    const snapshot = signalId !== null ||
      this.#d.cfg.snapshotMode === "initial";
    await this.#save(name, {
      status: snapshot ? "running" : "completed",
      lastKey: null,
      maxKey: null,
      signalId,
    });
    if (snapshot && !this.#queue.includes(name)) this.#queue.push(name);
    this.#d.log.info(
      snapshot
        ? "incremental snapshot queued"
        : "new table streamed without snapshot (--snapshot-mode never)",
      { table: name, signal: signalId },
    );
    void this.#kick();
  }

  async #poll(): Promise<void> {
    try {
      const r = await this.#d.client.query(
        `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1`,
        [this.#d.cfg.publication],
      );
      for (const row of r.rows) {
        const name = `${row.schemaname}.${row.tablename}`;
        if (
          name !== this.#signalTable && this.include.has(name) &&
          !this.#progress.has(name)
        ) await this.#discover(name);
      }
    } catch (err) {
      this.#d.log.warn("publication poll failed", { err });
    }
  }

  async #onSignal(s: Signal): Promise<void> {
    const c = this.#chunk;
    if (s.kind === "window-open") {
      if (c && s.id === watermarkIds(c.window.id).open) c.window.open();
    } else if (s.kind === "window-close") {
      if (c && s.id === watermarkIds(c.window.id).close) {
        await this.#close(s.lsn);
      }
    } else if (s.kind === "execute-snapshot") {
      for (const t of s.tables) {
        if (t === this.#signalTable || !this.include.has(t)) {
          this.#d.log.warn("execute-snapshot names a table not captured", {
            table: t,
            signal: s.id,
          });
        } else if (this.#progress.get(t)?.signalId !== s.id) {
          await this.#discover(t, s.id);
        }
      }
    } else if (
      s.reason.startsWith("unsupported") || s.reason.includes("data")
    ) {
      this.#d.log.warn("signal ignored", { reason: s.reason });
    }
  }

  /** Reads the next chunk of the first queued table between watermarks. */
  async #kick(): Promise<void> {
    if (this.#busy || this.#chunk || this.#stopped) return;
    const name = this.#queue[0];
    if (!name) return;
    this.#busy = true;
    let next = false;
    try {
      await this.#readChunk(name);
      // The stream may have passed the high watermark before the INSERT
      // returned (or the table was empty): go on without waiting a tick.
      next = !this.#chunk;
    } catch (err) {
      this.#chunk = undefined;
      if (err instanceof PipelineError) {
        this.#d.log.error("incremental snapshot of table skipped", {
          table: name,
          err,
        });
        await this.#finish(name).catch(() => {});
      } else {
        this.#d.log.warn("incremental snapshot chunk failed; retrying", {
          table: name,
          err,
        });
      }
    } finally {
      this.#busy = false;
    }
    if (next) void this.#kick();
  }

  async #readChunk(name: string): Promise<void> {
    const { client, cfg } = this.#d;
    const meta = await this.#d.describe(name);
    const p = this.#progress.get(name)!;
    if (!p.maxKey) {
      const m = await client.query({
        text: maxKeyQuery(meta),
        rowMode: "array",
        types: TEXT_TYPES,
      } as pg.QueryConfig);
      if (m.rows.length === 0) return await this.#finish(name);
      await this.#save(name, { ...p, maxKey: m.rows[0] as string[] });
    }
    const { lastKey, maxKey } = this.#progress.get(name)!;
    const window = new ChunkWindow(crypto.randomUUID(), meta.topic);
    const ids = watermarkIds(window.id);
    const chunk: OpenChunk = {
      window,
      table: name,
      meta,
      lastKey,
      done: false,
    };
    this.#chunk = chunk;
    await this.#watermark(ids.open, WINDOW_OPEN, name);
    const size = cfg.incrementalChunkSize;
    const res = await client.query({
      text: chunkQuery(meta, { after: lastKey !== null, bounded: true, size }),
      values: [...(lastKey ?? []), ...maxKey!],
      rowMode: "array",
      types: TEXT_TYPES,
    } as pg.QueryConfig);
    const rows: ChunkRow[] = (res.rows as (string | null)[][]).map((texts) => ({
      key: canonicalKey(keyOf(meta, textsToRow(meta, texts))),
      texts,
    }));
    // Set before the high watermark is written: the stream cannot reach it
    // before the rows are here.
    window.setRows(rows);
    chunk.lastKey = rows.length ? keyTexts(meta, rows.at(-1)!.texts) : lastKey;
    chunk.done = rows.length < size;
    await this.#watermark(ids.close, WINDOW_CLOSE, name);
  }

  async #watermark(id: string, type: string, table: string): Promise<void> {
    const [s, t] = this.#signalTable.split(".");
    await this.#d.client.query(
      `INSERT INTO ${quoteIdent(s)}.${
        quoteIdent(t)
      } (id, type, data) VALUES ($1, $2, $3)`,
      [id, type, JSON.stringify({ "data-collection": table })],
    );
  }

  /** The high watermark: emit the chunk's surviving rows, record progress. */
  async #close(lsn: Lsn): Promise<void> {
    const c = this.#chunk!;
    const rows = c.window.close();
    const now = Date.now();
    const pos = {
      tsMs: now,
      snapshot: "incremental" as const,
      txId: null,
      lsn,
      lastCommitLsn: null,
    };
    const { settings, sink, metrics } = this.#d;
    for (const r of rows) {
      await sink.push(
        changeRecord(
          settings,
          c.meta,
          "r",
          null,
          textsToRow(c.meta, r.texts),
          pos,
          null,
          now,
        ),
      );
      metrics.event("snapshot");
    }
    const scanned = (this.#scanned.get(c.table) ?? 0) + rows.length;
    this.#scanned.set(c.table, scanned);
    metrics.rowsScanned.set(
      { ...metrics.labels("snapshot"), table: c.table },
      scanned,
    );
    // Progress only once Kafka holds the chunk: a restart re-reads it at worst.
    await sink.drain();
    const p = this.#progress.get(c.table)!;
    await this.#save(c.table, { ...p, lastKey: c.lastKey });
    if (c.done) await this.#finish(c.table);
    this.#d.log.debug("incremental snapshot chunk emitted", {
      table: c.table,
      rows: rows.length,
      overtaken: c.window.dropped,
    });
    const ids = watermarkIds(c.window.id);
    const [s, t] = this.#signalTable.split(".");
    this.#d.client.query(
      `DELETE FROM ${quoteIdent(s)}.${quoteIdent(t)} WHERE id = ANY($1)`,
      [[ids.open, ids.close]],
    ).catch((err) => this.#d.log.warn("watermark cleanup failed", { err }));
    this.#chunk = undefined;
    void this.#kick();
  }

  async #finish(name: string): Promise<void> {
    const p = this.#progress.get(name)!;
    await this.#save(name, { ...p, status: "completed" });
    const i = this.#queue.indexOf(name);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#d.log.info("incremental snapshot of table done", {
      table: name,
      rows: this.#scanned.get(name) ?? 0,
    });
  }
}
