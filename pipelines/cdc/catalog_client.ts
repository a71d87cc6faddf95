/**
 * The relay's ordinary PostgreSQL connections (catalog queries, heartbeats,
 * slot lag, the snapshot), opened through the runtime's factory with the
 * relay's pinned session formats. Beside `catalog.ts`, not in it: it needs
 * the relay's config, and `config.ts` already imports `catalog.ts`.
 *
 * @module
 */
import { createPgClient, type pg } from "../runtime/postgres.ts";
import {
  checkServer,
  explainPgError,
  lookupTypes,
  type ServerInfo,
  serverInfo,
} from "./catalog.ts";
import type { CdcConfig } from "./config.ts";
import { SESSION_OPTIONS, TypeRegistry } from "./convert.ts";

/** `application_name` prefix of the relay's connections. */
export const APP_NAME = "deno-cdc";

/** An ordinary connection with the relay's pinned session formats. */
export async function connectPg(
  cfg: CdcConfig,
  purpose: string,
): Promise<pg.Client> {
  const c = createPgClient({
    url: cfg.postgresUrl,
    applicationName: `${APP_NAME}-${purpose}`,
    options: SESSION_OPTIONS,
  });
  c.on("error", () => {/* surfaces through the next query */});
  try {
    await c.connect();
  } catch (err) {
    throw explainPgError(err, cfg.postgresUrl, cfg.slot);
  }
  return c;
}

/**
 * The ordinary connection (catalog queries, heartbeats, slot lag) plus what
 * it learned at start. Reconnects when the server dropped it.
 */
export class Catalog {
  #client: pg.Client;
  readonly types: TypeRegistry;

  /** Wraps a connected client. */
  constructor(
    private readonly cfg: CdcConfig,
    client: pg.Client,
    readonly server: ServerInfo,
  ) {
    this.#client = client;
    this.types = new TypeRegistry(
      (oids) => lookupTypes(this.#client, oids),
      cfg.decimalMode,
    );
  }

  /** The current client. */
  get client(): pg.Client {
    return this.#client;
  }

  /** Replaces the client if it no longer answers. */
  async ensureAlive(): Promise<void> {
    try {
      await this.#client.query("SELECT 1");
    } catch {
      await this.#client.end().catch(() => {});
      this.#client = await connectPg(this.cfg, "catalog");
    }
  }

  /** Closes the connection. */
  close(): Promise<void> {
    return this.#client.end().catch(() => {});
  }
}

/** Connects, then fails fast on wal_level / privilege problems. */
export async function openCatalog(cfg: CdcConfig): Promise<Catalog> {
  const client = await connectPg(cfg, "catalog");
  try {
    const server = await serverInfo(client);
    checkServer(server, cfg.postgresUrl);
    return new Catalog(cfg, client, server);
  } catch (err) {
    await client.end().catch(() => {});
    throw explainPgError(err, cfg.postgresUrl, cfg.slot);
  }
}
