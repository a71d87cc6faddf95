/**
 * File helpers of the file source: fingerprints, head reads, and finding a
 * rotated file again by its inode.
 *
 * @module
 */
import { joinPath } from "./glob.ts";

/** Hex SHA-256 of `bytes`. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Reads up to `n` bytes from the start of `h`; leaves the position at `restore`. */
export async function readHead(
  h: Deno.FsFile,
  n: number,
  restore: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  await h.seek(0, Deno.SeekMode.Start);
  while (got < n) {
    const r = await h.read(out.subarray(got));
    if (r === null || r === 0) break;
    got += r;
  }
  await h.seek(restore, Deno.SeekMode.Start);
  return out.subarray(0, got);
}

/** The file in `dir` with this device and inode (a renamed file), if any. */
export async function findByInode(
  dir: string,
  dev: number,
  ino: number,
): Promise<{ path: string; st: Deno.FileInfo } | undefined> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile) continue;
      const path = joinPath(dir, e.name);
      try {
        const st = await Deno.stat(path);
        if (st.dev === dev && st.ino === ino) return { path, st };
      } catch { /* vanished meanwhile */ }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return undefined;
}
