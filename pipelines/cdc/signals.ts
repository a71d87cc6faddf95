/**
 * The signal table (Debezium's `signal.data.collection`): rows inserted into
 * it travel through the replication stream like any change, so a signal is
 * ordered with the data around it. The relay reads two kinds: Debezium's
 * `execute-snapshot` (start an incremental snapshot of `data-collections`)
 * and its own chunk watermarks (`snapshot-window-open` / `-close`). The
 * signal table's rows are never published as change events.
 *
 * @module
 */
import { quoteIdent, splitTableName } from "./catalog.ts";

/** What one signal-table change means to the relay. */
export type Signal =
  | { kind: "execute-snapshot"; id: string; tables: string[] }
  | { kind: "window-open"; id: string; lsn: bigint }
  | { kind: "window-close"; id: string; lsn: bigint }
  | { kind: "ignored"; reason: string };

/** Debezium's watermark signal types (`insert_insert` watermarking). */
export const WINDOW_OPEN = "snapshot-window-open";
/** See {@link WINDOW_OPEN}. */
export const WINDOW_CLOSE = "snapshot-window-close";

/** The signal table's DDL, as Debezium documents it. */
export function signalTableDdl(table: string): string {
  const [s, t] = splitTableName(table);
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(s)}.${
    quoteIdent(t)
  } (id text PRIMARY KEY, type text NOT NULL, data text)`;
}

/**
 * Reads a signal-table record (the relay's own envelope JSON, with or
 * without the `--schemas` wrapper). Only inserts are signals; updates,
 * deletes (the relay removes its watermarks) and tombstones are ignored.
 */
export function parseSignal(value: string | null): Signal {
  if (value === null) return { kind: "ignored", reason: "tombstone" };
  let v = JSON.parse(value);
  if (v && "payload" in v && "schema" in v) v = v.payload;
  if (!v || (v.op !== "c" && v.op !== "r") || !v.after) {
    return { kind: "ignored", reason: `op ${v?.op}` };
  }
  const { id, type, data } = v.after as {
    id: string;
    type: string;
    data: string | null;
  };
  const lsn = BigInt(v.source?.lsn ?? 0);
  if (type === WINDOW_OPEN) return { kind: "window-open", id, lsn };
  if (type === WINDOW_CLOSE) return { kind: "window-close", id, lsn };
  if (type !== "execute-snapshot") {
    return { kind: "ignored", reason: `unsupported signal type ${type}` };
  }
  let parsed: { "data-collections"?: unknown; type?: unknown };
  try {
    parsed = JSON.parse(data ?? "{}");
  } catch {
    return { kind: "ignored", reason: `data is not JSON: ${data}` };
  }
  const kind = String(parsed.type ?? "incremental").toLowerCase();
  if (kind !== "incremental") {
    return { kind: "ignored", reason: `snapshot type ${kind} unsupported` };
  }
  const cols = parsed["data-collections"];
  if (!Array.isArray(cols) || cols.length === 0) {
    return { kind: "ignored", reason: "no data-collections" };
  }
  return {
    kind: "execute-snapshot",
    id,
    tables: cols.map((c) => splitTableName(String(c)).join(".")),
  };
}

/**
 * `--tables` as patterns: `schema.table` names and `schema.*` wildcards. A
 * Set (the stream's include filter) whose `has` also answers for tables
 * that appear later in a wildcard schema, except the relay's own tables.
 */
export class CapturedTables extends Set<string> {
  readonly #schemas: Set<string>;
  readonly #exclude: Set<string>;

  /** `patterns`: normalized `schema.table` / `schema.*`. */
  constructor(patterns: string[], exclude: string[] = []) {
    super(patterns.filter((p) => !p.endsWith(".*")));
    this.#schemas = new Set(
      patterns.filter((p) => p.endsWith(".*")).map((p) => p.slice(0, -2)),
    );
    this.#exclude = new Set(exclude);
  }

  /** The wildcard schemas. */
  get schemas(): string[] {
    return [...this.#schemas];
  }

  /** Whether `schema.table` is captured. */
  override has(name: string): boolean {
    if (super.has(name)) return true;
    if (this.#exclude.has(name)) return false;
    return this.#schemas.has(splitTableName(name)[0]);
  }
}
