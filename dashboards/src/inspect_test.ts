import assert from "node:assert/strict";
import {
  expandClickHouseMacros,
  expandPrometheusBuiltins,
  interpolate,
  parseProvisionedDatasources,
  promqlMetricNames,
  sqlTables,
  validateDashboard,
  variableReferences,
} from "./inspect.ts";
import { needsPermissions } from "../../tests/_gate.ts";
import { layout, panel, renderDashboard } from "./grafana.ts";

const DS = [
  { uid: "prometheus", type: "prometheus", name: "Prometheus" },
  {
    uid: "clickhouse",
    type: "grafana-clickhouse-datasource",
    name: "ClickHouse",
  },
];

Deno.test("ClickHouse macros expand like the plugin's Go code", () => {
  const from = new Date("2026-11-21T10:00:00Z");
  const to = new Date("2026-11-21T11:00:00Z");
  const sql = expandClickHouseMacros(
    "SELECT toDateTime(intDiv(toUInt32(t), $__interval_s) * $__interval_s) AS time FROM x " +
      "WHERE $__timeFilter(t) AND d >= $__fromTime AND d <= $__toTime AND $__dateFilter(day)",
    { from, to, intervalS: 15.7 },
  );
  assert.equal(
    sql,
    "SELECT toDateTime(intDiv(toUInt32(t), 15) * 15) AS time FROM x " +
      "WHERE t >= toDateTime(1795255200) AND t <= toDateTime(1795258800) " +
      "AND d >= toDateTime(1795255200) AND d <= toDateTime(1795258800) " +
      "AND day >= toDate('2026-11-21') AND day <= toDate('2026-11-21')",
  );
  // Nested parentheses in a macro argument.
  assert.equal(
    expandClickHouseMacros("$__timeFilter(toDateTime(ts))", {
      from,
      to,
      intervalS: 1,
    }),
    "toDateTime(ts) >= toDateTime(1795255200) AND toDateTime(ts) <= toDateTime(1795258800)",
  );
});

Deno.test("variables interpolate with Grafana's formats", () => {
  const vars = {
    service: { values: ["auth", "order"], all: true },
    pipeline: { values: ["sink", "cdc"], all: true, allValue: ".*" },
    n: { values: ["10"], all: false },
  };
  assert.equal(
    interpolate(
      "service IN (${service:singlequote}) AND n >= ${n} AND $n",
      vars,
    ),
    "service IN ('auth','order') AND n >= 10 AND 10",
  );
  assert.equal(
    interpolate(`x{pipeline=~"$pipeline"}`, vars),
    `x{pipeline=~".*"}`,
  );
  assert.equal(
    interpolate("$__interval_s $unknown", vars),
    "$__interval_s $unknown",
  );
  assert.deepEqual(variableReferences("a $x ${y:csv} [[z]] $__range"), [
    "x",
    "y",
    "z",
    "__range",
  ]);
  assert.equal(
    expandPrometheusBuiltins("rate(x[$__rate_interval]) offset $__interval", {
      intervalS: 5,
      rateIntervalS: 20,
      rangeS: 300,
    }),
    "rate(x[20s]) offset 5s",
  );
});

Deno.test("metric names and tables are extracted from queries", () => {
  assert.deepEqual(
    promqlMetricNames(
      `histogram_quantile(0.99, sum by (le, table) (rate(sink_insert_duration_seconds_bucket{job="sink"}[20s]))) / 1e6`,
    ),
    ["sink_insert_duration_seconds_bucket"],
  );
  assert.deepEqual(
    promqlMetricNames(
      `up{job="x"} == 0 and on (job, instance) max_over_time(up[1h]) == 1 or vector(0)`,
    ),
    ["up"],
  );
  assert.deepEqual(
    promqlMetricNames(`time() - max(sink_last_insert_timestamp_seconds)`),
    ["sink_last_insert_timestamp_seconds"],
  );
  assert.deepEqual(
    sqlTables(
      "SELECT 1 FROM analytics.fact_log JOIN analytics.x ON 1 UNION ALL SELECT 2 FROM remote('a:1,b:2', system.replicas)",
    ),
    ["analytics.fact_log", "analytics.x", "system.replicas"],
  );
  assert.deepEqual(
    sqlTables("SELECT 1 FROM cluster('all_nodes', system.macros)"),
    ["system.macros"],
  );
});

Deno.test(
  "provisioned datasources are parsed from the YAML",
  needsPermissions({ name: "read", path: "dashboards" }),
  () => {
    const yaml = Deno.readTextFileSync(
      new URL(
        "../grafana/provisioning/datasources/datasources.yml",
        import.meta.url,
      ),
    );
    const ds = parseProvisionedDatasources(yaml);
    assert.deepEqual(ds.map((d) => [d.uid, d.type]), [
      ["prometheus", "prometheus"],
      ["clickhouse", "grafana-clickhouse-datasource"],
    ]);
  },
);

Deno.test("layout never overlaps and wraps at 24 columns", () => {
  const items = [
    panel.row("a"),
    ...Array.from(
      { length: 7 },
      (_, i) => panel.stat({ title: `s${i}`, description: "", queries: [] }),
    ),
    panel.timeseries({ title: "t", description: "", w: 16, queries: [] }),
    panel.row("b"),
  ];
  const placed = layout(items);
  assert.deepEqual(placed.map((p) => [p.x, p.y, p.w]), [
    [0, 0, 24],
    [0, 1, 4],
    [4, 1, 4],
    [8, 1, 4],
    [12, 1, 4],
    [16, 1, 4],
    [20, 1, 4],
    [0, 5, 4],
    [4, 5, 16],
    [0, 13, 24],
  ]);
});

Deno.test("validation catches what Grafana would choke on", () => {
  const good = renderDashboard({
    uid: "u",
    title: "T",
    description: "",
    tags: [],
    variables: [{ kind: "custom", name: "svc", label: "S", options: ["a"] }],
    items: [
      panel.stat({
        title: "p",
        description: "",
        queries: [{ expr: 'up{x="$svc"}' }],
      }),
      panel.table({
        title: "c",
        description: "",
        queries: [{ format: "table", sql: "SELECT 1 WHERE $__timeFilter(t)" }],
      }),
    ],
  });
  assert.deepEqual(validateDashboard(good, DS), []);

  const bad = structuredClone(good) as typeof good;
  type P = {
    gridPos: object;
    targets: Array<Record<string, string>>;
    datasource: unknown;
  };
  const [p1, p2] = bad.panels as unknown as P[];
  p1.gridPos = { ...p2.gridPos };
  p1.targets[0].expr = 'up{x="$nope"}';
  p2.targets[0].rawSql = "SELECT $__timeInterval(t)";
  p2.datasource = { type: "grafana-clickhouse-datasource", uid: "missing" };
  const problems = validateDashboard(bad, DS).join("\n");
  assert.match(problems, /overlaps panel 1/);
  assert.match(problems, /undefined variable \$nope/);
  assert.match(
    problems,
    /\$__timeInterval expands to SQL that ClickHouse 18\.16 cannot run/,
  );
  assert.match(problems, /uid "missing" that is not provisioned/);
});
