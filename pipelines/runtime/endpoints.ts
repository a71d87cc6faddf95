/**
 * Default addresses of the cluster that `deno task up` starts, and the option
 * specs every pipeline shares for them, so each address is written once.
 * Every default can be overridden by a flag or an environment variable.
 *
 * @module
 */
import type { OptionSpec } from "./cli.ts";
import {
  CLICKHOUSE_HAPROXY_URL,
  clickhouseShardUrls,
  HOST,
  KAFKA_BOOTSTRAP,
  PIPELINE_METRICS_PORTS,
  POSTGRES,
} from "../../schemas/topology.ts";

/** Loopback addresses of the local cluster (derived from `schemas/topology.ts`). */
export const DEFAULT_ENDPOINTS = {
  kafkaBrokers: [...KAFKA_BOOTSTRAP] as readonly string[],
  /** HAProxy in front of all ClickHouse nodes. */
  clickhouseUrl: CLICKHOUSE_HAPROXY_URL,
  /** ClickHouse nodes per shard: replicas of one shard joined by `|`, shards by `,`. */
  clickhouseShards: clickhouseShardUrls().map((replicas) =>
    replicas.join("|")
  ) as readonly string[],
  postgresUrl:
    `postgres://${POSTGRES.user}@${HOST}:${POSTGRES.port}/${POSTGRES.database}`,
  /**
   * Password of the local development cluster's `postgres` user (set by
   * `deno task up`). Used by `start`/`verify` only when `PGPASSWORD` is unset;
   * real deployments pass the secret through `PGPASSWORD`.
   */
  localPostgresPassword: POSTGRES.password,
} as const;

/** Metrics ports per pipeline (Prometheus scrapes these). */
export const METRICS_PORTS = PIPELINE_METRICS_PORTS;

/** `--brokers` / `KAFKA_BROKERS` (parsed as `string[]`). */
export const brokersOption = {
  type: "list",
  description: "Kafka bootstrap brokers, host:port, comma separated",
  env: "KAFKA_BROKERS",
  default: [...DEFAULT_ENDPOINTS.kafkaBrokers],
} satisfies OptionSpec;

/** `--clickhouse-shards` / `CLICKHOUSE_SHARDS`. */
export const clickhouseShardsOption = {
  type: "list",
  description:
    "ClickHouse HTTP URLs per shard: shards separated by ',', replicas of a shard by '|'",
  env: "CLICKHOUSE_SHARDS",
  default: [...DEFAULT_ENDPOINTS.clickhouseShards],
} satisfies OptionSpec;

/** `--postgres-url` / `POSTGRES_URL` (password from `PGPASSWORD`). */
export const postgresUrlOption = {
  type: "string",
  description:
    "PostgreSQL URL (put the password in PGPASSWORD, not in the URL)",
  env: "POSTGRES_URL",
  default: DEFAULT_ENDPOINTS.postgresUrl,
} satisfies OptionSpec;

/** An integer option with a default (parsed as `number`). */
export type IntegerOption = OptionSpec & { type: "integer"; default: number };

/** `--metrics-port` / `METRICS_PORT` with the pipeline's default. */
export function metricsPortOption(defaultPort: number): IntegerOption {
  return {
    type: "integer",
    description: "Port of /metrics and /health (0 disables)",
    env: "METRICS_PORT",
    default: defaultPort,
    min: 0,
    max: 65535,
  };
}

/** Splits `--clickhouse-shards` values into replica URL lists per shard. */
export function parseShards(values: string[]): string[][] {
  return values.map((s) => s.split("|").map((u) => u.trim()).filter(Boolean));
}
