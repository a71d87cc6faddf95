/**
 * Topic → table routing. A route maps a topic glob to one target table, or to
 * `mirror` (CDC: `<prefix>.<schema>.<table>` → `pg_<table>`). User routes
 * (`--map`) come first; the built-in routes of the mode follow.
 *
 * @module
 */
import { UsageError } from "../runtime/cli.ts";

/** Tables the sink can write (the `*_local` suffix is added by the service). */
export const TARGETS = [
  "security_events",
  "fact_log",
  "error_log",
  "pg_users",
  "pg_orders",
  "mirror",
] as const;

/** A built-in route target: one of our tables or `mirror`. */
export type Target = typeof TARGETS[number];

/** Any ClickHouse table, typed from `system.columns`. */
export interface TableTarget {
  kind: "table";
  database: string;
  table: string;
  /** JSON Schema file the messages must match (per route, optional). */
  schema?: string;
  /** Unknown fields make a dead letter instead of being ignored. */
  strict?: boolean;
}

/** One routing rule. */
export interface Route {
  /** Original glob, for logs. */
  glob: string;
  pattern: RegExp;
  target: Target | TableTarget;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses `[database.]table` into a target (database defaults to
 * `database`); undefined when it is not a valid name.
 */
export function tableTarget(
  text: string,
  database: string,
): TableTarget | undefined {
  const parts = text.split(".");
  if (parts.length > 2 || !parts.every((p) => NAME_RE.test(p))) {
    return undefined;
  }
  return parts.length === 2
    ? { kind: "table", database: parts[0], table: parts[1] }
    : { kind: "table", database, table: parts[0] };
}

/** `db.table` of a table target, or the built-in name. */
export function targetName(t: Target | TableTarget): string {
  return typeof t === "string" ? t : `${t.database}.${t.table}`;
}

/** Built-in routes of the `events` mode (the data contracts' topics). */
export const EVENT_ROUTES: ReadonlyArray<[string, Target]> = [
  ["security.events", "security_events"],
  ["logs.error", "error_log"],
  ["logs.auth", "fact_log"],
  ["logs.order", "fact_log"],
  ["logs.payment", "fact_log"],
  ["logs.notify", "fact_log"],
];

/** Built-in routes of the `cdc` mode (Debezium topic naming). */
export const CDC_ROUTES: ReadonlyArray<[string, Target]> = [
  ["*.*.*", "mirror"],
];

/** Anchored RegExp of a glob whose `*` matches any run of characters. */
export function globRegExp(glob: string): RegExp {
  const body = glob.split("*").map((p) =>
    p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
  ).join("[^]*");
  return new RegExp(`^${body}$`);
}

/**
 * Parses `--map glob=[database.]table` entries (a bare built-in name keeps
 * its built-in contract; any other table is typed from ClickHouse), puts
 * `extra` (config-file routes) after them, and appends the mode's defaults.
 */
export function parseRoutes(
  entries: string[],
  mode: "events" | "cdc",
  database = "analytics",
  extra: Route[] = [],
): Route[] {
  const routes: Route[] = [];
  for (const e of entries) {
    const i = e.lastIndexOf("=");
    const glob = e.slice(0, i).trim();
    const text = e.slice(i + 1).trim();
    const target = (TARGETS as readonly string[]).includes(text)
      ? text as Target
      : tableTarget(text, database);
    if (i <= 0 || !glob || !target) {
      throw new UsageError(
        `--map "${e}" must be glob=[database.]table (any table, or one of the built-in ${
          TARGETS.join(", ")
        })`,
      );
    }
    routes.push({ glob, pattern: globRegExp(glob), target });
  }
  routes.push(...extra);
  for (const [glob, target] of mode === "cdc" ? CDC_ROUTES : EVENT_ROUTES) {
    routes.push({ glob, pattern: globRegExp(glob), target });
  }
  return routes;
}

/** The target of `topic`, or undefined if no route matches. */
export function routeTopic(
  routes: readonly Route[],
  topic: string,
): Target | TableTarget | undefined {
  for (const r of routes) if (r.pattern.test(topic)) return r.target;
  return undefined;
}

/** FNV-1a 32-bit hash: a stable, dependency-free string hash. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The shard of a Kafka partition for event tables: fixed for a topic and
 * partition, so a retried batch reaches the shard whose ZooKeeper holds the
 * block hashes of the first attempt. Partitions of one topic alternate over
 * shards; the topic hash spreads several topics of one table.
 */
export function shardOfPartition(
  topic: string,
  partition: number,
  shards: number,
): number {
  return (fnv1a(topic) + partition) % shards;
}

/**
 * The shard of a mirror row: `id % shards`, the same choice a Distributed
 * table sharded by `id` makes (shards in config order, weight 1 each).
 */
export function shardOfId(id: number, shards: number): number {
  return ((id % shards) + shards) % shards;
}
