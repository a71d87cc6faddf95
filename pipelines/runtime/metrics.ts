/**
 * Prometheus metrics (`prom-client`) and the `/metrics` + `/health` HTTP
 * endpoint every pipeline exposes.
 *
 * @module
 */
import "./_env_guard.ts"; // before the libraries: they read env at load
import client from "prom-client";

export { client as prom };

/**
 * The hop histogram every pipeline exports (see hops.ts): seconds an event
 * spends in each hop of its journey, label `hop`.
 */
export const HOP_METRIC = "pipeline_hop_seconds";

/** A fresh registry with process metrics labelled by pipeline name. */
export function createRegistry(pipeline: string): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ pipeline });
  client.collectDefaultMetrics({ register: registry });
  return registry;
}

/** What `/health` reports: `ok` false answers 503. */
export interface HealthReport {
  ok: boolean;
  [detail: string]: unknown;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Stops accepting connections. */
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) and `GET /health` (JSON)
 * on `hostname:port`. Port 0 disables the server.
 */
export function serveMetrics(
  registry: client.Registry,
  opts: {
    port: number;
    hostname?: string;
    health?: () => HealthReport | Promise<HealthReport>;
  },
): MetricsServer | undefined {
  if (opts.port === 0) return undefined;
  const server = Deno.serve({
    port: opts.port,
    hostname: opts.hostname ?? "127.0.0.1",
    onListen: () => {},
  }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/metrics") {
      return new Response(await registry.metrics(), {
        headers: { "content-type": registry.contentType },
      });
    }
    if (path === "/health") {
      const report = opts.health ? await opts.health() : { ok: true };
      return Response.json(report, { status: report.ok ? 200 : 503 });
    }
    return new Response("not found\n", { status: 404 });
  });
  return {
    port: server.addr.port,
    close: () => server.shutdown(),
  };
}
