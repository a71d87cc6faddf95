/**
 * Routing of consumed messages: a topic's destination (built-in event table,
 * CDC mirror or any table), cached per topic, and the append of a fetched
 * Kafka batch into its partition's ranges through the pure transform
 * (transform.ts). The sink loop calls {@link Router.append} and only batches,
 * flushes and commits what lands in the ranges.
 *
 * @module
 */
import type { EachBatchPayload } from "kafkajs";
import type { AnyTables } from "./any_table.ts";
import type { AutoMirrors } from "./cdc_auto.ts";
import type { PartitionState, Range } from "./batch.ts";
import type { ResolvedTable } from "./any_table.ts";
import {
  type ChunkTarget,
  decodeChunk,
  type Decoded,
  eachDecoded,
  packChunk,
} from "./decode_chunk.ts";
import { observeFetch } from "./hops.ts";
import type { SinkMetrics } from "./metrics.ts";
import { type Route, routeTopic, shardOfPartition } from "./routes.ts";
import { EVENT_TABLES } from "./tables.ts";
import {
  type Destination,
  type TableSink,
  transformMessage,
} from "./transform.ts";
import type { DecodePool } from "./worker_pool.ts";

const decoder = new TextDecoder();

/** The messages of one fetched Kafka batch. */
export type KafkaMessages = EachBatchPayload["batch"]["messages"];

/** A batch decoded by the pool: chunks of consecutive messages, in order. */
export interface PreDecoded {
  target: ChunkTarget;
  chunks: Array<{ from: number; count: number; out: Decoded }>;
}

/**
 * Value bytes per chunk sent to a worker: small enough that one partition's
 * fetch (up to 8 MiB) spreads over the workers, large enough that a message
 * to a worker costs little per row.
 */
export const CHUNK_BYTES = 1024 * 1024;

/** Splits `messages` into runs of about {@link CHUNK_BYTES} value bytes. */
export function chunkBounds(
  messages: ReadonlyArray<{ value: Uint8Array | null }>,
  maxBytes = CHUNK_BYTES,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let from = 0, bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const len = messages[i].value?.byteLength ?? 0;
    if (i > from && bytes + len > maxBytes) {
      out.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += len;
  }
  if (messages.length > from) out.push([from, messages.length]);
  return out;
}

/** Resolves destinations and appends messages to partition ranges. */
export class Router {
  readonly #routes: readonly Route[];
  readonly #tables: AnyTables | undefined;
  readonly #metrics: SinkMetrics;
  readonly #shards: number;
  readonly #auto: AutoMirrors | undefined;
  readonly #targets = new Map<string, Destination | undefined>();

  /** `shards` is the number of ClickHouse shards rows are spread over. */
  constructor(opts: {
    routes: readonly Route[];
    tables?: AnyTables;
    metrics: SinkMetrics;
    shards: number;
    /** CDC mirrors created from message schemas (cdc mode). */
    auto?: AutoMirrors;
    /** Decode workers (`--workers` > 0). */
    pool?: DecodePool;
  }) {
    this.#routes = opts.routes;
    this.#tables = opts.tables;
    this.#metrics = opts.metrics;
    this.#shards = opts.shards;
    this.#auto = opts.auto;
    this.#pool = opts.pool;
  }

  readonly #pool: DecodePool | undefined;

  /** The destination of `topic` (cached; table targets stay live). */
  destination(topic: string): Destination | undefined {
    if (this.#targets.has(topic)) return this.#targets.get(topic);
    const target = routeTopic(this.#routes, topic);
    let dest: Destination | undefined;
    if (target === undefined) dest = undefined;
    else if (typeof target !== "string") dest = this.#tables?.get(target);
    else if (target in EVENT_TABLES) {
      dest = {
        kind: "event",
        table: EVENT_TABLES[target as keyof typeof EVENT_TABLES],
      };
    } else dest = { kind: "cdc", target, auto: this.#auto };
    this.#targets.set(topic, dest);
    return dest;
  }
  /**
   * Decodes a batch in the worker pool: event topics, and any-table routes
   * without a JSON Schema (its validator lives here). Undefined when there
   * is no pool or the topic goes elsewhere (then {@link append} transforms
   * in this thread). A chunk whose worker died is decoded here, by the same
   * function: the rows are the same either way.
   */
  async predecode(
    st: PartitionState,
    topic: string,
    partition: number,
    messages: KafkaMessages,
    now: number,
  ): Promise<PreDecoded | undefined> {
    if (!this.#pool || messages.length === 0) return undefined;
    const target = this.#chunkTarget(st, topic, messages, now);
    if (!target) return undefined;
    const pool = this.#pool;
    const chunks = await Promise.all(
      chunkBounds(messages).map(async ([from, to]) => {
        const pack = () =>
          packChunk(target, topic, partition, messages, from, to);
        let out: Decoded;
        try {
          out = await pool.decode(pack());
        } catch {
          out = decodeChunk(pack());
        }
        return { from, count: to - from, out };
      }),
    );
    return { target, chunks };
  }

  #chunkTarget(
    st: PartitionState,
    topic: string,
    messages: KafkaMessages,
    now: number,
  ): ChunkTarget | undefined {
    const dest = this.destination(topic);
    if (dest?.kind === "event") {
      return { kind: "event", table: dest.table.name };
    }
    if (dest?.kind !== "table" || dest.validate) return undefined;
    const columns = (dest as Partial<ResolvedTable>).columns;
    if (!columns) return undefined;
    // The ingest time of the range the batch joins; a message that lands in
    // another range (checked in #appendDecoded) is converted again here.
    const last = st.ranges[st.ranges.length - 1];
    const first = Number(messages[0].offset);
    return {
      kind: "table",
      insertTable: dest.insertTable,
      columns,
      strict: dest.strict ?? false,
      ingestedSec: last?.accepts(first)
        ? last.ingestTs(now)
        : Math.floor(now / 1000),
    };
  }

  /**
   * Appends `messages` of `topic`/`partition` to `st`'s ranges (skipping
   * offsets already seen, e.g. re-delivered after a rejoin); returns how
   * many were new.
   */
  append(
    st: PartitionState,
    topic: string,
    partition: number,
    messages: KafkaMessages,
    now: number,
    pre?: PreDecoded,
  ): number {
    const metrics = this.#metrics;
    const dest = this.destination(topic);
    let n = 0;
    if (pre && (dest?.kind === "event" || dest?.kind === "table")) {
      n = this.#appendDecoded(st, dest, topic, partition, messages, now, pre);
    } else {
      n = this.#appendEach(st, dest, topic, partition, messages, now);
    }
    if (n > 0) {
      observeFetch(metrics.hops, messages, now);
      metrics.messagesIn.inc({ topic }, n);
    }
    return n;
  }

  #appendDecoded(
    st: PartitionState,
    dest: Destination,
    topic: string,
    partition: number,
    messages: KafkaMessages,
    now: number,
    pre: PreDecoded,
  ): number {
    const { target } = pre;
    const table = target.kind === "event" ? target.table : target.insertTable;
    const closed = target.kind === "table";
    const shard = shardOfPartition(topic, partition, this.#shards);
    let n = 0, unknown = 0;
    const retimers = new Map<number, (line: string) => string | undefined>();
    // The range of message `i`, or undefined for a re-delivered offset.
    const take = (i: number): [number, Range] | undefined => {
      const offset = Number(messages[i].offset);
      if (offset < st.next) return undefined; // re-delivered after a rejoin
      st.next = offset + 1;
      n++;
      const range = st.rangeFor(offset);
      if (closed) range.ingestTs(now);
      return [offset, range];
    };
    for (const { from, count, out } of pre.chunks) {
      eachDecoded(out, count, (i, line, eventMs) => {
        const t = take(from + i);
        if (!t) return;
        const [offset, range] = t;
        if (closed && range.ts !== target.ingestedSec) {
          // Built with another ingest time than its range's (a flush sealed
          // the range the chunk was meant for): re-timed, or rebuilt here.
          let re = retimers.get(range.ts);
          if (!re) {
            re = retimer(dest, target.ingestedSec, range.ts);
            retimers.set(range.ts, re);
          }
          const fixed = re(line);
          if (fixed === undefined) {
            const m = messages[from + i];
            this.#transformOne(dest, range, topic, partition, m, now);
            return;
          }
          line = fixed;
        }
        range.addRow(offset, table, shard, line, now, eventMs, closed);
        if (out.unknown) unknown += out.unknown[i];
      }, (i, reason, original) => {
        const t = take(from + i);
        if (t) t[1].addDeadLetter(t[0], reason, original, now);
      });
    }
    if (unknown) this.#metrics.unknownFields.inc({ table }, unknown);
    return n;
  }

  #appendEach(
    st: PartitionState,
    dest: Destination | undefined,
    topic: string,
    partition: number,
    messages: KafkaMessages,
    now: number,
  ): number {
    let n = 0;
    for (const m of messages) {
      const offset = Number(m.offset);
      if (offset < st.next) continue; // re-delivered after a rejoin
      st.next = offset + 1;
      n++;
      this.#transformOne(dest, st.rangeFor(offset), topic, partition, m, now);
    }
    return n;
  }

  /** Transforms one message in this thread into `range`. */
  #transformOne(
    dest: Destination | undefined,
    range: Range,
    topic: string,
    partition: number,
    m: KafkaMessages[number],
    now: number,
  ): void {
    const metrics = this.#metrics;
    const offset = Number(m.offset);
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
      this.#shards,
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
}

/**
 * Re-times table rows built with ingest time `from` to `to`: their
 * `_ingested_at` value is the last one in the line (metadata columns come
 * last, and only a key outside any string is unescaped). Gives undefined
 * when the table's converter cannot say (the caller rebuilds the row).
 */
export function retimer(
  dest: Destination,
  from: number,
  to: number,
): (line: string) => string | undefined {
  if (dest.kind !== "table") return () => undefined;
  const a = ingestFragment(dest, from), b = ingestFragment(dest, to);
  if (a === undefined || b === undefined) return () => undefined;
  if (a === null) return (line) => line; // no _ingested_at column
  return (line) => {
    const at = line.lastIndexOf(a);
    return at < 0
      ? undefined
      : line.slice(0, at) + b + line.slice(at + a.length);
  };
}

/**
 * `"_ingested_at":<value>` as the table's converter writes ingest time `ts`;
 * null when the table has no such column, undefined when it cannot convert.
 */
export function ingestFragment(
  dest: TableSink,
  ts: number,
): string | null | undefined {
  const probe = dest.converter.convert(
    {},
    { topic: "", partition: 0, offset: 0, key: null, timestampMs: 0 },
    ts,
  );
  if (!probe.ok) return undefined;
  if (!dest.converter.metadata.includes("_ingested_at")) return null;
  const m = /"_ingested_at":[^,}]*/.exec(probe.line);
  return m ? m[0] : undefined;
}
