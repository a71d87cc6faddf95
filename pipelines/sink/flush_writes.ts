/**
 * The writes of one flush, between the manifest commit and the offset
 * commit (see sink.ts): rows into the shard-local tables (paced at most one
 * insert per table and shard per interval; a row ClickHouse rejects moves to
 * its range's dead letters), dead letters into the table and the topic, and
 * CDC truncates.
 *
 * @module
 */
import type { Producer } from "kafkajs";
import {
  type Logger,
  type PartitionCounts,
  sqlString,
} from "../runtime/mod.ts";
import type { AnyTables, Capabilities } from "./any_table.ts";
import type { AutoMirrors } from "./cdc_auto.ts";
import { resolveToast, toastCount } from "./cdc_toast.ts";
import type { Range } from "./batch.ts";
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
import { InsertLanes } from "./flush_schedule.ts";
import { observeInsert } from "./hops.ts";
import type { SinkMetrics } from "./metrics.ts";
import { type ClickHouseService, qualified, RowRejected } from "./service.ts";

/** What the writes need. */
export interface FlushWritesDeps {
  config: SinkConfig;
  log: Logger;
  metrics: SinkMetrics;
  service: ClickHouseService;
  /** The dead-letter topic's producer. */
  producer: Producer;
  /** Partition counts of the dead-letter topic (see `sendAllAcked`). */
  partitions: PartitionCounts;
  tables?: AnyTables;
  capabilities?: Capabilities;
  /** CDC mirrors created from message schemas (cdc mode). */
  auto?: AutoMirrors;
}

/** Writes the taken ranges of a flush; keeps the insert pacing state. */
export class FlushWrites {
  readonly #d: FlushWritesDeps;
  /** One insert lane per `table|shard` (the rate rule). */
  readonly #lanes: InsertLanes;

  /** Creates the writer. */
  constructor(deps: FlushWritesDeps) {
    this.#d = deps;
    this.#lanes = new InsertLanes(deps.config.minInsertIntervalMs);
  }

  /** Step 2: the rows, per table and shard, in parallel across shards. */
  async rows(active: TakenRange[], signal: AbortSignal): Promise<void> {
    const requests = buildRequests(
      active,
      (table) => this.#d.tables?.byInsertTable(table) !== undefined,
    );
    // TOASTed values of auto mirrors are completed first, from earlier
    // versions of the same keys.
    if (this.#d.auto) await this.#completeToast(requests, signal);
    await Promise.all(requests.map((req) => this.#insert(req, signal)));
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
        lineToDeadLetter(part.taken.range, line, u.reason, offset);
      }
      const merged = before - bad.length;
      if (merged > 0) metrics.cdcToastMerged.inc({ table: req.table }, merged);
    }));
  }

  /** Step 3: the dead letters, into the table, then to the topic. */
  async deadLetters(active: TakenRange[], signal: AbortSignal): Promise<void> {
    for (const t of active) {
      t.range.deadLetters.sort((a, b) => a.offset - b.offset);
    }
    await Promise.all(
      [...deadLetterBodies(active)].map(([shard, body]) =>
        this.#insertBody(shard, "dead_letter", body, signal)
      ),
    );
    await this.#sendDeadLetters(active, signal);
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
      let t0 = 0;
      try {
        await this.#lanes.run(`${plan.pace}|${req.shard}`, signal, () => {
          t0 = performance.now();
          return this.#d.service.insert(
            req.shard,
            plan.table,
            body,
            signal,
            `${config.group}.${req.table}.s${
              req.shard + 1
            }.${crypto.randomUUID()}`,
            plan.settings,
          );
        });
        metrics.insertSeconds.observe(
          { table: req.table },
          (performance.now() - t0) / 1000,
        );
        metrics.batchRows.observe({ table: req.table }, rows);
        observeFreshness(metrics.freshness.labels({ table: req.table }), req);
        observeInsert(metrics.hops, req, Date.now());
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

  /** Moves the row ClickHouse refused into its range's dead letters. */
  #rejectRow(req: InsertRequest, err: RowRejected) {
    const loc = locateRow(req, err.row);
    const reason = `rejected by ClickHouse: ${err.message}`;
    if (!loc) {
      // Cannot tell which row: dead-letter the whole request, deterministic.
      for (const part of req.parts) {
        const offsets = part.offsets.splice(0);
        part.lines.splice(0).forEach((line, i) => {
          lineToDeadLetter(part.taken.range, line, reason, offsets[i]);
        });
      }
      return;
    }
    const part = req.parts[loc.part];
    const [line] = part.lines.splice(loc.index, 1);
    const [offset] = part.offsets.splice(loc.index, 1);
    lineToDeadLetter(part.taken.range, line, reason, offset);
    this.#d.log.warn("row rejected by ClickHouse, dead-lettered", {
      table: req.table,
      topic: part.taken.topic,
      partition: part.taken.partition,
      error: err.message,
    });
  }

  async #insertBody(
    shard: number,
    table: string,
    body: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { config } = this.#d;
    await this.#lanes.run(
      `${table}|${shard}`,
      signal,
      () =>
        this.#d.service.insert(
          shard,
          qualified(config.database, `${table}_local`),
          body,
          signal,
          `${config.group}.${table}.s${shard + 1}.${crypto.randomUUID()}`,
        ),
    );
  }

  async #sendDeadLetters(active: TakenRange[], signal: AbortSignal) {
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
      producer: this.#d.producer,
      partitions: this.#d.partitions,
      topic: config.dlqTopic,
      messages,
      signal,
      log,
      onUnwritten: (n) => metrics.deadLettersUnwritten.inc(n),
    });
  }

  /** Step 4: CDC truncates, after the rows that preceded them. */
  async truncates(active: TakenRange[], signal: AbortSignal): Promise<void> {
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
}

function lineToDeadLetter(
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
