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

/**
 * Write a file only when its content changes; returns true when it changed.
 * With `mode`, the file gets that mode whether it changed or not (a file
 * holding a secret is tightened even when an older run wrote it 0644).
 */
export async function writeIfChanged(
  path: string,
  content: string,
  mode?: number,
): Promise<boolean> {
  let same = false;
  try {
    same = await Deno.readTextFile(path) === content;
  } catch { /* missing */ }
  if (!same) {
    await Deno.writeTextFile(path, content, mode ? { mode } : undefined);
  }
  if (mode !== undefined) await Deno.chmod(path, mode);
  return !same;
}

/**
 * Create a folder (and its parents) and give it `mode` (default 0700: a
 * service's config, data and log are nobody else's business).
 */
export async function privateDir(path: string, mode = 0o700): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  await Deno.chmod(path, mode);
}
