/**
 * What the relay captures, prepared at start: `--tables` patterns expanded
 * (`wildcards.ts`), the signal table created and put in the publication,
 * and the incremental-snapshot stage between stream and sink
 * (`incremental.ts`) opened on its own connection.
 *
 * @module
 */
import { PipelineError } from "../runtime/app.ts";
import type { Logger } from "../runtime/log.ts";
import { describeTables, ensurePublication } from "./catalog.ts";
import type { CdcConfig } from "./config.ts";
import type { EnvelopeSettings, OutRecord, TableMeta } from "./envelope.ts";
import { IncrementalSnapshots } from "./incremental.ts";
import { progressTable } from "./incremental_state.ts";
import type { CdcMetrics } from "./metrics.ts";
import { type Catalog, connectPg } from "./catalog_client.ts";
import { CapturedTables, signalTableDdl } from "./signals.ts";
import {
  ensureSchemaPublication,
  expandTables,
  isWildcard,
} from "./wildcards.ts";

/** The relay's own tables, never captured by a wildcard. */
function ownTables(cfg: CdcConfig): string[] {
  const own = [cfg.stateTable, progressTable(cfg.stateTable)];
  if (cfg.signalTable) own.push(cfg.signalTable);
  return own.map((t) => (t.includes(".") ? t : `public.${t}`));
}

/**
 * Creates the signal table if missing, expands the wildcards, describes the
 * tables and makes sure the publication covers them and the signal table.
 */
export async function prepareCapture(
  cfg: CdcConfig,
  catalog: Catalog,
  log: Logger,
): Promise<{ tables: TableMeta[]; captured: CapturedTables }> {
  const c = catalog.client;
  if (cfg.signalTable) {
    try {
      await c.query(signalTableDdl(cfg.signalTable));
    } catch (err) {
      throw new PipelineError(
        `cannot create the signal table ${cfg.signalTable}: ${
          (err as Error).message
        }`,
        `create it as its owner: ${
          signalTableDdl(cfg.signalTable)
        }; and grant the relay's role SELECT, INSERT, DELETE on it`,
      );
    }
  }
  const own = ownTables(cfg);
  const extra = cfg.signalTable ? [cfg.signalTable] : [];
  await ensureSchemaPublication(c, {
    name: cfg.publication,
    patterns: cfg.tables,
    extra,
    versionNum: catalog.server.versionNum,
    log,
  });
  const names = await expandTables(c, cfg.tables, cfg.publication, own);
  const describe = (list: string[]) =>
    describeTables(c, list, cfg.topicPrefix, catalog.types, cfg.schemas);
  const tables = await describe(names);
  await ensurePublication(c, cfg.publication, [
    ...tables,
    ...await describe(extra),
  ], log);
  if (cfg.tables.some(isWildcard)) {
    log.info("tables captured", { tables: names, patterns: cfg.tables });
  }
  return { tables, captured: new CapturedTables(cfg.tables, own) };
}

/**
 * The stage between stream and sink, when anything needs it (a signal
 * table or a wildcard); `undefined` keeps the plain path.
 */
export async function openIncremental(a: {
  cfg: CdcConfig;
  catalog: Catalog;
  captured: CapturedTables;
  tables: TableMeta[];
  sink: { push(r: OutRecord): Promise<void>; drain(): Promise<void> };
  ensureTopics: (topics: string[]) => Promise<void>;
  settings: EnvelopeSettings;
  metrics: CdcMetrics;
  log: Logger;
}): Promise<
  { stage: IncrementalSnapshots; close: () => Promise<void> } | undefined
> {
  if (!a.cfg.signalTable && !a.cfg.tables.some(isWildcard)) return undefined;
  const client = await connectPg(a.cfg, "incremental");
  try {
    const stage = await IncrementalSnapshots.open({
      ...a,
      client,
      describe: async (name) =>
        (await describeTables(
          client,
          [name],
          a.cfg.topicPrefix,
          a.catalog.types,
          a.cfg.schemas,
        ))[0],
      log: a.log.child({ stage: "incremental" }),
    }, a.tables);
    stage.start();
    return {
      stage,
      close: async () => {
        stage.stop();
        await client.end().catch(() => {});
      },
    };
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
}
