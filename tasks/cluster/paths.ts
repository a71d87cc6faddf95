/**
 * Where native mode keeps things: the repository root, the installed jars,
 * the PostgreSQL binaries, and two small file helpers every native module uses.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { JMX_AGENT_VERSION, POSTGRES } from "../../schemas/topology.ts";

/** Absolute path of the repository root (no trailing slash). */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url))
  .replace(/\/$/, "");

/** Absolute path of a repo-relative path. */
export function abs(rel: string): string {
  return `${ROOT}/${rel}`;
}

/** Kafka jars folder (filled by tasks/install.sh). */
export const KAFKA_LIBS = ".cache/kafka/libs";
/** Optional JMX agent jar. */
export const JMX_AGENT =
  `.cache/kafka/agent/jmx_prometheus_javaagent-${JMX_AGENT_VERSION}.jar`;
/** PostgreSQL binaries folder. */
export const PG_BIN = `/usr/lib/postgresql/${POSTGRES.version}/bin`;

/** True when `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Write a file only when its content changes; returns true when it changed. */
export async function writeIfChanged(
  path: string,
  content: string,
): Promise<boolean> {
  try {
    if (await Deno.readTextFile(path) === content) return false;
  } catch { /* missing */ }
  await Deno.writeTextFile(path, content);
  return true;
}
