/**
 * ClickHouse client factory (`npm:@clickhouse/client-web`) and safe SQL
 * literal helpers.
 *
 * ClickHouse 18.16 (Debian) has no query parameters, so any value that must
 * appear in SQL goes through {@link sqlString} / {@link sqlIdentifier}; data
 * rows always travel as `JSONEachRow` bodies, never inside SQL text.
 *
 * @module
 */
import { type ClickHouseClient, createClient } from "@clickhouse/client-web";
import { clickhouseCredentials, type ClickHouseRole } from "./credentials.ts";

export type { ClickHouseClient } from "@clickhouse/client-web";

/** Options for {@link createClickHouse}. */
export interface ClickHouseOptions {
  /** HTTP URL of one node or of the load balancer. */
  url: string;
  /**
   * User name and password. Unset: {@link clickhouseCredentials} for `role`
   * (env `CLICKHOUSE_USER`/`CLICKHOUSE_PASSWORD`, else `.cluster/secrets.env`
   * when readable, else `default` without a password). Never logged.
   */
  username?: string;
  /** Password (see `username`). */
  password?: string;
  /** Whose credentials to look up when none are given (default `admin`). */
  role?: ClickHouseRole;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
  /** Client-wide ClickHouse settings. */
  settings?: Record<string, string | number>;
  /**
   * Insert values that are strings go out as they are: for bodies that are
   * already encoded `JSONEachRow` text (the sink's batches).
   */
  preEncoded?: boolean;
}

/** Creates a client for one URL with the shared defaults. */
export function createClickHouse(opts: ClickHouseOptions): ClickHouseClient {
  const found = opts.password === undefined
    ? clickhouseCredentials(opts.role ?? "admin")
    : undefined;
  return createClient({
    url: opts.url,
    username: opts.username ?? found?.username ?? "default",
    password: opts.password ?? found?.password ?? "",
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    clickhouse_settings: opts.settings as Record<string, never> | undefined,
    json: opts.preEncoded
      ? {
        parse: JSON.parse,
        stringify: (v: unknown) =>
          typeof v === "string" ? v : JSON.stringify(v),
      }
      : undefined,
  });
}

/** Quotes `value` as a ClickHouse string literal. */
export function sqlString(value: string): string {
  return "'" + value.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
}

/** Quotes a (possibly dotted) identifier with backticks, rejecting oddities. */
export function sqlIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(name)) {
    throw new Error(
      `not a valid ClickHouse identifier: ${JSON.stringify(name)}`,
    );
  }
  return name.split(".").map((p) => "`" + p + "`").join(".");
}

/** Formats a JS date as ClickHouse `DateTime` text (UTC, seconds). */
export function toDateTime(d: Date): string {
  return d.toISOString().slice(0, 19).replace("T", " ");
}
