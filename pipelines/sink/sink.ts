/**
 * The sink loop: a KafkaJS consumer group feeding per-partition ranges
 * (batch.ts), and a flush loop that — at most once per `min-insert-interval`
 * — records the ranges' manifest in Kafka, inserts them into the shard-local
 * tables, writes dead letters, and only then commits the offsets.
 *
 * This loop only batches, flushes and commits. A message's route and row come
 * from route_message.ts (through the pure transform.ts), the flush's writes
 * from flush_writes.ts, committed offsets and lag from offsets.ts.
 *
 * @module
 */
import type { Consumer, EachBatchPayload, Kafka, Producer } from "kafkajs";
import {
  type Logger,
  PartitionCounts,
  Partitioners,
  sleep,
} from "../runtime/mod.ts";
import {
  type AnyTables,
  type Capabilities,
  SCHEMA_REFRESH_MS,
} from "./any_table.ts";
import { type Buffered, bufferedOf, isFull, PartitionState } from "./batch.ts";
import type { SinkConfig } from "./config.ts";
import type { TakenRange } from "./encoder.ts";
import { AutoMirrors, prepareWithRetry } from "./cdc_auto.ts";
import {
  flushDue,
  FlushSteps,
  InFlight,
  logFlushSteps,
  settledBefore,
  splitByShard,
} from "./flush_schedule.ts";
import { FlushWrites } from "./flush_writes.ts";
import { decodeManifest, encodeManifest } from "./manifest.ts";
import type { SinkMetrics } from "./metrics.ts";
import { CommittedOffsets, updateLag } from "./offsets.ts";
import { Router } from "./route_message.ts";
import { shardOfPartition } from "./routes.ts";
import { Aborted, type ClickHouseService } from "./service.ts";
import type { SinkTestHooks } from "./test_hooks.ts";
import { DecodePool } from "./worker_pool.ts";

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
  /** TEST-ONLY failpoints (test_hooks.ts); undefined in production. */
  testHooks?: SinkTestHooks;
}

interface Taken extends TakenRange {
  state: PartitionState;
}

/**
 * Budget of {@link Sink.stop}: the last flush and disconnects, inside the
 * process's 15 s shutdown deadline.
 */
export const FINAL_FLUSH_MS = 10_000;

/** Kafka → ClickHouse with exactly-once rows (see README "Design"). */
export class Sink {
  readonly #d: SinkDeps;
  readonly #states = new Map<string, PartitionState>();
  readonly #router: Router;
  readonly #stop = new AbortController();
  #consumer!: Consumer;
  #admin!: ReturnType<Kafka["admin"]>;
  #producer!: Producer;
  #offsets!: CommittedOffsets;
  #writes!: FlushWrites;
  #lastFlushStart = 0;
  /** Flushes in flight (they never share a partition, see batch.ts). */
  #inFlight!: InFlight;
  /** Partitions a flush skipped because their range was still in flight. */
  readonly #heldBack = new Set<PartitionState>();
  #lastMessageAt = Date.now();
  #sawMessages = false;
  #paused = false;
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #incomplete = false;

  constructor(deps: SinkDeps) {
    this.#d = deps;
    this.#inFlight = new InFlight(deps.log);
    if (deps.config.mode === "cdc") {
      this.#auto = new AutoMirrors(
        deps.service,
        deps.config.database,
        deps.log,
        (table) => deps.metrics.cdcSchemaConflicts.inc({ table }),
      );
    }
    const { workers, workerBudgetBytes } = deps.config;
    this.#pool = workers > 0
      ? new DecodePool({
        size: workers,
        budgetBytes: workerBudgetBytes,
        onCrash: (err) => {
          deps.metrics.decodeWorkerCrashes.inc();
          deps.log.warn("decode worker died; its chunks decoded in-thread", {
            err,
          });
        },
      })
      : undefined;
    this.#router = new Router({
      routes: deps.config.routes,
      tables: deps.tables,
      metrics: deps.metrics,
      shards: deps.service.shardCount,
      auto: this.#auto,
      pool: this.#pool,
    });
  }

  /** Decode workers (`--workers` > 0), else undefined. */
  readonly #pool: DecodePool | undefined;

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
    this.#offsets = new CommittedOffsets(this.#admin, config.group);
    this.#producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await this.#producer.connect();
    this.#writes = new FlushWrites({
      ...this.#d,
      producer: this.#producer,
      partitions: new PartitionCounts(this.#admin),
      auto: this.#auto,
    });
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
      maxWaitTimeInMs: config.fetchWaitMs,
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
    this.#loop ??= this.#ticks().finally(() => this.#inFlight.settled());
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
        const taken = this.#take(this.#states.values(), false);
        if (taken.length > 0) {
          done &&= await settledBefore(
            this.#flush(taken, expired, true, []),
            expired,
          );
        }
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
      this.#pool?.close();
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
    this.#offsets.clear();
    this.#d.log.info("partitions assigned", {
      assignment: Object.fromEntries(
        Object.entries(assignment).map(([t, ps]) => [t, ps.join(",")]),
      ),
    });
  }

  async #stateFor(topic: string, partition: number): Promise<PartitionState> {
    const key = `${topic}:${partition}`;
    const have = this.#states.get(key);
    if (have) return have;
    const c = (await this.#offsets.of(topic)).get(partition);
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

  #buffered = (): Buffered => bufferedOf(this.#states.values());
  #full = (): boolean => isFull(this.#buffered(), this.#d.config);

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
    if (this.#auto && this.#router.destination(batch.topic)?.kind === "cdc") {
      // Mirrors and new columns exist before their rows are buffered.
      await prepareWithRetry(this.#auto, batch.messages, this.#stop.signal, {
        log: this.#d.log,
        heartbeat: () => p.heartbeat(),
      });
      if (this.#stop.signal.aborted || st.dropped || p.isStale()) return;
    }
    // Decoded in the workers (--workers); appended only once complete.
    const pre = await this.#router.predecode(
      st,
      batch.topic,
      batch.partition,
      batch.messages,
      Date.now(),
    );
    if (this.#stop.signal.aborted || st.dropped || p.isStale()) return;
    const now = Date.now();
    const n = this.#router.append(
      st,
      batch.topic,
      batch.partition,
      batch.messages,
      now,
      pre,
    );
    if (n > 0) {
      this.#lastMessageAt = now;
      this.#sawMessages = true;
    }
    p.resolveOffset(batch.lastOffset());
    await p.heartbeat();
  }

  #setPaused(v: boolean) {
    if (this.#paused !== v) {
      this.#paused = v;
      this.#d.metrics.paused.set(v ? 1 : 0);
    }
  }

  // --- flushing ----------------------------------------------------------

  /**
   * The flush loop (it resolves once the flushes in flight settle, see
   * {@link run}). Flushes run beside it, one per shard
   * (`splitByShard`): the next tick takes every partition not in flight, so
   * a slow shard or table holds back only its own partitions, and those
   * flush as soon as their flush is done.
   */
  async #ticks(): Promise<void> {
    const { config, log, metrics } = this.#d;
    let lastLag = 0;
    let lastSchema = Date.now();
    let refreshing = false;
    while (!this.#stop.signal.aborted) {
      await sleep(20, this.#stop.signal);
      const now = Date.now();
      if (now - lastLag > 5_000) {
        lastLag = now;
        void updateLag(this.#admin, this.#states.values(), metrics)
          .catch(() => {});
      }
      const tables = this.#d.tables;
      if (tables?.size && !refreshing && now - lastSchema > SCHEMA_REFRESH_MS) {
        lastSchema = now;
        refreshing = true;
        void tables.refresh().catch(() => {}).finally(() => refreshing = false);
      }
      if (now < this.#inFlight.retryAt) continue;
      const ready = [...this.#heldBack].filter((st) => !st.ranges[0]?.inFlight);
      if (ready.length > 0) {
        for (const st of ready) this.#heldBack.delete(st);
        splitByShard(this.#take(ready, false)).forEach((t) => this.#start(t));
      }
      const b = this.#buffered();
      metrics.bufferedRows.set(b.rows);
      const due = flushDue(b, now, this.#lastFlushStart, config);
      if (!due) {
        if (this.#idleDone(b.oldest === Infinity)) {
          log.info("idle: everything committed, exiting");
          return;
        }
        continue;
      }
      if (now - this.#lastFlushStart < config.minInsertIntervalMs) continue;
      const taken = this.#take(this.#states.values(), true);
      if (taken.length === 0) continue;
      this.#lastFlushStart = now;
      splitByShard(taken).forEach((t) => this.#start(t));
    }
  }

  #idleDone(empty: boolean): boolean {
    const idle = this.#d.config.exitWhenIdleMs;
    if (idle === undefined || !empty || this.#inFlight.size > 0) return false;
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

  #start(taken: Taken[]) {
    this.#inFlight.start((earlier) =>
      this.#flush(taken, this.#stop.signal, false, earlier)
    );
  }

  /**
   * Takes the next range of each of `states` for a flush (see batch.ts);
   * with `holdBack`, remembers those still in a flight, to flush them as soon
   * as it lands.
   */
  #take(states: Iterable<PartitionState>, holdBack: boolean): Taken[] {
    const shards = this.#d.service.shardCount;
    const taken: Taken[] = [];
    const nowSec = Math.floor(Date.now() / 1000);
    for (const st of states) {
      if (st.dropped) continue;
      const r = st.takeForFlush();
      if (!r) {
        if (holdBack && st.ranges[0]?.inFlight) this.#heldBack.add(st);
        continue;
      }
      if (!r.ts) r.ts = nowSec;
      taken.push({
        topic: st.topic,
        partition: st.partition,
        shard: shardOfPartition(st.topic, st.partition, shards),
        range: r,
        state: st,
      });
    }
    return taken;
  }

  /**
   * One flush of `taken` (see module docs). `final` ignores the stop
   * signal; truncates wait for the `earlier` flushes' rows.
   */
  async #flush(
    taken: Taken[],
    signal: AbortSignal,
    final: boolean,
    earlier: Promise<unknown>[],
  ): Promise<void> {
    const { metrics, log } = this.#d;
    const steps = new FlushSteps(Date.now());
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
      steps.mark("manifest");
      // Revoked meanwhile: the new owner re-forms and inserts them.
      const active = taken.filter((t) => !t.state.dropped);
      // 2. Rows, per table and shard, in parallel across shards.
      await this.#writes.rows(active, signal);
      steps.mark("rows");
      // 3. Dead letters: table, then topic.
      await this.#writes.deadLetters(active, signal);
      steps.mark("dead_letters");
      this.#d.testHooks?.afterInserts();
      // 4. CDC truncates, after the rows that preceded them (also those
      // of flushes still in flight).
      if (active.some((t) => t.range.truncates.length > 0)) {
        await Promise.allSettled(earlier);
      }
      await this.#writes.truncates(active, signal);
      steps.mark("truncates");
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
      steps.mark("offsets");
      logFlushSteps(this.#d, steps, active.length);
    } catch (err) {
      for (const t of taken) t.state.retry(t.range);
      if (final && !(err instanceof Aborted)) {
        log.warn("final flush incomplete; the next run re-forms it", { err });
      }
      throw err;
    }
  }
}
