/**
 * Issue 12, schema changes a mirror cannot follow by adding a column:
 *
 * - `DROP COLUMN`: the mirror keeps the column; rows written from then on
 *   have NULL there, earlier rows keep their values.
 * - A type change ClickHouse cannot take (`int` → `text`): each row of the
 *   new schema version is one dead letter in `analytics.dead_letter` whose
 *   reason names the column and both types, `sink_cdc_schema_conflicts_total`
 *   counts it, and nothing stalls: the partition is committed past them and
 *   another table's rows keep arriving.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  chQuery,
  dropCdcTest,
  ensureTopics,
  groupLag,
  pollUntil,
  startTask,
  type TaskProcess,
  testPg,
} from "./_helpers.ts";

const tag = crypto.randomUUID().slice(0, 6);
const SCHEMA = `cdcschema_${tag}`;
const SLOT = `cdcschema_slot_${tag}`;
const PUB = `cdcschema_pub_${tag}`;
const GROUP = `cdcschema-${tag}`;
const topic = (t: string) => `${SCHEMA}.${SCHEMA}.${t}`;
const mirror = (t: string) => `analytics.pg_${SCHEMA}_${t}`;
/** The mirror sink's own metrics port (tests run one at a time, locked). */
const METRICS_PORT = 19472;

/** Live mirror rows as `id|n|gone` (NULL as `N`), by id. */
async function mirrorA(): Promise<string[]> {
  const rows = await chQuery<{ r: string }>(
    `SELECT concat(toString(id), '|', ifNull(toString(n), 'N'), '|',
        ifNull(gone, 'N')) AS r FROM ${mirror("a")} FINAL
      WHERE _deleted = 0 ORDER BY id`,
  );
  return rows.map((x) => x.r);
}

async function conflictMetric(): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`))
    .text();
  const m = new RegExp(
    `^sink_cdc_schema_conflicts_total\\{[^}]*table="pg_${SCHEMA}_a"[^}]*\\} (\\d+)$`,
    "m",
  ).exec(text);
  return m ? Number(m[1]) : undefined;
}

Deno.test({
  name:
    "cdc mirror: DROP COLUMN keeps it NULL from then on; a type change is one dead letter per row, a metric, no stall",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const busy = await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`).then(
      async (r) => {
        await r.body?.cancel();
        return true;
      },
      () => false,
    );
    assert.ok(!busy, `port ${METRICS_PORT} is taken: a CDC mirror sink runs`);
    const pg = await testPg();
    const procs: TaskProcess[] = [];
    const logs = () =>
      procs.map((p) => p.stderrText().slice(-2500)).join("\n---\n");
    const poll = <T>(what: string, fn: () => Promise<T>) =>
      pollUntil(fn, { what, timeoutMs: 90_000, intervalMs: 500 }).catch(
        (err) => {
          throw new Error(`${err.message}\n${logs()}`);
        },
      );
    try {
      await pg.query(`CREATE SCHEMA ${SCHEMA}`);
      await pg.query(
        `CREATE TABLE ${SCHEMA}.a (id int PRIMARY KEY, n int, gone text)`,
      );
      await pg.query(`CREATE TABLE ${SCHEMA}.b (id int PRIMARY KEY, v text)`);
      await pg.query(
        `INSERT INTO ${SCHEMA}.a VALUES (1, 1, 'g1'), (2, 2, 'g2'), (3, 3, 'g3')`,
      );
      await pg.query(
        `INSERT INTO ${SCHEMA}.b VALUES (1, 'b1'), (2, 'b2'), (3, 'b3')`,
      );
      await ensureTopics([topic("a"), topic("b")]);
      procs.push(
        startTask("cdc", [
          "--slot",
          SLOT,
          "--publication",
          PUB,
          "--tables",
          `${SCHEMA}.a,${SCHEMA}.b`,
          "--topic-prefix",
          SCHEMA,
          "--schemas",
          "--metrics-port",
          "0",
          "--create-topics",
          "false",
          "--heartbeat-interval",
          "1s",
        ], { env: { PGPASSWORD: "postgres" } }),
        startTask("sink", [
          "--mode",
          "cdc",
          "--topics",
          `${SCHEMA}.*`,
          "--group",
          GROUP,
          "--metrics-port",
          String(METRICS_PORT),
        ]),
      );
      await poll(
        "snapshot mirrored",
        async () => (await mirrorA()).join(",") === "1|1|g1,2|2|g2,3|3|g3",
      );

      // DROP COLUMN: kept in ClickHouse, NULL in rows written from then on.
      await pg.query(`ALTER TABLE ${SCHEMA}.a DROP COLUMN gone`);
      await pg.query(`INSERT INTO ${SCHEMA}.a VALUES (4, 4), (5, 5)`);
      await pg.query(`UPDATE ${SCHEMA}.a SET n = 100 WHERE id = 1`);
      await poll(
        "rows after DROP COLUMN",
        async () =>
          (await mirrorA()).join(",") ===
            "1|100|N,2|2|g2,3|3|g3,4|4|N,5|5|N",
      );
      const gone = await chQuery<{ type: string }>(
        `SELECT type FROM system.columns WHERE database = 'analytics'
           AND table = 'pg_${SCHEMA}_a' AND name = 'gone'`,
      );
      assert.deepEqual(gone, [{ type: "Nullable(String)" }]);
      assert.equal(await conflictMetric(), undefined);

      // int → text: the mirror's Nullable(Int32) cannot take it.
      await pg.query(
        `ALTER TABLE ${SCHEMA}.a ALTER COLUMN n TYPE text USING 'x' || n`,
      );
      await pg.query(`INSERT INTO ${SCHEMA}.a VALUES (6, 'six'), (7, 'seven')`);
      await pg.query(`UPDATE ${SCHEMA}.a SET n = 'two' WHERE id = 2`);
      // The other table's rows after the conflict.
      await pg.query(
        `INSERT INTO ${SCHEMA}.b VALUES (4, 'b4'), (5, 'b5'), (6, 'b6')`,
      );
      await pg.query(`UPDATE ${SCHEMA}.b SET v = 'after' WHERE id = 1`);
      await poll("rows of b after the conflict", async () => {
        const b = await chQuery<{ r: string }>(
          `SELECT concat(toString(id), '|', v) AS r FROM ${mirror("b")} FINAL
            WHERE _deleted = 0 ORDER BY id`,
        );
        return b.map((x) => x.r).join(",") ===
          "1|after,2|b2,3|b3,4|b4,5|b5,6|b6";
      });
      const letters = await poll("3 dead letters of a", async () => {
        const r = await chQuery<{ reason: string; source: string }>(
          `SELECT reason, source FROM analytics.dead_letter
            WHERE _topic = '${topic("a")}' ORDER BY source`,
        );
        return r.length >= 3 && r;
      });
      assert.equal(letters.length, 3, "one dead letter per row");
      for (const l of letters) {
        assert.match(
          l.reason,
          new RegExp(
            `column n of pg_${SCHEMA}_a is Nullable\\(Int32\\) in ClickHouse but the PostgreSQL type now maps to Nullable\\(String\\)`,
          ),
        );
      }
      // source is topic:partition:offset: three different messages.
      assert.equal(new Set(letters.map((l) => l.source)).size, 3);
      assert.equal(await conflictMetric(), 1);
      // Not stalled: committed past the dead letters, the mirror unchanged.
      await poll(
        "group lag 0 on a",
        async () => (await groupLag(GROUP, topic("a"))) === 0,
      );
      assert.equal(
        (await mirrorA()).join(","),
        "1|100|N,2|2|g2,3|3|g3,4|4|N,5|5|N",
      );
    } finally {
      await pg.end();
      await dropCdcTest({
        slot: SLOT,
        publication: PUB,
        schema: SCHEMA,
        topics: [topic("a"), topic("b")],
        relays: procs,
      });
      for (const t of ["a", "b"]) {
        for (const name of [mirror(t), `${mirror(t)}_local`]) {
          await chQuery(
            `DROP TABLE IF EXISTS ${name} ON CLUSTER analytics_cluster`,
          ).catch((err) => console.warn(`drop ${name}: ${err}`));
        }
      }
    }
  },
});
