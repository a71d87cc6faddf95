/**
 * The books of a run: events generated (the NDJSON files) = events in Kafka
 * (the run's offset ranges) = rows in ClickHouse (+ dead letters), per kind;
 * and PostgreSQL = the ClickHouse mirror, row for row.
 *
 * @module
 */
import type { ClickHouseClient } from "../../pipelines/runtime/clickhouse.ts";
import { sqlString } from "../../pipelines/runtime/clickhouse.ts";
import type { Kafka } from "../../pipelines/runtime/kafka.ts";
import type { pg } from "../../pipelines/runtime/postgres.ts";
import type { HopBreakdown } from "./hops.ts";
import { readRanges, type Watermarks } from "./kafka_ranges.ts";

/** What `start` records about a run, read back by `verify`. */
export interface RunManifest {
  runId: string;
  runDir: string;
  eventsDir: string;
  startedAt: string;
  endedAt: string;
  settings: {
    rate: number;
    cdcRate: number;
    durationS?: number;
    chaos: boolean;
  };
  before: Watermarks;
  after: Watermarks;
  /** Processes killed with SIGKILL and restarted (chaos). */
  kills: Array<{ process: string; atS: number }>;
  /** Freshness percentiles measured by the sink, seconds. */
  freshness?: Record<string, { p50: number; p99: number; count: number }>;
  /** Per-hop latency of the event path (tasks/flow/hops.ts), seconds. */
  hops?: HopBreakdown;
}

/** The figures of one compared table or topic. */
export interface TableCounts {
  /** E.g. `security → ClickHouse` or `mirror users`. */
  name: string;
  expected: number;
  found: number;
  missing: number;
  unexpected: number;
  /** Repeated ids (Kafka and ClickHouse); absent for the mirrors. */
  duplicates?: number;
  /** Whether repeats are allowed here (Kafka is at least once). */
  duplicatesAllowed?: boolean;
  /** Rows present on both sides with different values (mirrors only). */
  different?: number;
}

/** One line of the reconciliation table. */
export interface Check {
  name: string;
  expected: number | string;
  actual: number | string;
  ok: boolean;
  detail?: string;
  /** The table this line is about, with its figures (for `--json`). */
  table?: TableCounts;
  /** The dead-letter topic this line counts (for `--json`). */
  deadLetters?: string;
}

/** Topics of service logs that go to `fact_log`. */
export const HTTP_TOPICS = [
  "logs.auth",
  "logs.order",
  "logs.payment",
  "logs.notify",
];

/**
 * The ClickHouse sides of `verify`'s id checks: the table read (FINAL: the
 * merged view) and the topics whose run ranges select its rows.
 */
export const CLICKHOUSE_ID_READS = {
  security: { table: "security_events FINAL", topics: ["security.events"] },
  http: { table: "fact_log FINAL", topics: HTTP_TOPICS },
  httpErrors: { table: "error_log FINAL", topics: ["logs.error"] },
} as const;

/** Every topic the event flow touches. */
export const FLOW_TOPICS = [
  "security.events",
  ...HTTP_TOPICS,
  "logs.error",
  "dlq.shipper",
  "dlq.sink",
];

/** Event ids found in the run's NDJSON files, by kind. */
export interface GeneratedIds {
  security: Set<string>;
  http: Set<string>;
  httpErrors: Set<string>;
  /** Lines cut short by a killed generator (never shipped, not counted). */
  partialLines: number;
}

/** Reads every complete line of the run's files and collects event ids. */
export async function generatedIds(dir: string): Promise<GeneratedIds> {
  const out: GeneratedIds = {
    security: new Set(),
    http: new Set(),
    httpErrors: new Set(),
    partialLines: 0,
  };
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ndjson")) continue;
    const text = await Deno.readTextFile(`${dir}/${entry.name}`);
    const lines = text.split("\n");
    const tail = lines.pop();
    if (tail) out.partialLines++;
    for (const line of lines) {
      if (!line) continue;
      let e: { event_id?: string; service?: string; level?: string };
      try {
        e = JSON.parse(line);
      } catch {
        // A line torn by a kill -9 mid-write: the shipper dead-letters it.
        out.partialLines++;
        continue;
      }
      if (!e.event_id) continue;
      if (entry.name.startsWith("http-")) {
        out.http.add(e.event_id);
        if (e.level === "error") out.httpErrors.add(e.event_id);
      } else {
        out.security.add(e.event_id);
      }
    }
  }
  return out;
}

/** Compares an expected id set with observed ids (which may repeat). */
export function compareIds(
  name: string,
  expected: Set<string>,
  observed: string[],
  opts: { duplicatesAllowed?: boolean } = {},
): Check[] {
  const seen = new Map<string, number>();
  for (const id of observed) seen.set(id, (seen.get(id) ?? 0) + 1);
  let missing = 0;
  for (const id of expected) if (!seen.has(id)) missing++;
  let unexpected = 0;
  for (const id of seen.keys()) if (!expected.has(id)) unexpected++;
  const duplicates = observed.length - seen.size;
  const table: TableCounts = {
    name,
    expected: expected.size,
    found: seen.size - unexpected,
    missing,
    unexpected,
    duplicates,
    duplicatesAllowed: opts.duplicatesAllowed ?? false,
  };
  const checks: Check[] = [
    {
      table,
      name: `${name}: distinct events`,
      expected: expected.size,
      actual: seen.size - unexpected,
      ok: missing === 0 && unexpected === 0,
      detail: missing || unexpected
        ? `${missing} missing, ${unexpected} unexpected`
        : undefined,
    },
    {
      table,
      name: `${name}: duplicates`,
      expected: opts.duplicatesAllowed ? "any (at least once)" : 0,
      actual: duplicates,
      ok: opts.duplicatesAllowed ? true : duplicates === 0,
    },
  ];
  return checks;
}

/** Event ids of `topics` within the run's offset ranges. */
export async function kafkaIds(
  kafka: Kafka,
  m: RunManifest,
  topics: string[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const t of topics) {
    const msgs = await readRanges(
      kafka,
      t,
      m.before[t] ?? {},
      m.after[t] ?? {},
    );
    for (const msg of msgs) {
      try {
        const id = JSON.parse(msg.value ?? "null")?.event_id;
        if (typeof id === "string") ids.push(id);
      } catch { /* not JSON: counted by the dead-letter checks */ }
    }
  }
  return ids;
}

/** SQL condition selecting the run's (topic, partition, offset) ranges. */
export function rangeCondition(m: RunManifest, topics: string[]): string {
  const parts: string[] = [];
  for (const t of topics) {
    const to = m.after[t] ?? {};
    for (const [p, hi] of Object.entries(to)) {
      const lo = m.before[t]?.[Number(p)] ?? 0;
      if (hi <= lo) continue;
      parts.push(
        `(_topic = ${sqlString(t)} AND _partition = ${
          Number(p)
        } AND _offset >= ${lo} AND _offset < ${hi})`,
      );
    }
  }
  return parts.length ? parts.join(" OR ") : "0";
}

/** The query of {@link clickhouseIds} (also run on chDB by a test). */
export function clickhouseIdsQuery(
  table: string,
  m: RunManifest,
  topics: string[],
): string {
  return `SELECT event_id FROM analytics.${table} WHERE ${
    rangeCondition(m, topics)
  }`;
}

/** Event ids of a table's rows from the run's ranges (FINAL: merged view). */
export async function clickhouseIds(
  ch: ClickHouseClient,
  table: string,
  m: RunManifest,
  topics: string[],
): Promise<string[]> {
  const rs = await ch.query({
    query: clickhouseIdsQuery(table, m, topics),
    format: "JSONEachRow",
  });
  const rows = await rs.json<{ event_id: string }>();
  return rows.map((r) => r.event_id);
}

/** Number of messages in the run's ranges of `topic`. */
export function rangeCount(m: RunManifest, topic: string): number {
  let n = 0;
  for (const [p, hi] of Object.entries(m.after[topic] ?? {})) {
    n += Math.max(0, hi - (m.before[topic]?.[Number(p)] ?? 0));
  }
  return n;
}

/** A row of a mirrored table, as comparable text. */
type RowText = string;

/** The mirror comparisons: PostgreSQL query, ClickHouse query, name. */
export const MIRROR_QUERIES: ReadonlyArray<
  { pg: string; ch: string; name: string }
> = [
  {
    pg:
      "SELECT id, name, email, (extract(epoch from created_at) * 1000000)::bigint AS us FROM users",
    ch:
      "SELECT id, name, email, created_at_us FROM analytics.pg_users FINAL WHERE _deleted = 0 AND _topic = 'customers.public.users'",
    name: "users",
  },
  {
    pg:
      "SELECT id, user_id, product_name, quantity, (extract(epoch from order_date) * 1000000)::bigint AS us FROM orders",
    ch:
      "SELECT id, user_id, product_name, quantity, order_date_us FROM analytics.pg_orders FINAL WHERE _deleted = 0 AND _topic = 'customers.public.orders'",
    name: "orders",
  },
];

/** Compares PostgreSQL `users`/`orders` with the ClickHouse mirrors. */
export async function compareMirror(
  pgClient: pg.Client,
  ch: ClickHouseClient,
): Promise<Check[]> {
  const checks: Check[] = [];
  for (const t of MIRROR_QUERIES) {
    const pgRows = (await pgClient.query({ text: t.pg, rowMode: "array" }))
      .rows as unknown[][];
    // JSONEachRow (18.16 has no JSONCompactEachRow); column order is kept.
    const rs = await ch.query({ query: t.ch, format: "JSONEachRow" });
    const chRows = (await rs.json<Record<string, unknown>>()).map((r) =>
      Object.values(r)
    );
    const key = (r: unknown[]): RowText =>
      r.map((v) => v === null ? "∅" : String(v)).join("|");
    const a = new Map(pgRows.map((r) => [String(r[0]), key(r)]));
    const b = new Map(chRows.map((r) => [String(r[0]), key(r)]));
    let missing = 0, extra = 0, differ = 0;
    for (const [id, row] of a) {
      const other = b.get(id);
      if (other === undefined) missing++;
      else if (other !== row) differ++;
    }
    for (const id of b.keys()) if (!a.has(id)) extra++;
    checks.push({
      table: {
        name: `mirror ${t.name}`,
        expected: a.size,
        found: b.size,
        missing,
        unexpected: extra,
        different: differ,
      },
      name: `mirror ${t.name}: PostgreSQL = ClickHouse FINAL`,
      expected: a.size,
      actual: b.size,
      ok: missing === 0 && extra === 0 && differ === 0,
      detail: missing || extra || differ
        ? `${missing} missing, ${extra} extra, ${differ} different`
        : undefined,
    });
  }
  return checks;
}

/** Renders checks as an aligned table with PASS/FAIL per line. */
export function renderChecks(checks: Check[]): string {
  const w = Math.max(...checks.map((c) => c.name.length), 10);
  const lines = [
    `${"check".padEnd(w)}  ${"expected".padStart(20)}  ${
      "actual".padStart(10)
    }  result`,
  ];
  for (const c of checks) {
    lines.push(
      `${c.name.padEnd(w)}  ${String(c.expected).padStart(20)}  ${
        String(c.actual).padStart(10)
      }  ${c.ok ? "PASS" : "FAIL"}${c.detail ? `  (${c.detail})` : ""}`,
    );
  }
  const failed = checks.filter((c) => !c.ok).length;
  lines.push(
    failed
      ? `FAIL: ${failed} of ${checks.length} checks failed`
      : `PASS: all ${checks.length} checks`,
  );
  return lines.join("\n");
}
