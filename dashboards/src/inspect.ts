/**
 * Reads Grafana dashboard JSON the way Grafana would, for the tests that
 * prove the dashboards without a Grafana: structural validation (uids,
 * datasources, grid, variables), template variable interpolation, and the
 * ClickHouse plugin's macro expansion (same output as the plugin's
 * `pkg/macros`), so every panel query can be executed for real.
 *
 * @module
 */

/** A datasource Grafana provisions. */
export interface ProvisionedDatasource {
  uid: string;
  type: string;
  name: string;
}

/** One query of one panel, ready to execute. */
export interface PanelTarget {
  dashboardUid: string;
  panelId: number;
  panelTitle: string;
  panelType: string;
  refId: string;
  datasource: { type: string; uid: string };
  /** PromQL (`expr`) or SQL (`rawSql`). */
  query: string;
  /** Prometheus: instant query. */
  instant: boolean;
  /** ClickHouse: 0 = time series, 1 = table. */
  format?: number;
}

/** Built-in Grafana variables usable in Prometheus queries. */
export const PROMETHEUS_BUILTINS = [
  "__interval",
  "__interval_ms",
  "__rate_interval",
  "__range",
  "__range_s",
  "__range_ms",
] as const;

/** ClickHouse plugin macros that ClickHouse 18.16 can run. */
export const CLICKHOUSE_MACROS = [
  "__timeFilter",
  "__dateFilter",
  "__dateTimeFilter",
  "__dt",
  "__fromTime",
  "__toTime",
  "__interval_s",
] as const;

/**
 * Plugin macros that expand to functions ClickHouse 18.16 lacks
 * (`toStartOfInterval`, `fromUnixTimestamp64Milli`, DateTime64).
 */
export const CLICKHOUSE_MACROS_UNSUPPORTED_BY_18_16 = [
  "__timeInterval",
  "__timeInterval_ms",
  "__timeFilter_ms",
  "__fromTime_ms",
  "__toTime_ms",
] as const;

/**
 * Parses the datasources of a Grafana provisioning YAML. Only the flat
 * `- name/uid/type` keys of each list item are read (no YAML library is
 * reachable here, and the file is ours).
 */
export function parseProvisionedDatasources(
  yaml: string,
): ProvisionedDatasource[] {
  const out: ProvisionedDatasource[] = [];
  let cur: Partial<ProvisionedDatasource> | undefined;
  for (const raw of yaml.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "");
    const item = /^ {2}- (\w+):\s*(.+)$/.exec(line);
    const field = /^ {4}(\w+):\s*(.+)$/.exec(line);
    const kv = item ?? field;
    if (item) {
      if (cur) out.push(cur as ProvisionedDatasource);
      cur = {};
    }
    if (kv && cur) {
      const [, k, v] = kv;
      if (k === "uid" || k === "type" || k === "name") {
        cur[k] = v.trim().replace(/^["']|["']$/g, "");
      }
    }
  }
  if (cur) out.push(cur as ProvisionedDatasource);
  return out.filter((d) => d.uid && d.type);
}

type Json = Record<string, unknown>;

/** Every panel of a dashboard, including panels nested in collapsed rows. */
export function allPanels(dashboard: Json): Json[] {
  const out: Json[] = [];
  for (const p of (dashboard.panels as Json[] | undefined) ?? []) {
    out.push(p);
    for (const inner of (p.panels as Json[] | undefined) ?? []) out.push(inner);
  }
  return out;
}

/** Every query target of every (non-row) panel. */
export function panelTargets(dashboard: Json): PanelTarget[] {
  const out: PanelTarget[] = [];
  for (const p of allPanels(dashboard)) {
    if (p.type === "row") continue;
    const panelDs = p.datasource as { type: string; uid: string } | undefined;
    for (const t of (p.targets as Json[] | undefined) ?? []) {
      const ds = (t.datasource as { type: string; uid: string } | undefined) ??
        panelDs;
      if (!ds) continue;
      out.push({
        dashboardUid: String(dashboard.uid),
        panelId: Number(p.id),
        panelTitle: String(p.title),
        panelType: String(p.type),
        refId: String(t.refId),
        datasource: ds,
        query: String(t.expr ?? t.rawSql ?? ""),
        instant: t.instant === true,
        format: typeof t.format === "number" ? t.format : undefined,
      });
    }
  }
  return out;
}

/**
 * Variable references in a text: `$name`, `${name}`, `${name:format}`,
 * `[[name]]`. Built-ins and macros (`$__...`) are returned too.
 */
export function variableReferences(text: string): string[] {
  const names = new Set<string>();
  const re = /\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]/g;
  for (const m of text.matchAll(re)) names.add(m[1] ?? m[2] ?? m[3]);
  return [...names];
}

/** Problems found in one dashboard (empty = valid). */
export function validateDashboard(
  dashboard: Json,
  datasources: ProvisionedDatasource[],
): string[] {
  const problems: string[] = [];
  const where = `dashboard ${JSON.stringify(dashboard.uid ?? dashboard.title)}`;
  for (const key of ["uid", "title", "panels", "schemaVersion", "templating"]) {
    if (!(key in dashboard)) problems.push(`${where}: missing "${key}"`);
  }
  if (
    typeof dashboard.uid !== "string" || !/^[\w-]{1,40}$/.test(dashboard.uid)
  ) {
    problems.push(`${where}: uid must be 1-40 chars of [A-Za-z0-9_-]`);
  }
  if (Number(dashboard.schemaVersion) < 36) {
    problems.push(
      `${where}: schemaVersion ${dashboard.schemaVersion} is older than Grafana 9`,
    );
  }
  const byUid = new Map(datasources.map((d) => [d.uid, d]));
  const checkDs = (ds: unknown, what: string) => {
    const ref = ds as { type?: string; uid?: string } | undefined;
    if (!ref || typeof ref !== "object") {
      problems.push(
        `${where}: ${what} has no datasource reference (object with uid)`,
      );
      return;
    }
    const known = ref.uid ? byUid.get(ref.uid) : undefined;
    if (!known) {
      problems.push(
        `${where}: ${what} references datasource uid ${
          JSON.stringify(ref.uid)
        } that is not provisioned`,
      );
    } else if (ref.type && ref.type !== known.type) {
      problems.push(
        `${where}: ${what} says type ${ref.type} but datasource ${known.uid} is ${known.type}`,
      );
    }
  };

  // Template variables: defined once, in dependency order.
  const vars =
    ((dashboard.templating as Json | undefined)?.list as Json[] | undefined) ??
      [];
  const defined = new Set<string>();
  for (const v of vars) {
    const name = String(v.name);
    if (defined.has(name)) {
      problems.push(`${where}: variable $${name} defined twice`);
    }
    if (v.type === "query") {
      checkDs(v.datasource, `variable $${name}`);
      const q = typeof v.query === "string"
        ? v.query
        : String((v.query as Json)?.query ?? "");
      for (const ref of variableReferences(q)) {
        if (!defined.has(ref)) {
          problems.push(
            `${where}: variable $${name} uses $${ref}, which is not defined before it`,
          );
        }
      }
    } else if (v.type === "custom") {
      if (!String(v.query ?? "").trim()) {
        problems.push(`${where}: custom variable $${name} has no options`);
      }
    }
    defined.add(name);
  }

  // Panels: ids, grid, datasources, variables.
  const ids = new Set<number>();
  const rects: Array<
    { id: number; x: number; y: number; w: number; h: number }
  > = [];
  for (const p of allPanels(dashboard)) {
    const id = Number(p.id);
    const what = `panel ${id} ${JSON.stringify(p.title)}`;
    if (!Number.isInteger(id) || ids.has(id)) {
      problems.push(`${where}: ${what}: panel id missing or duplicated`);
    }
    ids.add(id);
    const g = p.gridPos as
      | { x: number; y: number; w: number; h: number }
      | undefined;
    if (!g || [g.x, g.y, g.w, g.h].some((n) => !Number.isInteger(n))) {
      problems.push(`${where}: ${what}: gridPos must have integer x, y, w, h`);
    } else {
      if (g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) {
        problems.push(
          `${where}: ${what}: gridPos ${
            JSON.stringify(g)
          } is outside the 24-column grid`,
        );
      }
      for (const r of rects) {
        if (
          g.x < r.x + r.w && r.x < g.x + g.w && g.y < r.y + r.h &&
          r.y < g.y + g.h
        ) {
          problems.push(`${where}: ${what} overlaps panel ${r.id}`);
        }
      }
      rects.push({ id, ...g });
    }
    if (p.type === "row") continue;
    if (!String(p.title ?? "").trim()) {
      problems.push(`${where}: ${what}: no title`);
    }
    checkDs(p.datasource, what);
    const targets = (p.targets as Json[] | undefined) ?? [];
    if (targets.length === 0) problems.push(`${where}: ${what}: no queries`);
    const refIds = new Set<string>();
    for (const t of targets) {
      const tw = `${what} target ${t.refId}`;
      if (refIds.has(String(t.refId))) {
        problems.push(`${where}: ${tw}: duplicate refId`);
      }
      refIds.add(String(t.refId));
      checkDs(t.datasource ?? p.datasource, tw);
      const ds = (t.datasource ?? p.datasource) as { type?: string };
      const query = String(t.expr ?? t.rawSql ?? "");
      if (!query.trim()) problems.push(`${where}: ${tw}: empty query`);
      const allowed: readonly string[] = ds?.type === "prometheus"
        ? PROMETHEUS_BUILTINS
        : CLICKHOUSE_MACROS;
      for (const ref of variableReferences(query)) {
        if (ref.startsWith("__")) {
          if (
            (CLICKHOUSE_MACROS_UNSUPPORTED_BY_18_16 as readonly string[])
              .includes(ref)
          ) {
            problems.push(
              `${where}: ${tw}: macro $${ref} expands to SQL that ClickHouse 18.16 cannot run`,
            );
          } else if (!allowed.includes(ref)) {
            problems.push(
              `${where}: ${tw}: unknown macro/built-in $${ref} for ${ds?.type}`,
            );
          }
        } else if (!defined.has(ref)) {
          problems.push(`${where}: ${tw}: uses undefined variable $${ref}`);
        }
      }
    }
  }
  return problems;
}

/** The current value(s) of each variable, as the test resolved them. */
export type VariableValues = Record<
  string,
  { values: string[]; all: boolean; allValue?: string }
>;

function formatValue(
  v: { values: string[]; all: boolean; allValue?: string },
  format: string | undefined,
): string {
  if (v.all && v.allValue !== undefined && format !== "singlequote") {
    return v.allValue;
  }
  const vals = v.values;
  switch (format) {
    case "singlequote":
      return vals.map((x) =>
        `'${x.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`
      ).join(",");
    case "doublequote":
      return vals.map((x) => `"${x.replace(/"/g, '\\"')}"`).join(",");
    case "csv":
      return vals.join(",");
    case "pipe":
      return vals.join("|");
    case "regex":
    default:
      // Grafana's default for multi-values in Prometheus is a regex group.
      if (vals.length === 1) {
        return format === "regex" ? escapeRegex(vals[0]) : vals[0];
      }
      return `(${vals.map(escapeRegex).join("|")})`;
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/**
 * Interpolates dashboard variables (not `$__` built-ins/macros) like Grafana:
 * `$var`, `${var}`, `${var:format}`, `[[var]]`. Unknown variables are left.
 */
export function interpolate(text: string, vars: VariableValues): string {
  return text.replace(
    /\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)(?::(\w+))?\]\]/g,
    (m, a, fa, b, c, fc) => {
      const name = a ?? b ?? c;
      if (name.startsWith("__")) return m;
      const v = vars[name];
      return v ? formatValue(v, fa ?? fc) : m;
    },
  );
}

/** Replaces Prometheus built-ins (`$__rate_interval`...) with fixed values. */
export function expandPrometheusBuiltins(
  expr: string,
  opts: { intervalS: number; rateIntervalS: number; rangeS: number },
): string {
  return expr
    .replaceAll("$__rate_interval", `${opts.rateIntervalS}s`)
    .replaceAll("${__rate_interval}", `${opts.rateIntervalS}s`)
    .replaceAll("$__interval_ms", `${opts.intervalS * 1000}`)
    .replaceAll("$__interval", `${opts.intervalS}s`)
    .replaceAll("${__interval}", `${opts.intervalS}s`)
    .replaceAll("$__range_s", `${opts.rangeS}`)
    .replaceAll("$__range_ms", `${opts.rangeS * 1000}`)
    .replaceAll("$__range", `${opts.rangeS}s`);
}

/** Splits macro arguments at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/**
 * Expands the ClickHouse plugin's macros exactly as its Go code does
 * (`pkg/macros/macros.go`): times in whole UTC seconds.
 */
export function expandClickHouseMacros(
  sql: string,
  opts: { from: Date; to: Date; intervalS: number },
): string {
  const from = Math.floor(opts.from.getTime() / 1000);
  const to = Math.floor(opts.to.getTime() / 1000);
  const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;
  const fns: Record<string, (args: string[]) => string> = {
    timeFilter: ([c]) =>
      `${c} >= toDateTime(${from}) AND ${c} <= toDateTime(${to})`,
    dateFilter: ([c]) =>
      `${c} >= ${date(opts.from)} AND ${c} <= ${date(opts.to)}`,
    dateTimeFilter: ([d, t]) =>
      `(${d} >= ${date(opts.from)} AND ${d} <= ${
        date(opts.to)
      }) AND (${t} >= toDateTime(${from}) AND ${t} <= toDateTime(${to}))`,
    timeInterval: ([c]) =>
      `toStartOfInterval(toDateTime(${c}), INTERVAL ${
        Math.max(opts.intervalS, 1)
      } second)`,
  };
  fns.dt = fns.dateTimeFilter;
  let out = "";
  let i = 0;
  const re = /\$__(\w+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(sql)) !== null) {
    out += sql.slice(i, m.index);
    const name = m[1];
    i = re.lastIndex;
    if (fns[name] && sql[i] === "(") {
      let depth = 0;
      let j = i;
      for (; j < sql.length; j++) {
        if (sql[j] === "(") depth++;
        if (sql[j] === ")" && --depth === 0) break;
      }
      out += fns[name](splitArgs(sql.slice(i + 1, j)));
      i = j + 1;
      re.lastIndex = i;
    } else if (name === "fromTime") out += `toDateTime(${from})`;
    else if (name === "toTime") out += `toDateTime(${to})`;
    else if (name === "interval_s") {
      out += String(Math.max(Math.floor(opts.intervalS), 1));
    } else out += m[0];
  }
  return out + sql.slice(i);
}

const PROMQL_WORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/**
 * Metric names a PromQL expression reads (functions, keywords, label names
 * and string literals removed). Good enough for our dashboards' queries.
 */
export function promqlMetricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(
      /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
      " ",
    );
  const names = new Set<string>();
  const re =
    /(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g;
  for (const m of s.matchAll(re)) {
    if (m[1] !== undefined || m[3] !== undefined) continue; // number or function
    const w = m[2];
    if (PROMQL_WORDS.has(w.toLowerCase())) continue;
    names.add(w);
  }
  return [...names];
}

/** Tables (`db.table`) a ClickHouse query reads, lower-cased. */
export function sqlTables(sql: string): string[] {
  const names = new Set<string>();
  for (
    const m of sql.matchAll(/\b(?:FROM|JOIN)\s+([a-z_][\w]*\.[a-z_][\w]*)/gi)
  ) {
    names.add(m[1].toLowerCase());
  }
  for (
    const m of sql.matchAll(
      /\b(?:remote|cluster)\('[^']*',\s*([a-z_][\w]*\.[a-z_][\w]*)\)/gi,
    )
  ) {
    names.add(m[1].toLowerCase());
  }
  return [...names];
}
