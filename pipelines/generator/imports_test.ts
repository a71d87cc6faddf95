/**
 * The generator's modules import each other without a circle, so each file
 * can be read (and loaded) after the ones it depends on. The graph comes
 * from the static `import` / `export … from` specifiers of every production
 * file under `pipelines/generator/`.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { needsPermissions } from "../../tests/_gate.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** Relative specifiers of `import … from "x"` and `export … from "x"`. */
function localSpecifiers(source: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|\n)\s*(?:import|export)\b[^;"']*?\bfrom\s*["'](\.[^"']+)["']/g;
  for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

/** Every cycle's files, as found by a depth-first search (empty: none). */
function findCycles(graph: Map<string, string[]>): string[][] {
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

Deno.test("findCycles finds a circle and nothing in a tree", () => {
  const circle = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]);
  assert.deepEqual(findCycles(circle), [["a", "b", "c", "a"]]);
  const tree = new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]);
  assert.deepEqual(findCycles(tree), []);
  assert.deepEqual(
    localSpecifiers(
      'import type { X } from "./x.ts";\nexport {\n  Y,\n} from "../y.ts";\nimport z from "npm:z";',
    ),
    ["./x.ts", "../y.ts"],
  );
});

Deno.test(
  "no import circle between the generator's files",
  needsPermissions({ name: "read", path: HERE }),
  () => {
    const graph = new Map<string, string[]>();
    for (const file of productionFiles(HERE)) {
      const deps = localSpecifiers(Deno.readTextFileSync(file))
        .map((s) => join(dirname(file), s))
        .filter((d) => d.startsWith(HERE));
      graph.set(relative(HERE, file), deps.map((d) => relative(HERE, d)));
    }
    assert.ok(graph.size > 15, `${graph.size} files`);
    assert.deepEqual(findCycles(graph), []);
  },
);
