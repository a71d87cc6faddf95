/**
 * Executes dashboard panel queries against the live stack the way Grafana
 * would: template variables resolved from Prometheus, Grafana built-ins and
 * the ClickHouse plugin's macros expanded, then PromQL through the Prometheus
 * HTTP API and SQL through ClickHouse's HTTP interface (HAProxy, with the
 * datasource's custom settings).
 *
 * @module
 */
import {
  expandClickHouseMacros,
  expandPrometheusBuiltins,
  interpolate,
  type PanelTarget,
  type VariableValues,
} from "./inspect.ts";

/**
 * The ClickHouse datasource's `customSettings` (datasources.yml), sent with
 * every query as Grafana's plugin does.
 */
export const CLICKHOUSE_DATASOURCE_SETTINGS: Readonly<Record<string, string>> =
  {
    skip_unavailable_shards: "1",
    prefer_localhost_replica: "0",
  };

/** Where and over which time range queries run. */
export interface LiveOptions {
  prometheusUrl: string;
  clickhouseUrl: string;
  from: Date;
  to: Date;
  /** Panel interval (`$__interval`, `$__interval_s`, range query step). */
  intervalS: number;
  /** `$__rate_interval` (Grafana: max(4 × scrape interval, interval + scrape)). */
  rateIntervalS: number;
  /** ClickHouse login headers (the read-only user's, as the datasource). */
  clickhouseHeaders?: HeadersInit;
  /** ClickHouse settings (default: the datasource's `customSettings`). */
  clickhouseSettings?: Record<string, string>;
  /** Per-request timeout. */
  timeoutMs?: number;
}

/** What one executed query returned. */
export interface TargetResult {
  target: PanelTarget;
  /** The query as executed. */
  executed: string;
  ok: boolean;
  error?: string;
  /** Series (Prometheus) or rows (ClickHouse). */
  rows: number;
  /** At least one non-NaN value (Prometheus) or one row (ClickHouse). */
  hasData: boolean;
}

type Json = Record<string, unknown>;

async function getJson(url: string, timeoutMs: number): Promise<Json> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
  if (!res.ok || body.status === "error") {
    throw new Error(
      `HTTP ${res.status}: ${body.errorType ?? ""} ${
        body.error ?? text.slice(0, 300)
      }`,
    );
  }
  return body;
}

/** Values of a `label_values(...)` variable query, from Prometheus. */
export async function labelValues(
  query: string,
  opts: Pick<LiveOptions, "prometheusUrl" | "from" | "to" | "timeoutMs">,
): Promise<string[]> {
  const m = /^\s*label_values\(\s*(?:(.+),\s*)?(\w+)\s*\)\s*$/.exec(query);
  if (!m) throw new Error(`unsupported variable query: ${query}`);
  const [, selector, label] = m;
  const range = `start=${opts.from.getTime() / 1000}&end=${
    opts.to.getTime() / 1000
  }`;
  const t = opts.timeoutMs ?? 15_000;
  if (!selector) {
    const body = await getJson(
      `${opts.prometheusUrl}/api/v1/label/${label}/values?${range}`,
      t,
    );
    return (body.data as string[]).slice().sort();
  }
  const body = await getJson(
    `${opts.prometheusUrl}/api/v1/series?match[]=${
      encodeURIComponent(selector)
    }&${range}`,
    t,
  );
  const values = new Set<string>();
  for (const s of body.data as Array<Record<string, string>>) {
    if (s[label] !== undefined) values.add(s[label]);
  }
  return [...values].sort();
}

/**
 * Resolves a dashboard's template variables to what Grafana would select by
 * default: the saved current value, "All" as every option (or `allValue`),
 * and the first value of a query variable.
 */
export async function resolveVariables(
  dashboard: Json,
  opts: Pick<LiveOptions, "prometheusUrl" | "from" | "to" | "timeoutMs">,
): Promise<VariableValues> {
  const vars: VariableValues = {};
  const list =
    ((dashboard.templating as Json | undefined)?.list as Json[] | undefined) ??
      [];
  for (const v of list) {
    const name = String(v.name);
    const current = (v.current as Json | undefined)?.value;
    const cur = Array.isArray(current)
      ? current.map(String)
      : current === undefined
      ? []
      : [String(current)];
    const allValue = typeof v.allValue === "string" && v.allValue !== ""
      ? v.allValue
      : undefined;
    let options: string[];
    if (v.type === "custom") {
      options = String(v.query ?? "").split(",").map((s) => s.trim()).filter(
        Boolean,
      );
    } else if (v.type === "query") {
      const q = typeof v.query === "string"
        ? v.query
        : String((v.query as Json)?.query ?? "");
      options = await labelValues(interpolate(q, vars), opts);
    } else {
      options = cur;
    }
    const all = v.includeAll === true &&
      (cur.length === 0 || cur.includes("$__all"));
    if (all) vars[name] = { values: options, all: true, allValue };
    else if (
      cur.length > 0 &&
      cur.every((c) => options.includes(c) || v.type !== "query")
    ) {
      vars[name] = { values: cur, all: false };
    } else {vars[name] = {
        values: options.length > 0 ? [options[0]] : [""],
        all: false,
      };}
  }
  return vars;
}

/** Expands variables, built-ins and macros of a target's query. */
export function expandTarget(
  t: PanelTarget,
  vars: VariableValues,
  opts: LiveOptions,
): string {
  const q = interpolate(t.query, vars);
  if (t.datasource.type === "prometheus") {
    return expandPrometheusBuiltins(q, {
      intervalS: opts.intervalS,
      rateIntervalS: opts.rateIntervalS,
      rangeS: Math.round((opts.to.getTime() - opts.from.getTime()) / 1000),
    });
  }
  return expandClickHouseMacros(q, {
    from: opts.from,
    to: opts.to,
    intervalS: opts.intervalS,
  });
}

async function runPrometheus(
  t: PanelTarget,
  expr: string,
  opts: LiveOptions,
): Promise<TargetResult> {
  const to = opts.to.getTime() / 1000;
  const from = opts.from.getTime() / 1000;
  const url = t.instant
    ? `${opts.prometheusUrl}/api/v1/query?query=${
      encodeURIComponent(expr)
    }&time=${to}`
    : `${opts.prometheusUrl}/api/v1/query_range?query=${
      encodeURIComponent(expr)
    }&start=${from}&end=${to}&step=${opts.intervalS}`;
  const body = await getJson(url, opts.timeoutMs ?? 15_000);
  const data = body.data as { resultType: string; result: unknown };
  let series: Array<
    { value?: [number, string]; values?: Array<[number, string]> }
  > = [];
  if (data.resultType === "matrix" || data.resultType === "vector") {
    series = data.result as typeof series;
  } else if (data.resultType === "scalar") {
    series = [{ value: data.result as [number, string] }];
  }
  const values = series.flatMap((s) => s.values ?? (s.value ? [s.value] : []));
  return {
    target: t,
    executed: expr,
    ok: true,
    rows: series.length,
    hasData: values.some(([, v]) => v !== "NaN"),
  };
}

async function runClickHouse(
  t: PanelTarget,
  sql: string,
  opts: LiveOptions,
): Promise<TargetResult> {
  const params = new URLSearchParams({
    default_format: "JSONCompact",
    ...(opts.clickhouseSettings ?? CLICKHOUSE_DATASOURCE_SETTINGS),
  });
  const res = await fetch(`${opts.clickhouseUrl}/?${params}`, {
    method: "POST",
    headers: opts.clickhouseHeaders,
    body: sql,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`ClickHouse ${res.status}: ${text.trim().slice(0, 500)}`);
  }
  const body = JSON.parse(text) as {
    meta: Array<{ name: string }>;
    data: unknown[][];
  };
  if (t.format === 0 && !body.meta.some((c) => c.name === "time")) {
    throw new Error(
      `time series query returns no "time" column (columns: ${
        body.meta.map((c) => c.name).join(", ")
      })`,
    );
  }
  return {
    target: t,
    executed: sql,
    ok: true,
    rows: body.data.length,
    hasData: body.data.length > 0,
  };
}

/** Executes one target; errors become `ok: false` results, never throws. */
export async function runTarget(
  t: PanelTarget,
  vars: VariableValues,
  opts: LiveOptions,
): Promise<TargetResult> {
  const executed = expandTarget(t, vars, opts);
  try {
    return t.datasource.type === "prometheus"
      ? await runPrometheus(t, executed, opts)
      : await runClickHouse(t, executed, opts);
  } catch (err) {
    return {
      target: t,
      executed,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      rows: 0,
      hasData: false,
    };
  }
}
