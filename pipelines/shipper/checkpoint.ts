/**
 * Durable state files: written atomically (temporary file, fsync, rename,
 * fsync of the directory), so after a crash the file holds either the old or
 * the new content, never a torn mix.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Directory part of a path (`.` when there is none). */
export function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

/** fsyncs a directory so a rename or a new file in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Writes `data` to `path` atomically and durably. */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
): Promise<void> {
  const tmp = `${path}.tmp`;
  const f = await Deno.open(tmp, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  try {
    let off = 0;
    while (off < data.length) off += await f.write(data.subarray(off));
    await f.syncData();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
  await syncDir(dirOf(path));
}

/** Writes `value` as JSON to `path` atomically and durably. */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
): Promise<void> {
  await writeFileAtomic(path, encoder.encode(JSON.stringify(value) + "\n"));
}

/** Reads a JSON state file; undefined when it does not exist. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(
      `state file ${path} is not valid JSON (${(err as Error).message})`,
    );
  }
}

/** One file's durable position. */
export interface FileMark {
  /** Device and inode: the file's identity across renames. */
  dev: number;
  ino: number;
  /** Last known path (for finding a renamed file after a restart). */
  path: string;
  /** SHA-256 (hex) of the first `fpLen` bytes: tells inode reuse apart. */
  fp: string;
  fpLen: number;
  /** Bytes shipped and acknowledged by Kafka. */
  offset: number;
}

/** The file source's checkpoint document. */
export interface FileCheckpoint {
  version: 1;
  files: FileMark[];
}

/** Reads the file checkpoint (empty when absent). */
export async function loadFileCheckpoint(
  path: string,
): Promise<FileCheckpoint> {
  const cp = await readJson<FileCheckpoint>(path);
  if (!cp) return { version: 1, files: [] };
  if (cp.version !== 1 || !Array.isArray(cp.files)) {
    throw new Error(`checkpoint ${path} has an unknown format`);
  }
  return cp;
}
