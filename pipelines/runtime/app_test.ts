import assert from "node:assert/strict";
import { PipelineError, runPipeline } from "./app.ts";
import { prom } from "./metrics.ts";
import { needsPermissions } from "../../tests/_gate.ts";

const spec = {
  name: "unit-app",
  summary: "Unit test pipeline",
  options: {
    "metrics-port": {
      type: "integer" as const,
      description: "port",
      default: 0,
    },
  },
};

function silenced<T>(fn: () => Promise<T>): Promise<T> {
  const { error, log } = console;
  console.error = () => {};
  console.log = () => {};
  return fn().finally(() => {
    console.error = error;
    console.log = log;
  });
}

Deno.test("bad flags exit 2 without running main; --help exits 0", async () => {
  let ran = false;
  const main = () => {
    ran = true;
    return Promise.resolve();
  };
  assert.equal(
    await silenced(() =>
      runPipeline(spec, main, { args: ["--bogus"], exit: false })
    ),
    2,
  );
  assert.equal(
    await silenced(() =>
      runPipeline(spec, main, { args: ["--help"], exit: false })
    ),
    0,
  );
  assert.equal(ran, false);
});

Deno.test("PipelineError exits 1; main's code is returned", async () => {
  const fail = () => Promise.reject(new PipelineError("no way", "fix it"));
  assert.equal(
    await silenced(() => runPipeline(spec, fail, { args: [], exit: false })),
    1,
  );
  assert.equal(
    await runPipeline(spec, () => Promise.resolve(3), {
      args: [],
      exit: false,
    }),
    3,
  );
});

Deno.test(
  "metrics and health are served while main runs",
  needsPermissions({ name: "net", host: "127.0.0.1" }),
  async () => {
    const code = await runPipeline(
      spec,
      async ({ registry, metricsServer, setHealth }) => {
        const c = new prom.Counter({
          name: "unit_things_total",
          help: "things",
          registers: [registry],
        });
        c.inc(5);
        const base = `http://127.0.0.1:${metricsServer!.port}`;
        const text = await (await fetch(`${base}/metrics`)).text();
        assert.match(text, /unit_things_total\{pipeline="unit-app"\} 5/);
        setHealth(() => ({ ok: false, reason: "paused" }));
        const h = await fetch(`${base}/health`);
        assert.equal(h.status, 503);
        assert.equal((await h.json()).reason, "paused");
      },
      {
        args: [
          "--metrics-port",
          String(20000 + Math.floor(Math.random() * 9000)),
        ],
        exit: false,
      },
    );
    assert.equal(code, 0);
  },
);
