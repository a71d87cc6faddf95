/**
 * CDC mirror mode: Debezium change events (JSON without schemas, see the
 * data contracts) → rows of the ReplacingMergeTree mirrors `pg_users` /
 * `pg_orders`, versioned by the change's LSN, deletes as `_deleted = 1`.
 *
 * @module
 */
import {
  type AutoMirrors,
  encodeAutoRow,
  mirrorName,
  schemaText,
} from "./cdc_auto.ts";
import { parseExact } from "./cdc_types.ts";
import { enrichment, type MessageMeta, parseObject } from "./validate.ts";

/** How a mirrored column is converted. */
type MirrorKind = "int" | "string" | "micros";

/** A mirror table: primary key `id` plus columns. */
interface MirrorTable {
  name: "pg_users" | "pg_orders";
  columns: ReadonlyArray<[string, MirrorKind]>;
}

/**
 * Mirror tables by PostgreSQL table name. A Map, not an object: a message's
 * `source.table` such as `constructor` or `__proto__` must not find
 * `Object.prototype` members (it is an unknown table, hence a dead letter).
 */
export const MIRRORS: ReadonlyMap<string, MirrorTable> = new Map(
  Object.entries(
    {
      users: {
        name: "pg_users",
        columns: [["name", "string"], ["email", "string"], [
          "created_at",
          "micros",
        ]],
      },
      orders: {
        name: "pg_orders",
        columns: [
          ["user_id", "int"],
          ["product_name", "string"],
          ["quantity", "int"],
          ["order_date", "micros"],
        ],
      },
    } satisfies Record<string, MirrorTable>,
  ),
);

/** What a CDC message turns into. */
export type CdcResult =
  | { kind: "row"; table: string; line: string; id: number; eventMs?: number }
  | { kind: "skip"; why: string }
  | { kind: "truncate"; table: string; version: number }
  | { kind: "invalid"; reason: string };

/** LSN (number or digit string) → version number. */
function toVersion(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === "string" && /^\d{1,15}$/.test(v)) return Number(v);
  return undefined;
}

function convert(
  name: string,
  kind: MirrorKind,
  v: unknown,
): string | { reason: string } {
  if (v === undefined || v === null) {
    return kind === "micros"
      ? `"${name}":null,"${name}_us":null`
      : `"${name}":null`;
  }
  if (v === "__debezium_unavailable_value") {
    return { reason: `column "${name}" is an unavailable TOASTed value` };
  }
  switch (kind) {
    case "string":
      if (typeof v !== "string") {
        return { reason: `column "${name}": expected a string` };
      }
      return `"${name}":${JSON.stringify(v)}`;
    case "int":
      if (typeof v !== "number" || !Number.isSafeInteger(v)) {
        return { reason: `column "${name}": expected an integer` };
      }
      return `"${name}":${v}`;
    case "micros": {
      if (typeof v !== "number" || !Number.isSafeInteger(v)) {
        return {
          reason: `column "${name}": expected microseconds since epoch`,
        };
      }
      // DateTime cannot hold times before 1970: keep the exact *_us value.
      const sec = Math.max(0, Math.floor(v / 1_000_000));
      return `"${name}":${sec},"${name}_us":${v}`;
    }
  }
}

/**
 * Converts one Debezium message into a mirror row. `target` is the routed
 * table (`mirror` = derive from `source.table`). Tombstones are skipped:
 * the delete before them already wrote the `_deleted` row.
 */
export function encodeChange(
  value: string | null,
  meta: MessageMeta,
  target: string,
  auto?: AutoMirrors,
): CdcResult {
  if (value === null) return { kind: "skip", why: "tombstone" };
  // Schema-carrying messages may mirror any table: keep int64 exact.
  const parsed = auto && value.startsWith('{"schema":')
    ? parseExactObject(value)
    : parseObject(value);
  if (!parsed.ok) return { kind: "invalid", reason: parsed.reason };
  let env = parsed.value;
  // Tolerate JsonConverter with schemas.enable=true.
  if (
    env.payload && typeof env.payload === "object" && "schema" in env
  ) env = env.payload as Record<string, unknown>;
  const op = env.op;
  const source = env.source as Record<string, unknown> | undefined;
  if (typeof op !== "string" || !["c", "u", "d", "r", "t"].includes(op)) {
    return { kind: "invalid", reason: `not a Debezium change: op ${op}` };
  }
  if (!source || typeof source !== "object") {
    return { kind: "invalid", reason: "missing source block" };
  }
  const pgTable = String(source.table ?? "");
  const mirror = target === "mirror"
    ? MIRRORS.get(pgTable)
    : [...MIRRORS.values()].find((m) => m.name === target);
  const version = toVersion(source.lsn);
  if (!mirror) {
    const text = auto && target === "mirror" ? schemaText(value) : undefined;
    if (!auto || text === undefined) {
      return {
        kind: "invalid",
        reason: `no mirror table for ${source.schema}.${pgTable}${
          auto
            ? " (messages without a schema: run the relay with --schemas)"
            : ""
        }`,
      };
    }
    if (version === undefined) {
      return { kind: "invalid", reason: `source.lsn is not an LSN number` };
    }
    return autoChange(auto, text, env, op, version, meta, source);
  }
  if (version === undefined) {
    return { kind: "invalid", reason: `source.lsn is not an LSN number` };
  }
  if (op === "t") return { kind: "truncate", table: mirror.name, version };
  const deleted = op === "d";
  const row = rowImage(env, deleted);
  if (!row) {
    return {
      kind: "invalid",
      reason: `op "${op}" without ${deleted ? "before" : "after"} image`,
    };
  }
  const id = row.id;
  if (typeof id !== "number" || !Number.isSafeInteger(id)) {
    return { kind: "invalid", reason: "primary key id is not an integer" };
  }
  let line = `{"id":${id}`;
  for (const [name, kind] of mirror.columns) {
    // A delete's before-image holds only the key unless REPLICA IDENTITY FULL.
    const frag = convert(name, kind, row[name]);
    if (typeof frag !== "string") {
      return { kind: "invalid", reason: frag.reason };
    }
    line += "," + frag;
  }
  line += `,"_version":${version},"_deleted":${deleted ? 1 : 0},"_op":"${op}"`;
  return {
    kind: "row",
    table: mirror.name,
    line: line + enrichment(meta),
    id,
    eventMs: commitMs(op, source),
  };
}

/**
 * The PostgreSQL commit time of a change, for the freshness histogram
 * (commit → row in ClickHouse). A snapshot read (`op: "r"`, initial or
 * incremental) has none: its `source.ts_ms` is when the relay read the row,
 * so a large snapshot would otherwise put seconds of queueing of rows that
 * were never committed "now" into the mirror's freshness p99.
 */
export function commitMs(
  op: string,
  source: Record<string, unknown>,
): number | undefined {
  if (op === "r") return undefined;
  return typeof source.ts_ms === "number" ? source.ts_ms : undefined;
}

/** A change of a table mirrored from its message schema (cdc_auto.ts). */
function autoChange(
  auto: AutoMirrors,
  text: string,
  env: Record<string, unknown>,
  op: string,
  version: number,
  meta: MessageMeta,
  source: Record<string, unknown>,
): CdcResult {
  if (op === "t") {
    const table = mirrorName(String(source.schema), String(source.table));
    // Nothing mirrored yet: nothing to truncate.
    if (!auto.exists(table)) {
      return { kind: "skip", why: "truncate, no mirror" };
    }
    return { kind: "truncate", table, version };
  }
  const spec = auto.spec(text);
  if (!spec) return { kind: "invalid", reason: "schema not prepared" };
  if (!("table" in spec)) return { kind: "invalid", reason: spec.reason };
  const deleted = op === "d";
  const row = rowImage(env, deleted);
  if (!row) {
    return {
      kind: "invalid",
      reason: `op "${op}" without ${deleted ? "before" : "after"} image`,
    };
  }
  const r = encodeAutoRow(spec, row, version, op);
  if ("reason" in r) return { kind: "invalid", reason: r.reason };
  return {
    kind: "row",
    table: spec.table,
    line: r.line + enrichment(meta),
    id: r.hash,
    eventMs: commitMs(op, source),
  };
}

function parseExactObject(
  text: string,
): { ok: true; value: Record<string, unknown> } | {
  ok: false;
  reason: string;
} {
  try {
    const v = parseExact(text);
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return { ok: true, value: v as Record<string, unknown> };
    }
    return { ok: false, reason: "not a JSON object" };
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${(err as Error).message}` };
  }
}

/** The row a change carries: `before` for a delete, else `after`. */
function rowImage(
  env: { before?: unknown; after?: unknown },
  deleted: boolean,
): Record<string, unknown> | undefined {
  const row = deleted ? env.before : env.after;
  return row && typeof row === "object"
    ? row as Record<string, unknown>
    : undefined;
}
