/**
 * The compact live view of `deno task start`: one line per stage with its
 * events/s and totals, computed from the processes' `/metrics`.
 *
 * @module
 */
import { type Sample, sumOf } from "./prom_text.ts";

/** The latest scrape of each process (undefined: not reachable). */
export type Scrapes = Record<string, Sample[] | undefined>;

/** One stage line: a name, a running total and extra facts. */
export interface StageLine {
  stage: string;
  total: number;
  facts: string;
  up: boolean;
}

/** Extracts the stage lines from scrapes (pure, so it is unit-tested). */
export function stageLines(
  s: Scrapes,
  chRows?: Record<string, number>,
): StageLine[] {
  const v = (p: string, name: string, match: Record<string, string> = {}) =>
    s[p] ? sumOf(s[p]!, name, match) : 0;
  const up = (p: string) => s[p] !== undefined;
  const rows = (t: string) =>
    chRows?.[t] !== undefined ? `, ${fmt(chRows[t])} rows in CH` : "";
  return [
    {
      stage: "generate security → files",
      total: v("generator-security", "generator_events_total"),
      facts: "",
      up: up("generator-security"),
    },
    {
      stage: "generate http → files",
      total: v("generator-http", "generator_events_total"),
      facts: "",
      up: up("generator-http"),
    },
    {
      stage: "shipper files → Kafka",
      total: v("shipper", "shipper_events_sent_total"),
      facts: `lag ${fmt(v("shipper", "shipper_checkpoint_lag_bytes"))} B, dlq ${
        fmt(v("shipper", "shipper_dead_letters_total"))
      }`,
      up: up("shipper"),
    },
    {
      stage: "sink Kafka → ClickHouse",
      total: v("sink", "sink_rows_out_total"),
      facts: `lag ${fmt(v("sink", "sink_consumer_lag"))}, dlq ${
        fmt(v("sink", "sink_dead_letters_total"))
      }${rows("events")}`,
      up: up("sink"),
    },
    {
      stage: "generate cdc → PostgreSQL",
      total: v("generator-cdc", "generator_cdc_changes_total"),
      facts: "",
      up: up("generator-cdc"),
    },
    {
      stage: "cdc PostgreSQL → Kafka",
      total: v("cdc", "debezium_metrics_TotalNumberOfEventsSeen"),
      facts: `slot lag ${fmt(v("cdc", "cdc_slot_lag_bytes"))} B`,
      up: up("cdc"),
    },
    {
      stage: "sink Kafka → CH mirror",
      total: v("sink-cdc", "sink_rows_out_total"),
      facts: `lag ${fmt(v("sink-cdc", "sink_consumer_lag"))}${rows("mirror")}`,
      up: up("sink-cdc"),
    },
  ];
}

/** Renders the lines with rates against the previous totals. */
export function renderView(
  lines: StageLine[],
  previous: Map<string, number>,
  elapsedS: number,
  intervalS: number,
): string {
  const out = [`elapsed ${elapsedS.toFixed(0)} s`];
  for (const l of lines) {
    const prev = previous.get(l.stage) ?? l.total;
    const rate = Math.max(0, (l.total - prev) / Math.max(intervalS, 1e-3));
    previous.set(l.stage, l.total);
    out.push(
      `${l.up ? " " : "!"} ${l.stage.padEnd(28)} ${fmt(rate).padStart(8)}/s ${
        fmt(l.total).padStart(10)
      } total  ${l.facts}`,
    );
  }
  return out.join("\n");
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
