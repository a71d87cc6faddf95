/**
 * Mirrors of any PostgreSQL table, typed from the Kafka Connect schema each
 * message carries (the relay's `--schemas`, Debezium's JsonConverter with
 * `schemas.enable=true`): no PostgreSQL connection in the sink.
 *
 * On first sight of a table the sink creates `pg_<table>_local`
 * (`ReplicatedReplacingMergeTree(_version)` ordered by the primary key) and
 * the `Distributed` `pg_<table>` sharded by `_key_hash`, the hash the sink
 * itself routes rows by, so every version of a row meets on one shard and
 * `FINAL` collapses it. A new column in a schema is added (`ON CLUSTER`,
 * local and Distributed) before any row carrying it is buffered; a dropped
 * one stays and is NULL from then on; a column whose type changed to one the
 * mirror cannot take makes each such row one dead letter (and a metric).
 *
 * @module
 */
import type { Logger } from "../runtime/mod.ts";
import { SERVICE_RETRY, sleep, sqlString } from "../runtime/mod.ts";
import {
  type ColumnMapping,
  type ConnectField,
  mapField,
  stringify,
} from "./cdc_types.ts";
import { fnv1a } from "./routes.ts";
import { type ClickHouseService, qualified } from "./service.ts";

/** The cluster every mirror is created on (schemas/clickhouse). */
export const CLUSTER = "analytics_cluster";

/** Metadata columns after the table's own (as the hand-written mirrors). */
const META_COLUMNS: Array<[string, string]> = [
  ["_key", "String"],
  ["_key_hash", "UInt32"],
  ["_version", "UInt64"],
  ["_deleted", "UInt8"],
  ["_op", "String"],
  ["_topic", "String"],
  ["_partition", "UInt32"],
  ["_offset", "UInt64"],
  ["_ingested_at", "DateTime('UTC')"],
];

/** `pg_<table>` in `public`, `pg_<schema>_<table>` elsewhere. */
export function mirrorName(schema: string, table: string): string {
  return schema === "public" ? `pg_${table}` : `pg_${schema}_${table}`;
}

/** One schema version of one table, ready to encode rows. */
export interface AutoSpec {
  /** Mirror (Distributed) table name, `pg_…`. */
  table: string;
  keyFields: string[];
  mappings: ColumnMapping[];
  /** Set when a column's type no longer fits the mirror: rows dead-letter. */
  conflict?: string;
}

/** The `schema` text of a JsonConverter message, or undefined. */
export function schemaText(value: string): string | undefined {
  if (!value.startsWith('{"schema":')) return undefined;
  // The schema holds no key named payload: the first one ends it.
  const i = value.indexOf(',"payload":');
  return i < 0 ? undefined : value.slice(10, i);
}

/** Backquoted ClickHouse identifier. */
export function ident(name: string): string {
  return "`" + name.replace(/\\/g, "\\\\").replace(/`/g, "\\`") + "`";
}

/** The row struct of an envelope schema (`after`, else `before`). */
function rowFields(
  schema: Record<string, unknown>,
): ConnectField[] | undefined {
  const fields = schema.fields as Array<Record<string, unknown>> | undefined;
  const after = fields?.find((f) => f.field === "after") ??
    fields?.find((f) => f.field === "before");
  return after?.fields as ConnectField[] | undefined;
}

/** Builds the spec of one schema version (pure). */
export function buildSpec(
  table: string,
  valueSchema: Record<string, unknown>,
  keyFields: string[],
): AutoSpec | { reason: string } {
  const fields = rowFields(valueSchema);
  if (!fields) return { reason: "schema without before/after struct" };
  if (keyFields.length === 0) return { reason: "message key without fields" };
  const mappings = fields.map((f) => mapField(f));
  for (const k of keyFields) {
    if (!mappings.some((m) => m.field === k)) {
      return { reason: `key field ${k} is not a column` };
    }
  }
  return { table, keyFields, mappings };
}

/** CREATE statements of a new mirror (local, then Distributed). */
export function createStatements(
  database: string,
  spec: AutoSpec,
): [string, string] {
  const local = qualified(database, `${spec.table}_local`);
  const cols = [...spec.mappings.flatMap((m) => m.columns), ...META_COLUMNS]
    .map(([n, t]) => `${ident(n)} ${t}`).join(", ");
  // The exact column of a date/timestamp key (the queryable one is Nullable).
  const order = spec.keyFields.map((k) => {
    const m = spec.mappings.find((x) => x.field === k)!;
    return ident(m.columns[m.columns.length - 1][0]);
  }).join(", ");
  return [
    `CREATE TABLE IF NOT EXISTS ${local} ON CLUSTER ${CLUSTER} (${cols}) ` +
    `ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${database}/${spec.table}_local', '{replica}', _version) ` +
    `ORDER BY (${order})`,
    distributedStatement(database, spec.table),
  ];
}

/** Counts schema conflicts (a metric in the sink). */
export type ConflictCounter = (table: string) => void;

/** The sink's registry of auto-created mirrors. */
export class AutoMirrors {
  readonly #specs = new Map<string, AutoSpec | { reason: string }>();
  /** ClickHouse columns (name → type) of each mirror table, once known. */
  readonly #columns = new Map<string, Map<string, string>>();
  /** Mirrors whose Distributed table this process has checked. */
  readonly #checked = new Set<string>();

  constructor(
    private readonly service: ClickHouseService,
    private readonly database: string,
    private readonly log: Logger,
    private readonly onConflict: ConflictCounter = () => {},
  ) {}

  /** The spec of a message's schema (after {@link prepare}). */
  spec(schema: string): AutoSpec | { reason: string } | undefined {
    return this.#specs.get(schema);
  }

  /** Whether the mirror table exists (known after {@link prepare}). */
  exists(table: string): boolean {
    return (this.#columns.get(table)?.size ?? 0) > 0;
  }

  /**
   * Makes the mirrors of these messages exist with every column their
   * schemas carry, before the messages are transformed. Idempotent.
   */
  async prepare(
    messages: Array<{ key: string | null; value: string | null }>,
    signal: AbortSignal,
  ): Promise<void> {
    for (const m of messages) {
      if (m.value === null) continue;
      const text = schemaText(m.value);
      if (text === undefined) continue;
      if (this.#specs.has(text)) continue;
      const spec = this.#parse(text, m.key, m.value);
      if (spec === "later") {
        // A truncate (no key): only learn whether its mirror exists.
        await this.#load(this.#tableOf(m.value), signal);
        continue;
      }
      if ("table" in spec) await this.#ensure(spec, signal);
      this.#specs.set(text, spec);
    }
  }

  #tableOf(value: string): string {
    try {
      const src = JSON.parse(value).payload?.source ?? {};
      return mirrorName(String(src.schema), String(src.table));
    } catch {
      return "";
    }
  }

  #parse(
    text: string,
    key: string | null,
    value: string,
  ): AutoSpec | { reason: string } | "later" {
    let schema: Record<string, unknown>;
    try {
      schema = JSON.parse(text);
    } catch {
      return { reason: "message schema is not JSON" };
    }
    if (key === null) return "later";
    let keyFields: string[] = [];
    try {
      const k = JSON.parse(key);
      const fields = (k?.schema?.fields ?? []) as ConnectField[];
      keyFields = fields.map((f) => String(f.field));
    } catch {
      return { reason: "message key is not JSON" };
    }
    return buildSpec(this.#tableOf(value), schema, keyFields);
  }

  async #load(
    table: string,
    signal: AbortSignal,
  ): Promise<Map<string, string>> {
    if (!table) return new Map();
    const rows = await this.service.query<{ name: string; type: string }>(
      0,
      `SELECT name, type FROM system.columns WHERE database = ${
        sqlString(this.database)
      } AND table = ${sqlString(`${table}_local`)}`,
      signal,
    );
    const cols = new Map(rows.map((r) => [r.name, r.type]));
    this.#columns.set(table, cols);
    return cols;
  }

  async #ensure(spec: AutoSpec, signal: AbortSignal): Promise<void> {
    let cols = this.#columns.get(spec.table) ?? await this.#load(
      spec.table,
      signal,
    );
    if (cols.size > 0 && !this.#checked.has(spec.table)) {
      await this.#repairDistributed(spec.table, signal);
    }
    this.#checked.add(spec.table);
    if (cols.size === 0) {
      for (const sql of createStatements(this.database, spec)) {
        await this.service.command(0, sql, signal);
      }
      this.log.info("created CDC mirror", { table: spec.table });
      cols = await this.#load(spec.table, signal);
    }
    for (const m of spec.mappings) {
      for (const [name, type] of m.columns) {
        const have = cols.get(name);
        if (have === undefined) {
          await this.#addColumn(spec.table, name, type, signal);
          cols = this.#columns.get(spec.table)!;
        } else if (have !== type && `Nullable(${have})` !== type) {
          spec.conflict =
            `column ${m.field} of ${spec.table} is ${have} in ClickHouse but the PostgreSQL type now maps to ${type}; ALTER the column of ${spec.table}_local ON CLUSTER by hand, restart the sink (it re-creates the Distributed table), then replay these dead letters`;
          this.log.warn("CDC schema change the mirror cannot take", {
            table: spec.table,
            column: name,
            clickhouse: have,
            wanted: type,
          });
        }
      }
    }
    if (spec.conflict) this.onConflict(spec.table);
  }

  /**
   * Re-creates the Distributed table when it is missing or its columns differ
   * from the local table's: what a kill -9 between the local CREATE/ALTER and
   * the Distributed CREATE (or its DROP and CREATE) leaves. Once per table
   * and process, before its first rows.
   */
  async #repairDistributed(table: string, signal: AbortSignal): Promise<void> {
    const rows = await this.service.query<{ table: string; cols: string }>(
      0,
      // Sorted: 18.16's system.columns has no position (order is not compared).
      `SELECT table, arrayStringConcat(arraySort(groupArray(concat(name, ' ', type))), ',') AS cols
         FROM system.columns WHERE database = ${sqlString(this.database)}
          AND table IN (${sqlString(table)}, ${sqlString(`${table}_local`)})
        GROUP BY table`,
      signal,
    );
    const of = (t: string) => rows.find((r) => r.table === t)?.cols;
    if (of(table) === of(`${table}_local`)) return;
    this.log.warn("re-creating the Distributed table of a CDC mirror", {
      table,
      reason: of(table) === undefined ? "missing" : "columns differ",
    });
    await this.#recreateDistributed(table, signal);
  }

  async #recreateDistributed(
    table: string,
    signal: AbortSignal,
  ): Promise<void> {
    const dist = qualified(this.database, table);
    await this.service.command(
      0,
      `DROP TABLE IF EXISTS ${dist} ON CLUSTER ${CLUSTER}`,
      signal,
    );
    await this.service.command(
      0,
      distributedStatement(this.database, table),
      signal,
    );
  }

  async #addColumn(
    table: string,
    name: string,
    type: string,
    signal: AbortSignal,
  ): Promise<void> {
    await this.service.command(
      0,
      `ALTER TABLE ${
        qualified(this.database, `${table}_local`)
      } ON CLUSTER ${CLUSTER} ADD COLUMN ${ident(name)} ${type}`,
      signal,
      // On 18.16 the replica that receives the replicated ALTER through
      // ZooKeeper before its own ON CLUSTER task reports the column as
      // existing: it is there, which is what we asked for.
      (text) => /column with this name already exists/.test(text),
    );
    // ClickHouse 18.16 refuses ALTER ON CLUSTER of a Distributed table on a
    // replicated cluster ("isn't replicated"): it holds no data, so it is
    // re-created from the altered local table instead.
    await this.#recreateDistributed(table, signal);
    this.log.info("added column to CDC mirror", { table, column: name, type });
    await this.#load(table, signal);
  }
}

/** CREATE of the Distributed table over `<table>_local`. */
export function distributedStatement(database: string, table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${
    qualified(database, table)
  } ON CLUSTER ${CLUSTER} AS ${qualified(database, `${table}_local`)} ` +
    `ENGINE = Distributed(${CLUSTER}, ${database}, ${
      ident(`${table}_local`)
    }, _key_hash)`;
}

/** A mirror row line (open: enrichment and `_ingested_at` follow). */
export function encodeAutoRow(
  spec: AutoSpec,
  row: Record<string, unknown>,
  version: number,
  op: string,
): { line: string; hash: number } | { reason: string } {
  if (spec.conflict) return { reason: spec.conflict };
  const keyJson = stringify(spec.keyFields.map((k) => row[k] ?? null));
  const hash = fnv1a(keyJson);
  const parts: string[] = [];
  for (const m of spec.mappings) {
    const frag = m.encode(row[m.field]);
    if (typeof frag !== "string") return frag;
    parts.push(frag);
  }
  const deleted = op === "d" ? 1 : 0;
  return {
    line: `{${parts.join(",")},"_key":${
      JSON.stringify(keyJson)
    },"_key_hash":${hash},"_version":${version},"_deleted":${deleted},"_op":"${op}"`,
    hash,
  };
}

const textDecoder = new TextDecoder();

/**
 * {@link AutoMirrors.prepare} for a fetched Kafka batch, retried with backoff
 * while ClickHouse is unavailable (heartbeating, so the group keeps us).
 */
export async function prepareWithRetry(
  auto: AutoMirrors,
  messages: Array<{ key: Uint8Array | null; value: Uint8Array | null }>,
  signal: AbortSignal,
  opts: { log: Logger; heartbeat: () => Promise<void> },
): Promise<void> {
  const decoded = messages.map((m) => ({
    key: m.key ? textDecoder.decode(m.key) : null,
    value: m.value ? textDecoder.decode(m.value) : null,
  }));
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await auto.prepare(decoded, signal);
    } catch (err) {
      if (signal.aborted) return;
      opts.log.warn("preparing CDC mirrors failed, will retry", { err });
      await sleep(SERVICE_RETRY.delayMs(attempt), signal);
      await opts.heartbeat().catch(() => {});
    }
  }
}
