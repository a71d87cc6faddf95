/**
 * The shared runtime of every pipeline: configuration and CLI, structured
 * logging, Prometheus metrics, graceful shutdown, and the Kafka, ClickHouse
 * and PostgreSQL client factories. Written once, used by all pipelines.
 *
 * @example
 * ```ts
 * import { runPipeline, brokersOption, metricsPortOption } from "../runtime/mod.ts";
 * await runPipeline({
 *   name: "example",
 *   summary: "An example pipeline",
 *   options: { brokers: brokersOption, "metrics-port": metricsPortOption(0) },
 * }, async ({ options, log, shutdown }) => {
 *   log.info("started", { brokers: options.brokers });
 *   // ... loop until shutdown.signal aborts
 * });
 * ```
 *
 * @module
 */
export * from "./app.ts";
export * from "./cli.ts";
export * from "./clickhouse.ts";
export * from "./credentials.ts";
export * from "./contract.ts";
export * from "./endpoints.ts";
export * from "./kafka.ts";
export * from "./hops.ts";
export * from "./log.ts";
export * from "./metrics.ts";
export * from "./postgres.ts";
export * from "./producer.ts";
export * from "./retry.ts";
export * from "./shutdown.ts";
export * from "./warnings.ts";
