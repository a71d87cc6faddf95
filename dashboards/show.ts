/**
 * `deno task dashboards`: where to look at the dashboards.
 *
 * - compose mode: prints the Grafana URL (Grafana runs in compose only) and
 *   the dashboards' URLs;
 * - native mode: says Grafana is compose-only, lists the provisioned JSON
 *   files and the Prometheus / Alertmanager URLs that work natively.
 *
 * `--verify` executes every panel query of every dashboard against the live
 * Prometheus and ClickHouse (as Grafana would, macros expanded) and prints
 * one line per query: the quickest way to see the dashboards' data without
 * Grafana.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DASHBOARD_DIR, DASHBOARDS } from "./src/mod.ts";
import { panelTargets } from "./src/inspect.ts";
import { resolveVariables, runTarget } from "./src/live.ts";
import {
  clickhouseAuthHeaders,
  clickhouseCredentials,
} from "../pipelines/runtime/credentials.ts";
import {
  ALERTMANAGER_URL,
  CLICKHOUSE_HAPROXY_URL,
  GRAFANA_URL,
  PROMETHEUS_URL,
  STATE_DIR,
} from "../schemas/topology.ts";

const ROOT = new URL("../", import.meta.url);

/** The mode the cluster was last brought up in (`.cluster/mode`), if any. */
async function clusterMode(): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(new URL(`${STATE_DIR}/mode`, ROOT))).trim();
  } catch {
    return undefined;
  }
}

async function verify(minutes: number): Promise<number> {
  const to = new Date();
  const from = new Date(to.getTime() - minutes * 60_000);
  const opts = {
    prometheusUrl: PROMETHEUS_URL,
    clickhouseUrl: CLICKHOUSE_HAPROXY_URL,
    // As Grafana's datasource: the read-only user (env, else .cluster/secrets.env).
    clickhouseHeaders: clickhouseAuthHeaders(clickhouseCredentials("readonly")),
    from,
    to,
    intervalS: Math.max(5, Math.round((minutes * 60) / 300)),
    rateIntervalS: 20,
  };
  let failed = 0;
  let empty = 0;
  let total = 0;
  for (const [file, def] of Object.entries(DASHBOARDS)) {
    const json = JSON.parse(
      await Deno.readTextFile(new URL(`${DASHBOARD_DIR}/${file}.json`, ROOT)),
    );
    const vars = await resolveVariables(json, opts);
    console.log(`\n${def.title} (${file}.json)`);
    for (const t of panelTargets(json)) {
      const r = await runTarget(t, vars, opts);
      total++;
      if (!r.ok) failed++;
      else if (!r.hasData) empty++;
      const status = !r.ok ? "ERROR" : r.hasData ? "data " : "empty";
      const src = t.datasource.type === "prometheus" ? "prom" : "ch  ";
      console.log(
        `  ${status} ${src} ${t.panelTitle} [${t.refId}]${
          r.ok
            ? ` ${r.rows} ${src === "prom" ? "series" : "rows"}`
            : `: ${r.error}`
        }`,
      );
    }
  }
  console.log(
    `\n${total} queries over the last ${minutes} min: ${
      total - failed - empty
    } with data, ${empty} empty, ${failed} failed`,
  );
  return failed > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        verify: { type: "boolean", default: false },
        minutes: { type: "string", default: "30" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(
      `error: ${
        (err as Error).message
      }\nusage: deno task dashboards [--verify [--minutes N]]`,
    );
    return 2;
  }
  if (values.help) {
    console.log(
      "Show where the Grafana dashboards are.\n\nUsage: deno task dashboards [--verify [--minutes N]]\n\n" +
        "  --verify       run every panel query against the live Prometheus/ClickHouse and report\n" +
        "  --minutes N    time range for --verify (default 30)",
    );
    return 0;
  }
  if (values.verify) {
    const minutes = Number(values.minutes);
    if (!Number.isFinite(minutes) || minutes <= 0) {
      console.error(
        `error: --minutes must be a positive number, got ${
          JSON.stringify(values.minutes)
        }`,
      );
      return 2;
    }
    return await verify(minutes);
  }
  const mode = await clusterMode();
  const files = Object.keys(DASHBOARDS).map((f) =>
    `  ${DASHBOARD_DIR}/${f}.json   ${DASHBOARDS[f].title}`
  );
  if (mode === "compose") {
    console.log(
      `Grafana: ${GRAFANA_URL}  (anonymous viewer; admin/admin to edit)`,
    );
    for (const def of Object.values(DASHBOARDS)) {
      console.log(`  ${GRAFANA_URL}/d/${def.uid}   ${def.title}`);
    }
  } else {
    console.log(
      `Grafana runs in compose mode only (\`deno task up --compose\`); the cluster is ${
        mode ? `in ${mode} mode` : "not up"
      }.`,
    );
    console.log("The dashboards are plain Grafana JSON, provisioned from:");
    console.log(files.join("\n"));
    console.log(
      "  dashboards/grafana/provisioning/   (datasources: Prometheus uid prometheus, ClickHouse uid clickhouse)",
    );
    console.log(
      "Import them into any Grafana 10/11 with the grafana-clickhouse-datasource plugin.",
    );
  }
  console.log(
    `Prometheus: ${PROMETHEUS_URL}   Alertmanager: ${ALERTMANAGER_URL}   alert rules: dashboards/alerts/`,
  );
  console.log(
    "Check every panel query against the live stack: deno task dashboards --verify",
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main());
