/**
 * Start-up checks that turn setup mistakes into one clear line: the target
 * tables exist with the expected columns on every reachable shard, and the
 * Kafka topics we name exist.
 *
 * @module
 */
import type { Kafka } from "kafkajs";
import { type Logger, PipelineError } from "../runtime/mod.ts";
import type { SinkConfig } from "./config.ts";
import { routeTopic } from "./routes.ts";
import type { ClickHouseService } from "./service.ts";
import { DEAD_LETTER_COLUMNS, EVENT_TABLES, MIRROR_COLUMNS } from "./tables.ts";

/** The tables (without `_local`) and columns the routes can write. */
export function tablesInUse(
  config: SinkConfig,
): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>([[
    "dead_letter",
    DEAD_LETTER_COLUMNS,
  ]]);
  // Exact topics: only their routes; a pattern may match any route.
  const exact = config.topics.every((t) => typeof t === "string");
  const routes = exact
    ? config.routes.filter((r) =>
      (config.topics as string[]).some((t) => routeTopic([r], t) !== undefined)
    )
    : config.routes;
  for (const r of routes) {
    // Any-table targets are resolved and checked by any_table.ts.
    if (typeof r.target !== "string") continue;
    if (r.target in EVENT_TABLES) {
      out.set(
        r.target,
        EVENT_TABLES[r.target as keyof typeof EVENT_TABLES].columns,
      );
    } else if (r.target === "mirror") {
      out.set("pg_users", MIRROR_COLUMNS.pg_users);
      out.set("pg_orders", MIRROR_COLUMNS.pg_orders);
    } else {
      out.set(
        r.target,
        MIRROR_COLUMNS[r.target as keyof typeof MIRROR_COLUMNS],
      );
    }
  }
  return out;
}

/** Fails with a clear message if a table or column is missing. */
export async function checkTables(
  service: ClickHouseService,
  config: SinkConfig,
  log: Logger,
): Promise<void> {
  for (const [table, columns] of tablesInUse(config)) {
    const local = `${table}_local`;
    for (const r of await service.columnsOnce(config.database, local)) {
      if (!r.reached) {
        log.warn("shard unreachable at start-up; inserts will wait for it", {
          shard: r.shard + 1,
        });
        continue;
      }
      if (r.columns.length === 0) {
        throw new PipelineError(
          `table ${config.database}.${local} does not exist on shard ${
            r.shard + 1
          }`,
          "apply schemas/clickhouse/*.sql on every node (deno task up)",
        );
      }
      const missing = columns.filter((c) => !r.columns.includes(c));
      if (missing.length) {
        throw new PipelineError(
          `table ${config.database}.${local} on shard ${
            r.shard + 1
          } lacks columns ${missing.join(", ")}`,
          "re-create it from schemas/clickhouse/*.sql",
        );
      }
    }
  }
}

/** Fails if named (non-pattern) topics or the dead-letter topic are missing. */
export async function checkTopics(
  kafka: Kafka,
  config: SinkConfig,
): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw new PipelineError(
      `cannot reach Kafka at ${config.brokers.join(",")}: ${
        (err as Error).message
      }`,
      "start the cluster (deno task up) or pass --brokers",
    );
  }
  try {
    const existing = new Set(await admin.listTopics());
    const named = config.topics.filter((t): t is string =>
      typeof t === "string"
    );
    if (config.dlqTopic) named.push(config.dlqTopic);
    const missing = named.filter((t) => !existing.has(t));
    if (missing.length) {
      throw new PipelineError(
        `Kafka topic(s) ${missing.join(", ")} do not exist`,
        "create them (schemas/kafka/topics.json, deno task up); auto-creation is off",
      );
    }
  } finally {
    await admin.disconnect();
  }
}
