import assert from "node:assert/strict";
import { OPEN_ATTEMPTS_BEFORE_FATAL, reconnectLoop } from "./reconnect.ts";

class Fatal extends Error {}

/** A scripted run: each open/run answer in turn; records every call. */
function script(opts: {
  opens?: Array<"ok" | Error>;
  runs: Array<"ok" | Error | "abort">;
  first?: boolean;
}) {
  const calls: string[] = [];
  const ctl = new AbortController();
  const opens = [...(opts.opens ?? [])];
  const runs = [...opts.runs];
  let n = 0;
  const loop = reconnectLoop<string>({
    first: opts.first ? "c0" : undefined,
    open: () => {
      const a = opens.shift() ?? "ok";
      calls.push(`open:${a === "ok" ? "ok" : a.message}`);
      return a === "ok" ? Promise.resolve(`c${++n}`) : Promise.reject(a);
    },
    run: (c) => {
      const a = runs.shift() ?? "abort";
      calls.push(`run:${c}`);
      if (a === "abort") {
        ctl.abort();
        return Promise.resolve();
      }
      return a === "ok" ? Promise.resolve() : Promise.reject(a);
    },
    close: (c) => {
      calls.push(`close:${c}`);
      return Promise.resolve();
    },
    afterSession: () => {
      calls.push("reset");
      return Promise.resolve();
    },
    fatal: (err) => err instanceof Fatal ? err : undefined,
    delayMs: (attempt) => attempt,
    sleep: (ms) => {
      calls.push(`sleep:${ms}`);
      return Promise.resolve();
    },
    onRetry: (what, err) =>
      calls.push(`retry:${what}:${(err as Error | undefined)?.message ?? "-"}`),
    signal: ctl.signal,
  });
  return { loop, calls };
}

Deno.test("reconnectLoop reconnects after a failed or ended stream, backoff reset by a clean session", async () => {
  const { loop, calls } = script({
    first: true,
    runs: [new Error("reset by peer"), "ok", "abort"],
  });
  await loop;
  assert.deepEqual(calls, [
    "run:c0",
    "close:c0",
    "reset",
    "retry:stream:reset by peer",
    "sleep:0",
    "open:ok",
    "run:c1",
    "close:c1",
    "reset",
    "retry:stream:-", // server ended the stream: attempt was reset to 0
    "sleep:0",
    "open:ok",
    "run:c2",
    "close:c2", // aborted: the finally closes the last connection
  ]);
});

Deno.test("reconnectLoop stops at a fatal stream error without retrying", async () => {
  const { loop, calls } = script({ first: true, runs: [new Fatal("no pub")] });
  await assert.rejects(loop, Fatal);
  assert.deepEqual(calls, ["run:c0", "close:c0", "reset"]);
});

Deno.test("reconnectLoop retries failed opens, a fatal one only after several attempts", async () => {
  const transient = script({
    opens: [new Error("refused"), new Error("refused"), "ok"],
    runs: ["abort"],
  });
  await transient.loop;
  assert.deepEqual(transient.calls, [
    "open:refused",
    "retry:open:refused",
    "sleep:0",
    "open:refused",
    "retry:open:refused",
    "sleep:1",
    "open:ok",
    "run:c1",
    "close:c1",
  ]);
  const fatal = script({
    opens: Array.from({ length: 20 }, () => new Fatal("bad password")),
    runs: [],
  });
  await assert.rejects(fatal.loop, Fatal);
  const opens = fatal.calls.filter((c) => c.startsWith("open:"));
  assert.equal(opens.length, OPEN_ATTEMPTS_BEFORE_FATAL + 2);
});
