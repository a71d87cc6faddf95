/**
 * `deno task bench <name> [options]`: runs the benchmark `bench:<name>`
 * defined in deno.json (each with its own permission scope).
 *
 * @module
 */
import { launchTask } from "../_launch.ts";

const [name, ...rest] = Deno.args;
const tasks = Object.keys(
  JSON.parse(await Deno.readTextFile("deno.json")).tasks ?? {},
).filter((t) => t.startsWith("bench:")).map((t) => t.slice(6));

if (!name || name === "--help" || name === "-h" || !tasks.includes(name)) {
  const msg = `Usage: deno task bench <${tasks.join("|")}> [options]\n` +
    `Each benchmark prints its rates and a "ratio" line (ours / peer).`;
  if (name && name !== "--help" && name !== "-h") {
    console.error(`error: unknown benchmark "${name}"\n\n${msg}`);
    Deno.exit(2);
  }
  console.log(msg);
  Deno.exit(name ? 0 : 2);
}
// Through the launcher: the benchmark's exact flags from deno.json, checked
// (this task's --allow-run=deno could otherwise run anything under deno).
const { code } = await launchTask(`bench:${name}`, rest, {
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(code);
