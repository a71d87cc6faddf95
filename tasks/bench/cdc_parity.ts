/**
 * Side-by-side parity of the CDC relay with Debezium's PostgreSQL connector
 * (`_debezium.ts`: Debezium 3.6.1 on Kafka Connect standalone, JsonConverter
 * without schemas): both capture the **same** tables (each its own
 * publication, slot and topic prefix) through a snapshot and the same
 * scripted changes over a table of many types, and every record (key and
 * value, every field, `source` included) is compared field by field. The
 * differences allowed are {@link DELIBERATE} (listed in the READMEs) and the
 * {@link VOLATILE} fields that cannot be equal between two connectors.
 *
 * Usage: deno task bench parity [--decimal-handling-mode string|double|precise]
 *        [--schemas] (JsonConverter schemas on both sides: compares them too)
 *        [--keep] (keep schema, slots and topics for a look)
 *
 * Prints every difference, then `parity: N records compared, M differences`
 * and exits 1 when M > 0.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { taskArgv } from "../_launch.ts";
import { createKafka } from "../../pipelines/runtime/kafka.ts";
import { createLogger } from "../../pipelines/runtime/log.ts";
import { createPgClient, type pg } from "../../pipelines/runtime/postgres.ts";
import { KAFKA_BOOTSTRAP, POSTGRES_URL } from "../../schemas/topology.ts";
import { DEBEZIUM_VERSION, startDebezium } from "./_debezium.ts";
import { DELIBERATE, type Difference, diffRecords } from "./_parity_diff.ts";
import { PARITY_SCRIPT, PARITY_SETUP, PARITY_TABLES } from "./_parity_sql.ts";

export { DELIBERATE };

const SCHEMA = "cdcparity";
const SIDES = ["dbz", "ours"] as const;
type Side = typeof SIDES[number];
const names = (side: Side) => ({
  prefix: `cdcparity_${side}`,
  slot: `cdcparity_${side}_slot`,
  pub: `cdcparity_${side}_pub`,
  /** One per captured table, in {@link PARITY_TABLES} order. */
  topics: PARITY_TABLES.map((t) => `cdcparity_${side}.${SCHEMA}.${t}`),
});
/** Debezium's BEGIN/END topic (`provide.transaction.metadata`); not compared. */
const DBZ_TX_TOPIC = "cdcparity_dbz.transaction";
const ALL_TOPICS = [...SIDES.flatMap((s) => names(s).topics), DBZ_TX_TOPIC];

const log = createLogger("bench-parity", "error");
const kafka = createKafka({
  brokers: [...KAFKA_BOOTSTRAP],
  clientId: "bench-parity",
  log,
});

async function withPg<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = createPgClient({
    url: POSTGRES_URL,
    applicationName: "bench-parity",
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Drops slots (once inactive), publications, schema and topics. */
async function cleanup(): Promise<void> {
  await withPg(async (c) => {
    for (const side of SIDES) {
      const { slot, pub } = names(side);
      for (let i = 0; i < 80; i++) {
        const r = await c.query(
          "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
          [slot],
        );
        if (r.rows.length === 0) break;
        if (!r.rows[0].active) {
          await c.query("SELECT pg_drop_replication_slot($1)", [slot]);
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      await c.query(`DROP PUBLICATION IF EXISTS ${pub}`);
      await c.query("DELETE FROM public.deno_cdc_snapshots WHERE slot = $1", [
        slot,
      ]).catch(() => {});
    }
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const have = new Set(await admin.listTopics());
    const topics = ALL_TOPICS.filter((t) => have.has(t));
    // A topic deleted by the previous run may still be listed: best effort
    // (createTopics retries while a deletion is pending).
    if (topics.length > 0) {
      await admin.deleteTopics({ topics }).catch(() => {});
    }
  } finally {
    await admin.disconnect();
  }
}

/** One partition per topic: both sides' records then share one total order. */
async function createTopics(): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = ALL_TOPICS;
    for (let i = 0;; i++) {
      // A topic deleted a moment ago may still be marked for deletion.
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: topics.map((topic) => ({
            topic,
            numPartitions: 1,
            replicationFactor: 3,
          })),
        });
        break;
      } catch (err) {
        if (i > 40) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // createTopics answers false (no error) for a topic still being deleted:
    // wait until every topic is known with a leader before subscribing.
    for (let i = 0;; i++) {
      try {
        const { topics: meta } = await admin.fetchTopicMetadata({ topics });
        if (
          meta.length === topics.length &&
          meta.every((t) => t.partitions.every((p) => p.leader >= 0))
        ) break;
      } catch (err) {
        if (i > 60) throw err;
      }
      if (i > 60) throw new Error("parity topics have no leaders");
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await admin.disconnect();
  }
}

/** A record as read back: key and value parsed. */
export interface ReadRecord {
  key: unknown;
  value: unknown;
}

/** Collects every record of the given topics from their beginning. */
class Collector {
  readonly byTopic = new Map<string, ReadRecord[]>();
  #consumer = kafka.consumer({
    groupId: `bench-parity-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 100,
  });

  async start(topics: string[]): Promise<void> {
    for (const t of topics) this.byTopic.set(t, []);
    await this.#consumer.connect();
    // A just-created topic may not be in every broker's metadata yet.
    for (let i = 0;; i++) {
      try {
        await this.#consumer.subscribe({ topics, fromBeginning: true });
        break;
      } catch (err) {
        if (i > 20) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await this.#consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, message }) => {
        const parse = (b: Uint8Array | null) =>
          b === null ? null : JSON.parse(new TextDecoder().decode(b));
        this.byTopic.get(topic)!.push({
          key: parse(message.key),
          value: parse(message.value),
        });
        await Promise.resolve();
      },
    });
  }

  count(topic: string): number {
    return this.byTopic.get(topic)?.length ?? 0;
  }

  async until(what: string, fn: () => boolean, timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    while (!fn()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await this.#consumer.disconnect();
  }
}

/** What both sides run with. */
export interface ParityOptions {
  /** `decimal.handling.mode` / `--decimal-handling-mode`. */
  decimalMode: string;
  /** JsonConverter `schemas.enable` / `--schemas`. */
  schemas: boolean;
}

function startOurs(o: ParityOptions): { stop: () => Promise<void> } {
  const n = names("ours");
  const [cmd, ...args] = taskArgv("cdc");
  const child = new Deno.Command(cmd, {
    args: [
      ...args,
      ...["--slot", n.slot, "--publication", n.pub],
      ...["--tables", PARITY_TABLES.map((t) => `${SCHEMA}.${t}`).join(",")],
      ...["--topic-prefix", n.prefix, "--metrics-port", "0"],
      ...["--create-topics", "false", "--heartbeat-interval", "0"],
      ...["--decimal-handling-mode", o.decimalMode],
      ...["--schemas", String(o.schemas)],
    ],
    env: { PGPASSWORD: "postgres", LOG_LEVEL: "warn" },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return {
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

function startDbz(o: ParityOptions) {
  const n = names("dbz");
  return startDebezium({
    name: "cdc-parity",
    brokers: [...KAFKA_BOOTSTRAP],
    restPort: 18084,
    schemas: o.schemas,
    connector: {
      "topic.prefix": n.prefix,
      "slot.name": n.slot,
      "publication.name": n.pub,
      "table.include.list": PARITY_TABLES.map((t) => `${SCHEMA}.${t}`).join(
        ",",
      ),
      "decimal.handling.mode": o.decimalMode,
      // Our relay always writes the transaction block and truncates.
      "provide.transaction.metadata": "true",
      "skipped.operations": "none",
      // Other relays' heartbeats (logical messages) are database-wide.
      "message.prefix.exclude.list": ".*",
      "poll.interval.ms": "100",
      // Ours always carries the source types in the schema (README "Schemas").
      ...(o.schemas ? { "column.propagate.source.type": ".*" } : {}),
    },
  });
}

/** Runs both connectors over the script; returns the differences found. */
export async function runParity(
  o: ParityOptions,
  keep = false,
): Promise<{ compared: number; differences: Difference[] }> {
  await cleanup();
  await withPg((c) => c.query(PARITY_SETUP));
  for (const side of SIDES) {
    const n = names(side);
    await withPg((c) =>
      c.query(
        `CREATE PUBLICATION ${n.pub} FOR TABLE ${
          PARITY_TABLES.map((t) => `${SCHEMA}.${t}`).join(", ")
        }`,
      )
    );
  }
  await createTopics();
  const col = new Collector();
  await col.start(SIDES.flatMap((s) => names(s).topics));
  const ours = startOurs(o);
  const dbz = await startDbz(o);
  try {
    // Both snapshots first, so that both slots exist before the changes.
    const seeded = await withPg(async (c) =>
      Object.fromEntries(
        await Promise.all(PARITY_TABLES.map(async (t) => {
          const r = await c.query(
            `SELECT count(*)::int AS n FROM ${SCHEMA}.${t}`,
          );
          return [t, r.rows[0].n as number];
        })),
      )
    );
    for (const side of SIDES) {
      await col.until(
        `${side} snapshot`,
        () =>
          PARITY_TABLES.every((t, i) =>
            col.count(names(side).topics[i]) >= seeded[t]
          ),
        180_000,
      );
    }
    for (const stmt of PARITY_SCRIPT) await withPg((c) => c.query(stmt));
    // The script ends with one insert of id 999 into the last table.
    const marker = (side: Side) =>
      col.byTopic.get(names(side).topics[PARITY_TABLES.length - 1])!.some(
        (r) => JSON.stringify(r.key)?.includes('"id":999'),
      );
    for (const side of SIDES) {
      await col.until(`${side} marker`, () => marker(side), 120_000);
    }
    // Other topics of the same commits may still be in flight: wait for rest.
    await new Promise((r) => setTimeout(r, 3000));
  } finally {
    await ours.stop();
    await dbz.stop();
    await col.stop();
  }
  const differences: Difference[] = [];
  let compared = 0;
  const [d, u] = [names("dbz"), names("ours")];
  for (let i = 0; i < d.topics.length; i++) {
    const a = col.byTopic.get(d.topics[i])!;
    const b = col.byTopic.get(u.topics[i])!;
    compared += Math.max(a.length, b.length);
    differences.push(
      ...diffRecords(d.topics[i].slice(d.prefix.length + 1), a, b, {
        dbz: d.prefix,
        ours: u.prefix,
      }),
    );
  }
  if (!keep) await cleanup();
  return { compared, differences };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "decimal-handling-mode": { type: "string", default: "string" },
      schemas: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
    },
  });
  const o = {
    decimalMode: values["decimal-handling-mode"],
    schemas: values.schemas,
  };
  console.log(
    `parity: Debezium ${DEBEZIUM_VERSION} vs the relay, decimal.handling.mode=${o.decimalMode}, schemas ${o.schemas}`,
  );
  const { compared, differences } = await runParity(o, values.keep);
  for (const d of differences) {
    console.log(
      `  ${d.where} ${d.path}: debezium=${d.dbz} ours=${d.ours}`,
    );
  }
  console.log(
    `parity: ${compared} records compared, ${differences.length} differences ` +
      `(beyond the ${DELIBERATE.length} deliberate ones in the README)`,
  );
  Deno.exit(differences.length === 0 ? 0 : 1);
}
