/**
 * Issue 14, "`deno task start` drains cleanly": the drain check `start` uses
 * (`drainState`/`behind` with `pg_current_wal_lsn()` as the target) against
 * a real relay that decodes a WAL backlog. The relay captures one table of
 * its own schema; 2 million rows go into a table outside its publication,
 * then one change into the captured table. PostgreSQL's walsender decodes
 * all of that WAL before it sends the change, so for seconds the relay
 * reads nothing: the old rule (no change for 2 s = drained) called it
 * drained while the change was not in Kafka yet. The check must say
 * "behind" (by the WAL gap in bytes) until the relay's confirmed LSN reaches
 * the target, and "drained" only once the change is in Kafka. An idle relay
 * must reach a target too (it confirms keepalive positions).
 *
 * Run: flock -o /tmp/cluster.lock deno test -P tests/drain_cdc_test.ts
 * (~1 min, needs the cluster)
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  dropCdcTest,
  ensureTopics,
  pollUntil,
  startTask,
  type TaskProcess,
  testKafka,
  testPg,
  waitForLog,
} from "./_helpers.ts";
import { behind, type DrainState, drainState } from "../tasks/flow/drain.ts";
import { currentWalLsn } from "../tasks/flow/drain_wal.ts";
import { scrape } from "../tasks/flow/prom_text.ts";

/** The relay's only metrics port its task may listen on. */
const METRICS = "http://127.0.0.1:19467/metrics";
/** The rule this replaces: quiet for this long (or never read) = drained. */
const OLD_QUIET_MS = 2000;
const BACKLOG_ROWS = 2_000_000;

/** One drain check of the relay alone (no shipper, no sinks: lags 0). */
async function relayCheck(target: bigint): Promise<DrainState> {
  const cdc = await scrape(METRICS);
  return drainState({ cdc }, { sinkLag: 0, mirrorLag: 0, ends: "" }, target);
}

/** What the old rule said: drained once the relay read nothing for 2 s. */
function oldRuleDrained(s: DrainState): boolean {
  const q = s.cdcQuietMs;
  return q !== undefined && (q < 0 || q > OLD_QUIET_MS);
}

Deno.test({
  name:
    "drain: a relay decoding a WAL backlog is behind (by bytes) until its confirmed LSN reaches pg_current_wal_lsn(), though it looks quiet",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tag = `drain14_${crypto.randomUUID().slice(0, 6)}`;
    const schema = tag;
    const items = `${schema}.items`;
    const slot = `${tag}_slot`;
    const publication = `${tag}_pub`;
    const topic = `${tag}.${items}`;
    const relays: TaskProcess[] = [];
    const pg = await testPg();
    const admin = testKafka("drain-test").admin();
    await admin.connect();
    const inKafka = async () =>
      (await admin.fetchTopicOffsets(topic)).reduce(
        (n, p) => n + Number(p.high) - Number(p.low),
        0,
      );
    try {
      await pg.query(`CREATE SCHEMA ${schema}`);
      await pg.query(`CREATE TABLE ${items} (id serial PRIMARY KEY, n int)`);
      // Outside the publication: decoded by the walsender, never sent.
      await pg.query(`CREATE TABLE ${schema}.scratch (n int)`);
      await pg.query(`CREATE PUBLICATION ${publication} FOR TABLE ${items}`);
      await ensureTopics([topic]);
      await pollUntil(() => {
        try {
          Deno.listen({ hostname: "127.0.0.1", port: 19467 }).close();
          return true;
        } catch {
          return false;
        }
      }, { what: "metrics port 19467 free", timeoutMs: 60_000 });
      const relay = startTask("cdc", [
        "--slot",
        slot,
        "--publication",
        publication,
        "--tables",
        items,
        "--topic-prefix",
        tag,
        "--create-topics",
        "false",
        // No heartbeat WAL of its own: only keepalives move an idle relay.
        "--heartbeat-interval",
        "0",
        "--metrics-port",
        "19467",
      ], { env: { PGPASSWORD: "postgres" } });
      relays.push(relay);
      await waitForLog(relay, '"msg":"streaming"', { what: "relay streaming" });

      // 1. Idle: no change in flight, the relay reaches the current WAL
      // position from keepalives alone.
      const idleTarget = await currentWalLsn(pg);
      let idle: DrainState | undefined;
      await pollUntil(async () => {
        idle = await relayCheck(idleTarget);
        return behind(idle, idle).length === 0;
      }, { what: "the idle relay at its target", timeoutMs: 30_000 })
        .catch((err) => {
          throw new Error(`${err.message}: ${behind(idle!, idle)}`);
        });

      // 2. A WAL backlog on an unpublished table, then one captured change;
      // the target is taken after both, as `start` takes it after the
      // generators stopped.
      await pg.query(
        `INSERT INTO ${schema}.scratch SELECT generate_series(1, ${BACKLOG_ROWS})`,
      );
      await pg.query(`INSERT INTO ${items} (n) VALUES (1)`);
      const target = await currentWalLsn(pg);
      assert.ok(target > idleTarget);

      const seen: Array<{ s: DrainState; lagging: string[]; kafka: number }> =
        [];
      const deadline = Date.now() + 60_000;
      for (;;) {
        const s = await relayCheck(target);
        // Read after the scrape: whatever the relay had confirmed is there.
        const kafka = await inKafka();
        const lagging = behind(s, s);
        seen.push({ s, lagging, kafka });
        if (lagging.length === 0) break;
        assert.ok(
          Date.now() < deadline,
          `not drained in 60 s: ${lagging.join("; ")}`,
        );
        await new Promise((r) => setTimeout(r, 250));
      }
      const summary = seen.map((x) =>
        `${x.kafka} in Kafka, old rule ${
          oldRuleDrained(x.s) ? "drained" : "behind"
        }: ${x.lagging.join("; ") || "drained"}`
      ).join("\n");

      // Drained only with the change in Kafka and the target confirmed.
      const end = seen[seen.length - 1];
      assert.equal(end.kafka, 1, summary);
      assert.ok(end.s.cdcLsn! >= target, summary);
      // Behind, by a WAL gap in bytes, at every check before that.
      for (const x of seen.slice(0, -1)) {
        assert.equal(x.lagging.length, 1, summary);
        assert.match(
          x.lagging[0],
          /^cdc relay: [\d.]+ [kMG]?B of WAL behind \(confirmed /,
          summary,
        );
      }
      // The defect: quiet while the change was still on its way; the old
      // rule would have stopped the drain there.
      const fooled = seen.filter((x) => x.kafka === 0 && oldRuleDrained(x.s));
      assert.ok(fooled.length > 0, `no quiet check while behind:\n${summary}`);
      console.log(
        `${fooled.length} of ${seen.length} checks quiet but behind; first: ${
          fooled[0].lagging[0]
        }`,
      );
    } finally {
      await admin.disconnect();
      await pg.end();
      await dropCdcTest({ slot, publication, schema, topics: [topic], relays });
    }
  },
});
