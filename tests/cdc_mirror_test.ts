/**
 * Issue 12, acceptance 1: three tables (not in schemas/) with 30 PostgreSQL
 * types between them, captured by the relay with `--schemas` and mirrored by
 * `sink --mode cdc` into ClickHouse tables the sink creates itself. After a
 * snapshot, inserts, updates, deletes, a primary-key update, TOASTed updates
 * (one merged by the sink, one filled by the relay from a REPLICA IDENTITY
 * FULL old tuple), an `ADD COLUMN` mid-stream and a truncate, PostgreSQL
 * equals ClickHouse `FINAL` value for value in every column. The load and
 * the comparison are in `_cdc_mirror.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { chQuery, ensureTopics, type TaskProcess, testPg } from "./_helpers.ts";
import {
  expectedCounts,
  loadChanges,
  loadSchemaChange,
  loadSnapshot,
  mirrorEnv,
  mirrorOf,
  pgRows,
  settle,
  startRelay,
  startSink,
  TABLES,
  teardown,
  topicOf,
} from "./_cdc_mirror.ts";

Deno.test({
  name:
    "cdc mirror: 30 types over 3 new tables, PG equals ClickHouse FINAL value for value",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = mirrorEnv("cdcmirror");
    const pg = await testPg();
    const procs: TaskProcess[] = [];
    const logs = () => ({ relay: procs[0], sink: procs[1] });
    try {
      await loadSnapshot(pg, e);
      await ensureTopics(TABLES.map((t) => topicOf(e, t)));
      procs.push(startRelay(e), startSink(e));
      await settle(pg, e, "snapshot mirrored", logs);
      await loadChanges(pg, e);
      await settle(pg, e, "changes mirrored", logs);
      await loadSchemaChange(pg, e);
      await settle(pg, e, "ADD COLUMN, TOAST and truncate mirrored", logs);

      const counts = await Promise.all(
        TABLES.map(async (t) => (await pgRows(pg, e, t)).size),
      );
      assert.deepEqual(counts, expectedCounts());
      const cols = await chQuery<{ name: string; type: string }>(
        `SELECT name, type FROM system.columns WHERE database = 'analytics'
           AND table = 'pg_${e.schema}_docs' AND name = 'extra'`,
      );
      assert.deepEqual(cols, [{
        name: "extra",
        type: "Nullable(Decimal(12, 3))",
      }]);
      const toast = await chQuery<{ n: string }>(
        `SELECT count() AS n FROM ${mirrorOf(e, "docs")} FINAL
          WHERE id IN (1, 2) AND length(body) > 8000 AND title = 'toast kept'`,
      );
      assert.equal(Number(toast[0].n), 2);
    } finally {
      await pg.end();
      await teardown(e, procs);
    }
  },
});
