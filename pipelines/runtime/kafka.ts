/**
 * Kafka client factory (`npm:kafkajs`) with this product's retry defaults and
 * KafkaJS logs routed into our structured logger.
 *
 * @module
 */
import "./_env_guard.ts"; // before the libraries: they read env at load
import { Kafka, type KafkaConfig, type LogEntry, logLevel } from "kafkajs";
import { PipelineError } from "./app.ts";
import type { Logger } from "./log.ts";
import { KAFKA_CLIENT_RETRY } from "./retry.ts";
import { installWarningFilter } from "./warnings.ts";

// KafkaJS 2.2.4 makes Node's timers warn about a harmless negative delay.
installWarningFilter();

export { CompressionTypes, Kafka, logLevel, Partitioners } from "kafkajs";
export type {
  Admin,
  Consumer,
  EachBatchPayload,
  Message,
  Producer,
  RecordMetadata,
} from "kafkajs";

/** Options for {@link createKafka}. */
export interface KafkaOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Client id shown in broker logs and quotas. */
  clientId: string;
  /** Our logger; KafkaJS lines are written through it. */
  log: Logger;
  /** Extra KafkaJS settings (override the defaults). */
  extra?: Partial<KafkaConfig>;
}

/** Retry defaults shared by every pipeline: patient, bounded, jittered. */
export const KAFKA_RETRY = {
  initialRetryTime: KAFKA_CLIENT_RETRY.initialMs,
  maxRetryTime: KAFKA_CLIENT_RETRY.maxMs,
  retries: 8,
} as const;

/** Creates a KafkaJS client with shared defaults. */
export function createKafka(opts: KafkaOptions): Kafka {
  const log = opts.log.child({ lib: "kafkajs" });
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: KAFKA_RETRY,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...rest } = entry.log;
      const fields = { namespace: entry.namespace, ...rest };
      if (entry.level <= logLevel.ERROR) log.error(message, fields);
      else if (entry.level === logLevel.WARN) log.warn(message, fields);
      else if (entry.level === logLevel.INFO) log.info(message, fields);
      else log.debug(message, fields);
    },
    ...opts.extra,
  });
}

/** Options for {@link ensureTopics}. */
export interface EnsureTopicsOptions {
  /** Create the missing topics (else: report them missing). */
  create: boolean;
  /** Partitions of created topics (default 3). */
  partitions?: number;
  /** Replication factor of created topics (default 3). */
  replicationFactor?: number;
  /** Longest wait for leaders of created topics (default 30 s). */
  timeoutMs?: number;
  /**
   * Also wait until each of these brokers knows the created topics: KRaft
   * propagates metadata asynchronously, and a producer that asks a broker
   * which does not know the topic yet gets retriable errors whose retries
   * can repeat messages.
   */
  brokers?: string[];
  /** Logger for the per-broker clients (required with `brokers`). */
  log?: Logger;
}

/**
 * Makes sure `topics` exist: returns the ones still missing (when `create`
 * is false) or creates them (min.insync.replicas=2) and waits until every
 * partition has a leader. KafkaJS's own `waitForLeaders` can throw
 * UNKNOWN_TOPIC_OR_PARTITION while KRaft metadata propagates, so this polls
 * metadata itself; a just-created topic also gets a few seconds to appear
 * before it is called missing.
 */
export async function ensureTopics(
  admin: ReturnType<Kafka["admin"]>,
  topics: string[],
  opts: EnsureTopicsOptions,
): Promise<{ missing: string[]; created: string[] }> {
  let missing: string[] = [];
  for (let i = 0; i < (opts.create ? 1 : 20); i++) {
    const existing = new Set(await admin.listTopics());
    missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (missing.length === 0 || !opts.create) return { missing, created: [] };
  await admin.createTopics({
    waitForLeaders: false,
    topics: missing.map((topic) => ({
      topic,
      numPartitions: opts.partitions ?? 3,
      replicationFactor: opts.replicationFactor ?? 3,
      configEntries: [{ name: "min.insync.replicas", value: "2" }],
    })),
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const md = await admin.fetchTopicMetadata({ topics: missing });
      if (
        md.topics.length === missing.length &&
        md.topics.every((t) =>
          t.partitions.length > 0 &&
          t.partitions.every((p) => p.leader >= 0 && p.isr.length >= 2)
        )
      ) {
        await waitForEveryBroker(missing, opts, deadline);
        return { missing: [], created: missing };
      }
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `topics ${missing.join(", ")} have no leaders after ${
      (opts.timeoutMs ?? 30_000) / 1000
    } s${last ? `: ${(last as Error).message}` : ""}`,
  );
}

async function waitForEveryBroker(
  topics: string[],
  opts: EnsureTopicsOptions,
  deadline: number,
): Promise<void> {
  if (!opts.brokers?.length || !opts.log) return;
  for (const broker of opts.brokers) {
    const admin = createKafka({
      brokers: [broker],
      clientId: "topic-check",
      log: opts.log,
      extra: { logLevel: logLevel.NOTHING },
    }).admin();
    await admin.connect();
    try {
      while (true) {
        try {
          const md = await admin.fetchTopicMetadata({ topics });
          if (
            md.topics.length === topics.length &&
            md.topics.every((t) =>
              t.partitions.length > 0 &&
              t.partitions.every((p) => p.leader >= 0)
            )
          ) break;
        } catch { /* not known there yet */ }
        if (Date.now() > deadline) {
          throw new Error(
            `broker ${broker} does not know ${topics.join(", ")}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await admin.disconnect();
    }
  }
}

/**
 * A pipeline's topic set-up at start: connects, ensures `topics` (creating
 * them when `create`), and turns every failure into one clear
 * {@link PipelineError}: missing topics name `missingHint`, an unreachable
 * cluster says so.
 */
export async function prepareTopics(
  kafka: Kafka,
  topics: string[],
  opts: {
    create: boolean;
    brokers: string[];
    log: Logger;
    missingHint: string;
  },
): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { missing, created } = await ensureTopics(admin, topics, opts);
    if (missing.length > 0) {
      throw new PipelineError(
        `Kafka topics missing: ${missing.join(", ")}`,
        opts.missingHint,
      );
    }
    if (created.length > 0) {
      opts.log.info("created topics", { topics: created });
    }
  } catch (err) {
    if (
      err instanceof PipelineError || err instanceof Deno.errors.NotCapable
    ) throw err;
    throw new PipelineError(
      `cannot reach Kafka at ${opts.brokers.join(",")}: ${
        (err as Error).message
      }`,
      "is the cluster up? (`deno task up`) or fix --brokers",
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
