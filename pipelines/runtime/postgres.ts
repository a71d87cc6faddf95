/**
 * PostgreSQL client factory (`npm:pg`). The connection URL comes from config;
 * the password is taken from the URL or `PGPASSWORD` and never logged.
 *
 * @module
 */
import "./_env_guard.ts"; // before the libraries: they read env at load
// @ts-types="npm:@types/pg@8.15.6"
import pg from "pg";

export { pg };

/** Options for {@link createPgPool} and {@link createPgClient}. */
export interface PgOptions {
  /** `postgres://user[:password]@host:port/db`. */
  url: string;
  /** Application name shown in `pg_stat_activity`. */
  applicationName: string;
  /** Password (else from the URL or `PGPASSWORD`); never logged. */
  password?: string;
  /** Pool size (pool only). */
  max?: number;
}

/** A pool for ordinary queries. */
export function createPgPool(opts: PgOptions): pg.Pool {
  return new pg.Pool({
    connectionString: withPassword(opts.url, opts.password),
    application_name: opts.applicationName,
    max: opts.max ?? 4,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 10_000,
  });
}

/** A single client (needed for replication or session state). */
export function createPgClient(
  opts: PgOptions & { replication?: "database" },
): pg.Client {
  return new pg.Client({
    connectionString: withPassword(opts.url, opts.password),
    application_name: opts.applicationName,
    connectionTimeoutMillis: 5_000,
    ...(opts.replication ? { replication: opts.replication } : {}),
  } as pg.ClientConfig);
}

/**
 * `url` with `password` set (pg lets the URL override a separate password
 * field, so it goes into the URL). Unchanged when no password is given.
 */
function withPassword(url: string, password?: string): string {
  if (password === undefined) return url;
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** The URL with its password replaced by `***`, safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}
