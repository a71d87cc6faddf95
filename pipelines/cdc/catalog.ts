/**
 * Everything the relay asks PostgreSQL on an ordinary connection: setup
 * checks (wal_level, replication privilege, primary keys), table and type
 * metadata, the publication, slot status and lag. Each user-fixable problem
 * becomes one {@link PipelineError} naming the fix.
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import type { Logger } from "../runtime/log.ts";
import { type pg, redactUrl } from "../runtime/postgres.ts";
import type { PgTypeInfo, TypeRegistry } from "./convert.ts";
import type { ColumnMeta, TableMeta } from "./envelope.ts";
import { tableSchemas } from "./schema.ts";
import { type Lsn, parseLsn } from "./lsn.ts";

/** What the relay needs to know about the server and its role. */
export interface ServerInfo {
  walLevel: string;
  versionNum: number;
  db: string;
  user: string;
  replication: boolean;
  superuser: boolean;
}

/** Reads server settings and the current role's privileges. */
export async function serverInfo(c: pg.Client): Promise<ServerInfo> {
  const r = await c.query(
    `SELECT current_setting('wal_level') AS wal_level,
            current_setting('server_version_num')::int AS version_num,
            current_database() AS db, current_user AS usr,
            r.rolreplication, r.rolsuper
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const row = r.rows[0];
  return {
    walLevel: row.wal_level,
    versionNum: row.version_num,
    db: row.db,
    user: row.usr,
    replication: row.rolreplication,
    superuser: row.rolsuper,
  };
}

/** Fails with the fix if the server or role cannot do logical replication. */
export function checkServer(info: ServerInfo, url: string): void {
  if (info.walLevel !== "logical") {
    throw new PipelineError(
      `wal_level is '${info.walLevel}' on ${
        redactUrl(url)
      }; logical replication needs 'logical'`,
      "set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL",
    );
  }
  if (info.versionNum < 100000) {
    throw new PipelineError(
      `PostgreSQL ${info.versionNum} is too old for pgoutput`,
      "use PostgreSQL 10 or newer",
    );
  }
  if (!info.replication && !info.superuser) {
    throw new PipelineError(
      `role "${info.user}" lacks the REPLICATION privilege`,
      `run ALTER ROLE ${
        quoteIdent(info.user)
      } WITH REPLICATION; (as a superuser) or connect as a role that has it`,
    );
  }
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Splits `schema.table` (default schema `public`). */
export function splitTableName(name: string): [string, string] {
  const i = name.indexOf(".");
  return i < 0 ? ["public", name] : [name.slice(0, i), name.slice(i + 1)];
}

/** Reads `pg_type` rows for `oids` (for {@link TypeRegistry}). */
export async function lookupTypes(
  c: pg.Client,
  oids: number[],
): Promise<PgTypeInfo[]> {
  const r = await c.query(
    `SELECT oid::int AS oid, typname, typcategory, typelem::int AS elem,
            typbasetype::int AS base, typdelim,
            (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
               FROM pg_enum WHERE enumtypid = pg_type.oid) AS labels
       FROM pg_type WHERE oid = ANY($1::oid[])`,
    [oids],
  );
  return r.rows.map((x) => ({
    oid: x.oid,
    name: x.typname,
    category: x.typcategory,
    elem: x.elem,
    base: x.base,
    delim: x.typdelim,
    ...(x.labels === null ? {} : { labels: x.labels }),
  }));
}

/** Primary key columns of a relation, in key order ([] if none). */
export async function primaryKey(
  c: pg.Client,
  relationOid: number,
): Promise<string[]> {
  const r = await c.query(
    `SELECT a.attname
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisprimary
      ORDER BY k.ord`,
    [relationOid],
  );
  return r.rows.map((x) => x.attname as string);
}

/** Topic of a table: `<prefix>.<schema>.<table>`. */
export function topicOf(prefix: string, schema: string, table: string): string {
  return `${prefix}.${schema}.${table}`;
}

/**
 * Describes the captured tables. Fails (with the fix) if one is missing or
 * has no primary key: Debezium keys are primary keys, and without one
 * updates and deletes could not be keyed or ordered per row.
 */
export async function describeTables(
  c: pg.Client,
  names: string[],
  prefix: string,
  types: TypeRegistry,
  schemas = false,
): Promise<TableMeta[]> {
  const out: TableMeta[] = [];
  for (const full of names) {
    const [schema, table] = splitTableName(full);
    const rel = await c.query(
      `SELECT c.oid::int AS oid FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
      [schema, table],
    );
    if (rel.rows.length === 0) {
      throw new PipelineError(
        `table ${schema}.${table} does not exist`,
        "create it, or fix --tables (schema.table, comma separated)",
      );
    }
    const oid = rel.rows[0].oid as number;
    const key = await primaryKey(c, oid);
    if (key.length === 0) {
      throw new PipelineError(
        `table ${schema}.${table} has no primary key; change events need one for their Kafka key`,
        `add one (ALTER TABLE ${quoteIdent(schema)}.${
          quoteIdent(table)
        } ADD PRIMARY KEY (...)) or remove the table from --tables`,
      );
    }
    const cols = await c.query(
      `SELECT attname, atttypid::int AS type_oid, atttypmod AS type_mod
         FROM pg_attribute
        WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped
          AND attgenerated = ''
        ORDER BY attnum`,
      [oid],
    );
    const rawCols = cols.rows.map((r) => ({
      name: r.attname as string,
      typeOid: r.type_oid as number,
      typeMod: r.type_mod as number,
    }));
    out.push(
      await buildMeta(oid, schema, table, rawCols, key, prefix, types, schemas),
    );
  }
  return out;
}

/** Builds table metadata from columns (catalog or a Relation message). */
export async function buildMeta(
  relationOid: number,
  schema: string,
  table: string,
  columns: { name: string; typeOid: number; typeMod?: number }[],
  keyColumns: string[],
  prefix: string,
  types: TypeRegistry,
  schemas = false,
): Promise<TableMeta> {
  await types.resolve(columns.map((c) => c.typeOid));
  const metas: ColumnMeta[] = columns.map((c) => ({
    name: c.name,
    typeOid: c.typeOid,
    typeMod: c.typeMod ?? -1,
    convert: types.converter(c.typeOid, c.typeMod ?? -1),
  }));
  const topic = topicOf(prefix, schema, table);
  const meta: TableMeta = {
    relationOid,
    schema,
    table,
    topic,
    columns: metas,
    keyColumns,
  };
  if (schemas) {
    // Once per relation version: a Relation message rebuilds the meta.
    meta.schemas = tableSchemas(
      topic,
      metas.map((c) => ({
        name: c.name,
        typeOid: c.typeOid,
        typeMod: c.typeMod ?? -1,
        optional: !keyColumns.includes(c.name),
      })),
      keyColumns,
      (oid) => types.info(oid),
      types.decimalMode,
    );
  }
  return meta;
}

/**
 * Makes sure the publication exists and covers the captured tables:
 * creates it if missing; if it exists without one of them, fails with the
 * ALTER statement to run (the relay does not silently change a publication
 * someone else may use).
 */
export async function ensurePublication(
  c: pg.Client,
  name: string,
  tables: TableMeta[],
  log: Logger,
): Promise<void> {
  const list = tables.map((t) =>
    `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`
  )
    .join(", ");
  const pub = await c.query(
    `SELECT puballtables FROM pg_publication WHERE pubname = $1`,
    [name],
  );
  if (pub.rows.length === 0) {
    try {
      await c.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${list}`);
    } catch (err) {
      throw new PipelineError(
        `cannot create publication "${name}": ${(err as Error).message}`,
        `create it as the tables' owner: CREATE PUBLICATION ${
          quoteIdent(name)
        } FOR TABLE ${list};`,
      );
    }
    log.info("publication created", { publication: name, tables: list });
    return;
  }
  const inPub = await c.query(
    `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1`,
    [name],
  );
  const have = new Set(
    inPub.rows.map((r) => `${r.schemaname}.${r.tablename}`),
  );
  const missing = tables.filter((t) => !have.has(`${t.schema}.${t.table}`));
  if (missing.length > 0) {
    const names = missing.map((t) =>
      `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`
    ).join(", ");
    throw new PipelineError(
      `publication "${name}" does not include ${names}`,
      `run ALTER PUBLICATION ${
        quoteIdent(name)
      } ADD TABLE ${names}; or fix --tables`,
    );
  }
}

/** A replication slot as `pg_replication_slots` shows it. */
export interface SlotInfo {
  plugin: string | null;
  slotType: string;
  database: string | null;
  active: boolean;
  activePid: number | null;
  confirmedFlush: Lsn | null;
  walStatus: string | null;
}

/** The slot's status, or undefined if it does not exist. */
export async function slotInfo(
  c: pg.Client,
  slot: string,
): Promise<SlotInfo | undefined> {
  const r = await c.query(
    `SELECT plugin, slot_type, database, active, active_pid,
            confirmed_flush_lsn::text AS confirmed, wal_status
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    plugin: row.plugin,
    slotType: row.slot_type,
    database: row.database,
    active: row.active,
    activePid: row.active_pid,
    confirmedFlush: row.confirmed ? parseLsn(row.confirmed) : null,
    walStatus: row.wal_status ?? null,
  };
}

/** Fails with the fix if an existing slot cannot be used by this relay. */
export function checkSlot(slot: string, info: SlotInfo, db: string): void {
  if (info.active) {
    throw new PipelineError(
      `replication slot "${slot}" is already in use by another process (pid ${info.activePid})`,
      "stop the other consumer of the slot, or give this relay its own --slot",
    );
  }
  if (info.slotType !== "logical" || info.plugin !== "pgoutput") {
    throw new PipelineError(
      `replication slot "${slot}" exists but is ${info.slotType}/${
        info.plugin ?? "physical"
      }, not logical/pgoutput`,
      "choose another --slot, or drop that slot if it is unused: SELECT pg_drop_replication_slot('<slot>')",
    );
  }
  if (info.database !== db) {
    throw new PipelineError(
      `replication slot "${slot}" belongs to database "${info.database}", not "${db}"`,
      "choose another --slot for this database",
    );
  }
  if (info.walStatus === "lost") {
    throw new PipelineError(
      `replication slot "${slot}" is invalidated (its WAL was removed; changes were lost)`,
      "drop it (SELECT pg_drop_replication_slot('<slot>')) and restart the relay to re-snapshot",
    );
  }
}

/** Drops a slot (it must be inactive). */
export async function dropSlot(c: pg.Client, slot: string): Promise<void> {
  await c.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
}

/** Slot lag and retained WAL, in bytes. */
export async function slotLag(
  c: pg.Client,
  slot: string,
): Promise<{ lagBytes: number; retainedBytes: number } | undefined> {
  const r = await c.query(
    `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::float8 AS lag,
            (pg_current_wal_lsn() - restart_lsn)::float8 AS retained
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    lagBytes: Number(row.lag ?? 0),
    retainedBytes: Number(row.retained ?? 0),
  };
}

/**
 * Turns a PostgreSQL error from connecting or replicating into one line with
 * the fix when it is a known setup problem; other errors pass through.
 */
export function explainPgError(
  err: unknown,
  url: string,
  slot: string,
): unknown {
  const e = err as { code?: string; message?: string };
  const msg = e?.message ?? String(err);
  const where = redactUrl(url);
  if (e?.code === "ECONNREFUSED" || /ECONNREFUSED/.test(msg)) {
    return new PipelineError(
      `cannot connect to PostgreSQL at ${where}: connection refused`,
      "start PostgreSQL (deno task up) or fix --postgres-url",
    );
  }
  switch (e?.code) {
    case "28P01":
    case "28000":
      if (/replication/i.test(msg)) {
        return new PipelineError(
          `PostgreSQL refused the replication connection: ${msg}`,
          "allow it in pg_hba.conf (a 'replication' line for this user and address) and grant the role REPLICATION",
        );
      }
      return new PipelineError(
        `PostgreSQL authentication failed for ${where}: ${msg}`,
        "set PGPASSWORD (or fix the user in --postgres-url)",
      );
    case "3D000":
      return new PipelineError(
        `database does not exist at ${where}: ${msg}`,
        "fix the database name in --postgres-url",
      );
    case "42501":
      return new PipelineError(
        `permission denied: ${msg}`,
        "grant the role REPLICATION (ALTER ROLE <role> WITH REPLICATION) and SELECT on the captured tables",
      );
    case "55006":
      return new PipelineError(
        `replication slot "${slot}" is already in use: ${msg}`,
        "stop the other consumer of the slot, or give this relay its own --slot",
      );
    case "53400":
      return new PipelineError(
        `cannot create replication slot: ${msg}`,
        "drop unused slots (SELECT pg_drop_replication_slot(name) FROM pg_replication_slots WHERE NOT active) or raise max_replication_slots",
      );
    case "42704":
      // Publication dropped (or never visible to the slot): no reconnect
      // can fix that, and retrying forever would hide it.
      if (/publication/.test(msg)) {
        return new PipelineError(
          msg,
          "create the publication (the relay does so for --tables at start) or fix --publication",
        );
      }
      break;
    case "55000":
      if (/wal_level/.test(msg)) {
        return new PipelineError(
          msg,
          "set wal_level = logical in postgresql.conf and restart PostgreSQL",
        );
      }
  }
  return err;
}
