/**
 * Libraries peek at optional environment variables when they load (KafkaJS
 * reads `NODE_ENV` at import, `pg` reads `PGHOST` and friends). Under Deno's
 * permissions such a read throws `NotCapable` (or prompts on a terminal) when
 * the variable was not granted, so a module that merely imports a client
 * could not even load in a plain `deno test`. Import this module before those
 * libraries: while env access is not fully granted, `process.env` answers
 * `undefined` for every variable that is not granted, without prompting.
 * Granted variables read through unchanged; nothing gains access it lacked.
 *
 * @module
 */
import process from "node:process";

function granted(variable: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable }).state ===
    "granted";
}

if (Deno.permissions.querySync({ name: "env" }).state !== "granted") {
  const real = process.env;
  const guarded = new Proxy({} as Record<string, string | undefined>, {
    get: (_t, key) =>
      typeof key === "string" && granted(key) ? real[key] : undefined,
    has: (_t, key) => typeof key === "string" && granted(key) && key in real,
    set: (_t, key, value) => {
      real[String(key)] = String(value);
      return true;
    },
    deleteProperty: (_t, key) => {
      if (typeof key === "string" && granted(key)) delete real[key];
      return true;
    },
    ownKeys: () => [],
    getOwnPropertyDescriptor: () => undefined,
  });
  Object.defineProperty(process, "env", {
    value: guarded,
    configurable: true,
    writable: true,
  });
}
