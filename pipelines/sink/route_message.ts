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
import type { PartitionState } from "./batch.ts";
import { observeFetch } from "./hops.ts";
import type { SinkMetrics } from "./metrics.ts";
import { type Route, routeTopic } from "./routes.ts";
import { EVENT_TABLES } from "./tables.ts";
import { type Destination, transformMessage } from "./transform.ts";

const decoder = new TextDecoder();

/** The messages of one fetched Kafka batch. */
export type KafkaMessages = EachBatchPayload["batch"]["messages"];

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
  }) {
    this.#routes = opts.routes;
    this.#tables = opts.tables;
    this.#metrics = opts.metrics;
    this.#shards = opts.shards;
    this.#auto = opts.auto;
  }

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
  ): number {
    const metrics = this.#metrics;
    const dest = this.destination(topic);
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
    if (n > 0) {
      observeFetch(metrics.hops, messages, now);
      metrics.messagesIn.inc({ topic }, n);
    }
    return n;
  }
}
