/**
 * `deno task sink`: Kafka → ClickHouse (2 shards × 2 replicas).
 *
 * Flow: config → start-up checks (topics, tables) → consumer group → per-partition
 * ranges (validate + enrich + encode) → flush at most once per interval:
 * manifest commit → insert into the shard-local tables (replica failover) →
 * dead letters → offset commit. See README.md for the design.
 *
 * @module
 */
import { createKafka, prepareTopics, runPipeline } from "../runtime/mod.ts";
import {
  AnyTables,
  checkBuiltinTables,
  detectCapabilities,
} from "./any_table.ts";
import { buildConfig, SINK_SPEC } from "./config.ts";
import { createSinkMetrics } from "./metrics.ts";
import { readRouteFile, routeValidators } from "./route_file.ts";
import { ClickHouseService } from "./service.ts";
import { Sink } from "./sink.ts";
import { readTestHooks } from "./test_hooks.ts";

await runPipeline(
  SINK_SPEC,
  async ({ options, log, registry, shutdown, setHealth }) => {
    const fileRoutes = options.config
      ? await readRouteFile(options.config, options.database)
      : [];
    const config = buildConfig(options, fileRoutes);
    const validators = await routeValidators(config.routes);
    const metrics = createSinkMetrics(registry);
    const service = new ClickHouseService({
      shards: config.shards,
      username: config.clickhouseUser,
      password: config.clickhousePassword,
      log,
      metrics,
      minRetryMs: config.minInsertIntervalMs,
      requestTimeoutMs: config.insertTimeoutMs,
    });
    const kafka = createKafka({
      brokers: config.brokers,
      clientId: `sink-${config.group}`,
      log,
    });

    // Named topics (patterns match what exists) and the dead-letter topic.
    const named = config.topics.filter((t) => typeof t === "string");
    if (config.dlqTopic) named.push(config.dlqTopic);
    await prepareTopics(kafka, named, {
      create: false,
      brokers: config.brokers,
      log,
      missingHint:
        "create them (schemas/kafka/topics.json, deno task up); auto-creation is off",
    });
    await checkBuiltinTables(service, config, log);
    const tables = new AnyTables(service, log);
    await tables.resolveAll(config.routes, validators);
    const capabilities = tables.size
      ? await detectCapabilities(service)
      : undefined;
    if (capabilities) log.info("clickhouse capabilities", { ...capabilities });

    const sink = new Sink({
      config,
      log,
      metrics,
      service,
      kafka,
      tables,
      capabilities,
      testHooks: readTestHooks((msg) => log.warn(msg)),
    });
    setHealth(() => sink.health());
    shutdown.add("sink: stop consuming, flush, commit", () => sink.stop());
    await sink.start();
    await sink.run(); // until SIGINT/SIGTERM (or --exit-when-idle)
    await sink.stop();
    await service.close();
    // ClickHouse unreachable at shutdown: the ranges stay to the manifest.
    return sink.incomplete ? 1 : 0;
  },
);
