/**
 * The sink loop: a KafkaJS consumer group feeding per-partition ranges
 * (batch.ts), and a flush loop that — at most once per `min-insert-interval`
 * — records the ranges' manifest in Kafka, inserts them into the shard-local
 * tables, writes dead letters, and only then commits the offsets.
 *
 * @module
 */
import type { Consumer, EachBatchPayload, Kafka, Producer } from "kafkajs";
import {
  type Logger,
  Partitioners,
  SERVICE_RETRY,
  sleep,
  sqlString,
} from "../runtime/mod.ts";
import {
  type AnyTables,
  type Capabilities,
  SCHEMA_REFRESH_MS,
} from "./any_table.ts";
import { PartitionState, type Range } from "./batch.ts";
import type { SinkConfig } from "./config.ts";
import { boundedMessage, sendDeadLetters } from "./dead_letters.ts";
import {
  buildRequests,
  deadLetterBodies,
  insertPlan,
  type InsertRequest,
  locateRow,
  requestBody,
  type TakenRange,
} from "./encoder.ts";
import { decodeManifest, encodeManifest } from "./manifest.ts";
import { AutoMirrors, prepareWithRetry } from "./cdc_auto.ts";
import { resolveToast, toastCount } from "./cdc_toast.ts";
import type { SinkMetrics } from "./metrics.ts";
import { routeTopic, shardOfPartition } from "./routes.ts";
import {
  Aborted,
  type ClickHouseService,
  qualified,
  RowRejected,
} from "./service.ts";
import { EVENT_TABLES } from "./tables.ts";
import { type Destination, transformMessage } from "./transform.ts";

/** What the sink needs from outside. */
export interface SinkDeps {
  config: SinkConfig;
  log: Logger;
  metrics: SinkMetrics;
  service: ClickHouseService;
  kafka: Kafka;
  /** Resolved `--map glob=[db.]table` targets (any table). */
  tables?: AnyTables;
  /** What the servers support (insert settings for table targets). */
  capabilities?: Capabilities;
}

interface Taken extends TakenRange {
  state: PartitionState;
}

const decoder = new TextDecoder();

/**
 * Budget of {@link Sink.stop}: the last flush and disconnects, inside the
 * process's 15 s shutdown deadline.
 */
export const FINAL_FLUSH_MS = 10_000;

/**
 * Whether `p` settled (rethrowing its error) before `signal` aborted; a
 * hanging request must not hold the shutdown.
 */
async function settledBefore(
  p: Promise<unknown> | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  if (signal.aborted) return false;
  let onAbort!: () => void;
  const aborted = new Promise<false>((r) => {
    onAbort = () => r(false);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.resolve(p).then(() => true), aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Kafka → ClickHouse with exactly-once rows (see README "Design"). */
export class Sink {
  readonly #d: SinkDeps;
  readonly #states = new Map<string, PartitionState>();
  readonly #offsetLoads = new Map<
    string,
    Promise<Map<number, { offset: number; metadata: string | null }>>
  >();
  readonly #targets = new Map<string, Destination | undefined>();
  readonly #stop = new AbortController();
  #consumer!: Consumer;
  #admin!: ReturnType<Kafka["admin"]>;
  #producer!: Producer;
  #lastFlushStart = 0;
  #flushing = false;
  #lastMessageAt = Date.now();
  #sawMessages = false;
  #paused = false;
  #loop: Promise<void> | undefined;
  /** Start time of the last insert per `table|shard` (rate rule). */
  readonly #lastInsert = new Map<string, number>();
  #stopped: Promise<void> | undefined;
  #incomplete = false;

  constructor(deps: SinkDeps) {
    this.#d = deps;
    if (deps.config.mode === "cdc") {
      this.#auto = new AutoMirrors(
        deps.service,
        deps.config.database,
        deps.log,
        (table) => deps.metrics.cdcSchemaConflicts.inc({ table }),
      );
    }
  }

  /** Mirrors created from message schemas (cdc mode). */
  readonly #auto: AutoMirrors | undefined;

  /** Aborted when the sink stops; cancels ClickHouse retries. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Connects, subscribes and starts consuming. */
  async start(): Promise<void> {
    const { config, kafka, log } = this.#d;
    this.#admin = kafka.admin();
    await this.#admin.connect();
    this.#producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await this.#producer.connect();
    this.#consumer = kafka.consumer({
      groupId: config.group,
      sessionTimeout: config.sessionTimeoutMs,
      rebalanceTimeout: 60_000,
      heartbeatInterval: Math.max(
        500,
        Math.floor(config.sessionTimeoutMs / 10),
      ),
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    const c = this.#consumer;
    c.on(c.events.GROUP_JOIN, (e) => {
      this.#onAssignment(e.payload.memberAssignment);
    });
    c.on(c.events.CRASH, (e) => {
      log.error("kafka consumer crashed", {
        error: e.payload.error,
        restart: e.payload.restart,
      });
    });
    await c.connect();
    await c.subscribe({
      topics: config.topics,
      fromBeginning: config.fromBeginning,
    });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: (p) => this.#eachBatch(p),
    });
    log.info("consuming", {
      group: config.group,
      topics: config.topics.map(String),
    });
  }

  /** Runs the flush loop until {@link stop} (or idle exit); resolves then. */
  run(): Promise<void> {
    this.#loop ??= this.#flushLoop();
    return this.#loop;
  }

  /**
   * Stops consuming, flushes what is buffered (commits included), and
   * disconnects, all within {@link FINAL_FLUSH_MS}. Idempotent. Past that
   * (ClickHouse down or hanging) nothing more is committed and
   * {@link incomplete} turns true: the process exits non-zero and the next
   * run re-forms the ranges from the manifest (no loss, no duplicate).
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const { config, log } = this.#d;
      this.#stop.abort();
      const expired = AbortSignal.timeout(FINAL_FLUSH_MS);
      let done = await settledBefore(this.#loop, expired);
      const wait = this.#lastFlushStart + config.minInsertIntervalMs -
        Date.now();
      if (done && wait > 0) await sleep(wait, expired);
      try {
        done &&= await settledBefore(this.#flush(expired, true), expired);
      } catch (err) {
        done = false;
        log.warn("final flush failed", { err });
      }
      if (!done || expired.aborted) {
        this.#incomplete = true;
        log.error(
          "final flush did not complete before the shutdown deadline; exiting non-zero, the next run re-forms the uncommitted ranges from the manifest",
          { deadline_ms: FINAL_FLUSH_MS, buffered_rows: this.#buffered().rows },
        );
      }
      const quit = AbortSignal.timeout(3_000);
      await settledBefore(this.#consumer?.disconnect(), quit).catch(() => {});
      await settledBefore(this.#producer?.disconnect(), quit).catch(() => {});
      await settledBefore(this.#admin?.disconnect(), quit).catch(() => {});
    })();
    return this.#stopped;
  }

  /** The final flush did not complete (see {@link stop}): exit non-zero. */
  get incomplete(): boolean {
    return this.#incomplete;
  }

  /** For `/health`. */
  health(): { ok: boolean; [k: string]: unknown } {
    const b = this.#buffered();
    return {
      ok: !this.#stop.signal.aborted,
      paused: this.#paused,
      buffered_rows: b.rows,
      partitions: this.#states.size,
    };
  }

  // --- consumption -------------------------------------------------------

  #onAssignment(assignment: Record<string, number[]>) {
    const keep = new Set<string>();
    for (const [topic, parts] of Object.entries(assignment)) {
      for (const p of parts) keep.add(`${topic}:${p}`);
    }
    for (const [key, st] of this.#states) {
      if (keep.has(key)) continue;
      // Revoked: its buffered rows are the new owner's now (it re-reads
      // them from the committed offset); never commit for it again.
      st.dropped = true;
      this.#states.delete(key);
      this.#d.metrics.lag.remove({
        topic: st.topic,
        partition: String(st.partition),
      });
    }
    this.#offsetLoads.clear();
    this.#d.log.info("partitions assigned", {
      assignment: Object.fromEntries(
        Object.entries(assignment).map(([t, ps]) => [t, ps.join(",")]),
      ),
    });
  }

  /** The committed offsets (with metadata) of `topic`, loaded once per join. */
  #committed(topic: string) {
    let p = this.#offsetLoads.get(topic);
    if (!p) {
      p = this.#admin.fetchOffsets({
        groupId: this.#d.config.group,
        topics: [topic],
      }).then((res) => {
        const m = new Map<
          number,
          { offset: number; metadata: string | null }
        >();
        for (const t of res) {
          for (const q of t.partitions) {
            m.set(q.partition, {
              offset: Number(q.offset),
              metadata: q.metadata ?? null,
            });
          }
        }
        return m;
      });
      p.catch(() => this.#offsetLoads.delete(topic));
      this.#offsetLoads.set(topic, p);
    }
    return p;
  }

  async #stateFor(topic: string, partition: number): Promise<PartitionState> {
    const key = `${topic}:${partition}`;
    const have = this.#states.get(key);
    if (have) return have;
    const c = (await this.#committed(topic)).get(partition);
    const again = this.#states.get(key);
    if (again) return again;
    const pending = decodeManifest(c?.metadata);
    const st = new PartitionState(topic, partition, c?.offset ?? -1, pending);
    this.#states.set(key, st);
    if (pending) {
      this.#d.log.info("re-forming a batch from the manifest", {
        topic,
        partition,
        from: st.committed,
        to: pending.to,
        ingested_at: pending.ts,
      });
    }
    return st;
  }

  #buffered(): { rows: number; bytes: number; oldest: number } {
    let rows = 0, bytes = 0, oldest = Infinity;
    for (const st of this.#states.values()) {
      const b = st.buffered();
      rows += b.rows;
      bytes += b.bytes;
      oldest = Math.min(oldest, b.oldest);
    }
    return { rows, bytes, oldest };
  }

  #full(): boolean {
    const b = this.#buffered();
    return b.rows >= this.#d.config.batchRows ||
      b.bytes >= this.#d.config.batchBytes;
  }

  async #eachBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    if (this.#stop.signal.aborted || batch.messages.length === 0) return;
    const st = await this.#stateFor(batch.topic, batch.partition);
    // Backpressure: the buffer is full until a flush acknowledged, e.g.
    // while ClickHouse is down. Not resolving offsets = KafkaJS fetches
    // nothing new for us; heartbeats keep the group membership.
    let lastBeat = Date.now();
    while (this.#full()) {
      this.#setPaused(true);
      if (this.#stop.signal.aborted || !p.isRunning() || p.isStale()) return;
      await sleep(50, this.#stop.signal);
      if (Date.now() - lastBeat > 1_000) {
        await p.heartbeat();
        lastBeat = Date.now();
      }
    }
    this.#setPaused(false);
    if (st.dropped || p.isStale()) return;
    if (this.#auto && this.#destination(batch.topic)?.kind === "cdc") {
      // Mirrors and new columns exist before their rows are buffered.
      await prepareWithRetry(this.#auto, batch.messages, this.#stop.signal, {
        log: this.#d.log,
        heartbeat: () => p.heartbeat(),
      });
      if (this.#stop.signal.aborted || st.dropped || p.isStale()) return;
    }
    this.#append(st, batch.topic, batch.partition, batch.messages);
    p.resolveOffset(batch.lastOffset());
    await p.heartbeat();
  }

  #setPaused(v: boolean) {
    if (this.#paused !== v) {
      this.#paused = v;
      this.#d.metrics.paused.set(v ? 1 : 0);
    }
  }

  /** The destination of `topic` (cached; table targets stay live). */
  #destination(topic: string): Destination | undefined {
    if (this.#targets.has(topic)) return this.#targets.get(topic);
    const target = routeTopic(this.#d.config.routes, topic);
    let dest: Destination | undefined;
    if (target === undefined) dest = undefined;
    else if (typeof target !== "string") dest = this.#d.tables?.get(target);
    else if (target in EVENT_TABLES) {
      dest = {
        kind: "event",
        table: EVENT_TABLES[target as keyof typeof EVENT_TABLES],
      };
    } else dest = { kind: "cdc", target, auto: this.#auto };
    this.#targets.set(topic, dest);
    return dest;
  }

  #append(
    st: PartitionState,
    topic: string,
    partition: number,
    messages: EachBatchPayload["batch"]["messages"],
  ) {
    const { metrics } = this.#d;
    const shards = this.#d.service.shardCount;
    const dest = this.#destination(topic);
    const now = Date.now();
    let n = 0;
    for (const m of messages) {
      const offset = Number(m.offset);
      if (offset < st.next) continue; // re-delivered after a rejoin
      st.next = offset + 1;
      n++;
      const range = st.rangeFor(offset);
      const value = m.value === null ? null : decoder.decode(m.value);
      const out = transformMessage(
        dest,
        {
          topic,
          partition,
          offset,
          value,
          key: m.key === null || m.key === undefined
            ? null
            : decoder.decode(m.key),
          timestampMs: Number(m.timestamp),
        },
        shards,
        range.ingestTs(now),
      );
      switch (out.kind) {
        case "row":
          range.addRow(
            offset,
            out.table,
            out.shard,
            out.line,
            now,
            out.eventMs,
            out.closed,
          );
          if (out.unknown) {
            metrics.unknownFields.inc({ table: out.table }, out.unknown);
          }
          break;
        case "dead":
          range.addDeadLetter(offset, out.reason, out.original, now);
          break;
        case "truncate":
          range.addTruncate(
            offset,
            { table: out.table, version: out.version },
            now,
          );
          break;
        case "skip":
          range.addSkip(offset, now);
      }
    }
    if (n > 0) {
      metrics.messagesIn.inc({ topic }, n);
      this.#lastMessageAt = now;
      this.#sawMessages = true;
    }
  }

  // --- flushing ----------------------------------------------------------

  async #flushLoop(): Promise<void> {
    const { config, log, metrics } = this.#d;
    let lastLag = 0;
    let lastSchema = Date.now();
    let refreshing = false;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      await sleep(20, this.#stop.signal);
      const now = Date.now();
      if (now - lastLag > 5_000) {
        lastLag = now;
        void this.#updateLag().catch(() => {});
      }
      const tables = this.#d.tables;
      if (tables?.size && !refreshing && now - lastSchema > SCHEMA_REFRESH_MS) {
        lastSchema = now;
        refreshing = true;
        void tables.refresh().catch(() => {}).finally(() => refreshing = false);
      }
      const b = this.#buffered();
      metrics.bufferedRows.set(b.rows);
      const due = b.rows >= config.batchRows ||
        b.bytes >= config.batchBytes ||
        (b.oldest < Infinity && now - b.oldest >= config.batchTimeoutMs);
      if (!due) {
        if (this.#idleDone(b.oldest === Infinity)) {
          log.info("idle: everything committed, exiting");
          return;
        }
        continue;
      }
      if (now - this.#lastFlushStart < config.minInsertIntervalMs) continue;
      try {
        await this.#flush(this.#stop.signal, false);
        failures = 0;
      } catch (err) {
        if (err instanceof Aborted) return;
        failures++;
        log.warn("flush failed, will retry", { err, failures });
        await sleep(SERVICE_RETRY.delayMs(failures), this.#stop.signal);
      }
    }
  }

  #idleDone(empty: boolean): boolean {
    const idle = this.#d.config.exitWhenIdleMs;
    if (idle === undefined || !empty || this.#flushing) return false;
    if (!this.#sawMessages) return false;
    if (Date.now() - this.#lastMessageAt < idle) return false;
    for (const st of this.#states.values()) {
      if (st.ranges.some((r) => r.messages > 0)) return false;
    }
    return true;
  }

  async #commit(
    entries: Array<{ t: Taken; offset: number; metadata: string | null }>,
  ): Promise<void> {
    // Never commit for a partition we no longer own (see README).
    const live = entries.filter((e) => !e.t.state.dropped);
    if (live.length === 0) return;
    await this.#consumer.commitOffsets(live.map((e) => ({
      topic: e.t.topic,
      partition: e.t.partition,
      offset: String(e.offset),
      metadata: e.metadata,
    })));
  }

  /** One flush cycle (see module docs). `final` ignores the stop signal. */
  async #flush(signal: AbortSignal, final: boolean): Promise<void> {
    if (this.#flushing) return;
    const { metrics, log } = this.#d;
    const shards = this.#d.service.shardCount;
    const taken: Taken[] = [];
    const nowSec = Math.floor(Date.now() / 1000);
    for (const st of this.#states.values()) {
      const r = st.takeForFlush();
      if (!r) continue;
      if (!r.ts) r.ts = nowSec;
      taken.push({
        topic: st.topic,
        partition: st.partition,
        shard: shardOfPartition(st.topic, st.partition, shards),
        range: r,
        state: st,
      });
    }
    if (taken.length === 0) return;
    this.#flushing = true;
    this.#lastFlushStart = Date.now();
    try {
      // 1. Manifest first: after a crash the range is re-formed exactly.
      await this.#commit(
        taken.filter((t) => !t.range.intentCommitted).map((t) => ({
          t,
          offset: t.state.committed >= 0 ? t.state.committed : t.range.from,
          metadata: encodeManifest({ to: t.range.to, ts: t.range.ts }),
        })),
      );
      for (const t of taken) t.range.intentCommitted = true;
      // Revoked meanwhile: the new owner re-forms and inserts them.
      const active = taken.filter((t) => !t.state.dropped);
      // 2. Rows, per table and shard, in parallel across shards (TOASTed
      // values of auto mirrors completed first, from earlier versions).
      const requests = buildRequests(
        active,
        (table) => this.#d.tables?.byInsertTable(table) !== undefined,
      );
      if (this.#auto) await this.#completeToast(requests, signal);
      await Promise.all(requests.map((req) => this.#insert(req, signal)));
      // 3. Dead letters: table, then topic.
      for (const t of active) {
        t.range.deadLetters.sort((a, b) => a.offset - b.offset);
      }
      await Promise.all(
        [...deadLetterBodies(active)].map(([shard, body]) =>
          this.#insertBody(shard, "dead_letter", body, signal)
        ),
      );
      await this.#sendDeadLetters(active, signal);
      this.#failpoint();
      // 4. CDC truncates, after the rows that preceded them.
      await this.#truncates(active, signal);
      // 5. Only now the offsets move.
      await this.#commit(active.map((t) => ({
        t,
        offset: t.range.to + 1,
        metadata: null,
      })));
      for (const t of active) {
        t.state.committed = t.range.to + 1;
        t.state.release(t.range);
      }
      for (const t of taken) if (t.state.dropped) t.state.release(t.range);
      metrics.flushes.inc();
    } catch (err) {
      for (const t of taken) t.state.retry(t.range);
      if (final && !(err instanceof Aborted)) {
        log.warn("final flush incomplete; the next run re-forms it", { err });
      }
      throw err;
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * Waits until `table` on `shard` may take another insert (at most one per
   * `min-insert-interval`, measured between insert starts), then books it.
   */
  async #pace(table: string, shard: number, signal: AbortSignal) {
    const key = `${table}|${shard}`;
    const wait = (this.#lastInsert.get(key) ?? 0) +
      this.#d.config.minInsertIntervalMs - Date.now();
    if (wait > 0) await sleep(wait, signal);
    if (signal.aborted) throw new Aborted();
    this.#lastInsert.set(key, Date.now());
  }

  #insertedFlushes = 0;

  /** `--crash-after-inserts`: die in the worst moment, for the tests. */
  #failpoint() {
    const n = this.#d.config.crashAfterInserts;
    if (n > 0 && ++this.#insertedFlushes >= n) {
      this.#d.log.warn("crash-after-inserts reached: exiting before commit");
      Deno.exit(86);
    }
  }

  async #insert(req: InsertRequest, signal: AbortSignal): Promise<void> {
    const { metrics, config } = this.#d;
    const plan = insertPlan(req, {
      database: config.database,
      group: config.group,
      capabilities: this.#d.capabilities,
      table: this.#d.tables?.byInsertTable(req.table),
    });
    while (true) {
      const body = requestBody(req);
      const rows = req.parts.reduce((n, p) => n + p.lines.length, 0);
      if (rows === 0) return;
      await this.#pace(plan.pace, req.shard, signal);
      const t0 = performance.now();
      try {
        await this.#d.service.insert(
          req.shard,
          plan.table,
          body,
          signal,
          `${config.group}.${req.table}.s${
            req.shard + 1
          }.${crypto.randomUUID()}`,
          plan.settings,
        );
        metrics.insertSeconds.observe(
          { table: req.table },
          (performance.now() - t0) / 1000,
        );
        metrics.batchRows.observe({ table: req.table }, rows);
        observeFreshness(metrics.freshness.labels({ table: req.table }), req);
        metrics.rowsOut.inc({ table: req.table }, rows);
        metrics.batches.inc({ table: req.table });
        metrics.lastInsertTime.set(
          { table: req.table, shard: String(req.shard + 1) },
          Date.now() / 1000,
        );
        return;
      } catch (err) {
        if (!(err instanceof RowRejected)) throw err;
        this.#rejectRow(req, err);
      }
    }
  }

  async #completeToast(requests: InsertRequest[], signal: AbortSignal) {
    const { config, metrics, service } = this.#d;
    await Promise.all(requests.map(async (req) => {
      if (!req.table.startsWith("pg_")) return;
      const local = qualified(config.database, `${req.table}_local`);
      const before = toastCount(req);
      if (before === 0) return;
      const bad = await resolveToast(
        req,
        local,
        (shard, sql) => service.queryText(shard, sql, signal),
      );
      // From the last: indexes stay valid while splicing.
      for (const u of bad.reverse()) {
        const part = req.parts[u.part];
        const [line] = part.lines.splice(u.index, 1);
        const [offset] = part.offsets.splice(u.index, 1);
        this.#lineToDeadLetter(part.taken.range, line, u.reason, offset);
      }
      const merged = before - bad.length;
      if (merged > 0) metrics.cdcToastMerged.inc({ table: req.table }, merged);
    }));
  }

  /** Moves the row ClickHouse refused into its range's dead letters. */
  #rejectRow(req: InsertRequest, err: RowRejected) {
    const loc = locateRow(req, err.row);
    const reason = `rejected by ClickHouse: ${err.message}`;
    if (!loc) {
      // Cannot tell which row: dead-letter the whole request, deterministic.
      for (const part of req.parts) {
        const offsets = part.offsets.splice(0);
        part.lines.splice(0).forEach((line, i) => {
          this.#lineToDeadLetter(part.taken.range, line, reason, offsets[i]);
        });
      }
      return;
    }
    const part = req.parts[loc.part];
    const [line] = part.lines.splice(loc.index, 1);
    const [offset] = part.offsets.splice(loc.index, 1);
    this.#lineToDeadLetter(part.taken.range, line, reason, offset);
    this.#d.log.warn("row rejected by ClickHouse, dead-lettered", {
      table: req.table,
      topic: part.taken.topic,
      partition: part.taken.partition,
      error: err.message,
    });
  }

  #lineToDeadLetter(
    range: Range,
    line: string,
    reason: string,
    offset: number | undefined,
  ) {
    range.deadLetters.push({
      offset: offset ?? range.from,
      reason,
      original: line,
    });
  }

  async #insertBody(
    shard: number,
    table: string,
    body: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { config } = this.#d;
    await this.#pace(table, shard, signal);
    await this.#d.service.insert(
      shard,
      qualified(config.database, `${table}_local`),
      body,
      signal,
      `${config.group}.${table}.s${shard + 1}.${crypto.randomUUID()}`,
    );
  }

  async #sendDeadLetters(active: Taken[], signal: AbortSignal) {
    const { config, metrics, log } = this.#d;
    const messages: Array<{ key: string; value: string }> = [];
    for (const t of active) {
      if (t.range.deadLetters.length === 0) continue;
      metrics.deadLetters.inc({ topic: t.topic }, t.range.deadLetters.length);
      if (!config.dlqTopic) continue;
      for (const dl of t.range.deadLetters) {
        messages.push(boundedMessage(t, dl));
      }
    }
    if (!config.dlqTopic || messages.length === 0) return;
    // Bounded requests; what still cannot be written is given up, counted
    // and logged (it is in analytics.dead_letter): rows must move on.
    await sendDeadLetters({
      producer: this.#producer,
      topic: config.dlqTopic,
      messages,
      signal,
      log,
      onUnwritten: (n) => metrics.deadLettersUnwritten.inc(n),
    });
  }

  async #truncates(active: Taken[], signal: AbortSignal) {
    const { config, log } = this.#d;
    for (const t of active) {
      for (const tr of t.range.truncates) {
        for (let s = 0; s < this.#d.service.shardCount; s++) {
          await this.#d.service.command(
            s,
            // Rows of one PostgreSQL table arrive through one topic.
            `ALTER TABLE ${
              qualified(config.database, `${tr.table}_local`)
            } DELETE WHERE _topic = ${
              sqlString(t.topic)
            } AND _version < ${tr.version}`,
            signal,
          );
        }
        log.info("applied truncate to mirror", {
          table: tr.table,
          version: tr.version,
        });
      }
    }
  }

  async #updateLag(): Promise<void> {
    const byTopic = new Map<string, PartitionState[]>();
    for (const st of this.#states.values()) {
      const l = byTopic.get(st.topic) ?? [];
      l.push(st);
      byTopic.set(st.topic, l);
    }
    for (const [topic, states] of byTopic) {
      const offsets = await this.#admin.fetchTopicOffsets(topic);
      for (const st of states) {
        if (st.dropped) continue;
        const o = offsets.find((x) => x.partition === st.partition);
        if (!o) continue;
        const base = st.committed >= 0 ? st.committed : Number(o.low);
        this.#d.metrics.lag.set(
          { topic, partition: String(st.partition) },
          Math.max(0, Number(o.high) - base),
        );
      }
    }
  }
}

/**
 * Observes, per acknowledged row, the time from event creation (or
 * PostgreSQL commit) to now: what `deno task verify` reports as freshness.
 */
function observeFreshness(
  h: { observe(v: number): void },
  req: InsertRequest,
): void {
  const now = Date.now();
  const key = `${req.table}|${req.shard}`;
  for (const part of req.parts) {
    for (const t of part.taken.range.eventTimes.get(key) ?? []) {
      h.observe(Math.max(0, now - t) / 1000);
    }
  }
}
