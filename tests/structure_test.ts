/**
 * The tree's shape (issue 15): no import circle between files, nothing in
 * `pipelines/`, `dashboards/` or `schemas/` imports `tasks/` (tasks sit on
 * top), and no production file in `pipelines/` or `tasks/` is over 550
 * lines. The graph comes from the static `import` / `export … from`
 * specifiers of every production file.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { needsPermissions } from "./_gate.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DIRS = ["pipelines", "tasks", "dashboards", "schemas"];
const MAX_LINES = 550;

/** Relative specifiers of `import … from "x"` and `export … from "x"`. */
export function localSpecifiers(source: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|\n)\s*(?:import|export)\b[^;"']*?\bfrom\s*["'](\.[^"']+)["']/g;
  for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

/** Every cycle's files, as found by a depth-first search (empty: none). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, "active");
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === "active") {
        cycles.push([...stack.slice(stack.indexOf(d)), d]);
      } else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

function productionFiles(dir: string): string[] {
  const files: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) files.push(...productionFiles(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      files.push(p);
    }
  }
  return files;
}

/** Repo-relative file → repo-relative local imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const d of DIRS) {
    for (const file of productionFiles(join(ROOT, d))) {
      const deps = localSpecifiers(Deno.readTextFileSync(file))
        .map((s) => relative(ROOT, join(dirname(file), s)));
      graph.set(relative(ROOT, file), deps);
    }
  }
  return graph;
}

Deno.test("findCycles finds a circle and nothing in a tree", () => {
  const circle = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]);
  assert.deepEqual(findCycles(circle), [["a", "b", "c", "a"]]);
  const tree = new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]);
  assert.deepEqual(findCycles(tree), []);
  assert.deepEqual(
    localSpecifiers(
      'import type { X } from "./x.ts";\nexport {\n  Y,\n} from "../y.ts";\nimport z from "npm:z";\n * import { q } from "./doc.ts";',
    ),
    ["./x.ts", "../y.ts"],
  );
});

const READ = needsPermissions({ name: "read", path: ROOT });

Deno.test("no import circle between the tree's files", READ, () => {
  const graph = importGraph();
  assert.ok(graph.size > 100, `${graph.size} files`);
  assert.deepEqual(findCycles(graph), []);
});

Deno.test(
  "pipelines/, dashboards/ and schemas/ never import tasks/",
  READ,
  () => {
    const wrong = [...importGraph()].flatMap(([file, deps]) =>
      file.startsWith("tasks/")
        ? []
        : deps.filter((d) => d.startsWith("tasks/")).map((d) =>
          `${file} → ${d}`
        )
    );
    assert.deepEqual(wrong, []);
  },
);

Deno.test(
  `no production file in pipelines/ or tasks/ over ${MAX_LINES} lines`,
  READ,
  () => {
    const long = ["pipelines", "tasks"].flatMap((d) =>
      productionFiles(join(ROOT, d)).map((f) => ({
        file: relative(ROOT, f),
        lines: Deno.readTextFileSync(f).split("\n").length - 1,
      }))
    ).filter((f) => f.lines > MAX_LINES);
    assert.deepEqual(long, []);
  },
);
