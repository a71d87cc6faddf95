import assert from "node:assert/strict";
import { tablesInUse } from "./any_table.ts";
import type { SinkConfig } from "./config.ts";
import { topicMatcher } from "./config.ts";
import { parseRoutes } from "./routes.ts";

function config(topics: string[], map: string[]): SinkConfig {
  return {
    topics: topics.map(topicMatcher),
    routes: parseRoutes(map, "events", "mydb"),
  } as unknown as SinkConfig;
}

Deno.test("tablesInUse: a pattern routed to a user table needs no built-in table", () => {
  // The README's three lines: only the dead-letter table must exist.
  const used = tablesInUse(config(["app.*"], ["app.*=mydb.app_events"]));
  assert.deepEqual([...used.keys()], ["dead_letter"]);
});

Deno.test("tablesInUse: built-in routes a pattern can reach are still checked", () => {
  // `logs.*` is not covered by the user's route: the defaults stay reachable.
  const used = tablesInUse(config(["logs.*"], ["logs.x=mydb.t"]));
  assert.deepEqual([...used.keys()].sort(), [
    "dead_letter",
    "error_log",
    "fact_log",
    "security_events",
  ]);
  const exact = tablesInUse(config(["security.events"], []));
  assert.deepEqual([...exact.keys()].sort(), [
    "dead_letter",
    "security_events",
  ]);
});
