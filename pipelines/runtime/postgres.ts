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

/** Options for {@link createPgClient}. */
export interface PgOptions {
  /** `postgres://user[:password]@host:port/db`. */
  url: string;
  /** Application name shown in `pg_stat_activity`. */
  applicationName: string;
  /** Password (else from the URL or `PGPASSWORD`); never logged. */
  password?: string;
  /**
   * Session settings sent at start-up (the server's `options` parameter,
   * e.g. `-c DateStyle=ISO -c statement_timeout=0`).
   */
  options?: string;
  /** `"database"`: a logical replication connection (walsender). */
  replication?: "database";
  /** Server-side `statement_timeout` in ms (default: the server's). */
  statementTimeoutMs?: number;
}

/** pg's client configuration for `opts` (pure; what {@link createPgClient} uses). */
export function pgClientConfig(
  opts: PgOptions,
): pg.ClientConfig & { replication?: string } {
  const config: pg.ClientConfig & { replication?: string } = {
    connectionString: withPassword(opts.url, opts.password),
    application_name: opts.applicationName,
    connectionTimeoutMillis: 5_000,
  };
  if (opts.options !== undefined) config.options = opts.options;
  // pg supports it; @types/pg does not declare it.
  if (opts.replication !== undefined) config.replication = opts.replication;
  if (opts.statementTimeoutMs !== undefined) {
    config.statement_timeout = opts.statementTimeoutMs;
  }
  return config;
}

/** A single client for queries and session state. */
export function createPgClient(opts: PgOptions): pg.Client {
  return new pg.Client(pgClientConfig(opts));
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
