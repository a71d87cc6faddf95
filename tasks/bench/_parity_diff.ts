/**
 * Field-by-field comparison of two connectors' records (`cdc_parity.ts`):
 * records are paired by position in their topic (one partition each), every
 * leaf of key and value is compared as JSON, and only the deliberate
 * differences (the READMEs' table) and the volatile fields are let through.
 *
 * @module
 */

/** A difference the READMEs list: one field path, each side's value, why. */
export interface Deliberate {
  /** `value.source.version` style path (array indexes never included). */
  path: string;
  debezium: string;
  ours: string;
  why: string;
}

/** Differences by design; `tests/cdc_parity_test.ts` checks both READMEs. */
export const DELIBERATE: readonly Deliberate[] = [
  {
    path: "value.source.version",
    debezium: "`3.6.1.Final`",
    ours: "`deno-cdc-1.0.0`",
    why: "names the software that wrote the record",
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

/** Compares two topics' records; `prefixes` are each side's `source.name`. */
export function diffRecords(
  where: string,
  dbz: readonly { key: unknown; value: unknown }[],
  ours: readonly { key: unknown; value: unknown }[],
  prefixes: { dbz: string; ours: string },
): Difference[] {
  const out: Difference[] = [];
  const deliberate = new Set(DELIBERATE.map((d) => d.path));
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
    const fa = flatten({ key: a.key, value: a.value }, "");
    const fb = flatten({ key: b.key, value: b.value }, "");
    const op = (a.value as { op?: unknown } | null)?.op;
    for (const path of new Set([...fa.keys(), ...fb.keys()])) {
      const p = path.slice(1);
      let va = fa.get(path);
      let vb = fb.get(path);
      if (p === "value.source.name") {
        // Each side writes its own topic prefix there.
        va = va === JSON.stringify(prefixes.dbz) ? "<prefix>" : va;
        vb = vb === JSON.stringify(prefixes.ours) ? "<prefix>" : vb;
      }
      if (deliberate.has(p.replace(/\[\d+\]/g, ""))) continue;
      if (isVolatile(p, op)) {
        va = kind(va);
        vb = kind(vb);
      }
      if (va !== vb) {
        out.push({ where: at, path: p, dbz: va ?? ABSENT, ours: vb ?? ABSENT });
      }
    }
  }
  return out;
}
