/**
 * The event tables' schemas as the sink validates them. They mirror the DDL
 * in `schemas/clickhouse/010_security_events.sql` and `020_fact_log.sql`
 * (kept in sync by a test that reads `system.columns`).
 *
 * @module
 */
import {
  ACTIONS,
  HTTP_LEVELS,
  HTTP_METHODS,
  HTTP_SERVICES,
  PROTOCOLS,
  SECURITY_EVENT_TYPES,
  SEVERITIES,
} from "../runtime/contract.ts";

/** How a field is checked and written. */
export type FieldKind =
  | "uuid"
  | "string"
  | "enum"
  | "ipv4"
  | "port"
  | "status"
  | "float_nonneg"
  | "iso_time"
  | "hex32";

/** One source field of an event. */
export interface FieldSpec {
  name: string;
  kind: FieldKind;
  /** Missing (or null) is an error; otherwise it defaults to "" / 0. */
  required: boolean;
  /** Allowed values for `enum`. */
  values?: readonly string[];
  /** `"name":`, precomputed for the hot path. */
  key: string;
  /** `values` as a set, precomputed. */
  valueSet?: ReadonlySet<string>;
}

/** A table the sink writes events into. */
export interface EventTable {
  name: "security_events" | "fact_log" | "error_log";
  fields: readonly FieldSpec[];
  /** Derived columns appended after the fields (JSON fragment builder). */
  derive?: (ev: Record<string, unknown>) => string;
  /** Columns in insert order (for the schema check). */
  columns: readonly string[];
}

const req = (
  name: string,
  kind: FieldKind,
  values?: readonly string[],
): FieldSpec => ({
  name,
  kind,
  required: true,
  key: `"${name}":`,
  ...(values ? { values, valueSet: new Set(values) } : {}),
});
const opt = (name: string, kind: FieldKind): FieldSpec => ({
  name,
  kind,
  required: false,
  key: `"${name}":`,
});

/** Enrichment columns every row carries, in order. */
export const ENRICHMENT = [
  "_topic",
  "_partition",
  "_offset",
  "_ingested_at",
] as const;

function columnsOf(fields: readonly FieldSpec[], derived: string[]): string[] {
  const cols: string[] = [];
  for (const f of fields) {
    cols.push(f.name);
    if (f.kind === "iso_time") cols.push(`${f.name}_ms`);
  }
  return [...cols, ...derived, ...ENRICHMENT];
}

const SECURITY_FIELDS: readonly FieldSpec[] = [
  req("event_id", "uuid"),
  req("timestamp", "iso_time"),
  req("event_type", "enum", SECURITY_EVENT_TYPES),
  req("severity", "enum", SEVERITIES),
  req("src_ip", "ipv4"),
  req("src_port", "port"),
  req("dst_ip", "ipv4"),
  req("dst_port", "port"),
  req("protocol", "enum", PROTOCOLS),
  opt("user", "string"),
  opt("host", "string"),
  req("action", "enum", ACTIONS),
  opt("message", "string"),
  opt("scenario_id", "string"),
];

const HTTP_FIELDS: readonly FieldSpec[] = [
  req("event_id", "uuid"),
  req("timestamp", "iso_time"),
  req("service", "enum", HTTP_SERVICES),
  req("method", "enum", HTTP_METHODS),
  req("path", "string"),
  req("status", "status"),
  req("latency_ms", "float_nonneg"),
  opt("user_id", "string"),
  req("client_ip", "ipv4"),
  opt("user_agent", "string"),
  req("trace_id", "hex32"),
  req("level", "enum", HTTP_LEVELS),
  opt("message", "string"),
];

/** `is_error` is derived from the status code (server errors). */
const deriveHttp = (ev: Record<string, unknown>): string =>
  `,"is_error":${(ev.status as number) >= 500 ? 1 : 0}`;

/** The event tables by name. */
export const EVENT_TABLES: Record<EventTable["name"], EventTable> = {
  security_events: {
    name: "security_events",
    fields: SECURITY_FIELDS,
    columns: columnsOf(SECURITY_FIELDS, []),
  },
  fact_log: {
    name: "fact_log",
    fields: HTTP_FIELDS,
    derive: deriveHttp,
    columns: columnsOf(HTTP_FIELDS, ["is_error"]),
  },
  error_log: {
    name: "error_log",
    fields: HTTP_FIELDS,
    derive: deriveHttp,
    columns: columnsOf(HTTP_FIELDS, ["is_error"]),
  },
};

/** Columns of the dead-letter table, in order. */
export const DEAD_LETTER_COLUMNS = [
  "ts",
  "pipeline",
  "reason",
  "source",
  "original",
  ...ENRICHMENT,
] as const;

/** Columns of the CDC mirror tables, by table. */
export const MIRROR_COLUMNS = {
  pg_users: [
    "id",
    "name",
    "email",
    "created_at",
    "created_at_us",
    "_version",
    "_deleted",
    "_op",
    ...ENRICHMENT,
  ],
  pg_orders: [
    "id",
    "user_id",
    "product_name",
    "quantity",
    "order_date",
    "order_date_us",
    "_version",
    "_deleted",
    "_op",
    ...ENRICHMENT,
  ],
} as const;
