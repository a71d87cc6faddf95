/**
 * Field-by-field comparison of two connectors' records (`cdc_parity.ts`):
 * records are paired by position in their topic (one partition each), every
 * leaf of key and value is compared as JSON, and only the deliberate
 * differences (the READMEs' table) and the volatile fields are let through.
 *
 * @module
 */

/** A difference the READMEs list: a field, each side's value, why. */
export interface Deliberate {
  /** The field as the READMEs name it. */
  path: string;
  /** Which compared paths it covers. */
  match: RegExp;
  /** Whether this pair of values (JSON text) is the listed difference. */
  applies: (dbz: string, ours: string) => boolean;
  debezium: string;
  ours: string;
  why: string;
}

const always = () => true;

/** Differences by design; `tests/cdc_parity_test.ts` checks both READMEs. */
export const DELIBERATE: readonly Deliberate[] = [
  {
    path: "source.version",
    match: /^value\.source\.version$/,
    applies: always,
    debezium: "`3.6.1.Final`",
    ours: "`deno-cdc-1.0.0`",
    why: "names the software that wrote the record",
  },
  {
    path: "transaction.id",
    match: /^value\.transaction\.id$/,
    applies: (a, b) => a.split(":")[0] === b.split(":")[0],
    debezium: "`<txId>:<the event's LSN>`",
    ours: "`<txId>:<commit LSN>`",
    why:
      "same for every record of a transaction; the mirror versions rows by (commit LSN, `source.lsn`), as `source.lsn` alone does not order a row across the snapshot",
  },
  {
    path: "source.sequence (first transaction after a new slot)",
    match: /^value\.source\.sequence$/,
    applies: (a) => a.startsWith('"[null,'),
    debezium: "`[null, lsn]`",
    ours: "`[<slot's consistent point>, lsn]`",
    why:
      "the position the stream resumes from is known; Debezium has none before its first commit",
  },
  {
    path: "multi-dimensional array columns",
    match: /^value\.(before|after)\.[^.]+$/,
    applies: (a, b) => /^\[null(,null)*\]$/.test(a) && b.startsWith("[["),
    debezium: "one `null` per sub-array",
    ours: "nested arrays (`[[1,2],[3,4]]`)",
    why: "keeps the values",
  },
  {
    path: "`numeric[]` holding `NaN`",
    match: /^value\.(before|after)\.[^.]+$/,
    applies: (a, b) => a === "null" && b.startsWith("["),
    debezium: "`null` (conversion error logged)",
    ours: '`["NAN", …]` (`precise`: `[null, …]`)',
    why: "keeps the values",
  },
  {
    path: "schema parameters `__debezium.source.column.*` (`--schemas`)",
    match: /Schema\..*parameters\.__debezium\.source\.column\.\w+$/,
    applies: always,
    debezium:
      "only with `column.propagate.source.type`; JDBC sizes (`int4` length 10, scale 0; `timestamp` 29, 6), `…column.name`; arrays on the field (`_INT4`)",
    ours:
      "always; PostgreSQL's typmod (numeric precision and scale, `varchar(n)`/`bit(n)` n, else 2147483647); arrays on `items`",
    why:
      "the mirror sink types columns from them without a PostgreSQL connection",
  },
];

/**
 * Fields two connectors cannot agree on, compared by presence and JSON type
 * only: the envelope's `ts_*` are when each connector built the record; a
 * snapshot's `source.ts_*` (snapshot start), `lsn`, `sequence` and `txId`
 * belong to each connector's own slot and snapshot transaction.
 */
export function isVolatile(path: string, op: unknown): boolean {
  if (/^value\.ts_(ms|us|ns)$/.test(path)) return true;
  return op === "r" &&
    /^value\.source\.(ts_(ms|us|ns)|lsn|sequence|txId)$/.test(path);
}

/** One difference found. */
export interface Difference {
  /** `<schema>.<table> #<index>`. */
  where: string;
  path: string;
  dbz: string;
  ours: string;
}

/** Every leaf of a JSON value by path (`a.b[2].c`), values as JSON text. */
export function flatten(
  v: unknown,
  path: string,
  out = new Map<string, string>(),
): Map<string, string> {
  // A column's value is one leaf: arrays and structs compare whole.
  if (/^\.(key|value\.(before|after))\.[^.]+$/.test(path)) {
    out.set(path, JSON.stringify(v));
    return out;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) out.set(path, "[]");
    v.forEach((x, i) => flatten(x, `${path}[${i}]`, out));
  } else if (v !== null && typeof v === "object") {
    const entries = Object.entries(v);
    if (entries.length === 0) out.set(path, "{}");
    for (const [k, x] of entries) flatten(x, `${path}.${k}`, out);
  } else {
    out.set(path, v === undefined ? "undefined" : JSON.stringify(v));
  }
  return out;
}

const ABSENT = "(absent)";

/** JSON type of a leaf's text, for volatile fields. */
function kind(text: string | undefined): string {
  if (text === undefined) return ABSENT;
  if (text === "null") return "null";
  if (text.startsWith('"')) return "string";
  return /^-?\d/.test(text) ? "number" : text;
}

/** `{schema, payload}` (JsonConverter `schemas.enable`) → the payload. */
function payload(v: unknown): unknown {
  if (v && typeof v === "object" && "schema" in v && "payload" in v) {
    return (v as { payload: unknown }).payload;
  }
  return v;
}

/**
 * A record as compared: key and value payloads, and their schemas (when
 * present) with the side's topic prefix replaced in the schema names.
 */
function unwrap(
  r: { key: unknown; value: unknown },
  prefix: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    key: payload(r.key),
    value: payload(r.value),
  };
  for (const part of ["key", "value"] as const) {
    const v = r[part] as { schema?: unknown } | null;
    if (v && typeof v === "object" && "schema" in v && "payload" in v) {
      out[`${part}Schema`] = JSON.parse(
        JSON.stringify(v.schema).replaceAll(`"${prefix}.`, '"<prefix>.'),
      );
    }
  }
  return out;
}

/** Compares two topics' records; `prefixes` are each side's `source.name`. */
export function diffRecords(
  where: string,
  dbz: readonly { key: unknown; value: unknown }[],
  ours: readonly { key: unknown; value: unknown }[],
  prefixes: { dbz: string; ours: string },
): Difference[] {
  const out: Difference[] = [];
  for (let i = 0; i < Math.max(dbz.length, ours.length); i++) {
    const at = `${where} #${i}`;
    const a = dbz[i];
    const b = ours[i];
    if (!a || !b) {
      out.push({
        where: at,
        path: "(record)",
        dbz: a ? JSON.stringify(a).slice(0, 200) : ABSENT,
        ours: b ? JSON.stringify(b).slice(0, 200) : ABSENT,
      });
      continue;
    }
    const fa = flatten(unwrap(a, prefixes.dbz), "");
    const fb = flatten(unwrap(b, prefixes.ours), "");
    const op = (unwrap(a, "").value as { op?: unknown } | null)?.op;
    for (const path of new Set([...fa.keys(), ...fb.keys()])) {
      const p = path.slice(1);
      let va = fa.get(path);
      let vb = fb.get(path);
      if (p === "value.source.name") {
        // Each side writes its own topic prefix there.
        va = va === JSON.stringify(prefixes.dbz) ? "<prefix>" : va;
        vb = vb === JSON.stringify(prefixes.ours) ? "<prefix>" : vb;
      }
      if (isVolatile(p, op)) {
        va = kind(va);
        vb = kind(vb);
      }
      const listed = DELIBERATE.some((d) =>
        d.match.test(p) && d.applies(va ?? ABSENT, vb ?? ABSENT)
      );
      if (va !== vb && !listed) {
        out.push({ where: at, path: p, dbz: va ?? ABSENT, ours: vb ?? ABSENT });
      }
    }
  }
  return out;
}
