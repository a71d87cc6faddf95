/**
 * The relay's stages, each a function `main.ts` calls in order: connect and
 * check PostgreSQL, open the Kafka sink, prepare the slot (resume, or create
 * it and snapshot), then stream until shutdown.
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import type { Logger } from "../runtime/log.ts";
import { redactUrl } from "../runtime/postgres.ts";
import { SERVICE_RETRY } from "../runtime/retry.ts";
import { sleep } from "../runtime/shutdown.ts";
import {
  buildMeta,
  checkSlot,
  dropSlot,
  explainPgError,
  primaryKey,
  quoteIdent,
  slotInfo,
  slotLag,
} from "./catalog.ts";
import { APP_NAME, type Catalog, connectPg } from "./catalog_client.ts";
import type { CdcConfig } from "./config.ts";
import type { EnvelopeSettings, TableMeta } from "./envelope.ts";
import type { StreamHooks } from "./incremental.ts";
import { Heartbeat } from "./heartbeat.ts";
import { CatchUp } from "./catch_up.ts";
import { formatLsn, type Lsn, parseLsn } from "./lsn.ts";
import type { CdcMetrics } from "./metrics.ts";
import { reconnectLoop } from "./reconnect.ts";
import { streamSession } from "./session.ts";
import { ReplicationConnection } from "./replication.ts";
import type { KafkaSink } from "./sink.ts";
import { SLOT_LAG_POLL_MS, SlotLagWatcher } from "./slot_lag.ts";
import { markSnapshotCompleted, runSnapshot } from "./snapshot.ts";
import {
  decideStart,
  ensureStateTable,
  legacyFileCompleted,
  readSlotState,
  writeSlotState,
} from "./state.ts";
import { StatusReporter } from "./status_reporter.ts";
import { ChangeHandler, HEARTBEAT_PREFIX } from "./stream.ts";

/** Where streaming starts, and the replication connection to use. */
export interface StartPoint {
  repl: ReplicationConnection;
  startLsn: Lsn;
  systemId: string;
}

/** Opens a replication connection, explaining setup errors. */
async function openReplication(cfg: CdcConfig): Promise<ReplicationConnection> {
  try {
    return await ReplicationConnection.open(
      cfg.postgresUrl,
      `${APP_NAME}-${cfg.slot}`,
    );
  } catch (err) {
    throw explainPgError(err, cfg.postgresUrl, cfg.slot);
  }
}

/**
 * Resumes from an existing slot whose snapshot completed (state.ts decides,
 * and refuses an ambiguous slot); otherwise (new slot, or one this relay
 * created and that died mid-snapshot) creates the slot with an exported
 * snapshot, snapshots the tables under it while the replication
 * connection stays idle, waits for Kafka to ack every row and records the
 * completion. Streaming then starts at the consistent point: no gap, no double.
 */
export async function prepareSlot(args: {
  cfg: CdcConfig;
  catalog: Catalog;
  tables: TableMeta[];
  settings: EnvelopeSettings;
  sink: KafkaSink;
  metrics: CdcMetrics;
  log: Logger;
  signal: AbortSignal;
}): Promise<StartPoint> {
  const { cfg, catalog, log, sink, metrics } = args;
  const repl = await openReplication(cfg);
  try {
    const ident = await repl.identify();
    let existing = await slotInfo(catalog.client, cfg.slot);
    // A predecessor killed a moment ago may still hold the slot until its
    // walsender notices the closed socket: give it a short grace period.
    for (let i = 0; existing?.active && i < 12; i++) {
      await sleep(250, args.signal);
      existing = await slotInfo(catalog.client, cfg.slot);
    }
    if (existing) checkSlot(cfg.slot, existing, catalog.server.db);
    const where = { systemId: ident.systemId, db: catalog.server.db };
    await ensureStateTable(catalog.client, cfg.stateTable);
    const decision = decideStart({
      slot: cfg.slot,
      slotExists: existing !== undefined,
      mode: cfg.snapshotMode,
      row: await readSlotState(catalog.client, cfg.stateTable, cfg.slot),
      legacyFileCompleted: existing !== undefined &&
        await legacyFileCompleted(
          cfg.stateDir,
          cfg.slot,
          where.systemId,
          where.db,
        ),
      ...where,
      table: cfg.stateTable,
    });
    if (existing && decision.action === "resume") {
      const startLsn = existing.confirmedFlush ?? 0n;
      if (decision.record) {
        await writeSlotState(catalog.client, cfg.stateTable, cfg.slot, {
          status: "completed",
          ...where,
        });
      }
      if (cfg.snapshotMode === "initial") markSnapshotCompleted(metrics);
      log.info("resuming from existing slot", {
        slot: cfg.slot,
        confirmed_flush_lsn: formatLsn(startLsn),
      });
      sink.mark(startLsn);
      return { repl, startLsn, systemId: ident.systemId };
    }
    if (existing) {
      log.warn(
        "slot exists and its snapshot (recorded as started by this relay) never completed; dropping it and snapshotting again",
        { slot: cfg.slot },
      );
      await dropSlot(catalog.client, cfg.slot);
    }
    const snapshot = cfg.snapshotMode === "initial";
    const mark = (status: "snapshotting" | "completed", point?: Lsn) =>
      writeSlotState(catalog.client, cfg.stateTable, cfg.slot, {
        status,
        ...where,
        consistentPoint: point === undefined ? undefined : formatLsn(point),
      });
    // Recorded before the slot exists: a slot without a row is never ours.
    await mark(snapshot ? "snapshotting" : "completed");
    const created = await repl.createSlot(cfg.slot, snapshot);
    log.info("slot created", {
      slot: cfg.slot,
      consistent_point: formatLsn(created.consistentPoint),
      snapshot: created.snapshotName,
    });
    await mark(
      snapshot ? "snapshotting" : "completed",
      created.consistentPoint,
    );
    if (snapshot && created.snapshotName) {
      const snapClient = await connectPg(cfg, "snapshot");
      try {
        const rows = await runSnapshot({
          client: snapClient,
          snapshotName: created.snapshotName,
          consistentPoint: created.consistentPoint,
          tables: args.tables,
          settings: args.settings,
          push: (r) => sink.push(r),
          metrics,
          log,
          signal: args.signal,
          fetchSize: cfg.snapshotFetchSize,
        });
        await sink.drain();
        await mark("completed");
        markSnapshotCompleted(metrics);
        log.info("snapshot completed", { rows });
      } finally {
        await snapClient.end().catch(() => {});
      }
    }
    sink.mark(created.consistentPoint);
    return {
      repl,
      startLsn: created.consistentPoint,
      systemId: ident.systemId,
    };
  } catch (err) {
    await repl.close();
    throw explainPgError(err, cfg.postgresUrl, cfg.slot);
  }
}

/** Builds table metadata for a Relation message (PK from the catalog). */
export function relationDescriber(
  cfg: CdcConfig,
  catalog: Catalog,
  byName: Map<string, TableMeta>,
) {
  return async (m: {
    relationOid: number;
    schema: string;
    name: string;
    columns: { name: string; typeOid: number }[];
  }): Promise<TableMeta> => {
    const known = byName.get(`${m.schema}.${m.name}`);
    const key = known && known.relationOid === m.relationOid
      ? known.keyColumns
      : await primaryKey(catalog.client, m.relationOid);
    if (key.length === 0) {
      throw new PipelineError(
        `table ${m.schema}.${m.name} has no primary key`,
        "add a primary key or remove the table from --tables",
      );
    }
    const meta = await buildMeta(
      m.relationOid,
      m.schema,
      m.name,
      m.columns,
      key,
      cfg.topicPrefix,
      catalog.types,
      cfg.schemas,
    );
    byName.set(`${m.schema}.${m.name}`, meta);
    return meta;
  };
}

/**
 * Streams from the slot until shutdown: decode → records → Kafka, confirm
 * acked positions (status reporter), heartbeat when idle, watch slot lag,
 * reconnect on connection loss (resuming from the confirmed LSN, so nothing
 * is skipped).
 */
export async function streamChanges(args: {
  cfg: CdcConfig;
  catalog: Catalog;
  tables: TableMeta[];
  settings: EnvelopeSettings;
  sink: KafkaSink;
  start: StartPoint;
  metrics: CdcMetrics;
  log: Logger;
  signal: AbortSignal;
  /** The incremental-snapshot stage between stream and sink (capture.ts). */
  hooks?: StreamHooks;
  /** The heartbeat topic ('' = WAL heartbeat messages only). */
  heartbeatTopic?: string;
}): Promise<void> {
  const { cfg, catalog, sink, metrics, log, signal, hooks } = args;
  const streaming = metrics.labels("streaming");
  const byName = new Map(args.tables.map((t) => [`${t.schema}.${t.table}`, t]));
  const describe = relationDescriber(cfg, catalog, byName);
  const handler = new ChangeHandler({
    settings: args.settings,
    include: hooks?.include ?? new Set(byName.keys()),
    describe: hooks
      ? async (m) => {
        const meta = await describe(m);
        await hooks.described(meta);
        return meta;
      }
      : describe,
    push: hooks ? (r) => hooks.push(r) : (r) => sink.push(r),
    mark: (lsn) => sink.mark(lsn),
    idle: (lsn) => {
      if (sink.idle) sink.tracker.advanceIdle(lsn);
    },
    metrics,
    tombstones: cfg.tombstones,
    log,
  }, args.start.startLsn);

  const status = new StatusReporter({
    intervalMs: cfg.statusMs,
    confirmed: () => sink.tracker.confirmed,
    received: () => handler.received,
    onConfirmed: (lsn) => metrics.confirmedLsn.set(Number(lsn)),
  });
  status.target = args.start.repl;
  const lag = new SlotLagWatcher({
    slot: cfg.slot,
    query: () => slotLag(catalog.client, cfg.slot),
    thresholdBytes: cfg.walRetentionWarnBytes,
    gauges: {
      lagBytes: metrics.slotLagBytes,
      retainedBytes: metrics.slotRetainedWalBytes,
      retainedWarning: metrics.slotRetainedWalWarning,
    },
    log,
  });
  const heartbeat = new Heartbeat({
    intervalMs: cfg.heartbeatMs,
    topicPrefix: cfg.topicPrefix,
    schemas: cfg.schemas,
    emitWal: async () => {
      await catalog.client.query(
        "SELECT pg_logical_emit_message(false, $1, '')",
        [HEARTBEAT_PREFIX],
      );
    },
    onWal: () => metrics.heartbeats.inc(),
    publish: args.heartbeatTopic
      ? (r) => signal.aborted ? Promise.resolve() : sink.push(r)
      : undefined,
    log,
  });

  // Each session: how long until the stream passes the server's WAL position
  // of its start (a backlog of other tables' WAL delays every change behind it).
  const catchUp = new CatchUp();
  const beginCatchUp = async () => {
    metrics.caughtUp.set(0);
    catchUp.clear();
    // Measuring must never hold streaming up: 2 s at most, else unmeasured.
    const position = catalog.client.query<{ lsn: string }>(
      "SELECT pg_current_wal_lsn()::text AS lsn",
    ).then((r) => parseLsn(r.rows[0].lsn));
    const target = await Promise.race([
      position,
      sleep(2_000, signal).then(() => undefined),
    ]).catch((err) => {
      log.warn("could not read the server's WAL position", { err });
      return undefined;
    });
    position.catch(() => {}); // a late failure after the race is no news
    if (target === undefined) return;
    catchUp.begin(sink.tracker.confirmed, target, Date.now());
  };
  const noteCatchUp = () => {
    const done = catchUp.reached(handler.received, Date.now);
    if (!done) return;
    metrics.caughtUp.set(1);
    metrics.catchUpSeconds.set(done.seconds);
    metrics.catchUpBytes.set(done.bytes);
    log.info("caught up with the server's WAL position of the session start", {
      seconds: done.seconds,
      wal_bytes: done.bytes,
      lsn: formatLsn(done.target),
    });
  };

  const timers: ReturnType<typeof setInterval>[] = [];
  // Status: promptly after acks advance (fewer duplicates after a crash),
  // and at least every status interval (keeps wal_sender_timeout happy even
  // while reads are paused for backpressure).
  timers.push(setInterval(() => status.send(), status.tickMs));
  void lag.poll();
  timers.push(setInterval(() => void lag.poll(), SLOT_LAG_POLL_MS));
  if (cfg.heartbeatMs > 0) {
    timers.push(setInterval(() => void heartbeat.tick(), heartbeat.tickMs));
  }

  const pluginOptions: Record<string, string> = {
    proto_version: "1",
    // An identifier list: unquoted, the server would down-case a mixed-case
    // name that CREATE PUBLICATION (quoted) kept as written.
    publication_names: quoteIdent(cfg.publication),
  };
  if (catalog.server.versionNum >= 140000) pluginOptions.messages = "true";

  try {
    await reconnectLoop<ReplicationConnection>({
      first: args.start.repl,
      open: async () => {
        const conn = await ReplicationConnection.open(
          cfg.postgresUrl,
          `${APP_NAME}-${cfg.slot}`,
        );
        status.target = conn;
        return conn;
      },
      run: async (conn) => {
        await beginCatchUp();
        return await streamSession(conn, {
          slot: cfg.slot,
          pluginOptions,
          from: () => sink.tracker.confirmed,
          handle: (frame) => {
            // handle() updates `received` before its first await.
            const done = handler.handle(frame);
            if (catchUp.pending) noteCatchUp();
            return done;
          },
          sendStatus: (force) => void status.send(force),
          sawData: () => heartbeat.sawData(),
          bytesRead: (n) => metrics.bytesIn(n),
          drain: () => sink.drain(),
          failed: sink.failed,
          connected: (up) => metrics.connected.set(streaming, up ? 1 : 0),
          log,
          signal,
        });
      },
      close: async (conn) => {
        if (status.target === conn) status.target = undefined;
        await conn.close();
      },
      afterSession: async () => {
        handler.reset();
        await catalog.ensureAlive().catch(() => {});
      },
      fatal: (err) => {
        const explained = explainPgError(err, cfg.postgresUrl, cfg.slot);
        return explained instanceof PipelineError ? explained : undefined;
      },
      delayMs: (attempt) => SERVICE_RETRY.delayMs(attempt),
      sleep,
      onRetry: (what, err, wait) =>
        what === "open"
          ? log.error("replication connection failed, retrying", {
            err,
            retry_in_ms: wait,
          })
          : log.error(
            "replication stream ended, reconnecting from the confirmed LSN",
            {
              err: err ?? "server closed the stream",
              confirmed: formatLsn(sink.tracker.confirmed),
              retry_in_ms: wait,
            },
          ),
      signal,
    });
  } finally {
    for (const t of timers) clearInterval(t);
    log.info("stopped", {
      confirmed: formatLsn(sink.tracker.confirmed),
      postgres: redactUrl(cfg.postgresUrl),
    });
  }
}
