/**
 * Row building for any table: the table's columns (from `system.columns`)
 * become one converter per column, and a JSON message becomes one complete
 * JSONEachRow line. Missing (or null, for non-Nullable columns) fields are
 * omitted, so ClickHouse fills the column's DEFAULT; unknown fields are
 * ignored and counted; the metadata columns are filled from the Kafka message
 * only where the table has them.
 *
 * @module
 */
import {
  baseTypeName,
  ConvertError,
  isNullable,
  type ValueConverter,
  valueConverter,
} from "./convert.ts";

/** A column as `system.columns` describes it. */
export interface ColumnInfo {
  name: string;
  type: string;
  /** `DEFAULT`, `MATERIALIZED`, `ALIAS`, `EPHEMERAL` or empty. */
  default_kind?: string;
}

/** The Kafka side of a message, for the metadata columns. */
export interface RowMeta {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  /** The Kafka message timestamp (epoch ms). */
  timestampMs: number;
}

/** Columns filled from the Kafka message, not from its JSON value. */
export const METADATA_COLUMNS = [
  "_topic",
  "_partition",
  "_offset",
  "_ingested_at",
  "_key",
  "_timestamp",
] as const;

type Meta = typeof METADATA_COLUMNS[number];

/** A row, or the reason the message cannot be one. */
export type RowResult =
  | { ok: true; line: string; unknown: number }
  | { ok: false; reason: string };

interface Col {
  name: string;
  key: string;
  conv: ValueConverter;
  nullable: boolean;
}

/** Converts messages into rows of one table. */
export interface RowConverter {
  /** Insertable columns (no MATERIALIZED/ALIAS), in table order. */
  readonly columns: readonly string[];
  /** The metadata columns the table has. */
  readonly metadata: readonly string[];
  /** One complete JSONEachRow line, or the reason (naming the column). */
  convert(
    value: Record<string, unknown>,
    meta: RowMeta,
    ingestedSec: number,
  ): RowResult;
}

/** Metadata columns whose type takes the value we have for them. */
function metaFits(name: Meta, type: string): boolean {
  const base = baseTypeName(type);
  const isString = base === "String" || base === "FixedString";
  const isNum = /^U?Int\d+$|^Float|^Decimal/.test(base);
  const isTime = /^DateTime/.test(base);
  switch (name) {
    case "_topic":
    case "_key":
      return isString;
    case "_partition":
    case "_offset":
      return isNum;
    case "_ingested_at":
    case "_timestamp":
      return isNum || isTime;
  }
}

/** Builds the converter of a table from its columns. */
export function buildRowConverter(columns: ColumnInfo[]): RowConverter {
  const cols: Col[] = [];
  const meta = new Map<Meta, Col>();
  const names = new Set<string>();
  for (const c of columns) {
    const kind = (c.default_kind ?? "").toUpperCase();
    if (kind === "MATERIALIZED" || kind === "ALIAS") continue;
    const col: Col = {
      name: c.name,
      key: JSON.stringify(c.name) + ":",
      conv: valueConverter(c.type),
      nullable: isNullable(c.type),
    };
    names.add(c.name);
    if (
      (METADATA_COLUMNS as readonly string[]).includes(c.name) &&
      metaFits(c.name as Meta, c.type)
    ) {
      meta.set(c.name as Meta, col);
    } else cols.push(col);
  }
  const metaValue = (name: Meta, m: RowMeta, ingestedSec: number) => {
    switch (name) {
      case "_topic":
        return m.topic;
      case "_partition":
        return m.partition;
      case "_offset":
        return m.offset;
      case "_ingested_at":
        return ingestedSec;
      case "_key":
        return m.key;
      case "_timestamp":
        return m.timestampMs;
    }
  };
  const metaCols = [...meta.entries()];
  return {
    columns: [...names],
    metadata: [...meta.keys()],
    convert(value, m, ingestedSec) {
      const parts: string[] = [];
      for (const c of cols) {
        const v = value[c.name];
        // Missing, or null where NULL is not allowed: the column's DEFAULT.
        if (v === undefined || (v === null && !c.nullable)) continue;
        try {
          parts.push(c.key + c.conv(v));
        } catch (err) {
          return { ok: false, reason: columnReason(c.name, err) };
        }
      }
      for (const [name, c] of metaCols) {
        const v = metaValue(name, m, ingestedSec);
        if (v === null || v === undefined) continue;
        try {
          parts.push(c.key + c.conv(v));
        } catch (err) {
          return { ok: false, reason: columnReason(c.name, err) };
        }
      }
      let unknown = 0;
      for (const k in value) if (!names.has(k)) unknown++;
      return { ok: true, line: "{" + parts.join(",") + "}", unknown };
    },
  };
}

function columnReason(column: string, err: unknown): string {
  if (err instanceof ConvertError) return `column "${column}": ${err.message}`;
  return `column "${column}": ${(err as Error)?.message ?? String(err)}`;
}
