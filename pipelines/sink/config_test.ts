import assert from "node:assert/strict";
import { parseCommand, UsageError } from "../runtime/cli.ts";
import { buildConfig, SINK_SPEC } from "./config.ts";

const SECRETS = { CLICKHOUSE_USER: "default", CLICKHOUSE_PASSWORD: "filepw" };

function config(args: string[], env: Record<string, string>) {
  const { options } = parseCommand(SINK_SPEC, args, (n) => env[n]);
  return buildConfig(options, [], () => SECRETS);
}

Deno.test("sink: --clickhouse-password is refused (ps shows it); CLICKHOUSE_PASSWORD is named", () => {
  assert.throws(
    () => config(["--clickhouse-password", "hunter2"], {}),
    (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /set CLICKHOUSE_PASSWORD instead/);
      return true;
    },
  );
});

Deno.test("sink: password from env, else from .cluster/secrets.env, else none", () => {
  const env = config([], { CLICKHOUSE_PASSWORD: "envpw" });
  assert.equal(env.clickhousePassword, "envpw");
  const file = config([], {});
  assert.deepEqual(
    [file.clickhouseUser, file.clickhousePassword],
    ["default", "filepw"],
  );
  const { options } = parseCommand(SINK_SPEC, [], () => undefined);
  const none = buildConfig(options, [], () => undefined);
  assert.deepEqual([none.clickhouseUser, none.clickhousePassword], [
    "default",
    "",
  ]);
});

Deno.test("sink: --workers defaults to 2 with a 32 MiB budget; 0 decodes in-thread", () => {
  const d = config([], {});
  assert.deepEqual([d.workers, d.workerBudgetBytes], [2, 32 * 1024 * 1024]);
  const c = config(["--workers", "0", "--worker-budget", "8MiB"], {});
  assert.deepEqual([c.workers, c.workerBudgetBytes], [0, 8 * 1024 * 1024]);
  assert.throws(() => config(["--workers", "-1"], {}), UsageError);
});

Deno.test("sink: --fetch-wait defaults to 250 ms; 0 and over 10 s are refused", () => {
  assert.equal(config([], {}).fetchWaitMs, 250);
  assert.equal(config(["--fetch-wait", "100ms"], {}).fetchWaitMs, 100);
  assert.throws(() => config(["--fetch-wait", "0ms"], {}), UsageError);
  assert.throws(() => config(["--fetch-wait", "11s"], {}), UsageError);
});
