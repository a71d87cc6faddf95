/**
 * Every dashboard of the product, as definitions (see {@link ./grafana.ts}).
 * `dashboards/build.ts` renders them to `dashboards/grafana/dashboards/*.json`,
 * which Grafana provisions and the tests execute.
 *
 * @module
 */
import { cdc } from "./cdc.ts";
import { cluster } from "./cluster.ts";
import {
  type DashboardDef,
  type DashboardJson,
  renderDashboard,
} from "./grafana.ts";
import { pipelines } from "./pipelines.ts";
import { security } from "./security.ts";
import { serviceLogs } from "./service_logs.ts";

export * from "./grafana.ts";

/** Dashboard definitions keyed by output file name (without `.json`). */
export const DASHBOARDS: Readonly<Record<string, DashboardDef>> = {
  pipelines,
  security_events: security,
  service_logs: serviceLogs,
  cdc,
  cluster,
};

/** Folder of the rendered JSON, relative to the repository root. */
export const DASHBOARD_DIR = "dashboards/grafana/dashboards";

/** Renders every dashboard: file name → pretty JSON text (ends with a newline). */
export function renderAll(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, def] of Object.entries(DASHBOARDS)) {
    const json: DashboardJson = renderDashboard(def);
    out[`${name}.json`] = JSON.stringify(json, null, 2) + "\n";
  }
  return out;
}
