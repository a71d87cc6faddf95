/**
 * Kafka client factory (`npm:kafkajs`) with this product's retry defaults and
 * KafkaJS logs routed into our structured logger.
 *
 * @module
 */
import { Kafka, type KafkaConfig, type LogEntry, logLevel } from "kafkajs";
import type { Logger } from "./log.ts";

export { CompressionTypes, Kafka, Partitioners } from "kafkajs";
export type {
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
  initialRetryTime: 200,
  maxRetryTime: 5_000,
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
