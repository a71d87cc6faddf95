/**
 * Issue 7, "proof, not pictures": Grafana cannot run here, so the dashboards
 * are proven by (1) validating their JSON the way Grafana reads it and (2)
 * running every panel's query against the live Prometheus and ClickHouse
 * after a short run of all four pipelines, asserting that none fails and
 * that every panel fed by those pipelines returns data.
 *
 * Run: deno test --allow-all tests/dashboards_test.ts   (~1 min, needs `deno task up`)
 */
import assert from "node:assert/strict";
import { DASHBOARD_DIR, DASHBOARDS, renderAll } from "../dashboards/src/mod.ts";
import {
  panelTargets,
  parseProvisionedDatasources,
  promqlMetricNames,
  sqlTables,
  validateDashboard,
} from "../dashboards/src/inspect.ts";
import {
  CLICKHOUSE_DATASOURCE_SETTINGS,
  type LiveOptions,
  resolveVariables,
  runTarget,
  type TargetResult,
} from "../dashboards/src/live.ts";
import {
  chHeaders,
  CLUSTER_READY,
  deleteTopics,
  ensureTopics,
  pollUntil,
  ROOT,
  startTask,
  type TaskProcess,
  tempDataDir,
  testKafka,
  testPg,
} from "./_helpers.ts";
import {
  knownMetricProblems,
  livePrometheusNames,
  PROMETHEUS,
  promQuery,
} from "./_observability.ts";

const CLICKHOUSE = "http://127.0.0.1:18120";

async function loadDashboards(): Promise<
  Array<{ file: string; json: Record<string, unknown> }>
> {
  const out = [];
  for await (const e of Deno.readDir(`${ROOT}${DASHBOARD_DIR}`)) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const text = await Deno.readTextFile(`${ROOT}${DASHBOARD_DIR}/${e.name}`);
    let json;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`${e.name} is not valid JSON: ${(err as Error).message}`);
    }
    out.push({ file: e.name, json });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

const datasources = CLUSTER_READY
  ? parseProvisionedDatasources(
    Deno.readTextFileSync(
      `${ROOT}dashboards/grafana/provisioning/datasources/datasources.yml`,
    ),
  )
  : [];

Deno.test("dashboard JSON is valid Grafana: uids, datasources, grid, variables", async () => {
  assert.deepEqual(
    datasources.map((d) => `${d.uid}:${d.type}`).sort(),
    ["clickhouse:grafana-clickhouse-datasource", "prometheus:prometheus"],
  );
  const dashboards = await loadDashboards();
  assert.deepEqual(
    dashboards.map((d) => d.file),
    Object.keys(DASHBOARDS).map((n) => `${n}.json`).sort(),
    "every rendered dashboard is provisioned, and nothing else is in the folder",
  );
  const uids = new Set<string>();
  const titles = new Set<string>();
  const problems: string[] = [];
  for (const { file, json } of dashboards) {
    for (const p of validateDashboard(json, datasources)) {
      problems.push(`${file}: ${p}`);
    }
    assert.ok(
      !uids.has(String(json.uid)),
      `duplicate dashboard uid ${json.uid}`,
    );
    assert.ok(
      !titles.has(String(json.title)),
      `duplicate dashboard title ${json.title}`,
    );
    uids.add(String(json.uid));
    titles.add(String(json.title));
  }
  assert.deepEqual(problems, []);
  // The committed JSON is exactly what the definitions render (no hand edits lost).
  const rendered = renderAll();
  for (const { file } of dashboards) {
    const onDisk = await Deno.readTextFile(`${ROOT}${DASHBOARD_DIR}/${file}`);
    assert.equal(
      onDisk,
      rendered[file],
      `${file} is stale: run deno run --allow-read=dashboards --allow-write=dashboards/grafana/dashboards dashboards/build.ts`,
    );
  }
  // The settings the live test sends are the datasource's customSettings.
  const dsYaml = await Deno.readTextFile(
    `${ROOT}dashboards/grafana/provisioning/datasources/datasources.yml`,
  );
  for (const [k, v] of Object.entries(CLICKHOUSE_DATASOURCE_SETTINGS)) {
    assert.match(dsYaml, new RegExp(`setting: ${k}\\s+value: "${v}"`));
  }
  // The dashboard provider points Grafana at the folder compose mounts.
  const provider = await Deno.readTextFile(
    `${ROOT}dashboards/grafana/provisioning/dashboards/dashboards.yml`,
  );
  assert.match(provider, /path: \/var\/lib\/grafana\/dashboards/);
});

Deno.test("every metric a dashboard queries exists (in a pipeline's metrics.ts or live in Prometheus)", async () => {
  const dashboards = await loadDashboards();
  const names = new Set<string>();
  for (const { json } of dashboards) {
    for (const t of panelTargets(json)) {
      if (t.datasource.type === "prometheus") {
        for (const n of promqlMetricNames(t.query)) {
          names.add(n);
        }
      }
    }
  }
  const live = await livePrometheusNames();
  const { problems, missingExporters } = await knownMetricProblems(
    [...names],
    live,
  );
  if (missingExporters.length > 0) {
    console.log(
      `  not scraped on this stack (panels stay empty): ${
        missingExporters.join(", ")
      }`,
    );
  }
  assert.deepEqual(problems, []);
});

// --- live run ----------------------------------------------------------------

/**
 * Metrics each pipeline exports in the test's run of a few seconds (which
 * includes one bad line/message each for the shipper and the sink, and an
 * HTTP batch). Labelled counters of rare events (ClickHouse errors) are
 * absent until the first such event, so they are not expected.
 */
const HEALTHY_RUN_METRICS: Record<string, string[]> = {
  generator: [
    "generator_events_total",
    "generator_bytes_total",
    "generator_errors_total",
    "generator_target_rate",
  ],
  shipper: [
    "shipper_lines_read_total",
    "shipper_bytes_read_total",
    "shipper_events_sent_total",
    "shipper_bytes_sent_total",
    "shipper_batches_sent_total",
    "shipper_send_duration_seconds_bucket",
    "shipper_send_errors_total",
    "shipper_checkpoint_lag_bytes",
    "shipper_files_tracked",
    "shipper_buffer_depth_bytes",
    "shipper_buffer_segments",
    "shipper_http_events_accepted_total",
    "shipper_http_requests_total",
    "shipper_dead_letters_total", // the test feeds a bad line
    "pipeline_hop_seconds_bucket", // hops read and produce (file lines)
  ],
  sink: [
    "sink_messages_in_total",
    "sink_rows_out_total",
    "sink_batches_total",
    "sink_insert_duration_seconds_bucket",
    "sink_batch_rows_bucket",
    "sink_batch_rows_sum",
    "sink_batch_rows_count",
    "sink_consumer_lag",
    "sink_paused",
    "sink_buffered_rows",
    "sink_flushes_total",
    "sink_last_insert_timestamp_seconds",
    "sink_clickhouse_replica_up",
    "sink_dead_letters_total", // the test feeds a bad message
    "pipeline_hop_seconds_bucket", // hops fetch and insert
  ],
  cdc: [
    "debezium_metrics_Connected",
    "debezium_metrics_MilliSecondsSinceLastEvent",
    "debezium_metrics_TotalNumberOfEventsSeen",
    "debezium_metrics_NumberOfEventsSkipped",
    "debezium_metrics_NumberOfCommittedTransactions",
    "debezium_metrics_MilliSecondsBehindSource",
    "debezium_metrics_TotalTableCount",
    "debezium_metrics_RemainingTableCount",
    "debezium_metrics_SnapshotRunning",
    "debezium_metrics_SnapshotCompleted",
    "debezium_metrics_SnapshotAborted",
    "debezium_metrics_SnapshotDurationInSeconds",
    "debezium_metrics_RowsScanned",
    "kafka_connect_metrics_incoming_byte_rate",
    "kafka_connect_metrics_outgoing_byte_rate",
    "cdc_end_to_end_lag_seconds_bucket",
    "cdc_slot_lag_bytes",
    "cdc_records_produced_total",
    "cdc_heartbeats_total",
  ],
};
/** prom-client default metrics every pipeline exports. */
const PROCESS_METRICS = /^(process_|nodejs_)/;
/** Cluster exporters: their metrics are expected when their job is up. */
const EXPORTER_JOBS: Array<[RegExp, string]> = [
  [/^(kafka_|jvm_)/, "kafka"],
  [/^pg_/, "postgres"],
  [/^zookeeper_/, "zookeeper"],
  [/^haproxy_/, "haproxy"],
];
/** ClickHouse tables the run feeds (system tables are always there). */
const FED_TABLES = [
  "analytics.security_events",
  "analytics.fact_log",
  "analytics.error_log",
  "analytics.pg_users",
  "analytics.pg_orders",
  "analytics.dead_letter",
];
/** ClickHouse panels that may be empty after a short healthy run, and why. */
const MAY_BE_EMPTY: Record<string, string> = {
  "Brute-force suspects": "needs >= $bf_threshold failures from one source IP",
  "Slowest endpoints": "needs >= 10 requests per endpoint",
  "Replication queue entries": "empty while replication is healthy",
};

async function produce(topic: string, value: string): Promise<void> {
  const producer = testKafka().producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ value }] });
  } finally {
    await producer.disconnect();
  }
}

function expectation(
  t: TargetResult["target"],
  started: Set<string>,
  upJobs: Set<string>,
  targetJobs: Set<string>,
): string | true {
  if (t.datasource.type === "prometheus") {
    const fed = new Set(
      Object.entries(HEALTHY_RUN_METRICS).filter(([p]) => started.has(p))
        .flatMap(([, m]) => m),
    );
    for (const name of promqlMetricNames(t.query)) {
      if (name === "up") {
        // up{job="x"} exists for every configured scrape job, up or down.
        const jobs = [...t.query.matchAll(/job="(\w+)"/g)].map((m) => m[1]);
        const absent = jobs.find((j) => !targetJobs.has(j));
        if (absent) return `job ${absent} is not scraped`;
        continue;
      }
      if (PROCESS_METRICS.test(name) || fed.has(name)) continue;
      const exporter = EXPORTER_JOBS.find(([re]) => re.test(name));
      if (exporter && upJobs.has(exporter[1])) continue;
      return exporter
        ? `job ${exporter[1]} is not scraped`
        : `${name} is not fed by a healthy short run`;
    }
    return true;
  }
  if (MAY_BE_EMPTY[t.panelTitle]) return MAY_BE_EMPTY[t.panelTitle];
  for (const table of sqlTables(t.query)) {
    if (!table.startsWith("system.") && !FED_TABLES.includes(table)) {
      return `${table} is not fed by the run`;
    }
  }
  return true;
}

/** The pipelines' metrics ports must be free: Prometheus scrapes exactly these. */
async function assertPortsFree(): Promise<void> {
  for (const port of [19464, 19465, 19466, 19467, 18080]) {
    const busy = await fetch(`http://127.0.0.1:${port}/metrics`, {
      signal: AbortSignal.timeout(2000),
    })
      .then(async (r) => {
        await r.body?.cancel();
        return true;
      }, () => false);
    assert.ok(
      !busy,
      `port ${port} is taken by another process (a pipeline started elsewhere?): stop it first`,
    );
  }
}

Deno.test({
  name:
    "after a short run of every pipeline, every panel query runs and pipeline panels have data",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const ready = await fetch(`${PROMETHEUS}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    assert.ok(ready, `Prometheus is not up at ${PROMETHEUS}: run deno task up`);
    await assertPortsFree();
    const id = crypto.randomUUID().slice(0, 8);
    const secTopic = `test.dash.${id}.security`;
    const logPrefix = `test.dash.${id}.logs`;
    const logTopics = ["auth", "order", "payment", "notify", "error"].map((s) =>
      `${logPrefix}.${s}`
    );
    const cdcPrefix = `dash${id}`;
    const cdcTopics = [
      `${cdcPrefix}.public.users`,
      `${cdcPrefix}.public.orders`,
    ];
    const slot = `dash_${id}`;
    const eventsDir = await tempDataDir("dash-events");
    const shipperState = `${ROOT}.data/shipper/test-dash-${id}`;

    const pg = { PGPASSWORD: "postgres" };
    const procs: Array<[string, TaskProcess]> = [];
    let stopping = false;
    const start = (
      label: string,
      task: string,
      args: string[],
      env: Record<string, string> = {},
    ) => {
      procs.push([
        label,
        startTask(task, args, { env: { LOG_LEVEL: "warn", ...env } }),
      ]);
    };
    try {
      await ensureTopics([secTopic, ...logTopics, ...cdcTopics]);
      // generator (scraped: http logs straight to Kafka) and two unscraped helpers.
      start("generator http→kafka", "generate", [
        "--kind",
        "http",
        "--to",
        "kafka",
        "--topic-prefix",
        logPrefix,
        "--rate",
        "150",
      ]);
      start("generator security→file", "generate", [
        "--kind",
        "security",
        "--to",
        "file",
        "--dir",
        eventsDir,
        "--rate",
        "150",
        "--metrics-port",
        "0",
      ]);
      start("shipper", "ship", [
        "--path",
        `${eventsDir}/*.ndjson`,
        "--topic",
        secTopic,
        "--state-dir",
        shipperState,
      ]);
      start("sink", "sink", [
        "--topics",
        `${secTopic},${logPrefix}.*`,
        "--map",
        `${secTopic}=security_events`,
        "--map",
        `${logPrefix}.error=error_log`,
        "--map",
        `${logPrefix}.*=fact_log`,
        "--group",
        `test-dash-${id}`,
      ]);
      start("cdc", "cdc", [
        "--slot",
        slot,
        "--topic-prefix",
        cdcPrefix,
        "--heartbeat-interval",
        "2s",
      ], pg);
      start("sink (cdc mode)", "sink", [
        "--mode",
        "cdc",
        "--topics",
        `${cdcPrefix}.public.*`,
        "--group",
        `test-dash-cdc-${id}`,
        "--metrics-port",
        "0",
      ]);
      start("generator cdc→postgres", "generate", [
        "--kind",
        "cdc",
        "--to",
        "postgres",
        "--rate",
        "20",
        "--mix",
        "insert=1",
        "--tag",
        `dash-${id}`,
        "--metrics-port",
        "0",
      ], pg);

      // Fails the test as soon as any pipeline exits (bad flags, port taken...).
      const died = Promise.race(
        procs.map(([label, p]) =>
          p.child.status.then((st) => {
            if (!stopping) {
              throw new Error(
                `${label} exited early (code ${st.code}):\n${
                  p.stderrText().slice(-2000)
                }`,
              );
            }
          })
        ),
      );
      died.catch(() => {});
      const watch = <T>(p: Promise<T>): Promise<T> =>
        Promise.race([p, died.then(() => p)]);
      // Bad input on both paths, so the dead-letter panels have something to
      // show: a non-JSON line for the shipper, a non-JSON message for the sink.
      await Deno.writeTextFile(`${eventsDir}/bad.ndjson`, "this is not json\n");
      await produce(secTopic, "this is not json either");
      // HTTP ingest: a few events POSTed to the shipper.
      await watch(pollUntil(async () => {
        const r = await fetch("http://127.0.0.1:18080/v1/logs", {
          method: "POST",
          headers: { "content-type": "application/x-ndjson" },
          body: '{"message":"via http","n":1}\n{"message":"via http","n":2}\n',
        }).catch(() => undefined);
        await r?.body?.cancel();
        return r?.status === 202;
      }, {
        what: "the shipper's HTTP ingest to accept a batch",
        timeoutMs: 30_000,
        intervalMs: 500,
      }));
      // Every stage moving, as Prometheus sees it, over the 20 s rate window.
      const moving = [
        `sum(up{job=~"generator|shipper|sink|cdc"}) == 4`,
        `sum(rate(generator_events_total[20s])) > 0`,
        `sum(rate(shipper_events_sent_total[20s])) > 0`,
        `sum(rate(sink_rows_out_total[20s])) > 0`,
        `sum(rate(cdc_end_to_end_lag_seconds_count[20s])) > 0`,
        `max(debezium_metrics_Connected{name="${cdcPrefix}",context="streaming"}) == 1`,
        `sum(shipper_dead_letters_total) > 0`,
        `sum(sink_dead_letters_total) > 0`,
      ];
      for (const q of moving) {
        await watch(pollUntil(async () => (await promQuery(q)).length > 0, {
          what: `Prometheus: ${q}`,
          timeoutMs: 90_000,
          intervalMs: 1000,
        }));
      }
      await watch(pollUntil(async () => {
        const rows = await fetch(`${CLICKHOUSE}/`, {
          method: "POST",
          headers: chHeaders("readonly"),
          body:
            `SELECT count() FROM analytics.pg_users WHERE _topic = '${cdcPrefix}.public.users'`,
        }).then((r) => r.text());
        return Number(rows) > 0;
      }, {
        what: "CDC changes in analytics.pg_users",
        timeoutMs: 60_000,
        intervalMs: 1000,
      }));
      // Enough history for the panels' 20 s rate windows: every pipeline
      // scraped up for the last 25 s (5+ samples), as a dashboard would see it.
      const jobs = `job=~"generator|shipper|sink|cdc"`;
      await watch(pollUntil(
        async () =>
          (await promQuery(
            `count(count_over_time(up{${jobs}}[25s]) >= 5 and min_over_time(up{${jobs}}[25s]) == 1) == 4`,
          )).length > 0,
        {
          what: "25 s of scrapes of every pipeline",
          timeoutMs: 60_000,
          intervalMs: 1000,
        },
      ));
      stopping = true;

      const upJobs = new Set(
        (await promQuery(`up == 1`)).map((s) => s.metric.job),
      );
      const targetJobs = new Set(
        (await promQuery(`up`)).map((s) => s.metric.job),
      );
      const started = new Set(["generator", "shipper", "sink", "cdc"]);
      const opts: LiveOptions = {
        prometheusUrl: PROMETHEUS,
        clickhouseUrl: CLICKHOUSE,
        clickhouseHeaders: chHeaders("readonly"),
        // Like Grafana, align the range to the step so "now" is a point of it.
        from: new Date(Math.floor(Date.now() / 5000) * 5000 - 5 * 60_000),
        to: new Date(Math.floor(Date.now() / 5000) * 5000),
        intervalS: 5,
        rateIntervalS: 20,
      };
      const failures: string[] = [];
      const emptyButFed: string[] = [];
      const skipped: string[] = [];
      let withData = 0;
      let total = 0;
      for (const { file, json } of await loadDashboards()) {
        // The run's own connector, not another one seen earlier in the range.
        const vars = await resolveVariables(json, opts);
        if (vars.connector_name) {
          vars.connector_name = { values: [cdcPrefix], all: false };
        }
        for (const t of panelTargets(json)) {
          total++;
          const r = await runTarget(t, vars, opts);
          const where = `${file} "${t.panelTitle}" [${t.refId}]`;
          if (!r.ok) {
            failures.push(
              `${where}: ${r.error}\n    ${
                r.executed.replace(/\n/g, "\n    ")
              }`,
            );
            continue;
          }
          if (r.hasData) {
            withData++;
            continue;
          }
          const why = expectation(t, started, upJobs, targetJobs);
          if (why === true) {
            emptyButFed.push(
              `${where}: no data\n    ${r.executed.replace(/\n/g, "\n    ")}`,
            );
          } else skipped.push(`${where}: ${why}`);
        }
      }
      console.log(
        `  ${total} panel queries: ${withData} with data, ${skipped.length} empty as allowed:`,
      );
      for (const s of skipped) console.log(`    ${s}`);
      assert.deepEqual(failures, [], "panel queries that fail");
      assert.deepEqual(
        emptyButFed,
        [],
        "panel queries fed by the run that returned no data",
      );
      assert.ok(
        withData > total / 2,
        `only ${withData} of ${total} queries returned data`,
      );
    } finally {
      stopping = true;
      for (const [, p] of procs) p.kill("SIGTERM");
      await Promise.all(procs.map(([, p]) => p.wait()));
      const client = await testPg();
      try {
        await client.query(
          "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
          [slot],
        );
      } finally {
        await client.end();
      }
      await deleteTopics([secTopic, ...logTopics, ...cdcTopics]);
      await Deno.remove(eventsDir, { recursive: true }).catch(() => {});
      await Deno.remove(shipperState, { recursive: true }).catch(() => {});
    }
  },
});
