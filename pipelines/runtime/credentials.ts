/**
 * ClickHouse credentials for every client: from the environment first
 * (`CLICKHOUSE_USER` / `CLICKHOUSE_PASSWORD`, or the `_READONLY_` pair for
 * dashboards), else from the development cluster's `.cluster/secrets.env`
 * (written 0600 by `deno task up`), else none (user `default`, no password:
 * a cluster brought up before passwords existed).
 *
 * Nothing here prompts: a variable or the file is read only when this
 * process was granted it (`Deno.permissions.querySync`), so a task without
 * `--allow-read=.cluster/secrets.env` simply relies on its environment.
 *
 * @example
 * ```ts
 * import { clickhouseCredentials } from "./credentials.ts";
 * const { username, password } = clickhouseCredentials();
 * ```
 *
 * @module
 */

/** The development cluster's secrets file, relative to the repository root. */
export const CLUSTER_SECRETS_FILE = ".cluster/secrets.env";

/** Absolute path of {@link CLUSTER_SECRETS_FILE} in this checkout. */
export const CLUSTER_SECRETS_PATH: string = new URL(
  `../../${CLUSTER_SECRETS_FILE}`,
  import.meta.url,
).pathname;

/** Which ClickHouse user a client acts as. */
export type ClickHouseRole = "admin" | "readonly";

/** Environment variable names per role (also the keys of the secrets file). */
export const CLICKHOUSE_ENV: Readonly<
  Record<ClickHouseRole, { user: string; password: string }>
> = {
  admin: { user: "CLICKHOUSE_USER", password: "CLICKHOUSE_PASSWORD" },
  readonly: {
    user: "CLICKHOUSE_READONLY_USER",
    password: "CLICKHOUSE_READONLY_PASSWORD",
  },
};

/** User names when neither env nor the secrets file names one. */
export const DEFAULT_CLICKHOUSE_USERS: Readonly<
  Record<ClickHouseRole, string>
> = { admin: "default", readonly: "dashboards" };

/** Resolved credentials and where the password came from (for messages). */
export interface ClickHouseCredentials {
  /** User name. */
  username: string;
  /** Password (may be empty); never log it. */
  password: string;
  /** `env`, `file` (the secrets file) or `none`. */
  source: "env" | "file" | "none";
}

/**
 * Parses `KEY=value` lines (the subset of shell syntax `set -a; . file`
 * reads the same way: no quotes, no expansion). Blank lines and `#` comments
 * are skipped.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** An env variable when this process was granted it, else undefined. */
export function grantedEnv(name: string): string | undefined {
  if (
    Deno.permissions.querySync({ name: "env", variable: name }).state !==
      "granted"
  ) return undefined;
  return Deno.env.get(name);
}

/**
 * The secrets file's entries when it exists and this process may read it;
 * undefined otherwise (never prompts, never throws for a missing file).
 */
export function readClusterSecrets(
  path: string = CLUSTER_SECRETS_PATH,
): Record<string, string> | undefined {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return undefined;
  }
  try {
    return parseEnvFile(Deno.readTextFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * Credentials for `role`: the env pair when its password variable is set
 * (even to ""), else the secrets file's pair, else the role's default user
 * with no password.
 */
export function clickhouseCredentials(
  role: ClickHouseRole = "admin",
  env: (name: string) => string | undefined = grantedEnv,
  secrets: () => Record<string, string> | undefined = readClusterSecrets,
): ClickHouseCredentials {
  const names = CLICKHOUSE_ENV[role];
  const envPassword = env(names.password);
  if (envPassword !== undefined) {
    return {
      username: env(names.user) || DEFAULT_CLICKHOUSE_USERS[role],
      password: envPassword,
      source: "env",
    };
  }
  const file = secrets();
  if (file?.[names.password] !== undefined) {
    return {
      username: env(names.user) || file[names.user] ||
        DEFAULT_CLICKHOUSE_USERS[role],
      password: file[names.password],
      source: "file",
    };
  }
  return {
    username: env(names.user) || DEFAULT_CLICKHOUSE_USERS.admin,
    password: "",
    source: "none",
  };
}

/**
 * HTTP headers that authenticate a plain `fetch` to ClickHouse (the
 * password never appears in the URL, so it cannot end up in a log line).
 */
export function clickhouseAuthHeaders(
  creds: Pick<ClickHouseCredentials, "username" | "password">,
): Record<string, string> {
  // Basic auth: understood by every ClickHouse release, 18.16 included.
  const token = btoa(
    String.fromCharCode(
      ...new TextEncoder().encode(`${creds.username}:${creds.password}`),
    ),
  );
  return { Authorization: `Basic ${token}` };
}
