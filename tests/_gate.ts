/**
 * Decides, before any test runs, whether this `deno test` run may use what a
 * test needs: the permissions it was granted (`Deno.permissions.query`, which
 * never prompts) and, for integration tests, a cheap probe of the cluster.
 * A test that cannot run is registered as ignored, and the file prints one
 * line saying why, so a plain `deno test` on a fresh clone runs every pure
 * unit test and passes, while `deno task test` (or `deno test -P` with the
 * cluster up) runs everything.
 *
 * Pure: imports no client library, so it loads under no permissions at all.
 *
 * @module
 */
import { DEFAULT_ENDPOINTS } from "../pipelines/runtime/endpoints.ts";

/** Repository root. */
const ROOT = new URL("../", import.meta.url).pathname;

/** What the integration tests use: `deno task test`'s scope, in short. */
const INTEGRATION_PERMISSIONS: Deno.PermissionDescriptor[] = [
  { name: "net", host: "127.0.0.1" },
  { name: "read", path: ROOT },
  { name: "write", path: `${ROOT}.data` },
  { name: "write", path: `${ROOT}.cluster` },
  { name: "run", command: "deno" },
  { name: "env", variable: "PGPASSWORD" },
];

/** How to run what was ignored. */
export const RUN_HINT =
  "run `deno task test` (brings the cluster up), or `deno test -P` with the cluster up";

function describe(d: Deno.PermissionDescriptor): string {
  const flag = `--allow-${d.name}`;
  const scope = "path" in d && d.path !== undefined
    ? String(d.path).replace(ROOT, "") || "."
    : "host" in d && d.host !== undefined
    ? d.host
    : "command" in d && d.command !== undefined
    ? String(d.command)
    : "variable" in d && d.variable !== undefined
    ? d.variable
    : "";
  return scope ? `${flag}=${scope}` : flag;
}

/**
 * The first of `descriptors` this run was not granted, as a flag
 * (`--allow-write=.data`), or `undefined` when all are granted.
 */
export function missingPermission(
  ...descriptors: Deno.PermissionDescriptor[]
): string | undefined {
  for (const d of descriptors) {
    if (Deno.permissions.querySync(d).state !== "granted") return describe(d);
  }
  return undefined;
}

async function reachable(
  hostPort: string,
  timeoutMs: number,
): Promise<boolean> {
  const [hostname, port] = hostPort.split(":");
  const timeout = new Promise<false>((r) =>
    setTimeout(() => r(false), timeoutMs)
  );
  const attempt = Deno.connect({ hostname, port: Number(port) }).then(
    (conn) => {
      conn.close();
      return true;
    },
    () => false,
  );
  const ok = await Promise.race([attempt, timeout]);
  // A connect that outlives the race is closed when it settles.
  attempt.then(() => {}, () => {});
  return ok;
}

/**
 * Why the integration tests cannot run here, or `undefined` when they can:
 * first the permissions (so an unprivileged run never touches the network),
 * then one connect each to Kafka, ClickHouse and PostgreSQL.
 */
export async function integrationBlocker(): Promise<string | undefined> {
  const perm = missingPermission(...INTEGRATION_PERMISSIONS);
  if (perm) {
    return `needs the cluster and its permissions (${perm}): ${RUN_HINT}`;
  }
  const probes = [
    DEFAULT_ENDPOINTS.kafkaBrokers[0],
    new URL(DEFAULT_ENDPOINTS.clickhouseShards[0].split("|")[0]).host,
    new URL(DEFAULT_ENDPOINTS.postgresUrl).host,
  ];
  const results = await Promise.all(probes.map((p) => reachable(p, 1_500)));
  const down = probes.filter((_, i) => !results[i]);
  if (down.length) {
    return `needs the cluster, not reachable at ${
      down.join(", ")
    }: ${RUN_HINT}`;
  }
  return undefined;
}

/**
 * From now on, every `Deno.test` registered in this module's isolate (one
 * test file: Deno runs each file in its own isolate) is registered as
 * ignored, and the first one prints `reason` once.
 */
export function ignoreAllTests(reason: string, file: string): void {
  const register = Deno.test;
  let told = false;
  const ignored = (...args: unknown[]) => {
    if (!told) {
      told = true;
      console.log(`${file}: ignored: ${reason}`);
    }
    const [a, b, c] = args;
    let options: Record<string, unknown> = {};
    let fn: unknown;
    if (typeof a === "string") {
      if (typeof b === "function") fn = b;
      else [options, fn] = [b as Record<string, unknown>, c];
      options = { ...options, name: a };
    } else if (typeof a === "function") {
      fn = a;
      options = { name: a.name };
    } else {
      options = { ...(a as Record<string, unknown>) };
      fn = b ?? options.fn;
    }
    (register as (o: unknown) => void)({ ...options, fn, ignore: true });
  };
  Object.assign(ignored, { ignore: register.ignore, only: register.only });
  Object.defineProperty(Deno, "test", { value: ignored, configurable: true });
}

/**
 * Gates a whole test file on permissions: when one of `descriptors` was not
 * granted, every test in the file is ignored with a one-line reason.
 */
export function requirePermissions(
  meta: ImportMeta,
  ...descriptors: Deno.PermissionDescriptor[]
): void {
  const perm = missingPermission(...descriptors);
  if (perm) ignoreAllTests(`needs ${perm}: ${RUN_HINT}`, relative(meta));
}

/** `meta.url` relative to the repository, for messages. */
export function relative(meta: ImportMeta): string {
  return new URL(meta.url).pathname.replace(ROOT, "");
}

/**
 * Options for one `Deno.test(name, options, fn)` that needs `descriptors`:
 * `{ ignore: true }` (and one line saying why) when one was not granted.
 */
export function needsPermissions(
  ...descriptors: Deno.PermissionDescriptor[]
): { ignore: boolean } {
  const perm = missingPermission(...descriptors);
  if (perm) console.log(`ignored: needs ${perm}: ${RUN_HINT}`);
  return { ignore: perm !== undefined };
}
