/**
 * Unit tests of the generated configs that the observability work relies on
 * (no cluster needed).
 */
import assert from "node:assert/strict";
import { alertmanagerYml, haproxyCfg, prometheusYml } from "./configs.ts";
import { argvMatches, type NativeSpec } from "./native.ts";
import { formatStatus } from "./status.ts";
import { needsPermissions } from "../../tests/_gate.ts";
import { ALERTMANAGER_TEMPLATE } from "./alertmanager.ts";

const ROOT = new URL("../../", import.meta.url);

/** `job_name -> targets` of a generated Prometheus config (our emitter's layout). */
function scrapeJobs(yml: string): Map<string, string[]> {
  const jobs = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of yml.split("\n")) {
    const job = /^ {2}- job_name: (\S+)$/.exec(line);
    if (job) jobs.set(job[1], current = []);
    const target = /^ {10}- "(.+)"$/.exec(line);
    if (target && current) current.push(target[1]);
  }
  return jobs;
}

Deno.test("haproxy: serves its Prometheus exporter on 127.0.0.1:18404/metrics, unlogged", () => {
  const cfg = haproxyCfg();
  const section = cfg.slice(cfg.indexOf("frontend prometheus"));
  assert.match(section, /^ {4}bind 127\.0\.0\.1:18404$/m);
  assert.match(
    section,
    /^ {4}http-request use-service prometheus-exporter if \{ path \/metrics \}$/m,
  );
  assert.match(section, /^ {4}no log$/m);
  // The ClickHouse frontend is unchanged.
  assert.match(cfg, /frontend clickhouse_http\n {4}bind 127\.0\.0\.1:18120\n/);
});

Deno.test("prometheus: 5s intervals, the rule glob, haproxy always, JMX jobs only when installed", () => {
  const withJmx = prometheusYml({
    ruleFiles: ["/x/dashboards/alerts/*.yml"],
    kafkaJmx: true,
    zookeeperJmx: true,
  });
  assert.match(withJmx, /^ {2}scrape_interval: "?5s"?$/m);
  assert.match(withJmx, /^ {2}evaluation_interval: "?5s"?$/m);
  assert.match(
    withJmx,
    /^rule_files:\n {2}- "?\/x\/dashboards\/alerts\/\*\.yml"?$/m,
  );
  const jobs = scrapeJobs(withJmx);
  assert.deepEqual(jobs.get("haproxy"), ["127.0.0.1:18404"]);
  assert.deepEqual(jobs.get("zookeeper"), ["127.0.0.1:19290"]);
  assert.equal(jobs.get("kafka")?.length, 3);

  const without = scrapeJobs(
    prometheusYml({ ruleFiles: [], kafkaJmx: false, zookeeperJmx: false }),
  );
  assert.deepEqual(without.get("haproxy"), ["127.0.0.1:18404"]);
  assert.equal(without.has("zookeeper"), false);
  assert.equal(without.has("kafka"), false);
});

Deno.test(
  "alertmanager: the dashboards/ template rendered with the webhook URL",
  needsPermissions({ name: "read", path: "dashboards" }),
  async () => {
    const template = await Deno.readTextFile(
      new URL(ALERTMANAGER_TEMPLATE, ROOT),
    );
    const yml = alertmanagerYml(template, "https://hooks.example.test/a?b=1");
    assert.match(
      yml,
      /^ {6}- api_url: "https:\/\/hooks\.example\.test\/a\?b=1"$/m,
    );
    assert.match(yml, /slack_configs:/);
    for (const line of yml.split("\n")) {
      if (!line.trimStart().startsWith("#")) {
        assert.ok(!line.includes("${ALERT_WEBHOOK_URL}"), line);
      }
    }
    assert.throws(
      () => alertmanagerYml(template, "ftp://x"),
      /must be http/,
    );
  },
);

Deno.test("argvMatches: exact command line, or HAProxy's take-over form", () => {
  const spec: NativeSpec = {
    argv: ["/usr/sbin/haproxy", "-db", "-f", "/c/haproxy.cfg"],
    marker: "/c/haproxy.cfg",
    stopSignal: "TERM",
    takeOverArgs: (pid) => ["-sf", String(pid)],
    prepare: () => Promise.resolve(),
  };
  assert.ok(argvMatches("/usr/sbin/haproxy -db -f /c/haproxy.cfg", spec));
  assert.ok(
    argvMatches("/usr/sbin/haproxy -db -f /c/haproxy.cfg -sf 4242", spec),
  );
  assert.ok(!argvMatches("/usr/sbin/haproxy -db -f /c/other.cfg", spec));
  assert.ok(
    !argvMatches("/usr/sbin/haproxy -db -f /c/haproxy.cfg -x 1", spec),
  );
  const plain = { ...spec, takeOverArgs: undefined };
  assert.ok(
    !argvMatches("/usr/sbin/haproxy -db -f /c/haproxy.cfg -sf 4242", plain),
  );
  // A flag added to the topology (e.g. -javaagent) is a change.
  assert.ok(
    !argvMatches("/usr/bin/java -cp x Main", {
      ...plain,
      argv: ["/usr/bin/java", "-javaagent:a.jar=1", "-cp", "x", "Main"],
    }),
  );
});

Deno.test("status: compose-only services are listed as such natively", () => {
  const st = {
    mode: "native" as const,
    healthy: true,
    services: [],
    kafka: { bootstrap: [] },
    clickhouse: { nodes: {}, haproxy: "h" },
    postgres: { url: "p" },
    secretsFile: ".cluster/secrets.env",
    zookeeper: { address: "z" },
    prometheus: { url: "pr" },
    alertmanager: { url: "a" },
    composeOnly: [
      { name: "grafana", url: "http://127.0.0.1:13000", running: false },
    ],
  };
  assert.match(
    formatStatus(st),
    /^compose only: grafana http:\/\/127\.0\.0\.1:13000$/m,
  );
  assert.match(
    formatStatus({ ...st, mode: "compose" }),
    /^also in compose: grafana /m,
  );
});
