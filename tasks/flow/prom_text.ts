/**
 * A small parser for the Prometheus text exposition format, enough to read
 * our pipelines' `/metrics` for the live view and reconciliation.
 *
 * @module
 */

/** One sample: metric name, labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses exposition text into samples (comments and blank lines skipped). */
export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (
        const lm of m[3].matchAll(
          /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
        )
      ) {
        labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
      }
    }
    const value = m[4] === "+Inf"
      ? Infinity
      : m[4] === "-Inf"
      ? -Infinity
      : Number(m[4]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** Sums the samples named `name` whose labels include `match`. */
export function sumOf(
  samples: Sample[],
  name: string,
  match: Record<string, string> = {},
): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) {
      total += s.value;
    }
  }
  return total;
}

/** Fetches and parses a `/metrics` endpoint; undefined when unreachable. */
export async function scrape(
  url: string,
  timeoutMs = 1_000,
): Promise<Sample[] | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    return parsePromText(await res.text());
  } catch {
    return undefined;
  }
}
