/**
 * `--tables 'schema.*'`: a schema wildcard besides plain names. At start the
 * wildcards expand to the schema's tables that the publication covers; a
 * missing publication is created `FOR TABLES IN SCHEMA` (PostgreSQL ≥ 15),
 * so tables created in that schema later are covered (and picked up by the
 * incremental snapshot, see `incremental.ts`).
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import type { Logger } from "../runtime/log.ts";
import type { pg } from "../runtime/postgres.ts";
import { quoteIdent, splitTableName } from "./catalog.ts";

/** Whether a `--tables` entry is a schema wildcard. */
export function isWildcard(pattern: string): boolean {
  return pattern.endsWith(".*");
}

/**
 * The `CREATE PUBLICATION` for patterns plus extra tables (the signal
 * table): `TABLES IN SCHEMA` for wildcards, `TABLE` for names (pure).
 */
export function publicationDdl(
  name: string,
  patterns: string[],
  extra: string[],
): string {
  const q = (t: string) => splitTableName(t).map(quoteIdent).join(".");
  const wild = new Set(patterns.filter(isWildcard).map((p) => p.slice(0, -2)));
  const schemas = [...wild].map(quoteIdent);
  // A table inside a wildcard schema is already covered by it.
  const tables = [...patterns.filter((p) => !isWildcard(p)), ...extra]
    .filter((t) => !wild.has(splitTableName(t)[0]));
  const parts: string[] = [];
  if (schemas.length) parts.push(`TABLES IN SCHEMA ${schemas.join(", ")}`);
  if (tables.length) parts.push(`TABLE ${tables.map(q).join(", ")}`);
  return `CREATE PUBLICATION ${quoteIdent(name)} FOR ${parts.join(", ")}`;
}

/**
 * With a wildcard in `--tables` and no publication yet: creates it for the
 * schemas (and the named tables, and `extra`). Without wildcards it leaves
 * everything to `ensurePublication`.
 */
export async function ensureSchemaPublication(
  c: pg.Client,
  a: {
    name: string;
    patterns: string[];
    extra: string[];
    versionNum: number;
    log: Logger;
  },
): Promise<void> {
  if (!a.patterns.some(isWildcard)) return;
  const pub = await c.query(
    "SELECT 1 FROM pg_publication WHERE pubname = $1",
    [a.name],
  );
  if (pub.rows.length > 0) return;
  const ddl = publicationDdl(a.name, a.patterns, a.extra);
  if (a.versionNum < 150000) {
    throw new PipelineError(
      `--tables wildcards need PostgreSQL 15 (FOR TABLES IN SCHEMA) to create publication "${a.name}"`,
      "create the publication yourself (FOR TABLE …, or FOR ALL TABLES) and add new tables with ALTER PUBLICATION … ADD TABLE",
    );
  }
  try {
    await c.query(ddl);
  } catch (err) {
    throw new PipelineError(
      `cannot create publication "${a.name}": ${(err as Error).message}`,
      `create it as a superuser: ${ddl};`,
    );
  }
  a.log.info("publication created", { publication: a.name, ddl });
}

/**
 * The concrete tables of `patterns` now: names as given; each wildcard as
 * the schema's tables in the publication (all of them if it does not exist
 * yet), minus `exclude` (the relay's own tables).
 */
export async function expandTables(
  c: pg.Client,
  patterns: string[],
  publication: string,
  exclude: string[],
): Promise<string[]> {
  const out = patterns.filter((p) => !isWildcard(p));
  for (const p of patterns.filter(isWildcard)) {
    const schema = p.slice(0, -2);
    const r = await c.query(
      `SELECT c.relname AS name FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND (NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $2)
               OR EXISTS (SELECT 1 FROM pg_publication_tables t
                           WHERE t.pubname = $2 AND t.schemaname = n.nspname
                             AND t.tablename = c.relname))
        ORDER BY c.relname`,
      [schema, publication],
    );
    for (const row of r.rows) out.push(`${schema}.${row.name}`);
  }
  return [...new Set(out)].filter((t) => !exclude.includes(t));
}
