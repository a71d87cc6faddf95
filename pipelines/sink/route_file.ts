/**
 * The sink's optional JSON config file (`--config`): routes with per-route
 * options, and the per-route JSON Schema validators.
 *
 * ```json
 * { "routes": [
 *   { "topic": "app.*", "table": "mydb.app_events" },
 *   { "topic": "orders", "table": "orders", "schema": "orders.schema.json", "strict": true }
 * ] }
 * ```
 *
 * @module
 */
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { UsageError } from "../runtime/cli.ts";
import { globRegExp, type Route, tableTarget, TARGETS } from "./routes.ts";

/** One route of the config file. */
export interface FileRoute {
  topic: string;
  table: string;
  schema?: string;
  strict?: boolean;
}

/** Parses the config file's text into routes; throws UsageError. */
export function parseRouteFile(
  text: string,
  database: string,
  source = "--config",
): Route[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${source}: invalid JSON: ${(err as Error).message}`);
  }
  const routes = (doc as { routes?: unknown })?.routes;
  if (!Array.isArray(routes)) {
    throw new UsageError(`${source}: expected {"routes": [...]}`);
  }
  return routes.map((r: FileRoute, i) => {
    const label = `${source}: routes[${i}]`;
    if (typeof r?.topic !== "string" || !r.topic) {
      throw new UsageError(`${label}: "topic" (a glob) is required`);
    }
    if (typeof r.table !== "string") {
      throw new UsageError(`${label} (${r.topic}): "table" is required`);
    }
    const builtin = (TARGETS as readonly string[]).includes(r.table);
    const target = tableTarget(r.table, database);
    if (!target || (builtin && (r.schema || r.strict))) {
      throw new UsageError(
        `${label} (${r.topic}=${r.table}): "table" must be [database.]table${
          builtin ? "; built-in tables take no schema/strict options" : ""
        }`,
      );
    }
    if (r.schema !== undefined && typeof r.schema !== "string") {
      throw new UsageError(`${label}: "schema" must be a file path`);
    }
    if (r.strict !== undefined && typeof r.strict !== "boolean") {
      throw new UsageError(`${label}: "strict" must be true or false`);
    }
    return {
      glob: r.topic,
      pattern: globRegExp(r.topic),
      target: builtin ? r.table as typeof TARGETS[number] : {
        ...target,
        ...(r.schema ? { schema: r.schema } : {}),
        ...(r.strict ? { strict: true } : {}),
      },
    };
  });
}

/** Reads and parses the config file; a clear error when it cannot be read. */
export async function readRouteFile(
  path: string,
  database: string,
): Promise<Route[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new UsageError(
      err instanceof Deno.errors.PermissionDenied
        ? `--config ${path}: read access denied (run with --allow-read=${path})`
        : `--config ${path}: ${(err as Error).message}`,
    );
  }
  return parseRouteFile(text, database, `--config ${path}`);
}

/** Compiles a JSON Schema into a validator returning the first error. */
export function compileSchema(
  schema: unknown,
  label: string,
): (v: unknown) => string | undefined {
  const ajv = new Ajv({ allErrors: false, strict: false });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  let fn;
  try {
    fn = ajv.compile(schema as object);
  } catch (err) {
    throw new UsageError(
      `${label}: invalid JSON Schema: ${(err as Error).message}`,
    );
  }
  return (v) => {
    if (fn(v)) return undefined;
    const e = fn.errors?.[0];
    return e ? `${e.instancePath || "/"} ${e.message}` : "does not match";
  };
}

/** The validators of the routes that name a schema file. */
export async function routeValidators(
  routes: readonly Route[],
): Promise<Map<Route, (v: unknown) => string | undefined>> {
  const out = new Map<Route, (v: unknown) => string | undefined>();
  for (const r of routes) {
    if (typeof r.target === "string" || !r.target.schema) continue;
    const label =
      `route ${r.glob}=${r.target.database}.${r.target.table}: schema ${r.target.schema}`;
    let text: string;
    try {
      text = await Deno.readTextFile(r.target.schema);
    } catch (err) {
      throw new UsageError(`${label}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`${label}: invalid JSON: ${(err as Error).message}`);
    }
    out.set(r, compileSchema(doc, label));
  }
  return out;
}
