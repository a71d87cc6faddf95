/**
 * Unit tests of the generated compose model (no Docker needed; the
 * integration test in tests/cluster_test.ts runs `docker-compose config`).
 */
import assert from "node:assert/strict";
import { composeFiles, composeModel, PIPELINES_PROFILE } from "./compose.ts";
import {
  PIPELINE_METRICS_PORTS as METRICS_PORTS,
  PIPELINE_TARGETS,
} from "../../schemas/topology.ts";
import { missingPermission, requirePermissions } from "../../tests/_gate.ts";

type Svc = {
  image: string;
  network_mode?: string;
  profiles?: string[];
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  working_dir?: string;
};

const ROOT = new URL("../../", import.meta.url);
// The model reads dashboards/ templates: without read access, ignore the file.
const READABLE = { name: "read", path: "dashboards" } as const;
requirePermissions(import.meta, READABLE);
const services =
  (missingPermission(READABLE) ? {} : composeModel().services) as Record<
    string,
    Svc
  >;

/** Default metrics port of each deno.json pipeline task. */
const TASK_PORTS: Record<string, number> = {
  generate: METRICS_PORTS.generator,
  ship: METRICS_PORTS.shipper,
  sink: METRICS_PORTS.sink,
  cdc: METRICS_PORTS.cdc,
};

Deno.test("compose: every service uses host networking; committed paths are relative", () => {
  for (const [name, s] of Object.entries(services)) {
    assert.equal(s.network_mode, "host", name);
    for (const v of s.volumes ?? []) {
      const source = v.split(":")[0];
      assert.ok(
        /^(\.\.?(\/|$)|[a-z][\w-]*$|\$\{)/.test(source),
        `${name}: volume source ${source} must be relative or a named volume`,
      );
    }
  }
  for (const [path, content] of composeFiles()) {
    assert.doesNotMatch(content, /\/(work|root|home)\//, path);
  }
});

Deno.test("compose: Grafana provisions dashboards/grafana; Kafka UI bootstraps the 3 brokers", () => {
  const g = services.grafana;
  assert.match(g.image, /^grafana\/grafana-oss:11\./);
  assert.equal(g.environment?.GF_SERVER_HTTP_PORT, "13000");
  assert.equal(
    g.environment?.GF_INSTALL_PLUGINS,
    "grafana-clickhouse-datasource",
  );
  assert.equal(g.environment?.GF_AUTH_ANONYMOUS_ENABLED, "true");
  assert.equal(g.environment?.GF_AUTH_ANONYMOUS_ORG_ROLE, "Viewer");
  assert.ok(
    g.volumes?.includes(
      "../dashboards/grafana/provisioning:/etc/grafana/provisioning:ro",
    ),
  );
  assert.ok(
    g.volumes?.includes(
      "../dashboards/grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ),
  );
  const ui = services["kafka-ui"];
  assert.match(ui.image, /^provectuslabs\/kafka-ui:/);
  assert.equal(ui.environment?.SERVER_PORT, "18081");
  assert.equal(
    ui.environment?.KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS,
    "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094",
  );
  assert.equal(g.profiles, undefined, "Grafana starts with the cluster");
});

Deno.test("compose: pipelines run their deno.json task under the pipelines profile, scraped by Prometheus", async () => {
  const tasks = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ).tasks as Record<string, string>;
  const scraped = new Set(PIPELINE_TARGETS.flatMap((t) => t.targets));
  const pipelines = Object.entries(services).filter(([n]) =>
    n.startsWith("pipeline-")
  );
  assert.equal(pipelines.length, 7);
  const ports = new Set<number>();
  for (const [name, s] of pipelines) {
    assert.match(s.image, /^denoland\/deno:2\.\d+\.\d+$/, name);
    assert.deepEqual(s.profiles, [PIPELINES_PROFILE], name);
    assert.equal(s.working_dir, "/app");
    assert.deepEqual(s.volumes?.slice(0, 2), [
      "..:/app:ro",
      "../.data:/app/.data",
    ]);
    const [deno, sub, task] = s.command ?? [];
    assert.deepEqual([deno, sub], ["deno", "task"], name);
    assert.ok(tasks[task], `${name}: deno.json has no task ${task}`);
    const port = Number(s.environment?.METRICS_PORT ?? TASK_PORTS[task]);
    assert.ok(
      scraped.has(`127.0.0.1:${port}`),
      `${name}: port ${port} not scraped`,
    );
    assert.ok(!ports.has(port), `${name}: port ${port} used twice`);
    ports.add(port);
  }
  // Every scrape target of the pipelines has its compose service.
  assert.equal(ports.size, scraped.size);
  const cdcSink = services["pipeline-sink-cdc"].command!;
  assert.deepEqual(cdcSink.slice(3), ["--mode", "cdc", "--group", "sink-cdc"]);
});

Deno.test("compose: ZooKeeper gets the JMX agent when installed; Alertmanager's config can be swapped", () => {
  const zk = services.zookeeper;
  const script = zk.entrypoint?.[2] ?? "";
  assert.match(
    script,
    /^if \[ -f (\S+\.jar) \]; then export SERVER_JVMFLAGS=-javaagent:\1=127\.0\.0\.1:19290:\S+zookeeper_jmx\.yml; fi; exec /,
  );
  assert.ok(
    zk.volumes?.includes("../dashboards/exporters:/etc/zookeeper-exporter:ro"),
  );
  // No `$`: compose would interpolate it.
  assert.ok(!script.includes("$"));
  const am = services.alertmanager;
  assert.ok(am.command?.includes("--web.external-url=http://127.0.0.1:19095"));
  assert.ok(
    am.volumes?.includes(
      "${ALERTMANAGER_CONFIG:-./alertmanager/alertmanager.yml}:/etc/alertmanager/alertmanager.yml:ro",
    ),
  );
});
