/**
 * Idempotent schema applier: Kafka topics (`schemas/kafka/topics.json`),
 * ClickHouse (`schemas/clickhouse/*.sql`, name order, on every node) and
 * PostgreSQL (`schemas/postgres/*.sql`, name order, database `shop`).
 * Running it twice changes nothing.
 *
 * @module
 */

import pg from "pg";
import {
  type Admin,
  createKafka,
  KAFKA_RETRY,
  logLevel,
} from "../../pipelines/runtime/kafka.ts";
import { createLogger } from "../../pipelines/runtime/log.ts";
import {
  CLICKHOUSE_NODES,
  clickhouseUrl,
  HOST,
  KAFKA_BOOTSTRAP,
  KAFKA_DEFAULTS,
  POSTGRES,
} from "../../schemas/topology.ts";
import { abs } from "./native.ts";
import {
  clickhouseAuthHeaders,
  clickhouseCredentials,
} from "../../pipelines/runtime/credentials.ts";

/** One topic entry of `schemas/kafka/topics.json`. */
export interface TopicSpec {
  /** Topic name. */
  name: string;
  /** Partitions (default from file defaults). */
  partitions?: number;
  /** Replication factor (default from file defaults). */
  replicationFactor?: number;
  /** Topic configs (merged over file defaults). */
  configs?: Record<string, string>;
}

/** Shape of `schemas/kafka/topics.json`. */
export interface TopicsFile {
  /** Defaults for every topic. */
  defaults?: {
    partitions?: number;
    replicationFactor?: number;
    configs?: Record<string, string>;
  };
  /** Topics. */
  topics: TopicSpec[];
}

/** Resolved topic (defaults applied). */
export interface ResolvedTopic {
  /** Topic name. */
  name: string;
  /** Partition count. */
  partitions: number;
  /** Replication factor. */
  replicationFactor: number;
  /** Topic configs. */
  configs: Record<string, string>;
}

/** Read and resolve `schemas/kafka/topics.json`. */
export async function loadTopics(): Promise<ResolvedTopic[]> {
  const file = JSON.parse(
    await Deno.readTextFile(abs("schemas/kafka/topics.json")),
  ) as TopicsFile;
  const d = file.defaults ?? {};
  return file.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions ?? d.partitions ?? KAFKA_DEFAULTS.numPartitions,
    replicationFactor: t.replicationFactor ?? d.replicationFactor ??
      KAFKA_DEFAULTS.replicationFactor,
    configs: {
      "min.insync.replicas": String(KAFKA_DEFAULTS.minInsyncReplicas),
      ...d.configs,
      ...t.configs,
    },
  }));
}

/**
 * The one Kafka client of the cluster tasks: an admin on the bootstrap
 * brokers from the runtime's client factory (its timeouts and retry policy,
 * `retries` attempts), silent: the tasks print their own summary.
 */
function clusterAdmin(clientId: string, retries: number): Admin {
  return createKafka({
    brokers: [...KAFKA_BOOTSTRAP],
    clientId,
    log: createLogger("cluster", "error", () => {}),
    extra: {
      logLevel: logLevel.NOTHING,
      retry: { ...KAFKA_RETRY, retries },
    },
  }).admin();
}

/** Create missing Kafka topics, grow partitions if fewer than specified. Returns a summary line. */
export async function applyKafkaTopics(): Promise<string> {
  const topics = await loadTopics();
  const admin = clusterAdmin("cluster-schemas", 8);
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: t.replicationFactor,
          configEntries: Object.entries(t.configs).map(([name, value]) => ({
            name,
            value,
          })),
        })),
      });
    }
    let grown = 0;
    const present = topics.filter((t) => existing.has(t.name));
    if (present.length > 0) {
      const meta = await admin.fetchTopicMetadata({
        topics: present.map((t) => t.name),
      });
      const grow = meta.topics
        .map((m) => ({ m, spec: present.find((t) => t.name === m.name)! }))
        .filter(({ m, spec }) => m.partitions.length < spec.partitions)
        .map(({ spec }) => ({ topic: spec.name, count: spec.partitions }));
      if (grow.length > 0) {
        await admin.createPartitions({ topicPartitions: grow });
        grown = grow.length;
      }
    }
    return `kafka: ${topics.length} topics (${missing.length} created${
      grown ? `, ${grown} grown` : ""
    })`;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Partitions (over every topic) whose in-sync replicas are fewer than their
 * replicas: after restarting a broker, `up` waits for 0 before it restarts
 * the next one, so min.insync.replicas=2 always holds.
 */
export async function underReplicatedPartitions(): Promise<number> {
  const admin = clusterAdmin("cluster-isr", 2);
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({
      topics: await admin.listTopics(),
    });
    return meta.topics.flatMap((t) => t.partitions)
      .filter((p) => p.isr.length < p.replicas.length).length;
  } finally {
    await admin.disconnect();
  }
}

/** Split a SQL file into statements (`;` at end of line ends a statement; `--` lines dropped). */
export function splitSql(text: string): string[] {
  const lines = text.split("\n").filter((l) => !l.trim().startsWith("--"));
  return lines.join("\n").split(/;[ \t]*(?:\n|$)/).map((s) => s.trim()).filter((
    s,
  ) => s.length > 0);
}

/** Sorted `*.sql` files of a schemas folder (repo-relative). */
export async function sqlFiles(folder: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(abs(folder))) {
    if (e.isFile && e.name.endsWith(".sql")) names.push(e.name);
  }
  return names.sort().map((n) => `${folder}/${n}`);
}

/**
 * Run one query on a ClickHouse HTTP endpoint as the admin user (password
 * from env CLICKHOUSE_PASSWORD or .cluster/secrets.env, see
 * pipelines/runtime/credentials.ts); returns the body, throws on error.
 */
export async function clickhouseQuery(
  baseUrl: string,
  sql: string,
): Promise<string> {
  const res = await fetch(baseUrl + "/", {
    method: "POST",
    body: sql,
    headers: clickhouseAuthHeaders(clickhouseCredentials("admin")),
    signal: AbortSignal.timeout(60_000),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(body.trim().split("\n")[0]);
  return body;
}

/** Apply every `schemas/clickhouse/*.sql` (name order) to each node individually. */
export async function applyClickHouse(): Promise<string> {
  const files = await sqlFiles("schemas/clickhouse");
  let count = 0;
  for (const file of files) {
    const statements = splitSql(await Deno.readTextFile(abs(file)));
    for (const node of CLICKHOUSE_NODES) {
      for (const sql of statements) {
        try {
          await clickhouseQuery(clickhouseUrl(node), sql);
        } catch (e) {
          throw new Error(
            `clickhouse ${node.name}: ${file}: ${(e as Error).message}`,
          );
        }
        count++;
      }
    }
  }
  return `clickhouse: ${files.length} files, ${count} statements on ${CLICKHOUSE_NODES.length} nodes`;
}

function pgClient(database: string): pg.Client {
  const c = new pg.Client({
    host: HOST,
    port: POSTGRES.port,
    user: POSTGRES.user,
    password: POSTGRES.password,
    database,
    connectionTimeoutMillis: 5000,
  });
  c.on("error", () => {});
  return c;
}

function sqlLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Ensure database `shop` and role `app_ro`, then apply `schemas/postgres/*.sql` in name order. */
export async function applyPostgres(): Promise<string> {
  const admin = pgClient("postgres");
  await admin.connect();
  try {
    const db = await admin.query(
      "SELECT 1 FROM pg_database WHERE datname = $1",
      [POSTGRES.database],
    );
    if (db.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${POSTGRES.database}`);
    }
    const role = await admin.query(
      "SELECT 1 FROM pg_roles WHERE rolname = $1",
      [POSTGRES.readOnlyUser],
    );
    if (role.rowCount === 0) {
      await admin.query(
        `CREATE ROLE ${POSTGRES.readOnlyUser} LOGIN NOREPLICATION PASSWORD ${
          sqlLiteral(POSTGRES.readOnlyPassword)
        }`,
      );
    }
  } finally {
    await admin.end().catch(() => {});
  }
  const files = await sqlFiles("schemas/postgres");
  const client = pgClient(POSTGRES.database);
  await client.connect();
  try {
    for (const file of files) {
      try {
        await client.query(await Deno.readTextFile(abs(file)));
      } catch (e) {
        throw new Error(`postgres: ${file}: ${(e as Error).message}`);
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
  return `postgres: ${files.length} files on database ${POSTGRES.database}`;
}
