/**
 * Renders the dashboard definitions (dashboards/src) to the Grafana JSON
 * files Grafana provisions (dashboards/grafana/dashboards).
 *
 *   deno run --allow-read=dashboards --allow-write=dashboards/grafana/dashboards dashboards/build.ts
 *   deno run --allow-read=dashboards dashboards/build.ts --check   # exit 1 if the JSON is stale
 *
 * @module
 */
import { DASHBOARD_DIR, renderAll } from "./src/mod.ts";

const ROOT = new URL("../", import.meta.url);

async function main(args: string[]): Promise<number> {
  const check = args.includes("--check");
  const files = renderAll();
  const stale: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    const url = new URL(`${DASHBOARD_DIR}/${name}`, ROOT);
    let current = "";
    try {
      current = await Deno.readTextFile(url);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (current === text) continue;
    stale.push(name);
    if (!check) await Deno.writeTextFile(url, text);
  }
  if (check && stale.length > 0) {
    console.error(
      `stale dashboard JSON: ${
        stale.join(", ")
      } (run: deno run --allow-read=dashboards --allow-write=dashboards/grafana/dashboards dashboards/build.ts)`,
    );
    return 1;
  }
  console.log(
    check
      ? `dashboard JSON up to date (${Object.keys(files).length} files)`
      : `wrote ${stale.length} of ${
        Object.keys(files).length
      } dashboards to ${DASHBOARD_DIR}`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
