/**
 * A tiny, deterministic YAML emitter for the plain data the cluster configs
 * need (objects, arrays, strings, numbers, booleans, null). No YAML library
 * is reachable here (JSR is blocked), and our needs are small.
 *
 * @module
 */

/** A value that {@link toYaml} can emit. */
export type YamlValue =
  | string
  | number
  | boolean
  | null
  | YamlValue[]
  | { [key: string]: YamlValue | undefined };

const PLAIN = /^[A-Za-z_./][A-Za-z0-9_./:@{}-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

function scalar(v: string | number | boolean | null): string {
  if (v === null) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (
    PLAIN.test(v) && !RESERVED.test(v) && !v.includes(": ") && !v.endsWith(":")
  ) return v;
  return JSON.stringify(v);
}

function key(k: string): string {
  return PLAIN.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

function isScalar(v: YamlValue): v is string | number | boolean | null {
  return v === null || typeof v !== "object";
}

function emit(v: YamlValue, indent: string, out: string[]): void {
  if (Array.isArray(v)) {
    for (const item of v) {
      if (isScalar(item)) {
        out.push(`${indent}- ${scalar(item)}`);
      } else if (Array.isArray(item)) {
        out.push(`${indent}-`);
        emit(item, indent + "  ", out);
      } else {
        const sub: string[] = [];
        emit(item, indent + "  ", sub);
        if (sub.length === 0) {
          out.push(`${indent}- {}`);
        } else {
          out.push(
            `${indent}- ${sub[0].slice(indent.length + 2)}`,
            ...sub.slice(1),
          );
        }
      }
    }
    return;
  }
  if (isScalar(v)) {
    out.push(indent + scalar(v));
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    if (val === undefined) continue;
    if (isScalar(val)) {
      out.push(`${indent}${key(k)}: ${scalar(val)}`);
    } else if (Array.isArray(val)) {
      if (val.length === 0) out.push(`${indent}${key(k)}: []`);
      else {
        out.push(`${indent}${key(k)}:`);
        emit(val, indent + "  ", out);
      }
    } else if (Object.keys(val).length === 0) {
      out.push(`${indent}${key(k)}: {}`);
    } else {
      out.push(`${indent}${key(k)}:`);
      emit(val, indent + "  ", out);
    }
  }
}

/** Render plain data as block-style YAML (ends with a newline). */
export function toYaml(value: YamlValue): string {
  const out: string[] = [];
  emit(value, "", out);
  return out.join("\n") + "\n";
}
