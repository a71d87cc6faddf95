/**
 * Issue 12, "Metrics": the reference Debezium dashboard's queries show the
 * relay. The relay snapshots a table of its own (own schema, publication,
 * slot and topic prefix) and then streams changes; its `/metrics` must carry
 * `debezium_metrics_RowsScanned` with the exact row count per table and
 * Kafka Connect's byte-rate series (> 0 while streaming, the outgoing total
 * equal to the bytes in Kafka), and every query of the reference dashboard
 * that uses these names must return the relay's data from the live
 * Prometheus (which scrapes the relay's port 19467).
 *
 * Run: deno test -P tests/cdc_metrics_test.ts   (~1 min, needs the cluster)
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  dropCdcTest,
  ensureTopics,
  pollUntil,
  readTopic,
  startTask,
  type TaskProcess,
  testPg,
  topicMessageCount,
  waitForLog,
} from "./_helpers.ts";
import { promQuery } from "./_observability.ts";

const METRICS = "http://127.0.0.1:19467/metrics";
const SNAPSHOT_ROWS = 137;

/**
 * The reference Debezium dashboard's queries (its `$connector_type` and
 * `$connector_name` variables substituted), and the two Kafka Connect ones.
 */
function referenceQueries(type: string, name: string): string[] {
  const sel = (ctx: string) =>
    `{plugin="${type}",name="${name}",context${ctx}}`;
  const streaming = sel(`=~"(binlog|streaming)"`);
  const snapshot = sel(`="snapshot"`);
  return [
    `debezium_metrics_MilliSecondsSinceLastEvent${streaming}`,
    `debezium_metrics_TotalNumberOfEventsSeen${streaming}`,
    `debezium_metrics_NumberOfEventsSkipped${streaming}`,
    `debezium_metrics_Connected${streaming}`,
    `debezium_metrics_TotalTableCount${snapshot}`,
    `debezium_metrics_RemainingTableCount${snapshot}`,
    `debezium_metrics_SnapshotRunning${snapshot}`,
    `debezium_metrics_SnapshotCompleted${snapshot}`,
    `debezium_metrics_SnapshotAborted${snapshot}`,
    `debezium_metrics_RowsScanned{plugin="${type}",name="${name}"}`,
    "kafka_connect_metrics_incoming_byte_rate",
    "kafka_connect_metrics_outgoing_byte_rate",
  ];
}

/** Samples of `metric` in Prometheus text whose labels include `want`. */
function samples(
  text: string,
  metric: string,
  want: Record<string, string>,
): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) {
      out.push(Number(m[3]));
    }
  }
  return out;
}

Deno.test({
  name:
    "cdc metrics: RowsScanned per table and Kafka Connect byte rates, as the reference Debezium dashboard queries them",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tag = `metrics12_${crypto.randomUUID().slice(0, 6)}`;
    const schema = tag;
    const table = `${schema}.items`;
    const prefix = tag;
    const slot = `${tag}_slot`;
    const publication = `${tag}_pub`;
    const topic = `${prefix}.${table}`;
    const relays: TaskProcess[] = [];
    const pg = await testPg();
    let writing = false;
    let writer: Promise<number> = Promise.resolve(0);
    try {
      await pg.query(`CREATE SCHEMA ${schema}`);
      await pg.query(
        `CREATE TABLE ${table} (id serial PRIMARY KEY, name text, n int)`,
      );
      // Non-ASCII text: the byte counts are UTF-8 bytes, not characters.
      await pg.query(
        `INSERT INTO ${table} (name, n) SELECT 'zürich €' || g, g FROM generate_series(1, ${SNAPSHOT_ROWS}) g`,
      );
      await pg.query(`CREATE PUBLICATION ${publication} FOR TABLE ${table}`);
      await ensureTopics([topic]);
      // Prometheus scrapes exactly port 19467; another relay may hold it.
      await pollUntil(() => {
        try {
          Deno.listen({ hostname: "127.0.0.1", port: 19467 }).close();
          return true;
        } catch {
          return false;
        }
      }, { what: "metrics port 19467 free", timeoutMs: 120_000 });
      const relay = startTask("cdc", [
        "--slot",
        slot,
        "--publication",
        publication,
        "--tables",
        table,
        "--topic-prefix",
        prefix,
        "--create-topics",
        "false",
        // No heartbeat records: the outgoing bytes are then exactly the table's.
        "--heartbeat-interval",
        "0",
        "--metrics-port",
        "19467",
      ], { env: { PGPASSWORD: "postgres" } });
      relays.push(relay);
      await waitForLog(relay, '"msg":"streaming"', { what: "relay streaming" });

      // A steady trickle of changes (an insert and an update every 100 ms)
      // while the metrics are checked; resolves to the number of changes.
      writing = true;
      writer = (async () => {
        let changes = 0;
        for (let i = 1; writing; i++) {
          await pg.query(`INSERT INTO ${table} (name, n) VALUES ($1, $2)`, [
            `new ü ${i}`,
            i,
          ]);
          await pg.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1`, [
            1 + (i % SNAPSHOT_ROWS),
          ]);
          changes += 2;
          await new Promise((r) => setTimeout(r, 100));
        }
        return changes;
      })();
      writer.catch(() => {}); // observed below

      // 1. The relay's own /metrics.
      const base = { plugin: "postgres", name: prefix };
      const conn = { client: `deno-cdc-${prefix}`, name: prefix };
      let text = "";
      await pollUntil(async () => {
        text = await (await fetch(METRICS)).text();
        return ["incoming", "outgoing"].every((d) =>
          (samples(text, `kafka_connect_metrics_${d}_byte_rate`, conn)[0] ??
            0) > 0
        );
      }, { what: "byte rates > 0 while streaming", timeoutMs: 30_000 })
        .catch((err) => {
          throw new Error(`${err.message}\n${text}`);
        });
      assert.deepEqual(
        samples(text, "debezium_metrics_RowsScanned", {
          ...base,
          context: "snapshot",
          table,
        }),
        [SNAPSHOT_ROWS],
      );
      for (const d of ["incoming", "outgoing"]) {
        const [total] = samples(
          text,
          `kafka_connect_metrics_${d}_byte_total`,
          conn,
        );
        assert.ok(total > 0, `${d} total ${total}`);
      }

      // 2. Every reference query, through the live Prometheus.
      for (const q of referenceQueries("postgres", prefix)) {
        const ours = (s: { metric: Record<string, string> }) =>
          s.metric.name === prefix;
        let result: Awaited<ReturnType<typeof promQuery>> = [];
        await pollUntil(async () => {
          result = (await promQuery(q)).filter(ours);
          if (q.startsWith("kafka_connect_")) {
            return result.some((s) => Number(s.value[1]) > 0);
          }
          if (q.startsWith("debezium_metrics_RowsScanned")) {
            return result.some((s) =>
              s.metric.table === table &&
              Number(s.value[1]) === SNAPSHOT_ROWS
            );
          }
          return result.length > 0;
        }, { what: `Prometheus: ${q}`, timeoutMs: 45_000, intervalMs: 1000 })
          .catch((err) => {
            throw new Error(`${err.message}\n${JSON.stringify(result)}`);
          });
      }
      const [completed] = await promQuery(
        `debezium_metrics_SnapshotCompleted{name="${prefix}",context="snapshot"}`,
      );
      assert.equal(completed?.value[1], "1");

      // 3. Outgoing bytes are exactly what Kafka holds: UTF-8 key + value,
      // plus the producer's 64-byte per-record overhead.
      writing = false;
      const changes = await writer;
      const expected = SNAPSHOT_ROWS + changes;
      await pollUntil(
        async () => (await topicMessageCount(topic)) >= expected,
        {
          what: `${expected} records in ${topic}`,
        },
      );
      const messages = await readTopic(topic);
      assert.equal(messages.length, expected);
      const utf8 = (s: string | null) =>
        s === null ? 0 : new TextEncoder().encode(s).length;
      const bytes = messages.reduce(
        (n, m) => n + utf8(m.key) + utf8(m.value) + 64,
        0,
      );
      await pollUntil(async () => {
        text = await (await fetch(METRICS)).text();
        return samples(text, "cdc_records_produced_total", {})[0] === expected;
      }, { what: `cdc_records_produced_total = ${expected}` });
      assert.deepEqual(
        samples(text, "kafka_connect_metrics_outgoing_byte_total", conn),
        [bytes],
      );
    } finally {
      writing = false;
      await writer.catch(() => {});
      await pg.end();
      await dropCdcTest({
        slot,
        publication,
        schema,
        topics: [topic],
        relays,
      });
    }
  },
});
