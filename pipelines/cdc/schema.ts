/**
 * Kafka Connect schemas for `--schemas` (JsonConverter `schemas.enable=true`):
 * the `schema` half of `{"schema":…,"payload":…}` for keys and values, built
 * per relation from pgoutput's Relation message (type OID, typmod) and the
 * type catalog, the way Debezium's PostgreSQL connector describes each column
 * with `decimal.handling.mode=string`. Every field also carries Debezium's
 * `column.propagate.source.type` parameters (`__debezium.source.column.*`)
 * so a consumer (the mirror sink) can type columns without asking
 * PostgreSQL. See README "Schemas".
 *
 * @module
 */
import {
  BUILTIN_ARRAYS,
  type DecimalMode,
  type PgTypeInfo,
} from "./convert.ts";

/** A Kafka Connect field schema as JsonConverter writes it. */
export interface FieldSchema {
  type: string;
  optional: boolean;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  items?: FieldSchema;
  field?: string;
  doc?: string;
  fields?: FieldSchema[];
}

/** What the schema builder needs to know about a column. */
export interface SchemaColumn {
  name: string;
  typeOid: number;
  /** `atttypmod` (-1 when none). */
  typeMod: number;
  optional: boolean;
}

/** Looks up a non-built-in type (enums, domains, arrays of those). */
export type TypeInfoLookup = (oid: number) => PgTypeInfo | undefined;

/** Connect type, optional logical name, PostgreSQL type name per built-in OID. */
const BUILTIN: Record<number, [string, string | undefined, string]> = {
  16: ["boolean", undefined, "BOOL"],
  17: ["bytes", undefined, "BYTEA"],
  18: ["string", undefined, "CHAR"],
  19: ["string", undefined, "NAME"],
  20: ["int64", undefined, "INT8"],
  21: ["int16", undefined, "INT2"],
  23: ["int32", undefined, "INT4"],
  24: ["string", undefined, "REGPROC"],
  25: ["string", undefined, "TEXT"],
  26: ["int64", undefined, "OID"],
  114: ["string", "io.debezium.data.Json", "JSON"],
  142: ["string", "io.debezium.data.Xml", "XML"],
  650: ["string", undefined, "CIDR"],
  700: ["float", undefined, "FLOAT4"],
  701: ["double", undefined, "FLOAT8"],
  790: ["string", undefined, "MONEY"],
  829: ["string", undefined, "MACADDR"],
  869: ["string", undefined, "INET"],
  1042: ["string", undefined, "BPCHAR"],
  1043: ["string", undefined, "VARCHAR"],
  1082: ["int32", "io.debezium.time.Date", "DATE"],
  1083: ["int64", "io.debezium.time.MicroTime", "TIME"],
  1114: ["int64", "io.debezium.time.MicroTimestamp", "TIMESTAMP"],
  1184: ["string", "io.debezium.time.ZonedTimestamp", "TIMESTAMPTZ"],
  1186: ["int64", "io.debezium.time.MicroDuration", "INTERVAL"],
  1266: ["string", "io.debezium.time.ZonedTime", "TIMETZ"],
  1560: ["string", undefined, "BIT"],
  1562: ["string", undefined, "VARBIT"],
  1700: ["string", undefined, "NUMERIC"],
  2950: ["string", "io.debezium.data.Uuid", "UUID"],
  3802: ["string", "io.debezium.data.Json", "JSONB"],
};

/** Length and scale from a typmod, as Debezium reports them. */
function lengthScale(oid: number, typeMod: number): [number, number?] {
  if (typeMod < 0) {
    // Debezium reports numeric without precision as length 0... scale absent.
    return [oid === 1700 ? 0 : 2147483647];
  }
  if (oid === 1700) {
    const t = typeMod - 4;
    return [(t >> 16) & 0xffff, t & 0xffff];
  }
  if (oid === 1042 || oid === 1043) return [typeMod - 4];
  if (oid === 1560 || oid === 1562) return [typeMod];
  // time/timestamp precision in the typmod itself.
  if ([1083, 1114, 1184, 1266].includes(oid)) return [typeMod, typeMod];
  return [typeMod];
}

/**
 * Connect type, logical name and extra parameters where the typmod or the
 * decimal mode decides (as Debezium 3.6.1 describes them side by side).
 */
function adaptive(
  oid: number,
  typeMod: number,
  mode: DecimalMode,
): [string, string | undefined, Record<string, string>?] | undefined {
  switch (oid) {
    case 1114: // timestamp(0..3): ms
      return typeMod >= 0 && typeMod <= 3
        ? ["int64", "io.debezium.time.Timestamp"]
        : undefined;
    case 1560: // bit(1) is a boolean, longer bit strings Bits
    case 1562:
      if (oid === 1560 && typeMod <= 1) return ["boolean", undefined];
      return ["bytes", "io.debezium.data.Bits", {
        length: String(typeMod < 0 ? 2147483647 : typeMod),
      }];
    case 790:
    case 1700: {
      if (mode === "double") return ["double", undefined];
      if (mode === "string") return undefined;
      const scale = oid === 790
        ? 2
        : typeMod >= 4
        ? (typeMod - 4) & 0xffff
        : -1;
      if (scale < 0) return ["struct", "io.debezium.data.VariableScaleDecimal"];
      return ["bytes", "org.apache.kafka.connect.data.Decimal", {
        scale: String(scale),
        ...(oid === 1700
          ? { "connect.decimal.precision": String((typeMod - 4) >> 16) }
          : {}),
      }];
    }
  }
  return undefined;
}

/** The schema of a value of type `oid` (no field name, not optional info). */
function typeSchema(
  oid: number,
  typeMod: number,
  lookup: TypeInfoLookup,
  depth = 0,
  mode: DecimalMode = "string",
): FieldSchema {
  const b = BUILTIN[oid];
  if (b) {
    const [len, scale] = lengthScale(oid, typeMod);
    const [type, name, extra] = adaptive(oid, typeMod, mode) ?? [b[0], b[1]];
    const parameters: Record<string, string> = {
      ...extra,
      "__debezium.source.column.type": b[2],
      "__debezium.source.column.length": String(len),
    };
    if (scale !== undefined) {
      parameters["__debezium.source.column.scale"] = String(scale);
    }
    const s: FieldSchema = { type, optional: true };
    if (name) {
      s.name = name;
      s.version = 1;
    }
    if (type === "struct") {
      s.doc = "Variable scaled decimal";
      s.fields = [
        { type: "int32", optional: false, field: "scale" },
        { type: "bytes", optional: false, field: "value" },
      ];
    }
    s.parameters = parameters;
    return s;
  }
  const elem = BUILTIN_ARRAYS[oid];
  if (elem !== undefined) {
    return {
      type: "array",
      optional: true,
      items: typeSchema(elem, typeMod, lookup, depth + 1, mode),
    };
  }
  const info = lookup(oid);
  if (info && depth < 8) {
    if (info.base) {
      // Domain: the base type's schema, the domain's name as the source type.
      const s = typeSchema(info.base, typeMod, lookup, depth + 1, mode);
      if (s.parameters) {
        s.parameters["__debezium.source.column.type"] = info.name
          .toUpperCase();
      }
      return s;
    }
    if (info.category === "A" && info.elem) {
      return {
        type: "array",
        optional: true,
        items: typeSchema(info.elem, typeMod, lookup, depth + 1, mode),
      };
    }
  }
  const s: FieldSchema = { type: "string", optional: true };
  if (info?.category === "E") {
    s.name = "io.debezium.data.Enum";
    s.version = 1;
  }
  s.parameters = {
    ...(info?.category === "E" && info.labels !== undefined
      ? { allowed: info.labels }
      : {}),
    "__debezium.source.column.type": (info?.name ?? `oid_${oid}`)
      .toUpperCase(),
    "__debezium.source.column.length": "2147483647",
  };
  return s;
}

/** The field schema of one column. */
export function columnSchema(
  c: SchemaColumn,
  lookup: TypeInfoLookup,
  mode: DecimalMode = "string",
): FieldSchema {
  const s = typeSchema(c.typeOid, c.typeMod, lookup, 0, mode);
  const out: FieldSchema = { ...s, optional: c.optional, field: c.name };
  if (out.items) out.items = { ...out.items, optional: true };
  return out;
}

/** The struct schema of a row (`<topic>.Value` or `<topic>.Key`). */
export function rowSchema(
  columns: SchemaColumn[],
  lookup: TypeInfoLookup,
  name: string,
  optional: boolean,
  mode: DecimalMode = "string",
): Record<string, unknown> {
  return {
    type: "struct",
    fields: columns.map((c) => columnSchema(c, lookup, mode)),
    optional,
    name,
  };
}

const f = (type: string, field: string, optional: boolean, name?: string) =>
  name === undefined
    ? { type, optional, field }
    : { type, optional, name, version: 1, field };

/** Debezium's PostgreSQL `source` block schema. */
const SOURCE_SCHEMA = {
  type: "struct",
  fields: [
    f("string", "version", false),
    f("string", "connector", false),
    f("string", "name", false),
    f("int64", "ts_ms", false),
    {
      type: "string",
      optional: true,
      name: "io.debezium.data.Enum",
      version: 1,
      parameters: {
        allowed:
          "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental",
      },
      default: "false",
      field: "snapshot",
    },
    f("string", "db", false),
    f("string", "sequence", true),
    f("int64", "ts_us", true),
    f("int64", "ts_ns", true),
    f("string", "schema", false),
    f("string", "table", false),
    f("int64", "txId", true),
    f("int64", "lsn", true),
    f("int64", "xmin", true),
    f("string", "origin", true),
    f("int64", "origin_lsn", true),
  ],
  optional: false,
  name: "io.debezium.connector.postgresql.Source",
  version: 1,
  field: "source",
};

const TRANSACTION_SCHEMA = {
  type: "struct",
  fields: [
    f("string", "id", false),
    f("int64", "total_order", false),
    f("int64", "data_collection_order", false),
  ],
  optional: true,
  name: "event.block",
  version: 1,
  field: "transaction",
};

/** The schemas of one table version, as JSON text, built once per relation. */
export interface TableSchemas {
  key: string;
  value: string;
}

/** Builds the key and envelope schemas of a table (`topic` = Connect name). */
export function tableSchemas(
  topic: string,
  columns: SchemaColumn[],
  keyColumns: string[],
  lookup: TypeInfoLookup,
  mode: DecimalMode = "string",
): TableSchemas {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const keyCols = keyColumns.map((k) => ({
    ...(byName.get(k) ?? { name: k, typeOid: 25, typeMod: -1 }),
    optional: false,
  }));
  const row = rowSchema(columns, lookup, `${topic}.Value`, true, mode);
  const value = {
    type: "struct",
    fields: [
      { ...row, field: "before" },
      { ...row, field: "after" },
      SOURCE_SCHEMA,
      TRANSACTION_SCHEMA,
      f("string", "op", false),
      f("int64", "ts_ms", true),
      f("int64", "ts_us", true),
      f("int64", "ts_ns", true),
    ],
    optional: false,
    name: `${topic}.Envelope`,
    version: 2,
  };
  return {
    key: JSON.stringify(
      rowSchema(keyCols, lookup, `${topic}.Key`, false, mode),
    ),
    value: JSON.stringify(value),
  };
}

/** Wraps a payload (JSON text) with its schema, JsonConverter style. */
export function withSchema(schema: string, payload: string): string {
  return `{"schema":${schema},"payload":${payload}}`;
}
