/**
 * The relay's Kafka side at start: topics (and the dead-letter topic)
 * ensured, the ordered acknowledged producer connected and sized from the
 * configuration, its acks feeding the metrics.
 *
 * @module
 */
import { createKafka, prepareTopics } from "../runtime/kafka.ts";
import { createProducer, PartitionCounts } from "../runtime/producer.ts";
import type { Logger } from "../runtime/log.ts";
import { APP_NAME } from "./catalog_client.ts";
import type { CdcConfig } from "./config.ts";
import type { TableMeta } from "./envelope.ts";
import { heartbeatTopic } from "./heartbeat.ts";
import type { CdcMetrics } from "./metrics.ts";
import { KafkaSink } from "./sink.ts";

/**
 * Connects the producer; makes sure every table's topic exists (creating
 * missing ones when allowed — broker auto-creation is off by design), and
 * the dead-letter and heartbeat topics when they are used.
 */
export async function openSink(
  cfg: CdcConfig,
  tables: TableMeta[],
  metrics: CdcMetrics,
  log: Logger,
): Promise<{
  sink: KafkaSink;
  heartbeatTopic: string;
  close: () => Promise<void>;
  /** Topics of tables found later (an incremental snapshot's, a wildcard's). */
  ensureTopics: (topics: string[]) => Promise<void>;
}> {
  const kafka = createKafka({
    brokers: cfg.brokers,
    clientId: `${APP_NAME}-${cfg.topicPrefix}`,
    log,
  });
  const ensureTopics = (topics: string[]) =>
    prepareTopics(kafka, [...new Set(topics)], {
      create: cfg.createTopics,
      brokers: cfg.brokers,
      log,
      missingHint:
        "create them (3 partitions, RF 3) or run with --create-topics true",
    });
  await ensureTopics(tables.map((t) => t.topic));
  const dlqTopic = await prepareDlq(kafka, cfg, log);
  const beatTopic = await prepareHeartbeatTopic(kafka, cfg, log);
  const producer = createProducer(kafka, { idempotent: false });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  const sink = new KafkaSink(
    producer,
    {
      maxBatchRecords: cfg.maxBatchRecords,
      maxBatchBytes: 768 * 1024,
      maxPending: cfg.maxPendingRecords,
      maxPendingBytes: cfg.maxPendingBytes,
      maxRecordBytes: cfg.maxRecordBytes,
      dlqTopic,
      onDeadLetter: (topic) => metrics.deadLetters.inc({ topic }),
      partitions: new PartitionCounts(admin),
    },
    log.child({ stage: "kafka" }),
    0n,
  );
  sink.onAck((batch, _confirmed, bytes) => {
    const now = Date.now();
    metrics.recordsProduced.inc(batch.length);
    metrics.bytesOut(bytes);
    for (const r of batch) {
      if (r.commitTimeMs !== undefined) {
        metrics.endToEndLag.observe(Math.max(0, now - r.commitTimeMs) / 1000);
      }
    }
  });
  sink.start();
  return {
    sink,
    ensureTopics,
    heartbeatTopic: beatTopic,
    close: async () => {
      await sink.close();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

/**
 * The dead-letter topic, ensured like the others; missing without
 * --create-topics: a warning, and an over-size record stops the relay.
 */
async function prepareDlq(
  kafka: ReturnType<typeof createKafka>,
  cfg: CdcConfig,
  log: Logger,
): Promise<string> {
  if (!cfg.dlqTopic) return "";
  try {
    await prepareTopics(kafka, [cfg.dlqTopic], {
      create: cfg.createTopics,
      brokers: cfg.brokers,
      log,
      missingHint: "",
    });
    return cfg.dlqTopic;
  } catch (err) {
    log.warn(
      "dead-letter topic unavailable: a record too large for Kafka will stop the relay",
      { dlq: cfg.dlqTopic, err },
    );
    return "";
  }
}

/**
 * Debezium's heartbeat topic, ensured like the others when heartbeats are
 * on; missing without --create-topics: a warning, and heartbeats go to the
 * WAL only (they still advance the slot).
 */
async function prepareHeartbeatTopic(
  kafka: ReturnType<typeof createKafka>,
  cfg: CdcConfig,
  log: Logger,
): Promise<string> {
  if (cfg.heartbeatMs <= 0) return "";
  const topic = heartbeatTopic(cfg.topicPrefix);
  try {
    await prepareTopics(kafka, [topic], {
      create: cfg.createTopics,
      brokers: cfg.brokers,
      log,
      missingHint: "",
    });
    return topic;
  } catch (err) {
    log.warn(
      "heartbeat topic unavailable: heartbeats go to the WAL only",
      { topic, err },
    );
    return "";
  }
}
