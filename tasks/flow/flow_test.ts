import assert from "node:assert/strict";
import { freshnessFromScrape, histogramQuantile } from "./freshness.ts";
import { renderView, stageLines } from "./live_view.ts";
import { FLOW_PORTS, flowPlan, withSecrets } from "./plan.ts";
import {
  compareIds,
  rangeCondition,
  rangeCount,
  renderChecks,
  type RunManifest,
} from "./reconcile.ts";
import { parsePromText } from "./prom_text.ts";

const settings = {
  runId: "r1",
  runDir: ".data/runs/r1",
  rate: 2000,
  cdcRate: 200,
};

Deno.test("the plan runs every stage once, on distinct metrics ports, consumers first", () => {
  const plan = flowPlan(settings);
  assert.deepEqual(
    plan.map((p) => p.name).sort(),
    Object.keys(FLOW_PORTS).sort(),
  );
  const ports = plan.map((p) => p.env?.METRICS_PORT);
  assert.equal(new Set(ports).size, plan.length);
  assert.ok(
    plan.findIndex((p) => p.name === "sink") <
      plan.findIndex((p) => p.name.startsWith("generator")),
  );
  const sec = plan.find((p) => p.name === "generator-security")!;
  assert.ok(sec.args.includes("1000"), "security gets half the rate");
  const shipper = plan.find((p) => p.name === "shipper")!;
  assert.ok(shipper.args.includes(".data/runs/r1/events/*.ndjson"));
});

Deno.test("the children get their passwords in the environment, never in ps-visible arguments", () => {
  const secret = "s3cret-Pw_1234567890";
  const plan = withSecrets(flowPlan(settings), {
    CLICKHOUSE_PASSWORD: secret,
    PGPASSWORD: secret,
  });
  for (const p of plan) {
    const argv = [p.task, ...p.args].join(" ");
    assert.ok(!argv.includes(secret), `${p.name}: ${argv}`);
    assert.doesNotMatch(argv, /password/i, p.name);
    assert.equal(p.env?.CLICKHOUSE_PASSWORD, secret, p.name);
    assert.ok(p.env?.METRICS_PORT, `${p.name} keeps its own env`);
  }
});

Deno.test("live view sums metrics per stage and computes rates", () => {
  const scrapes = {
    "generator-security": parsePromText(
      'generator_events_total{kind="security",topic="file"} 100',
    ),
    shipper: parsePromText(
      "shipper_events_sent_total 90\nshipper_checkpoint_lag_bytes 0\nshipper_dead_letters_total 1",
    ),
    sink: undefined,
  };
  const lines = stageLines(scrapes);
  assert.equal(lines[0].total, 100);
  assert.equal(lines.find((l) => l.stage.startsWith("shipper"))!.total, 90);
  assert.equal(
    lines.find((l) => l.stage.startsWith("sink Kafka → ClickHouse"))!.up,
    false,
  );
  const prev = new Map([["generate security → files", 50]]);
  const text = renderView(lines, prev, 10, 1);
  assert.match(text, /generate security → files\s+50\/s\s+100 total/);
  assert.match(text, /! sink Kafka → ClickHouse/);
});

Deno.test("histogram quantiles interpolate inside buckets", () => {
  const buckets = [{ le: 0.5, count: 50 }, { le: 1, count: 90 }, {
    le: 2,
    count: 100,
  }, { le: Infinity, count: 100 }];
  assert.equal(histogramQuantile(0.5, buckets), 0.5);
  assert.ok(Math.abs(histogramQuantile(0.99, buckets) - 1.9) < 1e-9);
  assert.ok(Number.isNaN(histogramQuantile(0.5, [])));
  const f = freshnessFromScrape({
    sink: parsePromText([
      'sink_event_freshness_seconds_bucket{table="security_events",le="1"} 10',
      'sink_event_freshness_seconds_bucket{table="security_events",le="2"} 20',
      'sink_event_freshness_seconds_bucket{table="security_events",le="+Inf"} 20',
    ].join("\n")),
  });
  assert.equal(f.security_events.count, 20);
  assert.equal(f.security_events.p50, 1);
});

Deno.test("id comparison finds missing, unexpected and duplicate events", () => {
  const expected = new Set(["a", "b", "c"]);
  const ok = compareIds("x", expected, ["a", "b", "c"]);
  assert.ok(ok.every((c) => c.ok));
  const bad = compareIds("x", expected, ["a", "a", "d"]);
  assert.equal(bad[0].ok, false);
  assert.match(bad[0].detail!, /2 missing, 1 unexpected/);
  assert.equal(bad[1].actual, 1);
  assert.equal(bad[1].ok, false);
  assert.ok(
    compareIds("x", expected, ["a", "a", "b", "c"], { duplicatesAllowed: true })
      .every((c) => c.ok),
  );
  assert.match(renderChecks(bad), /FAIL: 2 of 2 checks failed/);
});

Deno.test("run ranges select exactly the run's offsets", () => {
  const m = {
    before: { t: { 0: 5, 1: 0 } },
    after: { t: { 0: 8, 1: 0, 2: 4 } },
  } as unknown as RunManifest;
  assert.equal(rangeCount(m, "t"), 7);
  const cond = rangeCondition(m, ["t", "missing"]);
  assert.match(cond, /_partition = 0 AND _offset >= 5 AND _offset < 8/);
  assert.match(cond, /_partition = 2 AND _offset >= 0 AND _offset < 4/);
  assert.doesNotMatch(cond, /_partition = 1/);
  assert.equal(rangeCondition(m, ["missing"]), "0");
});
