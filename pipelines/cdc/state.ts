/**
 * Snapshot completion record, one small JSON file per slot (like Kafka
 * Connect standalone's offset file). Written only after every snapshot record
 * was acknowledged by Kafka, atomically (temp file + rename), so a file that
 * says "completed" means the snapshot really is in Kafka. A slot without it
 * was interrupted mid-snapshot: the relay drops the slot and starts over.
 *
 * @module
 */

/** What is stored per slot. */
export interface SnapshotState {
  slot: string;
  /** PostgreSQL system identifier and database the slot lives in. */
  systemId: string;
  db: string;
  /** The slot's consistent point (where streaming began). */
  consistentPoint: string;
  completedAt: string;
}

function path(dir: string, slot: string): string {
  return `${dir}/${slot}.snapshot.json`;
}

/** Reads the state of `slot`, or undefined if there is none (or it is unreadable). */
export async function readSnapshotState(
  dir: string,
  slot: string,
): Promise<SnapshotState | undefined> {
  try {
    const s = JSON.parse(await Deno.readTextFile(path(dir, slot)));
    return s?.slot === slot ? s as SnapshotState : undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Records that the snapshot of `state.slot` completed (atomic write). */
export async function writeSnapshotState(
  dir: string,
  state: SnapshotState,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path(dir, state.slot)}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    await f.write(new TextEncoder().encode(JSON.stringify(state) + "\n"));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path(dir, state.slot));
}

/** Removes the state of `slot` (before a new snapshot). */
export async function clearSnapshotState(
  dir: string,
  slot: string,
): Promise<void> {
  try {
    await Deno.remove(path(dir, slot));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
