/**
 * Any ClickHouse table as a sink target: resolved once at start (a
 * `Distributed` name becomes its cluster's local table, which the sink
 * inserts into on the shard of each Kafka partition), typed from
 * `system.columns` on every shard, and re-read periodically so that an
 * `ALTER TABLE … ADD COLUMN` is picked up without a restart. The built-in
 * targets (our own `*_local` tables) are checked at start by
 * {@link checkBuiltinTables}.
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import { sqlString } from "../runtime/clickhouse.ts";
import type { Logger } from "../runtime/log.ts";
import { buildRowConverter, type ColumnInfo } from "./row.ts";
import type { Route, TableTarget } from "./routes.ts";
import type { SinkConfig } from "./config.ts";
import { routeTopic } from "./routes.ts";
import type { ClickHouseService } from "./service.ts";
import { DEAD_LETTER_COLUMNS, EVENT_TABLES, MIRROR_COLUMNS } from "./tables.ts";
import type { TableSink } from "./transform.ts";

/** What the target servers support, detected at start. */
export interface Capabilities {
  version: string;
  /** `insert_deduplication_token` (22.2+): dedup by range, not by content. */
  dedupToken: boolean;
  /** `input_format_defaults_for_omitted_fields`: DEFAULT for missing fields. */
  omittedDefaults: boolean;
}

/** A resolved table target. */
export interface ResolvedTable extends TableSink {
  /** As the user named it. */
  name: string;
  database: string;
  table: string;
  /** Engine of the local table. */
  engine: string;
  replicated: boolean;
  columns: ColumnInfo[];
}

/** How often the columns are re-read. */
export const SCHEMA_REFRESH_MS = 5_000;

/** Detects the servers' capabilities on the first shard. */
export async function detectCapabilities(
  service: ClickHouseService,
): Promise<Capabilities> {
  const rows = await service.queryOnce<{ name: string; v: string }>(
    0,
    `SELECT name, version() AS v FROM system.settings WHERE name IN ('insert_deduplication_token', 'input_format_defaults_for_omitted_fields')`,
  );
  const names = new Set((rows ?? []).map((r) => r.name));
  let version = rows?.[0]?.v ?? "";
  if (!version) {
    const v = await service.queryOnce<{ v: string }>(
      0,
      "SELECT version() AS v",
    );
    version = v?.[0]?.v ?? "unknown";
  }
  return {
    version,
    dedupToken: names.has("insert_deduplication_token"),
    omittedDefaults: names.has("input_format_defaults_for_omitted_fields"),
  };
}

/** Splits `Distributed(cluster, db, table, …)` into its first three args. */
export function distributedArgs(
  engineFull: string,
): { cluster: string; database: string; table: string } | undefined {
  const m = /^Distributed\((.*)\)/s.exec(engineFull.trim());
  if (!m) return undefined;
  const args = m[1].split(",").slice(0, 3).map((a) =>
    a.trim().replace(/^['`"](.*)['`"]$/, "$1")
  );
  if (args.length < 3 || args.some((a) => !a)) return undefined;
  return { cluster: args[0], database: args[1], table: args[2] };
}

/** Columns present with the same type on every answering shard. */
export function commonColumns(perShard: ColumnInfo[][]): ColumnInfo[] {
  if (perShard.length === 0) return [];
  const [first, ...rest] = perShard;
  return first.filter((c) =>
    rest.every((cols) =>
      cols.some((x) => x.name === c.name && x.type === c.type)
    )
  );
}

function sameColumns(a: ColumnInfo[], b: ColumnInfo[]): boolean {
  return a.length === b.length &&
    a.every((c, i) =>
      c.name === b[i].name && c.type === b[i].type &&
      (c.default_kind ?? "") === (b[i].default_kind ?? "")
    );
}

/** The resolved table targets of a sink and their schema refresh. */
export class AnyTables {
  readonly #service: ClickHouseService;
  readonly #log: Logger;
  readonly #tables = new Map<string, ResolvedTable>();

  /** Creates the registry. */
  constructor(service: ClickHouseService, log: Logger) {
    this.#service = service;
    this.#log = log;
  }

  /** The resolved target of `t` (after {@link resolveAll}). */
  get(t: TableTarget): ResolvedTable | undefined {
    return this.#tables.get(`${t.database}.${t.table}`);
  }

  /** Whether `insertTable` (a batch key) is one of ours. */
  byInsertTable(insertTable: string): ResolvedTable | undefined {
    for (const t of this.#tables.values()) {
      if (t.insertTable === insertTable) return t;
    }
    return undefined;
  }

  /**
   * Resolves every table route; throws a {@link PipelineError} naming the
   * route when a table is missing or unusable.
   */
  async resolveAll(
    routes: readonly Route[],
    validators: Map<Route, (v: unknown) => string | undefined>,
  ): Promise<void> {
    for (const r of routes) {
      if (typeof r.target === "string") continue;
      const key = `${r.target.database}.${r.target.table}`;
      if (this.#tables.has(key)) continue;
      const label = `route ${r.glob}=${key}`;
      const t = await this.#resolve(r.target, label);
      t.validate = validators.get(r);
      t.strict = r.target.strict;
      this.#tables.set(key, t);
      this.#log.info("table target resolved", {
        route: `${r.glob}=${key}`,
        insert_into: t.insertTable,
        engine: t.engine,
        columns: t.columns.length,
        guarantee: t.replicated ? "exactly once" : "at least once",
      });
      if (!t.replicated) {
        this.#log.warn(
          "target is not a Replicated*MergeTree: re-delivered batches after a crash may duplicate rows (at least once)",
          { route: `${r.glob}=${key}`, engine: t.engine },
        );
      }
    }
  }

  async #resolve(target: TableTarget, label: string): Promise<ResolvedTable> {
    const svc = this.#service;
    const where = (db: string, table: string) =>
      `database = ${sqlString(db)} AND name = ${sqlString(table)}`;
    const rows = await svc.queryOnce<{ engine: string; engine_full: string }>(
      0,
      `SELECT engine, engine_full FROM system.tables WHERE ${
        where(target.database, target.table)
      }`,
    );
    if (!rows) {
      throw new PipelineError(
        `${label}: no replica of shard 1 answered`,
        "check --clickhouse-shards and that ClickHouse is up",
      );
    }
    if (rows.length === 0) {
      throw new PipelineError(
        `${label}: table ${target.database}.${target.table} does not exist`,
        "create it first (the sink never creates tables), or fix the --map/--config route",
      );
    }
    let local = { database: target.database, table: target.table };
    if (rows[0].engine === "Distributed") {
      const d = distributedArgs(rows[0].engine_full);
      if (!d) {
        throw new PipelineError(
          `${label}: cannot read the Distributed definition ${
            rows[0].engine_full
          }`,
        );
      }
      const shards = await svc.queryOnce<{ n: string }>(
        0,
        `SELECT uniqExact(shard_num) AS n FROM system.clusters WHERE cluster = ${
          sqlString(d.cluster)
        }`,
      );
      const n = Number(shards?.[0]?.n ?? 0);
      if (n !== svc.shardCount) {
        throw new PipelineError(
          `${label}: Distributed cluster ${d.cluster} has ${n} shard(s), --clickhouse-shards lists ${svc.shardCount}`,
          "list the cluster's shards in its order in --clickhouse-shards",
        );
      }
      local = { database: d.database, table: d.table };
    }
    const perShard = await this.#columns(local.database, local.table);
    if (perShard.length === 0) {
      throw new PipelineError(`${label}: no shard answered for its columns`);
    }
    const missing = perShard.findIndex((c) => c.length === 0);
    if (missing >= 0) {
      throw new PipelineError(
        `${label}: table ${local.database}.${local.table} does not exist on shard ${
          missing + 1
        }`,
        "create it ON CLUSTER, or list only the shards that hold it in --clickhouse-shards",
      );
    }
    const engine = await svc.queryOnce<{ engine: string }>(
      0,
      `SELECT engine FROM system.tables WHERE ${
        where(local.database, local.table)
      }`,
    );
    const columns = commonColumns(perShard);
    const engineName = engine?.[0]?.engine ?? "";
    return {
      kind: "table",
      name: `${target.database}.${target.table}`,
      database: local.database,
      table: local.table,
      insertTable: `${local.database}.${local.table}`,
      engine: engineName,
      replicated: /^Replicated/.test(engineName),
      columns,
      converter: buildRowConverter(columns),
    };
  }

  /** Columns of a table per answering shard (empty array: no such table). */
  async #columns(db: string, table: string): Promise<ColumnInfo[][]> {
    const out: ColumnInfo[][] = [];
    for (let s = 0; s < this.#service.shardCount; s++) {
      const cols = await this.#service.queryOnce<ColumnInfo>(
        s,
        `SELECT name, type, default_kind FROM system.columns WHERE database = ${
          sqlString(db)
        } AND table = ${sqlString(table)}`,
      );
      if (cols) out.push(cols);
    }
    return out;
  }

  /** Re-reads the columns; rebuilds the converters of changed tables. */
  async refresh(): Promise<void> {
    for (const t of this.#tables.values()) {
      let perShard: ColumnInfo[][];
      try {
        perShard = await this.#columns(t.database, t.table);
      } catch (err) {
        this.#log.warn("schema refresh failed", { table: t.name, err });
        continue;
      }
      if (perShard.length === 0 || perShard.some((c) => c.length === 0)) {
        continue;
      }
      const cols = commonColumns(perShard);
      if (sameColumns(cols, t.columns)) continue;
      const before = new Set(t.columns.map((c) => c.name));
      const after = new Set(cols.map((c) => c.name));
      t.columns = cols;
      t.converter = buildRowConverter(cols);
      this.#log.info("table changed: converter rebuilt", {
        table: t.name,
        added: [...after].filter((c) => !before.has(c)).join(","),
        removed: [...before].filter((c) => !after.has(c)).join(","),
      });
    }
  }

  /** Whether any table target was resolved. */
  get size(): number {
    return this.#tables.size;
  }
}

/**
 * The routes messages of `topic` (a name or a subscription pattern) can
 * take: a name takes its first matching route; a pattern may take any route
 * up to the first one with the same glob, which catches all of its topics
 * (first match wins), so `--map 'app.*=t'` with `--topics 'app.*'` never
 * reaches the built-in routes behind it.
 */
export function reachableRoutes(
  routes: readonly Route[],
  topic: string | RegExp,
): Route[] {
  if (typeof topic === "string") {
    const r = routes.find((x) => routeTopic([x], topic) !== undefined);
    return r ? [r] : [];
  }
  const out: Route[] = [];
  for (const r of routes) {
    out.push(r);
    if (r.pattern.source === topic.source) break;
  }
  return out;
}

/** The built-in tables (without `_local`) and columns the routes can write. */
export function tablesInUse(
  config: SinkConfig,
): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>([[
    "dead_letter",
    DEAD_LETTER_COLUMNS,
  ]]);
  const routes = new Set<Route>();
  for (const t of config.topics) {
    for (const r of reachableRoutes(config.routes, t)) routes.add(r);
  }
  for (const r of routes) {
    // Table targets are resolved and checked by AnyTables.
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

/**
 * Fails with one clear {@link PipelineError} if a built-in table or one of
 * its columns is missing on a reachable shard; an unreachable shard is only
 * logged (its inserts wait for it).
 */
export async function checkBuiltinTables(
  service: ClickHouseService,
  config: SinkConfig,
  log: Logger,
): Promise<void> {
  for (const [table, columns] of tablesInUse(config)) {
    const local = `${table}_local`;
    for (let s = 0; s < service.shardCount; s++) {
      const rows = await service.queryOnce<{ name: string }>(
        s,
        `SELECT name FROM system.columns WHERE database = ${
          sqlString(config.database)
        } AND table = ${sqlString(local)}`,
      ).catch(() => undefined);
      if (!rows) {
        log.warn("shard unreachable at start-up; inserts will wait for it", {
          shard: s + 1,
        });
        continue;
      }
      const have = rows.map((r) => r.name);
      if (have.length === 0) {
        throw new PipelineError(
          `table ${config.database}.${local} does not exist on shard ${s + 1}`,
          "apply schemas/clickhouse/*.sql on every node (deno task up)",
        );
      }
      const missing = columns.filter((c) => !have.includes(c));
      if (missing.length) {
        throw new PipelineError(
          `table ${config.database}.${local} on shard ${s + 1} lacks columns ${
            missing.join(", ")
          }`,
          "re-create it from schemas/clickhouse/*.sql",
        );
      }
    }
  }
}
