/**
 * "Service logs": the reference log-ETL dashboard over `analytics.fact_log`
 * (topics logs.auth|order|payment|notify) and `analytics.error_log`
 * (logs.error): requests/s per service, error rate, status codes, latency
 * percentiles, slow endpoints and the latest errors.
 *
 * @module
 */
import { chBucket, type DashboardDef, panel, traffic } from "./grafana.ts";

const T = "analytics.fact_log";
const WHERE =
  `$__timeFilter(timestamp) AND service IN (\${service:singlequote})`;

/** The service logs dashboard. */
export const serviceLogs: DashboardDef = {
  uid: "service-logs",
  title: "Service logs",
  description:
    "HTTP service logs stored by the sink in ClickHouse (analytics.fact_log, analytics.error_log): traffic, errors, status codes, latency.",
  tags: ["logs", "clickhouse"],
  from: "now-1h",
  refresh: "30s",
  variables: [{
    kind: "custom",
    name: "service",
    label: "Service",
    options: ["auth", "order", "payment", "notify"],
    multi: true,
    includeAll: true,
  }],
  items: [
    panel.row("Golden signals"),
    panel.stat({
      title: "Requests",
      description: "Logged requests in the range.",
      unit: "short",
      queries: [{
        format: "table",
        sql: `SELECT count() AS requests FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Requests/s",
      description: "Average request rate over the range.",
      unit: "reqps",
      decimals: 1,
      queries: [{
        format: "table",
        sql:
          `SELECT count() / greatest(toUInt32($__toTime) - toUInt32($__fromTime), 1) AS rps FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Error rate (5xx)",
      description: "Share of requests answered with a 5xx status (is_error).",
      unit: "percentunit",
      decimals: 2,
      thresholds: traffic(0.01, 0.05),
      colorBackground: true,
      queries: [{
        format: "table",
        sql: `SELECT avg(is_error) AS error_rate FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Client errors (4xx)",
      description: "Share of requests answered with a 4xx status.",
      unit: "percentunit",
      decimals: 2,
      queries: [{
        format: "table",
        sql:
          `SELECT countIf(status >= 400 AND status < 500) / greatest(count(), 1) AS client_errors FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Latency p95",
      description: "95th percentile of request latency.",
      unit: "ms",
      thresholds: traffic(500, 1000),
      queries: [{
        format: "table",
        sql:
          `SELECT quantile(0.95)(latency_ms) AS p95 FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Latency p99",
      description: "99th percentile of request latency.",
      unit: "ms",
      thresholds: traffic(1000, 2000),
      queries: [{
        format: "table",
        sql:
          `SELECT quantile(0.99)(latency_ms) AS p99 FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.row("Traffic and errors"),
    panel.timeseries({
      title: "Requests/s per service",
      description:
        "Events per second per service (EPS), from the event timestamps.",
      unit: "reqps",
      queries: [{
        format: "timeseries",
        sql: `SELECT ${
          chBucket("timestamp")
        } AS time, service, count() / $__interval_s AS rps
FROM ${T} WHERE ${WHERE}
GROUP BY time, service ORDER BY time`,
      }],
    }),
    panel.timeseries({
      title: "Error rate per service (5xx)",
      description:
        "Share of 5xx responses per service. Alerting threshold in the reference: 5%.",
      unit: "percentunit",
      min: 0,
      thresholds: traffic(0.01, 0.05),
      queries: [{
        format: "timeseries",
        sql: `SELECT ${
          chBucket("timestamp")
        } AS time, service, avg(is_error) AS error_rate
FROM ${T} WHERE ${WHERE}
GROUP BY time, service ORDER BY time`,
      }],
    }),
    panel.timeseries({
      title: "Status classes",
      description:
        "Responses per second by status class (2xx, 3xx, 4xx, 5xx), stacked.",
      unit: "reqps",
      stack: true,
      overrides: [["2xx", "green"], ["3xx", "blue"], ["4xx", "orange"], [
        "5xx",
        "red",
      ]].map((
        [name, color],
      ) => ({
        matcher: { id: "byName", options: name },
        properties: [{
          id: "color",
          value: { mode: "fixed", fixedColor: color },
        }],
      })),
      queries: [{
        format: "timeseries",
        sql: `SELECT ${
          chBucket("timestamp")
        } AS time, concat(toString(intDiv(status, 100)), 'xx') AS class,
  count() / $__interval_s AS rps
FROM ${T} WHERE ${WHERE}
GROUP BY time, class ORDER BY time`,
      }],
    }),
    panel.piechart({
      title: "Status codes",
      description: "Distribution of HTTP status codes in the range.",
      queries: [{
        format: "table",
        sql:
          `SELECT toString(status) AS status, count() AS requests FROM ${T} WHERE ${WHERE}
GROUP BY status ORDER BY requests DESC LIMIT 15`,
      }],
    }),
    panel.row("Latency"),
    panel.timeseries({
      title: "Latency p50 / p95 / p99",
      description:
        "Request latency percentiles over time for the selected services.",
      unit: "ms",
      w: 16,
      queries: [{
        format: "timeseries",
        sql: `SELECT ${chBucket("timestamp")} AS time,
  quantile(0.5)(latency_ms) AS p50, quantile(0.95)(latency_ms) AS p95, quantile(0.99)(latency_ms) AS p99
FROM ${T} WHERE ${WHERE}
GROUP BY time ORDER BY time`,
      }],
    }),
    panel.table({
      title: "Latency by service",
      description: "Percentiles and error rate per service over the range.",
      w: 8,
      unit: "ms",
      overrides: [{
        matcher: { id: "byName", options: "error rate" },
        properties: [{ id: "unit", value: "percentunit" }],
      }, {
        matcher: { id: "byName", options: "requests" },
        properties: [{ id: "unit", value: "short" }],
      }],
      queries: [{
        format: "table",
        sql: `SELECT service, count() AS requests,
  round(quantile(0.5)(latency_ms), 1) AS p50, round(quantile(0.95)(latency_ms), 1) AS p95,
  round(quantile(0.99)(latency_ms), 1) AS p99, avg(is_error) AS "error rate"
FROM ${T} WHERE ${WHERE}
GROUP BY service ORDER BY service`,
      }],
    }),
    panel.table({
      title: "Slowest endpoints",
      description:
        "Endpoints by p95 latency (at least 10 requests in the range).",
      w: 12,
      h: 10,
      queries: [{
        format: "table",
        sql: `SELECT service, method, path, count() AS requests,
  round(quantile(0.95)(latency_ms), 1) AS "p95 ms", round(avg(is_error) * 100, 2) AS "5xx %"
FROM ${T} WHERE ${WHERE}
GROUP BY service, method, path HAVING requests >= 10
ORDER BY "p95 ms" DESC LIMIT 20`,
      }],
    }),
    panel.table({
      title: "Latest errors (logs.error)",
      description:
        "The 50 most recent error-level requests from analytics.error_log; trace_id links to the other logs of the request.",
      w: 12,
      h: 10,
      queries: [{
        format: "table",
        sql:
          `SELECT timestamp, service, method, path, status, latency_ms AS "latency ms", trace_id, message
FROM analytics.error_log WHERE ${WHERE}
ORDER BY timestamp DESC, timestamp_ms DESC LIMIT 50`,
      }],
    }),
  ],
};
