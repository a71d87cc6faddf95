/**
 * Minimal glob matching for the file source: `*`, `?`, `[...]` within one
 * path segment and `**` across segments. Only the directories below the
 * pattern's literal base are read, so permissions stay narrow.
 *
 * @module
 */

/** A pattern split into its literal base directory and a matcher. */
export interface GlobPlan {
  /** The pattern as given. */
  pattern: string;
  /** Directory to walk (the literal prefix), or the file itself. */
  base: string;
  /** True when the pattern has no wildcard (one literal path). */
  literal: boolean;
  /** Matches paths relative to `base`. */
  regex: RegExp;
  /** Maximum depth below base (Infinity with `**`). */
  depth: number;
}

const WILD = /[*?[]/;

/** Splits a pattern into base directory and relative matcher. */
export function planGlob(pattern: string): GlobPlan {
  const segments = pattern.split("/");
  const firstWild = segments.findIndex((s) => WILD.test(s));
  if (firstWild < 0) {
    return { pattern, base: pattern, literal: true, regex: /^$/, depth: 0 };
  }
  const baseSegs = segments.slice(0, firstWild);
  const base = baseSegs.length === 0
    ? "."
    : baseSegs.join("/") === ""
    ? "/"
    : baseSegs.join("/");
  const rest = segments.slice(firstWild);
  return {
    pattern,
    base,
    literal: false,
    regex: new RegExp(`^${restRegex(rest)}$`),
    depth: rest.includes("**") ? Infinity : rest.length,
  };
}

function restRegex(rest: string[]): string {
  let out = "";
  rest.forEach((seg, i) => {
    if (seg === "**") out += "(?:[^/]+/)*";
    else out += segmentRegex(seg) + (i < rest.length - 1 ? "/" : "");
  });
  return out;
}

function segmentRegex(seg: string): string {
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const close = seg.indexOf("]", i + 1);
      if (close < 0) out += "\\[";
      else {
        let cls = seg.slice(i + 1, close);
        if (cls.startsWith("!")) cls = "^" + cls.slice(1);
        out += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return out;
}

/** Joins a directory and a name without doubling slashes. */
export function joinPath(dir: string, name: string): string {
  if (dir === ".") return name;
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/**
 * Lists the regular files matching `plan`. Missing directories yield
 * nothing (files may appear later); permission errors propagate.
 */
export async function expandGlob(plan: GlobPlan): Promise<string[]> {
  if (plan.literal) {
    try {
      const st = await Deno.stat(plan.base);
      return st.isFile ? [plan.base] : [];
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    }
  }
  const out: string[] = [];
  const walk = async (dir: string, rel: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const p = joinPath(dir, e.name);
      if (e.isFile && plan.regex.test(r)) out.push(p);
      else if (e.isDirectory && depth + 1 < plan.depth) {
        await walk(p, r, depth + 1);
      }
    }
  };
  await walk(plan.base, "", 0);
  return out;
}
