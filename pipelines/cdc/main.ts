/**
 * `deno task cdc` — the CDC relay: PostgreSQL logical replication (pgoutput)
 * → Kafka, in Debezium's JSON format.
 *
 *   check PostgreSQL ─► describe tables ─► publication ─► Kafka sink
 *        ─► slot: resume, or create + consistent snapshot (op "r")
 *        ─► stream: decode pgoutput → envelopes → Kafka (acks=all)
 *                   → confirm LSN only after acks, heartbeats, slot lag
 *
 * @module
 */
import { runPipeline } from "../runtime/mod.ts";
import { describeTables, ensurePublication } from "./catalog.ts";
import { openCatalog } from "./catalog_client.ts";
import { CDC_SPEC, toConfig } from "./config.ts";
import { CdcMetrics } from "./metrics.ts";
import { openSink } from "./open_sink.ts";
import { prepareSlot, streamChanges } from "./relay.ts";

await runPipeline(
  CDC_SPEC,
  async ({ options, log, registry, shutdown, setHealth }) => {
    const cfg = toConfig(options);
    const metrics = new CdcMetrics(registry, cfg.topicPrefix);
    const { signal } = shutdown;

    // 1. PostgreSQL: reachable, wal_level=logical, role may replicate.
    const catalog = await openCatalog(cfg);
    shutdown.add("postgres catalog connection", () => catalog.close());

    // 2. Tables (each with a primary key) and the publication covering them.
    const tables = await describeTables(
      catalog.client,
      cfg.tables,
      cfg.topicPrefix,
      catalog.types,
      cfg.schemas,
    );
    await ensurePublication(catalog.client, cfg.publication, tables, log);
    const settings = { serverName: cfg.topicPrefix, db: catalog.server.db };

    // 3. Kafka: topics (and the heartbeat topic) exist, ordered acked producer.
    const kafka = await openSink(cfg, tables, metrics, log);
    shutdown.add("kafka producer", kafka.close);
    setHealth(() => ({
      ok: !shutdown.stopping && kafka.sink.failures === 0,
      kafka_failures: kafka.sink.failures,
      pending_records: kafka.sink.tracker.pending,
    }));

    // 4. Slot: resume where Kafka acked, or create it and snapshot consistently.
    let start;
    try {
      start = await prepareSlot({
        cfg,
        catalog,
        tables,
        settings,
        sink: kafka.sink,
        metrics,
        log,
        signal,
      });
    } catch (err) {
      if (signal.aborted) {
        log.warn(
          "stopped during the snapshot; it restarts from scratch next time",
        );
        return 0;
      }
      throw err;
    }

    // 5. Stream until shutdown (the closer waits for the final confirm).
    const streaming = streamChanges({
      cfg,
      catalog,
      tables,
      settings,
      sink: kafka.sink,
      start,
      metrics,
      log,
      signal,
      heartbeatTopic: kafka.heartbeatTopic,
    });
    shutdown.add("replication stream", () => streaming.catch(() => {}));
    await streaming;
  },
);
