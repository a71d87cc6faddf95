/**
 * The whole flow as a list of processes, derived from a few settings:
 *
 * ```
 * generator(security) ─┐
 * generator(http) ─────┴─ NDJSON files ─ shipper ─ Kafka ─ sink ─ ClickHouse
 * generator(cdc) ─ PostgreSQL ─ cdc relay ─ Kafka ─ sink --mode cdc ─ ClickHouse mirror
 * ```
 *
 * Pure: `start` runs the plan, tests can inspect it.
 *
 * @module
 */
import type { ProcessSpec } from "./supervisor.ts";
import { FLOW_PORTS } from "../../schemas/topology.ts";

export { FLOW_PORTS };

/** Settings of one run. */
export interface FlowSettings {
  /** Run id, used in paths and consumer groups. */
  runId: string;
  /** Directory of this run (under `.data/runs`). */
  runDir: string;
  /** Security + http events per second, split evenly. */
  rate: number;
  /** PostgreSQL row changes per second. */
  cdcRate: number;
}

/** Name of a process in the flow. */
export type FlowProcess = keyof typeof FLOW_PORTS;

/** Where the generators write and the shipper reads (inside `.data`). */
export function eventsDir(s: FlowSettings): string {
  return `${s.runDir}/events`;
}

/** The processes of a run, in start order (consumers first). */
export function flowPlan(s: FlowSettings): ProcessSpec[] {
  const half = s.rate / 2;
  const port = (p: FlowProcess) => ({ METRICS_PORT: String(FLOW_PORTS[p]) });
  const url = (p: FlowProcess) => `http://127.0.0.1:${FLOW_PORTS[p]}/metrics`;
  const spec = (
    name: FlowProcess,
    task: string,
    args: string[],
  ): ProcessSpec => ({
    name,
    task,
    args,
    env: port(name),
    metricsUrl: url(name),
  });
  return [
    // A short session timeout: a killed sink's partitions move in ~10 s.
    spec("sink", "sink", ["--group", "flow-sink", "--session-timeout", "10s"]),
    spec("sink-cdc", "sink", [
      "--mode",
      "cdc",
      "--group",
      "flow-sink-cdc",
      "--session-timeout",
      "10s",
    ]),
    spec("cdc", "cdc", []),
    spec("shipper", "ship", [
      "--path",
      `${eventsDir(s)}/*.ndjson`,
      "--state-dir",
      `.data/shipper/${s.runId}`,
      "--http-port",
      "0",
    ]),
    spec("generator-security", "generate", [
      "--kind",
      "security",
      "--to",
      "file",
      "--dir",
      eventsDir(s),
      "--rate",
      String(half),
      "--max-file-age",
      "20s",
    ]),
    spec("generator-http", "generate", [
      "--kind",
      "http",
      "--to",
      "file",
      "--dir",
      eventsDir(s),
      "--rate",
      String(half),
      "--max-file-age",
      "20s",
    ]),
    spec("generator-cdc", "generate", [
      "--kind",
      "cdc",
      "--to",
      "postgres",
      "--rate",
      String(s.cdcRate),
      "--tag",
      s.runId,
    ]),
  ];
}

/** Whether a process produces data (stopped first) or moves it. */
export function isGenerator(name: string): boolean {
  return name.startsWith("generator-");
}

/**
 * The plan with credentials for every child, in its environment (readable
 * by this user only), never in its arguments (which `ps` shows to everyone).
 */
export function withSecrets(
  plan: ProcessSpec[],
  secrets: Record<string, string>,
): ProcessSpec[] {
  return plan.map((p) => ({ ...p, env: { ...p.env, ...secrets } }));
}
