/**
 * Helpers shared by the observability tests (dashboards and alerts): the
 * Prometheus HTTP API, and the check that every metric name a dashboard or
 * alert uses is real.
 *
 * @module
 */
import { createRegistry } from "../pipelines/runtime/metrics.ts";
import { ROOT } from "./_helpers.ts";

/** The cluster's Prometheus. */
export const PROMETHEUS = "http://127.0.0.1:19090";
/** The cluster's Alertmanager. */
export const ALERTMANAGER = "http://127.0.0.1:19095";

/** One sample of an instant vector. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Runs an instant PromQL query; throws on API errors. */
export async function promQuery(query: string): Promise<Sample[]> {
  const res = await fetch(
    `${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(query)}`,
  );
  const body = await res.json();
  if (body.status !== "success") {
    throw new Error(`Prometheus: ${body.error ?? res.status} for ${query}`);
  }
  return body.data.result as Sample[];
}

/** Metric names Prometheus currently knows. */
export async function livePrometheusNames(): Promise<Set<string>> {
  const res = await fetch(`${PROMETHEUS}/api/v1/label/__name__/values`);
  const body = await res.json();
  return new Set(body.data as string[]);
}

/** Exporters a stack may lack (their panels stay empty, their alerts silent). */
const OPTIONAL_EXPORTERS: Array<[RegExp, string]> = [
  [/^zookeeper_/, "zookeeper (JMX exporter on the ZooKeeper JVM)"],
  [/^haproxy_/, "haproxy (HAProxy's Prometheus exporter)"],
];

/** The pipelines' metric definitions (source text of every metrics.ts). */
async function pipelineMetricSources(): Promise<string> {
  let text = "";
  for await (const e of Deno.readDir(`${ROOT}pipelines`)) {
    if (!e.isDirectory) continue;
    try {
      text += await Deno.readTextFile(`${ROOT}pipelines/${e.name}/metrics.ts`);
    } catch { /* no metrics */ }
  }
  return text;
}

/**
 * Which of `names` are unknown: not live in Prometheus, not declared in a
 * pipeline's metrics.ts, not a prom-client default, nor from an optional
 * exporter (those are returned separately).
 */
export async function knownMetricProblems(
  names: string[],
  live: Set<string>,
): Promise<{ problems: string[]; missingExporters: string[] }> {
  const sources = await pipelineMetricSources();
  const defaults = await createRegistry("probe").metrics();
  const problems: string[] = [];
  const missing = new Set<string>();
  for (const name of names) {
    if (live.has(name)) continue;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    if (new RegExp(`^# TYPE ${base} `, "m").test(defaults)) continue;
    if (sources.includes(`"${base}"`) || sources.includes(`"${name}"`)) {
      continue;
    }
    // The CDC relay builds Debezium names as `debezium_metrics_${name}`.
    const debezium = /^debezium_metrics_(\w+)$/.exec(name);
    if (
      debezium && sources.includes("debezium_metrics_${name}") &&
      sources.includes(`"${debezium[1]}"`)
    ) continue;
    const optional = OPTIONAL_EXPORTERS.find(([re]) => re.test(name));
    if (optional) {
      missing.add(optional[1]);
      continue;
    }
    problems.push(
      `${name}: not in Prometheus, not defined in pipelines/*/metrics.ts, not a prom-client default`,
    );
  }
  return { problems, missingExporters: [...missing] };
}
