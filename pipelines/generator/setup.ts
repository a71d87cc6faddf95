/**
 * Builds the pieces `main.ts` wires together: the event model, the clock,
 * and the output (connecting to Kafka or PostgreSQL, checking topics), each
 * with its closer registered on the shutdown coordinator.
 *
 * @module
 */
import {
  createKafka,
  createPgClient,
  createProducer,
  type Logger,
  PartitionCounts,
  PipelineError,
  prepareTopics,
  redactUrl,
  type Shutdown,
} from "../runtime/mod.ts";
import { type EventClock, SimulatedClock, WallClock } from "./clock.ts";
import type { GeneratorConfig } from "./config.ts";
import { CdcModel, CounterIds, type IdSource } from "./models/cdc.ts";
import { HttpModel, SERVICES } from "./models/http.ts";
import type { EventModel } from "./models/mod.ts";
import { SecurityModel } from "./models/security.ts";
import {
  type CdcSink,
  type EventOutput,
  KafkaEventOutput,
  LineCdcSink,
  PostgresCdcOutput,
  RotatingFileOutput,
  StdoutOutput,
} from "./outputs/mod.ts";
import { Rng } from "./prng.ts";

/** Event time: simulated when seeded or `--start` is given, else wall. */
export function createClock(cfg: GeneratorConfig): EventClock {
  if (cfg.startMs === undefined) return new WallClock();
  // Its own PRNG stream: timestamps do not shift when a model draws more.
  return new SimulatedClock(
    cfg.startMs,
    cfg.rate > 0 ? cfg.rate : 1000,
    cfg.curve,
    new Rng(`${cfg.seed}/clock`),
  );
}

/** The security or http model. */
export function createEventModel(cfg: GeneratorConfig): EventModel {
  const rng = new Rng(cfg.seed);
  return cfg.kind === "http"
    ? new HttpModel(rng, {
      serviceMix: cfg.serviceMix,
      errorRates: cfg.errorRates,
      warnRates: cfg.warnRates,
    })
    : new SecurityModel(rng, { attackRatio: cfg.attackRatio });
}

/** Kafka topics per route (and the error topic) for a kind. */
export function topicsFor(
  cfg: Pick<GeneratorConfig, "kind" | "topic" | "topicPrefix">,
): { topics: string[]; errorTopic?: string } {
  if (cfg.kind === "http") {
    return {
      topics: SERVICES.map((s) => `${cfg.topicPrefix}.${s}`),
      errorTopic: `${cfg.topicPrefix}.error`,
    };
  }
  return { topics: [cfg.topic] };
}

function fileOutput(cfg: GeneratorConfig): RotatingFileOutput {
  try {
    return new RotatingFileOutput({
      dir: cfg.dir,
      kind: cfg.kind,
      maxBytes: cfg.maxFileBytes,
      maxAgeMs: cfg.maxFileAgeMs,
    });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      throw new PipelineError(
        `cannot write to ${cfg.dir}`,
        "the generate task may only write under .data/ (choose --dir inside it)",
      );
    }
    throw err;
  }
}

/** Opens the output of a security/http run. */
export async function openEventOutput(
  cfg: GeneratorConfig,
  log: Logger,
  shutdown: Shutdown,
): Promise<EventOutput> {
  if (cfg.to === "stdout") return new StdoutOutput();
  if (cfg.to === "file") {
    const out = fileOutput(cfg);
    shutdown.add("event file", () => out.close());
    return out;
  }
  const kafka = createKafka({
    brokers: cfg.brokers,
    clientId: "generator",
    log,
  });
  const { topics, errorTopic } = topicsFor(cfg);
  const all = [...topics, ...(errorTopic ? [errorTopic] : [])];
  await prepareTopics(kafka, all, {
    create: cfg.createTopics,
    brokers: cfg.brokers,
    log,
    missingHint:
      "`deno task up` creates the standard topics; or pass --create-topics",
  });
  // Idempotence makes broker-side retries duplicate-free: exact counts.
  const producer = createProducer(kafka, { idempotent: true });
  try {
    await producer.connect();
  } catch (err) {
    throw new PipelineError(
      `cannot connect the Kafka producer to ${cfg.brokers.join(",")}: ${
        (err as Error).message
      }`,
      "is the cluster up? (`deno task up`)",
    );
  }
  shutdown.add("kafka producer", () => producer.disconnect());
  const admin = kafka.admin();
  await admin.connect();
  shutdown.add("kafka admin", () => admin.disconnect());
  return new KafkaEventOutput({
    producer,
    topics,
    errorTopic,
    batchSize: cfg.batchSize,
    partitions: new PartitionCounts(admin),
    log,
  });
}

/** Opens the model and sink of a cdc run. */
export async function openCdc(
  cfg: GeneratorConfig,
  log: Logger,
  shutdown: Shutdown,
): Promise<{ model: CdcModel; sink: CdcSink }> {
  let sink: CdcSink;
  let ids: IdSource;
  if (cfg.to === "postgres") {
    const client = createPgClient({
      url: cfg.postgresUrl,
      applicationName: "generator",
    });
    try {
      await client.connect();
    } catch (err) {
      throw new PipelineError(
        `cannot connect to PostgreSQL at ${redactUrl(cfg.postgresUrl)}: ${
          (err as Error).message
        }`,
        "is the cluster up? is PGPASSWORD set?",
      );
    }
    shutdown.add("postgres", () => client.end());
    const pgSink = new PostgresCdcOutput(client);
    try {
      ids = await pgSink.open(cfg.maxTxSize);
    } catch (err) {
      throw new PipelineError(
        `PostgreSQL tables not ready: ${(err as Error).message}`,
        "`deno task up` creates users/orders in database shop",
      );
    }
    sink = pgSink;
    log.info("writing to postgres", { url: redactUrl(cfg.postgresUrl) });
  } else {
    const out = cfg.to === "stdout" ? new StdoutOutput() : fileOutput(cfg);
    if (out instanceof RotatingFileOutput) {
      shutdown.add("cdc file", () => out.close());
    }
    sink = new LineCdcSink(out);
    ids = new CounterIds();
  }
  const model = new CdcModel(new Rng(cfg.seed), ids, {
    mix: cfg.mix,
    quotas: cfg.quotas,
    maxTxSize: cfg.maxTxSize,
    tag: cfg.tag,
  });
  return { model, sink };
}
