/**
 * The relay's stages, each a function `main.ts` calls in order: connect and
 * check PostgreSQL, open the Kafka sink, prepare the slot (resume, or create
 * it and snapshot), then stream until shutdown.
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import type { Logger } from "../runtime/log.ts";
import { pg, redactUrl } from "../runtime/postgres.ts";
import { SERVICE_RETRY } from "../runtime/retry.ts";
import { sleep } from "../runtime/shutdown.ts";
import {
  buildMeta,
  checkServer,
  checkSlot,
  dropSlot,
  explainPgError,
  lookupTypes,
  primaryKey,
  quoteIdent,
  type ServerInfo,
  serverInfo,
  slotInfo,
  slotLag,
} from "./catalog.ts";
import type { CdcConfig } from "./config.ts";
import { SESSION_OPTIONS, TypeRegistry } from "./convert.ts";
import type { EnvelopeSettings, TableMeta } from "./envelope.ts";
import { formatLsn, type Lsn } from "./lsn.ts";
import type { CdcMetrics } from "./metrics.ts";
import { parseFrame } from "./pgoutput.ts";
import { ReplicationConnection } from "./replication.ts";
import type { KafkaSink } from "./sink.ts";
import { markSnapshotCompleted, runSnapshot } from "./snapshot.ts";
import {
  decideStart,
  ensureStateTable,
  legacyFileCompleted,
  readSlotState,
  writeSlotState,
} from "./state.ts";
import { ChangeHandler, HEARTBEAT_PREFIX } from "./stream.ts";

const APP_NAME = "deno-cdc";

/** An ordinary connection with the relay's pinned session formats. */
export async function connectPg(
  cfg: CdcConfig,
  purpose: string,
): Promise<pg.Client> {
  const c = new pg.Client({
    connectionString: cfg.postgresUrl,
    application_name: `${APP_NAME}-${purpose}`,
    connectionTimeoutMillis: 5_000,
    options: SESSION_OPTIONS,
  } as pg.ClientConfig);
  c.on("error", () => {/* surfaces through the next query */});
  try {
    await c.connect();
  } catch (err) {
    throw explainPgError(err, cfg.postgresUrl, cfg.slot);
  }
  return c;
}

/**
 * The ordinary connection (catalog queries, heartbeats, slot lag) plus what
 * it learned at start. Reconnects when the server dropped it.
 */
export class Catalog {
  #client: pg.Client;
  readonly types: TypeRegistry;

  /** Wraps a connected client. */
  constructor(
    private readonly cfg: CdcConfig,
    client: pg.Client,
    readonly server: ServerInfo,
  ) {
    this.#client = client;
    this.types = new TypeRegistry(
      (oids) => lookupTypes(this.#client, oids),
      cfg.decimalMode,
    );
  }

  /** The current client. */
  get client(): pg.Client {
    return this.#client;
  }

  /** Replaces the client if it no longer answers. */
  async ensureAlive(): Promise<void> {
    try {
      await this.#client.query("SELECT 1");
    } catch {
      await this.#client.end().catch(() => {});
      this.#client = await connectPg(this.cfg, "catalog");
    }
  }

  /** Closes the connection. */
  close(): Promise<void> {
    return this.#client.end().catch(() => {});
  }
}

/** Connects, then fails fast on wal_level / privilege problems. */
export async function openCatalog(cfg: CdcConfig): Promise<Catalog> {
  const client = await connectPg(cfg, "catalog");
  try {
    const server = await serverInfo(client);
    checkServer(server, cfg.postgresUrl);
    return new Catalog(cfg, client, server);
  } catch (err) {
    await client.end().catch(() => {});
    throw explainPgError(err, cfg.postgresUrl, cfg.slot);
  }
}

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
 * Frames (and their bytes: one frame holds a whole row) buffered between the
 * socket and the decoder before pausing reads, and where reads resume.
 */
const QUEUE_HIGH = 512;
const QUEUE_LOW = 64;
const QUEUE_HIGH_BYTES = 16 * 1024 * 1024;
const QUEUE_LOW_BYTES = 4 * 1024 * 1024;

/**
 * Streams from the slot until shutdown: decode → records → Kafka, confirm
 * acked positions, heartbeat when idle, watch slot lag, reconnect on
 * connection loss (resuming from the confirmed LSN, so nothing is skipped).
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
}): Promise<void> {
  const { cfg, catalog, sink, metrics, log, signal } = args;
  const streaming = metrics.labels("streaming");
  const byName = new Map(args.tables.map((t) => [`${t.schema}.${t.table}`, t]));
  const handler = new ChangeHandler({
    settings: args.settings,
    include: new Set(byName.keys()),
    describe: relationDescriber(cfg, catalog, byName),
    push: (r) => sink.push(r),
    mark: (lsn) => sink.mark(lsn),
    idle: (lsn) => {
      if (sink.idle) sink.tracker.advanceIdle(lsn);
    },
    metrics,
    tombstones: cfg.tombstones,
    log,
  }, args.start.startLsn);

  let repl: ReplicationConnection | undefined = args.start.repl;
  let lastSent = -1n;
  let lastSentAt = 0;
  let lastData = Date.now();
  const sendStatus = (force = false) => {
    const confirmed = sink.tracker.confirmed;
    metrics.confirmedLsn.set(Number(confirmed));
    if (!repl) return;
    if (
      !force && confirmed === lastSent && Date.now() - lastSentAt < cfg.statusMs
    ) {
      return;
    }
    const write = handler.received > confirmed ? handler.received : confirmed;
    repl.sendStatus(write, confirmed, confirmed);
    lastSent = confirmed;
    lastSentAt = Date.now();
  };

  const timers: ReturnType<typeof setInterval>[] = [];
  // Status: promptly after acks advance (fewer duplicates after a crash),
  // and at least every status interval (keeps wal_sender_timeout happy even
  // while reads are paused for backpressure).
  timers.push(setInterval(() => sendStatus(), Math.min(1000, cfg.statusMs)));
  let retainedWarned = false;
  const pollLag = async () => {
    try {
      const lag = await slotLag(catalog.client, cfg.slot);
      if (!lag) return;
      metrics.slotLagBytes.set(lag.lagBytes);
      metrics.slotRetainedWalBytes.set(lag.retainedBytes);
      const over = lag.retainedBytes > cfg.walRetentionWarnBytes;
      metrics.slotRetainedWalWarning.set(over ? 1 : 0);
      if (over && !retainedWarned) {
        log.warn("replication slot retains more WAL than the threshold", {
          slot: cfg.slot,
          retained_bytes: lag.retainedBytes,
          threshold_bytes: cfg.walRetentionWarnBytes,
        });
      }
      retainedWarned = over;
    } catch (err) {
      log.warn("slot lag query failed", { err });
    }
  };
  void pollLag();
  timers.push(setInterval(() => void pollLag(), 10_000));
  let heartbeatOk = true;
  if (cfg.heartbeatMs > 0) {
    timers.push(setInterval(async () => {
      if (!heartbeatOk || Date.now() - lastData < cfg.heartbeatMs) return;
      try {
        // A non-transactional message moves WAL forward inside this database;
        // once it comes back through the slot (nothing pending), the slot's
        // confirmed position advances even if the captured tables are idle.
        await catalog.client.query(
          "SELECT pg_logical_emit_message(false, $1, '')",
          [HEARTBEAT_PREFIX],
        );
        metrics.heartbeats.inc();
      } catch (err) {
        heartbeatOk = false;
        log.warn("heartbeat message failed; relying on keepalives", { err });
      }
    }, Math.max(100, Math.min(cfg.heartbeatMs, 5_000))));
  }

  const pluginOptions: Record<string, string> = {
    proto_version: "1",
    // An identifier list: unquoted, the server would down-case a mixed-case
    // name that CREATE PUBLICATION (quoted) kept as written.
    publication_names: quoteIdent(cfg.publication),
  };
  if (catalog.server.versionNum >= 140000) pluginOptions.messages = "true";

  try {
    for (let attempt = 0; !signal.aborted;) {
      if (!repl) {
        try {
          repl = await ReplicationConnection.open(
            cfg.postgresUrl,
            `${APP_NAME}-${cfg.slot}`,
          );
        } catch (err) {
          const explained = explainPgError(err, cfg.postgresUrl, cfg.slot);
          if (explained instanceof PipelineError && attempt > 5) {
            throw explained;
          }
          const wait = SERVICE_RETRY.delayMs(attempt++);
          log.error("replication connection failed, retrying", {
            err,
            retry_in_ms: wait,
          });
          await sleep(wait, signal);
          continue;
        }
      }
      const conn: ReplicationConnection = repl;
      const queue: Uint8Array[] = [];
      let queueBytes = 0;
      let paused = false;
      let wake: (() => void) | undefined;
      let ended = false;
      const from = sink.tracker.confirmed;
      const done = conn.start(cfg.slot, from, pluginOptions, (chunk) => {
        // pg reuses its read buffer: copy before queueing.
        queue.push(new Uint8Array(chunk));
        queueBytes += chunk.byteLength;
        if (
          !paused &&
          (queue.length >= QUEUE_HIGH || queueBytes >= QUEUE_HIGH_BYTES)
        ) {
          paused = true;
          conn.pause();
        }
        wake?.();
      }).finally(() => {
        ended = true;
        wake?.();
      });
      metrics.connected.set(streaming, 1);
      log.info("streaming", { slot: cfg.slot, from: formatLsn(from) });
      // Clean stop: finish what is in flight, confirm it, then end COPY (no
      // CopyData may follow CopyDone, so the final status goes first).
      const onAbort = async () => {
        await Promise.race([sink.drain(), sleep(10_000)]);
        sendStatus(true);
        conn.resume();
        conn.stop();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const process = (async () => {
        while (true) {
          if (signal.aborted) return;
          if (queue.length === 0) {
            if (ended) return;
            await new Promise<void>((r) => wake = r);
            wake = undefined;
            continue;
          }
          const raw = queue.shift()!;
          queueBytes -= raw.byteLength;
          const frame = parseFrame(raw);
          if (frame.kind === "xlogdata") lastData = Date.now();
          await handler.handle(frame);
          if (frame.kind === "keepalive" && frame.replyRequested) {
            sendStatus(true);
          }
          if (
            paused && queue.length <= QUEUE_LOW && queueBytes <= QUEUE_LOW_BYTES
          ) {
            paused = false;
            conn.resume();
          }
        }
      })();
      let failure: unknown;
      try {
        // A producer that stopped for good (see sink.ts) ends streaming too.
        await Promise.race([Promise.all([done, process]), sink.failed]);
        attempt = 0;
      } catch (err) {
        failure = err;
      }
      signal.removeEventListener("abort", onAbort);
      metrics.connected.set(streaming, 0);
      if (signal.aborted) break;
      await conn.close();
      repl = undefined;
      handler.reset();
      await catalog.ensureAlive().catch(() => {});
      const explained = explainPgError(failure, cfg.postgresUrl, cfg.slot);
      if (explained instanceof PipelineError) throw explained;
      const wait = SERVICE_RETRY.delayMs(attempt++);
      log.error(
        "replication stream ended, reconnecting from the confirmed LSN",
        {
          err: failure ?? "server closed the stream",
          confirmed: formatLsn(sink.tracker.confirmed),
          retry_in_ms: wait,
        },
      );
      await sleep(wait, signal);
    }
  } finally {
    for (const t of timers) clearInterval(t);
    await repl?.close();
    log.info("stopped", {
      confirmed: formatLsn(sink.tracker.confirmed),
      postgres: redactUrl(cfg.postgresUrl),
    });
  }
}
