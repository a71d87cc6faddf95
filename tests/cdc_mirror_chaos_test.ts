/**
 * Issue 12, acceptance 2: acceptance 1's load (`_cdc_mirror.ts`) with
 * `kill -9` of the relay and of `sink --mode cdc` during it, each restarted
 * at once, and PostgreSQL still equals ClickHouse `FINAL` value for value.
 *
 * The kills, at four different moments:
 * 1. the relay in the middle of its initial snapshot (after the first of the
 *    three tables): the restarted relay drops the unfinished slot and
 *    snapshots again, so the sink receives the rows twice;
 * 2. the sink while the streamed changes are being inserted;
 * 3. the relay while it relays one transaction of `BULK` updates (Kafka holds
 *    part of it): the restarted relay re-sends it from the confirmed LSN;
 * 4. the sink right after it added the `ADD COLUMN` column: the restarted
 *    sink replays rows of both schema versions, the DDL must be idempotent;
 *    and the `Distributed` table is dropped while it is down, as a kill
 *    between the sink's own DROP and CREATE of it leaves the mirror.
 *
 * Re-delivered changes carry their LSN as `_version`, so the
 * ReplacingMergeTree collapses them under `FINAL`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  chQuery,
  ensureTopics,
  pollUntil,
  type TaskProcess,
  testKafka,
  testPg,
  waitForLog,
} from "./_helpers.ts";
import {
  expectedCounts,
  insertRows,
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

/** Extra rows per table (ids from 10001): a snapshot and a transaction that take a while. */
const BULK = 2000;
/** Small snapshot pages: the snapshot lasts long enough to be killed in. */
const RELAY_FLAGS = ["--snapshot-fetch-size", "50"];
/** A killed member's partitions move after 6 s, not the default 30 s. */
const SINK_FLAGS = ["--session-timeout", "6s"];

async function kill9(p: TaskProcess): Promise<void> {
  p.kill("SIGKILL");
  await p.wait();
}

Deno.test({
  name:
    "cdc mirror: kill -9 of the relay (mid-snapshot, mid-transaction) and of the sink (mid-stream, after ADD COLUMN), still equal value for value",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = mirrorEnv("cdcchaos");
    const pg = await testPg();
    const all: TaskProcess[] = [];
    let relay: TaskProcess | undefined;
    let sink: TaskProcess | undefined;
    const logs = () => ({ relay: relay!, sink: sink! });
    const admin = testKafka().admin();
    await admin.connect();
    const count = async (t: string) =>
      (await admin.fetchTopicOffsets(topicOf(e, t))).reduce(
        (n, p) => n + Number(p.high) - Number(p.low),
        0,
      );
    const restartRelay = () => {
      relay = startRelay(e, RELAY_FLAGS);
      all.push(relay);
    };
    const restartSink = () => {
      sink = startSink(e, SINK_FLAGS);
      all.push(sink);
    };
    try {
      await loadSnapshot(pg, e);
      await insertRows(pg, e, 10_001, 10_000 + BULK, 0, 250);
      await ensureTopics(TABLES.map((t) => topicOf(e, t)));
      restartSink();
      restartRelay();

      // 1. The relay, mid-snapshot.
      await waitForLog(relay!, "snapshot of table done");
      await kill9(relay!);
      assert.ok(
        !relay!.stderrText().includes('"snapshot completed"'),
        "the relay was killed before its snapshot completed",
      );
      restartRelay();
      await waitForLog(relay!, "snapshotting again");
      await settle(pg, e, "snapshot mirrored after kill -9", logs, 180_000);

      // 2. The sink, while the changes stream in.
      const changes = loadChanges(pg, e);
      await pollUntil(
        async () =>
          Number(
            (await chQuery<{ n: string }>(
              `SELECT count() AS n FROM ${
                mirrorOf(e, "nums")
              } WHERE id BETWEEN 31 AND 60`,
            ))[0].n,
          ) > 0,
        { what: "the first streamed rows in ClickHouse", timeoutMs: 60_000 },
      );
      await kill9(sink!);
      restartSink();
      await changes;

      // 3. The relay, in the middle of one large transaction.
      const before = await count("times");
      await pg.query(
        `UPDATE ${e.schema}.times SET note = 'bulk ' || id WHERE id > 10000`,
      );
      await pollUntil(async () => (await count("times")) > before, {
        what: "the bulk transaction reaching Kafka",
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      await kill9(relay!);
      const relayed = (await count("times")) - before;
      console.log(
        `relay killed with ${relayed} of ${BULK} records of the transaction in Kafka`,
      );
      restartRelay();
      await settle(pg, e, "changes mirrored after kill -9", logs, 180_000);

      // 4. The sink, right after it added the new column.
      await loadSchemaChange(pg, e);
      await pollUntil(
        async () =>
          (await chQuery(
            `SELECT name FROM system.columns WHERE database = 'analytics'
               AND table = 'pg_${e.schema}_docs' AND name = 'extra'`,
          )).length > 0,
        { what: "column extra added", timeoutMs: 60_000, intervalMs: 100 },
      );
      await kill9(sink!);
      // A kill -9 between the sink's two statements of a schema change (the
      // local ALTER, then the Distributed table's DROP and CREATE) leaves the
      // mirror without its Distributed table: make that state for certain.
      await chQuery(
        `DROP TABLE ${mirrorOf(e, "docs")} ON CLUSTER analytics_cluster`,
      );
      restartSink();
      await settle(
        pg,
        e,
        "ADD COLUMN and truncate after kill -9",
        logs,
        180_000,
      );

      const counts = await Promise.all(
        TABLES.map(async (t) => (await pgRows(pg, e, t)).size),
      );
      assert.deepEqual(counts, expectedCounts(BULK));
      const toast = await chQuery<{ n: string }>(
        `SELECT count() AS n FROM ${mirrorOf(e, "docs")} FINAL
          WHERE id IN (1, 2) AND length(body) > 8000 AND title = 'toast kept'`,
      );
      assert.equal(Number(toast[0].n), 2);
      // The restarts re-delivered rows: FINAL, not the table, is the truth.
      const [raw] = await chQuery<{ n: string }>(
        `SELECT count() AS n FROM ${mirrorOf(e, "times")}`,
      );
      console.log(
        `times: ${raw.n} rows in ClickHouse before FINAL for ${
          counts[1]
        } live rows`,
      );
    } finally {
      await admin.disconnect();
      await pg.end();
      await teardown(e, all);
    }
  },
});
