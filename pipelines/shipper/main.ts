/**
 * `deno task ship`: files and HTTP into Kafka, durable, at least once.
 *
 *   files (glob, tail, rotation) ──┐
 *                                  ├─► bounded queue ─► Kafka sink (acks=all)
 *   HTTP ─► disk buffer (fsync) ───┘                      │
 *                                                         └─► ack: checkpoint
 *
 * Sources cut lines, route and encode them into batches (bad lines become
 * dead letters); the sink sends each batch as one request per partition
 * (at most one in flight per partition, up to --max-in-flight batches
 * overlapping; gzip in worker threads) and lets the sources write their
 * checkpoints in batch order, only for fully acknowledged batches. A full
 * queue pauses the sources.
 *
 * @module
 */
// First: patches KafkaJS hot spots before anything loads it.
import "../runtime/kafkajs_speedups.ts";
import {
  createKafka,
  createProducer,
  PipelineError,
  runPipeline,
} from "../runtime/mod.ts";
import { type Batch, BoundedQueue } from "./batch.ts";
import { buildConfig, checkPermissions, SPEC } from "./config.ts";
import { BufferSource, DiskBuffer } from "./disk_buffer.ts";
import { Encoder } from "./encoder.ts";
import { FileSource } from "./file_source.ts";
import { GzipPool, useGzipPool } from "./gzip_pool.ts";
import { planGlob } from "./glob.ts";
import { type IngestServer, startIngestServer } from "./http_front.ts";
import { createIngestHandler } from "./http_source.ts";
import { KafkaSink } from "./kafka_sink.ts";
import { createMetrics } from "./metrics.ts";
import { compileRouting } from "./routing.ts";

await runPipeline(
  SPEC,
  async ({ options, log, registry, shutdown, setHealth }) => {
    // 1. Config, checked against this task's permissions before reading anything.
    const cfg = await buildConfig(options);
    checkPermissions(
      cfg,
      cfg.files.map((f) => ({
        pattern: f.pattern,
        base: planGlob(f.pattern).base,
      })),
    );
    await Deno.mkdir(cfg.stateDir, { recursive: true });
    const metrics = createMetrics(registry);
    const limits = {
      maxMessages: cfg.batchEvents,
      maxBytes: cfg.batchBytes,
      lingerMs: cfg.lingerMs,
    };
    const encoder = new Encoder({
      router: compileRouting(cfg.routing),
      dlqTopic: cfg.dlqTopic,
      hostName: cfg.hostName,
      onDeadLetter: (reason) => metrics.deadLetters.inc({ reason }),
    });

    // 2. Kafka sink: acks=all, idempotent producer (KafkaJS needs one request
    //    in flight per broker connection; the sink also keeps one per
    //    partition), gzip in worker threads.
    if (cfg.compression === "gzip" && cfg.compressWorkers > 0) {
      const pool = new GzipPool(cfg.compressWorkers);
      const restore = useGzipPool(pool);
      // Added before the producer: closed after the last batch went out.
      shutdown.add("gzip workers", () => {
        restore();
        pool.close();
      });
    }
    const kafka = createKafka({
      brokers: cfg.brokers,
      clientId: "shipper",
      log,
    });
    const hardStop = new AbortController();
    const sink = new KafkaSink({
      producer: createProducer(kafka, {
        idempotent: cfg.idempotent,
        maxInFlightRequests: cfg.idempotent ? 1 : 5,
      }),
      admin: kafka.admin(),
      compression: cfg.compression,
      dlqTopic: cfg.dlqTopic,
      timeoutMs: 30_000,
      maxInFlight: cfg.maxInFlight,
      metrics,
      log,
      hardStop: hardStop.signal,
    });
    try {
      await sink.connect();
    } catch (err) {
      throw new PipelineError(
        `cannot start the Kafka producer: ${(err as Error).message}`,
        `check --brokers ${
          cfg.brokers.join(",")
        } and that the topics exist (deno task up creates them)`,
      );
    }
    shutdown.add("kafka producer", () => sink.disconnect());

    // 3. Sources feed one bounded queue (backpressure).
    const queue = new BoundedQueue<Batch>(2);
    const stop = new AbortController();
    shutdown.signal.addEventListener("abort", () => stop.abort(), {
      once: true,
    });
    const sources: Array<Promise<void>> = [];
    if (cfg.files.length > 0) {
      const files = new FileSource({
        files: cfg.files,
        checkpointPath: `${cfg.stateDir}/files.json`,
        pollMs: cfg.pollMs,
        watch: cfg.watch,
        chunkBytes: cfg.readChunkBytes,
        maxLineBytes: cfg.maxLineBytes,
        limits,
        rotateWaitMs: cfg.rotateWaitMs,
        idleCloseMs: 30_000,
        once: cfg.once,
        encoder,
        metrics,
        log: log.child({ source: "file" }),
      });
      sources.push(files.run(queue, stop.signal));
    }
    let buffer: DiskBuffer | undefined;
    if (cfg.httpPort > 0) {
      buffer = await DiskBuffer.open({
        dir: `${cfg.stateDir}/buffer`,
        segmentBytes: cfg.segmentBytes,
        maxBytes: cfg.bufferMaxBytes,
        log: log.child({ source: "http" }),
        metrics,
      });
      const reader = new BufferSource({
        buffer,
        chunkBytes: cfg.readChunkBytes,
        maxLineBytes: cfg.maxLineBytes,
        limits,
        encoder,
        metrics,
        log: log.child({ source: "http" }),
      });
      sources.push(reader.run(queue, stop.signal));
      const b = buffer;
      shutdown.add("disk buffer", () => b.close());
    }

    // 4. Run until stopped (or, with --once, until the files are shipped);
    //    the first failure stops everything.
    let failure: unknown;
    const fail = (err: unknown) => {
      failure ??= err;
      stop.abort();
    };
    const sourcesDone = Promise.all(sources.map((s) => s.catch(fail)))
      .finally(() => queue.close());
    const sinkDone = sink.run(queue).catch((err) => {
      fail(err);
      queue.close();
    });
    const done = Promise.all([sourcesDone, sinkDone]);
    shutdown.add("drain queue", async () => {
      const t = setTimeout(() => hardStop.abort(), 10_000);
      await done;
      clearTimeout(t);
    });

    // 5. HTTP ingest last, so it is the first thing to stop. Public TCP goes
    //    through the front (connection cap, head and life deadlines) to
    //    Deno.serve on a Unix socket in the state dir.
    let front: IngestServer | undefined;
    if (buffer) {
      const b = buffer;
      try {
        front = startIngestServer({
          hostname: cfg.httpHost,
          port: cfg.httpPort,
          maxConnections: cfg.httpMaxConnections,
          headerTimeoutMs: cfg.httpHeaderTimeoutMs,
          // Body, buffer fsync and answer: generous, only a backstop.
          connectionTimeoutMs: cfg.httpBodyTimeoutMs + 30_000,
          maxHeaderBytes: 64 * 1024,
          log: log.child({ source: "http" }),
          onRefused: (code) => metrics.httpRequests.inc({ code }),
          handler: createIngestHandler({
            buffer: b,
            maxBodyBytes: cfg.maxBodyBytes,
            maxLineBytes: cfg.maxLineBytes,
            metrics,
            log: log.child({ source: "http" }),
            stopping: () => stop.signal.aborted,
            token: cfg.httpToken,
            maxConcurrent: cfg.httpMaxConcurrent,
            bodyTimeoutMs: cfg.httpBodyTimeoutMs,
          }),
        });
      } catch (err) {
        stop.abort();
        await done;
        throw new PipelineError(
          `cannot listen on ${cfg.httpHost}:${cfg.httpPort}: ${
            (err as Error).message
          }`,
          "choose another --http-port (0 disables HTTP ingest)",
        );
      }
      const f = front;
      shutdown.add("http server", () => f.shutdown());
    }
    setHealth(() => {
      const buf = buffer?.health() ?? { ok: true };
      return {
        ok: !stop.signal.aborted && sink.lastError === undefined && buf.ok,
        batches_acked: sink.batchesAcked,
        buffer_depth_bytes: buffer?.depthBytes ?? 0,
        buffer_error: buf.error,
        http_connections: front?.connections ?? 0,
        last_error: sink.lastError,
      };
    });
    log.info("shipping", {
      files: cfg.files.map((f) => `${f.pattern} (${f.format})`),
      http: cfg.httpPort > 0 ? `${cfg.httpHost}:${cfg.httpPort}` : "off",
      compression: cfg.compression,
      idempotent: cfg.idempotent,
    });
    await done;
    if (failure) throw failure;
  },
);
