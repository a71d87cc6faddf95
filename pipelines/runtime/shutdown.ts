/**
 * Graceful shutdown: SIGINT/SIGTERM abort one shared signal; registered
 * closers run in reverse order (stop sources, flush, commit, close clients)
 * within a deadline, after which the process exits anyway.
 *
 * @module
 */
import type { Logger } from "./log.ts";

/** Something to run at shutdown; label appears in logs if it fails or hangs. */
export interface Closer {
  label: string;
  close: () => void | Promise<void>;
}

/** Coordinates one process's shutdown. */
export class Shutdown {
  readonly #controller = new AbortController();
  readonly #closers: Closer[] = [];
  #running: Promise<void> | undefined;
  #handlers: Array<[Deno.Signal, () => void]> = [];

  /** Creates the coordinator; call {@link listen} to hook signals. */
  constructor(
    private readonly log: Logger,
    private readonly deadlineMs = 10_000,
  ) {}

  /** Aborted once shutdown starts; pass it to loops and fetches. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether shutdown has started. */
  get stopping(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Registers a closer; closers run last-registered first. */
  add(label: string, close: () => void | Promise<void>): void {
    this.#closers.push({ label, close });
  }

  /** Starts shutdown on SIGINT and SIGTERM. */
  listen(): this {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => {
        this.log.info("shutdown requested", { signal: sig });
        void this.run();
      };
      Deno.addSignalListener(sig, handler);
      this.#handlers.push([sig, handler]);
    }
    return this;
  }

  /**
   * Runs every closer once (idempotent). Resolves when all finished or the
   * deadline passed; a closer that throws is logged and the rest still run.
   */
  run(): Promise<void> {
    if (this.#running) return this.#running;
    this.#controller.abort(new Error("shutting down"));
    this.#running = (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<"deadline">((resolve) => {
        timer = setTimeout(() => resolve("deadline"), this.deadlineMs);
      });
      const all = (async () => {
        for (const c of [...this.#closers].reverse()) {
          try {
            await c.close();
          } catch (err) {
            this.log.error("shutdown step failed", { step: c.label, err });
          }
        }
        return "done" as const;
      })();
      const outcome = await Promise.race([all, deadline]);
      clearTimeout(timer);
      if (outcome === "deadline") {
        this.log.error("shutdown deadline passed, exiting anyway", {
          deadline_ms: this.deadlineMs,
        });
      }
      for (const [sig, h] of this.#handlers) Deno.removeSignalListener(sig, h);
      this.#handlers = [];
    })();
    return this.#running;
  }
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
