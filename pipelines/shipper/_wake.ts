/**
 * How the file source waits at the end of its files: until a watched
 * directory changes (inotify through `Deno.watchFs`) or `--poll` passes,
 * whichever comes first. The poll stays the fallback: watchers miss events on
 * some filesystems (NFS, some container mounts), and a directory that does
 * not exist yet cannot be watched until it does ({@link FileWake.ensure}).
 *
 * @module
 */
import type { Logger } from "../runtime/mod.ts";
import { dirOf } from "./checkpoint.ts";
import type { GlobPlan } from "./glob.ts";

/** What to watch for one glob: its base directory (a literal's directory). */
export function watchRoot(
  plan: GlobPlan,
): { path: string; recursive: boolean } {
  if (plan.literal) return { path: dirOf(plan.base), recursive: false };
  return { path: plan.base, recursive: plan.depth > 1 };
}

/**
 * How long to sleep with nothing read: the poll, or (a batch is open) what is
 * left of its linger, whichever is sooner; `--once` checks again within 10 ms.
 */
export function idleMs(
  o: { pollMs: number; once: boolean; limits: { lingerMs: number } },
  batch: { empty: boolean; firstAt: number },
  now: number = Date.now(),
): number {
  const idle = o.once ? Math.min(o.pollMs, 10) : o.pollMs;
  if (batch.empty) return idle;
  return Math.min(idle, Math.max(1, o.limits.lingerMs - (now - batch.firstAt)));
}

/** Wakes a waiting file source when a watched directory changes. */
export class FileWake {
  readonly #roots: Array<{ path: string; recursive: boolean }>;
  readonly #log: Logger;
  readonly #enabled: boolean;
  #watchers = new Map<string, Deno.FsWatcher>();
  /** A change arrived that no wait consumed yet. */
  #changed = false;
  /** Something changed since the last re-scan (see {@link takeChanged}). */
  #dirty = false;
  #wake: (() => void) | undefined;

  /** `enabled` false: poll only (`--no-watch`). */
  constructor(plans: GlobPlan[], log: Logger, enabled = true) {
    const seen = new Set<string>();
    this.#roots = [];
    for (const p of plans) {
      const r = watchRoot(p);
      if (seen.has(r.path)) continue;
      seen.add(r.path);
      this.#roots.push(r);
    }
    this.#log = log;
    this.#enabled = enabled;
  }

  /** Directories being watched now. */
  get watching(): string[] {
    return [...this.#watchers.keys()];
  }

  /** Starts watching the roots that exist and are not watched yet. */
  async ensure(): Promise<void> {
    if (!this.#enabled) return;
    for (const r of this.#roots) {
      if (this.#watchers.has(r.path)) continue;
      try {
        if (!(await Deno.stat(r.path)).isDirectory) continue;
        const w = Deno.watchFs(r.path, { recursive: r.recursive });
        this.#watchers.set(r.path, w);
        this.#follow(r.path, w);
      } catch (err) {
        // Missing (tried again after the next scan) or unsupported: poll.
        if (!(err instanceof Deno.errors.NotFound)) {
          this.#log.warn("cannot watch, polling only", {
            path: r.path,
            error: String(err),
          });
          this.#watchers.set(r.path, closedWatcher);
        }
      }
    }
  }

  async #follow(path: string, w: Deno.FsWatcher): Promise<void> {
    try {
      for await (const ev of w) {
        if (ev.kind === "access") continue;
        this.#changed = true;
        this.#dirty = true;
        this.#wake?.();
      }
    } catch (err) {
      this.#log.warn("watch ended, polling only", { path, error: String(err) });
    }
    // Ended (the directory went away): ensure() may watch it again.
    if (this.#watchers.get(path) === w) this.#watchers.delete(path);
  }

  /**
   * True once after any change: re-scan before reading. Not only for new or
   * moved files: a truncated file rewritten past our position (copytruncate)
   * is caught only by the scan's size and fingerprint check, and reading it
   * first would ship the new content from the old offset.
   */
  takeChanged(): boolean {
    const c = this.#dirty;
    this.#dirty = false;
    return c;
  }

  /**
   * Resolves after `ms`, on a change in a watched directory (at once if one
   * came since the last wait), or when `signal` aborts.
   */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#changed || signal.aborted) {
      this.#changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        this.#changed = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  /** Stops every watcher. */
  close(): void {
    for (const w of this.#watchers.values()) {
      try {
        w.close();
      } catch {
        // already closed
      }
    }
    this.#watchers.clear();
    this.#wake?.();
  }
}

/** Marks a root that cannot be watched, so it is not retried every scan. */
const closedWatcher = { close() {} } as unknown as Deno.FsWatcher;
