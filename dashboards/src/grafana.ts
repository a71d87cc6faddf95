/**
 * A tiny builder for Grafana 10/11 dashboard JSON (schemaVersion 39): panels
 * are described by what they show (queries, unit, legend) and laid out
 * left-to-right, top-to-bottom on the 24-column grid, so positions can never
 * overlap and every panel references a provisioned datasource by uid.
 *
 * @module
 */

/** uid of the provisioned Prometheus datasource. */
export const PROMETHEUS_UID = "prometheus";
/** uid of the provisioned ClickHouse datasource (official plugin). */
export const CLICKHOUSE_UID = "clickhouse";
/** Plugin id of the official ClickHouse datasource. */
export const CLICKHOUSE_TYPE = "grafana-clickhouse-datasource";

/** A datasource reference as Grafana stores it. */
export interface DatasourceRef {
  type: string;
  uid: string;
}

/** The Prometheus datasource reference. */
export const PROM: DatasourceRef = { type: "prometheus", uid: PROMETHEUS_UID };
/** The ClickHouse datasource reference. */
export const CH: DatasourceRef = { type: CLICKHOUSE_TYPE, uid: CLICKHOUSE_UID };

/** A PromQL query of a panel. */
export interface PromQuery {
  expr: string;
  /** Legend template, e.g. `{{job}}`. */
  legend?: string;
  /** Instant query (stat/table panels showing "now"). */
  instant?: boolean;
}

/** A ClickHouse SQL query of a panel (plugin macros allowed). */
export interface ChQuery {
  sql: string;
  /** `timeseries` needs a `time` column; `table` is anything. */
  format: "timeseries" | "table";
}

/** A query of either datasource. */
export type Query = PromQuery | ChQuery;

function isCh(q: Query): q is ChQuery {
  return "sql" in q;
}

/** Options common to every panel. */
export interface PanelSpec {
  title: string;
  /** What the operator should read from the panel (shown as the (i) tooltip). */
  description: string;
  queries: Query[];
  /** Grafana unit id (`ops`, `s`, `ms`, `bytes`, `percentunit`, `short`...). */
  unit?: string;
  /** Width in grid columns (1..24), default 12. */
  w?: number;
  /** Height in grid rows, default 8. */
  h?: number;
  /** Threshold steps: the first value is the base color. */
  thresholds?: Array<{ color: string; value: number | null }>;
  /** Decimals to show. */
  decimals?: number;
  /** Minimum of the axis/scale. */
  min?: number;
  /** Maximum of the axis/scale. */
  max?: number;
  /** Value mappings (e.g. 1 → UP). */
  mappings?: unknown[];
  /** Field overrides (Grafana JSON). */
  overrides?: unknown[];
  /** Transformations (Grafana JSON). */
  transformations?: unknown[];
}

/** Panel kinds the builder supports. */
export type PanelKind =
  | "timeseries"
  | "stat"
  | "table"
  | "bargauge"
  | "piechart"
  | "barchart";

/** A panel before layout. */
export interface PanelDef extends PanelSpec {
  kind: PanelKind;
  /** Timeseries style. */
  stack?: boolean;
  bars?: boolean;
  /** Stat panel: color the background instead of the value. */
  colorBackground?: boolean;
  /** Stat panel: show a sparkline. */
  sparkline?: boolean;
}

/** A collapsible-looking section header (a Grafana row, always expanded). */
export interface RowDef {
  kind: "row";
  title: string;
}

/** Anything placed on the grid. */
export type Item = PanelDef | RowDef;

/** A template variable of a dashboard. */
export type Variable =
  | {
    kind: "query";
    name: string;
    label: string;
    /** Prometheus variable query, e.g. `label_values(up, job)`. */
    query: string;
    multi?: boolean;
    includeAll?: boolean;
    /** Value of "All" (default: every option joined). */
    allValue?: string;
  }
  | {
    kind: "custom";
    name: string;
    label: string;
    options: string[];
    multi?: boolean;
    includeAll?: boolean;
    /** Default selection (default: All when includeAll, else the first). */
    current?: string;
  };

/** A dashboard before rendering. */
export interface DashboardDef {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  variables?: Variable[];
  items: Item[];
  /** Default time range, e.g. `now-30m`. */
  from?: string;
  refresh?: string;
}

/** Short constructors, so dashboard files read like a list of panels. */
export const panel = {
  timeseries: (
    s: PanelSpec & { stack?: boolean; bars?: boolean },
  ): PanelDef => ({
    kind: "timeseries",
    ...s,
  }),
  stat: (
    s: PanelSpec & { colorBackground?: boolean; sparkline?: boolean },
  ): PanelDef => ({ kind: "stat", w: 4, h: 4, ...s }),
  table: (s: PanelSpec): PanelDef => ({ kind: "table", ...s }),
  bargauge: (s: PanelSpec): PanelDef => ({ kind: "bargauge", ...s }),
  piechart: (s: PanelSpec): PanelDef => ({ kind: "piechart", ...s }),
  barchart: (s: PanelSpec): PanelDef => ({ kind: "barchart", ...s }),
  row: (title: string): RowDef => ({ kind: "row", title }),
};

/** Grafana JSON of a dashboard (plain data). */
export type DashboardJson = Record<string, unknown> & {
  uid: string;
  title: string;
  panels: Array<Record<string, unknown>>;
};

const GRID_WIDTH = 24;

/** Places items on the grid: rows take a full line, panels flow left to right. */
export function layout(
  items: Item[],
): Array<{ item: Item; x: number; y: number; w: number; h: number }> {
  const out: Array<{ item: Item; x: number; y: number; w: number; h: number }> =
    [];
  let x = 0;
  let y = 0;
  let lineHeight = 0;
  const newLine = () => {
    y += lineHeight;
    x = 0;
    lineHeight = 0;
  };
  for (const item of items) {
    if (item.kind === "row") {
      if (x > 0) newLine();
      out.push({ item, x: 0, y, w: GRID_WIDTH, h: 1 });
      y += 1;
      continue;
    }
    const w = Math.min(item.w ?? 12, GRID_WIDTH);
    const h = item.h ?? 8;
    if (x + w > GRID_WIDTH) newLine();
    out.push({ item, x, y, w, h });
    x += w;
    lineHeight = Math.max(lineHeight, h);
  }
  return out;
}

function target(q: Query, refId: string): Record<string, unknown> {
  if (isCh(q)) {
    return {
      datasource: CH,
      editorType: "sql",
      // Plugin v4: format 0 = time series, 1 = table (sqlutil.FormatQueryOption);
      // queryType drives the editor ("timeSeries" / "table").
      format: q.format === "timeseries" ? 0 : 1,
      queryType: q.format === "timeseries" ? "timeSeries" : "table",
      rawSql: q.sql,
      refId,
    };
  }
  return {
    datasource: PROM,
    editorMode: "code",
    expr: q.expr,
    legendFormat: q.legend ?? "__auto",
    range: !q.instant,
    instant: q.instant ?? false,
    refId,
  };
}

function fieldDefaults(p: PanelDef): Record<string, unknown> {
  const d: Record<string, unknown> = {
    color: p.kind === "stat" || p.kind === "bargauge"
      ? { mode: "thresholds" }
      : { mode: "palette-classic" },
    mappings: p.mappings ?? [],
    thresholds: {
      mode: "absolute",
      steps: p.thresholds ?? [{ color: "green", value: null }],
    },
  };
  if (p.unit) d.unit = p.unit;
  if (p.decimals !== undefined) d.decimals = p.decimals;
  if (p.min !== undefined) d.min = p.min;
  if (p.max !== undefined) d.max = p.max;
  if (p.kind === "timeseries") {
    d.custom = {
      drawStyle: p.bars ? "bars" : "line",
      lineWidth: 1,
      fillOpacity: p.stack || p.bars ? 60 : 10,
      gradientMode: "none",
      showPoints: "never",
      spanNulls: false,
      stacking: { mode: p.stack ? "normal" : "none", group: "A" },
      axisPlacement: "auto",
      thresholdsStyle: { mode: p.thresholds ? "dashed" : "off" },
    };
  }
  if (p.kind === "table") {
    d.custom = {
      align: "auto",
      cellOptions: { type: "auto" },
      filterable: true,
    };
  }
  return d;
}

function options(p: PanelDef): Record<string, unknown> {
  // A ClickHouse table of (label, value) rows: one bar/slice per row.
  const perRow = p.queries.some((q) => isCh(q) && q.format === "table");
  const legend = {
    showLegend: true,
    displayMode: "table",
    placement: "bottom",
    calcs: ["mean", "max", "lastNotNull"],
  };
  switch (p.kind) {
    case "timeseries":
      return { legend, tooltip: { mode: "multi", sort: "desc" } };
    case "stat":
      return {
        reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
        colorMode: p.colorBackground ? "background" : "value",
        graphMode: p.sparkline ? "area" : "none",
        justifyMode: "auto",
        orientation: "auto",
        textMode: "auto",
        wideLayout: true,
        showPercentChange: false,
      };
    case "table":
      return {
        showHeader: true,
        cellHeight: "sm",
        footer: { show: false, reducer: ["sum"], fields: "" },
      };
    case "bargauge":
      return {
        reduceOptions: { calcs: ["lastNotNull"], fields: "", values: perRow },
        orientation: "horizontal",
        displayMode: "gradient",
        showUnfilled: true,
        valueMode: "color",
        namePlacement: "auto",
        sizing: "auto",
        minVizHeight: 16,
        minVizWidth: 8,
        maxVizHeight: 300,
      };
    case "piechart":
      return {
        reduceOptions: { calcs: ["sum"], fields: "", values: perRow },
        pieType: "donut",
        legend: {
          showLegend: true,
          displayMode: "table",
          placement: "right",
          values: ["value", "percent"],
        },
        tooltip: { mode: "single", sort: "none" },
      };
    case "barchart":
      return {
        orientation: "auto",
        stacking: "normal",
        showValue: "never",
        groupWidth: 0.7,
        barWidth: 0.9,
        xTickLabelRotation: 0,
        legend: {
          showLegend: true,
          displayMode: "list",
          placement: "bottom",
          calcs: [],
        },
        tooltip: { mode: "multi", sort: "desc" },
      };
  }
}

function variableJson(v: Variable): Record<string, unknown> {
  if (v.kind === "custom") {
    const all = v.includeAll ? [{ text: "All", value: "$__all" }] : [];
    const opts = [
      ...all,
      ...v.options.map((o) => ({ text: o, value: o })),
    ];
    const cur = v.current ?? (v.includeAll ? "$__all" : v.options[0]);
    const curText = cur === "$__all" ? "All" : cur;
    return {
      type: "custom",
      name: v.name,
      label: v.label,
      query: v.options.join(","),
      multi: v.multi ?? false,
      includeAll: v.includeAll ?? false,
      current: {
        selected: true,
        text: v.multi ? [curText] : curText,
        value: v.multi ? [cur] : cur,
      },
      options: opts.map((o) => ({ ...o, selected: o.value === cur })),
      hide: 0,
      skipUrlSync: false,
    };
  }
  return {
    type: "query",
    name: v.name,
    label: v.label,
    datasource: PROM,
    definition: v.query,
    query: { query: v.query, refId: `${v.name}-var` },
    refresh: 2,
    sort: 1,
    regex: "",
    multi: v.multi ?? false,
    includeAll: v.includeAll ?? false,
    ...(v.allValue !== undefined ? { allValue: v.allValue } : {}),
    current: v.includeAll
      ? { selected: true, text: ["All"], value: ["$__all"] }
      : {},
    options: [],
    hide: 0,
    skipUrlSync: false,
  };
}

/** Renders a dashboard definition to Grafana JSON. */
export function renderDashboard(def: DashboardDef): DashboardJson {
  let id = 0;
  const panels = layout(def.items).map(({ item, x, y, w, h }) => {
    id += 1;
    const gridPos = { h, w, x, y };
    if (item.kind === "row") {
      return {
        id,
        type: "row",
        title: item.title,
        collapsed: false,
        gridPos,
        panels: [],
      };
    }
    const ds = item.queries.length > 0 && isCh(item.queries[0]) ? CH : PROM;
    const refIds = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const p: Record<string, unknown> = {
      id,
      type: item.kind,
      title: item.title,
      description: item.description,
      datasource: ds,
      gridPos,
      fieldConfig: {
        defaults: fieldDefaults(item),
        overrides: item.overrides ?? [],
      },
      options: options(item),
      targets: item.queries.map((q, i) => target(q, refIds[i])),
    };
    if (item.transformations) p.transformations = item.transformations;
    return p;
  });
  return {
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: "grafana", uid: "-- Grafana --" },
        enable: true,
        hide: true,
        iconColor: "rgba(0, 211, 255, 1)",
        name: "Annotations & Alerts",
        type: "dashboard",
      }],
    },
    description: def.description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [{
      asDropdown: true,
      icon: "external link",
      includeVars: false,
      keepTime: true,
      tags: ["deno-pipelines"],
      targetBlank: false,
      title: "Dashboards",
      type: "dashboards",
    }],
    panels,
    refresh: def.refresh ?? "10s",
    schemaVersion: 39,
    tags: ["deno-pipelines", ...def.tags],
    templating: { list: (def.variables ?? []).map(variableJson) },
    time: { from: def.from ?? "now-30m", to: "now" },
    timepicker: {},
    timezone: "browser",
    title: def.title,
    uid: def.uid,
    version: 1,
    weekStart: "",
  };
}

/** Threshold steps: green below `warn`, orange to `crit`, red above. */
export function traffic(
  warn: number,
  crit: number,
): Array<{ color: string; value: number | null }> {
  return [
    { color: "green", value: null },
    { color: "orange", value: warn },
    { color: "red", value: crit },
  ];
}

/** Value mapping 0 → DOWN (red), 1 → UP (green). */
export const UP_DOWN = [{
  type: "value",
  options: {
    "0": { text: "DOWN", color: "red", index: 0 },
    "1": { text: "UP", color: "green", index: 1 },
  },
}];

/**
 * Time bucket of a DateTime column for ClickHouse time series. The plugin's
 * `$__timeInterval(col)` expands to `toStartOfInterval`, which ClickHouse
 * 18.16 lacks, so buckets are computed with integer division instead.
 */
export function chBucket(col: string): string {
  return `toDateTime(intDiv(toUInt32(${col}), $__interval_s) * $__interval_s)`;
}
