import assert from "node:assert/strict";
import { launchRefusal } from "./_launch.ts";

const ok = [
  "deno",
  "run",
  "--allow-read=.data",
  "--allow-net=127.0.0.1:1",
  "x.ts",
];

Deno.test("launcher: a plain deno run with scoped flags passes", () => {
  assert.equal(launchRefusal(ok), undefined);
  assert.equal(
    launchRefusal([...ok, "up", "-A"]),
    undefined,
    "args after the script are the script's",
  );
});

Deno.test("launcher: blanket, unscoped or foreign lines are refused", () => {
  const cases: Array<[string[], RegExp]> = [
    [["deno", "run", "-A", "x.ts"], /blanket permission -A/],
    [["deno", "run", "--allow-all", "x.ts"], /blanket permission --allow-all/],
    [["deno", "run", "-P", "x.ts"], /blanket permission -P/],
    [
      ["deno", "run", "--allow-run", "x.ts"],
      /unscoped permission --allow-run$/,
    ],
    [
      ["deno", "run", "--allow-read=.", "--unstable-ffi", "x.ts"],
      /unexpected flag/,
    ],
    [["deno", "eval", "1"], /not a plain "deno run"/],
    [["bash", "tasks/install.sh"], /not a plain "deno run"/],
    [["deno", "run", "--allow-read=."], /no script/],
  ];
  for (const [argv, why] of cases) {
    assert.match(launchRefusal(argv) ?? "", why, argv.join(" "));
  }
});
