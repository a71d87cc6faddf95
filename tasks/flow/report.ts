/**
 * The result of `deno task verify` as one value: rendered as the
 * human-readable table, or printed as one JSON document (`--json`) for
 * scripts and tests, with the same figures.
 *
 * @module
 */
import { type HopBreakdown, renderHops } from "./hops.ts";
import {
  type Check,
  renderChecks,
  type RunManifest,
  type TableCounts,
} from "./reconcile.ts";

/** The figures of one compared table or topic, as in the JSON output. */
export interface TableReport extends TableCounts {
  /** Every check of this table passed. */
  ok: boolean;
}

/** Everything `verify` found, as printed by `--json`. */
export interface VerifyReport {
  runId: string;
  startedAt: string;
  endedAt: string;
  settings: RunManifest["settings"];
  kills: RunManifest["kills"];
  /** Every check passed (the exit code is 0). */
  pass: boolean;
  /** The lines of the human table, in order. */
  checks: Check[];
  tables: TableReport[];
  /** Dead letters per topic within the run (none expected). */
  deadLetters: Record<string, number>;
  /** Freshness percentiles in seconds, per table (a figure, not a check). */
  freshness: Record<string, { p50: number; p99: number; count: number }>;
  /** Per-hop latency of the event path, seconds (absent in older runs). */
  hops?: HopBreakdown;
}

/** Assembles the report of a run from its checks. */
export function buildReport(m: RunManifest, checks: Check[]): VerifyReport {
  const tables = new Map<string, TableReport>();
  const deadLetters: Record<string, number> = {};
  for (const c of checks) {
    if (c.deadLetters) deadLetters[c.deadLetters] = Number(c.actual);
    if (!c.table) continue;
    const t = tables.get(c.table.name);
    if (!t) tables.set(c.table.name, { ...c.table, ok: c.ok });
    else Object.assign(t, { ...c.table, ok: t.ok && c.ok });
  }
  return {
    runId: m.runId,
    startedAt: m.startedAt,
    endedAt: m.endedAt,
    settings: m.settings,
    kills: m.kills,
    pass: checks.every((c) => c.ok),
    checks: checks.map(({ table: _t, deadLetters: _d, ...line }) => line),
    tables: [...tables.values()],
    deadLetters,
    freshness: m.freshness ?? {},
    ...(m.hops ? { hops: m.hops } : {}),
  };
}

/** The human-readable output of `verify`: run line, table, freshness, hops. */
export function renderReport(r: VerifyReport): string {
  const kills = r.kills.length
    ? `, kill -9: ${r.kills.map((k) => `${k.process}@${k.atS}s`).join(" ")}`
    : "";
  const out = [
    `\nrun ${r.runId}: ${r.startedAt} → ${r.endedAt}, rate ${r.settings.rate}/s + ${r.settings.cdcRate} changes/s${kills}\n`,
    renderChecks(r.checks),
  ];
  const fresh = Object.entries(r.freshness);
  if (fresh.length) {
    out.push(
      "\nfreshness (event created / PostgreSQL commit → row acknowledged by ClickHouse):",
    );
    for (const [table, f] of fresh) {
      out.push(
        `  ${table.padEnd(16)} p50 ${f.p50.toFixed(3)} s   p99 ${
          f.p99.toFixed(3)
        } s   (${f.count} rows)`,
      );
    }
  }
  if (r.hops && Object.keys(r.hops.hops).length) {
    out.push(
      "\nhops (created → file → shipper → Kafka → sink → ClickHouse, per event):",
    );
    out.push(...renderHops(r.hops));
  }
  return out.join("\n");
}
