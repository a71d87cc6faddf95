import assert from "node:assert/strict";
import {
  type CommandSpec,
  HelpRequested,
  parseBytes,
  parseCommand,
  parseDuration,
  usage,
  UsageError,
  withBareValues,
} from "./cli.ts";

const spec = {
  name: "demo",
  summary: "A demo command",
  options: {
    rate: { type: "number", description: "events/s", default: 10, min: 1 },
    count: { type: "integer", description: "how many", env: "DEMO_COUNT" },
    kind: {
      type: "string",
      description: "kind",
      choices: ["a", "b"],
      default: "a",
    },
    topics: { type: "list", description: "topics", default: ["x"] },
    verbose: { type: "boolean", description: "chatty", default: false },
    token: {
      type: "string",
      description: "secret",
      env: "DEMO_TOKEN",
      secret: true,
    },
  },
} satisfies CommandSpec;

const noEnv = () => undefined;

Deno.test("parseCommand applies defaults, flags and env", () => {
  const { options } = parseCommand(spec, [
    "--rate",
    "2.5",
    "--topics",
    "a,b",
    "--topics",
    "c",
    "--verbose",
  ], (n) => n === "DEMO_COUNT" ? "7" : undefined);
  assert.equal(options.rate, 2.5);
  assert.equal(options.count, 7);
  assert.equal(options.kind, "a");
  assert.deepEqual(options.topics, ["a", "b", "c"]);
  assert.equal(options.verbose, true);
  assert.equal(options.token, undefined);
});

Deno.test("flags win over env", () => {
  const { options } = parseCommand(spec, ["--count=3"], () => "9");
  assert.equal(options.count, 3);
});

Deno.test("bad input raises UsageError naming the problem", () => {
  assert.throws(
    () => parseCommand(spec, ["--nope"], noEnv),
    (e) => e instanceof UsageError && /nope/.test(e.message),
  );
  assert.throws(
    () => parseCommand(spec, ["--rate", "fast"], noEnv),
    /--rate must be a number/,
  );
  assert.throws(() => parseCommand(spec, ["--rate", "0"], noEnv), /at least 1/);
  assert.throws(
    () => parseCommand(spec, ["--count", "1.5"], noEnv),
    /whole number/,
  );
  assert.throws(
    () => parseCommand(spec, ["--kind", "c"], noEnv),
    /one of a, b/,
  );
  assert.throws(() => parseCommand(spec, ["stray"], noEnv), UsageError);
  assert.throws(
    () => parseCommand(spec, [], (n) => n === "DEMO_COUNT" ? "x" : undefined),
    /DEMO_COUNT must be a number/,
  );
});

Deno.test("--help renders usage with defaults but hides secrets", () => {
  assert.throws(() => parseCommand(spec, ["--help"], noEnv), (e) => {
    assert.ok(e instanceof HelpRequested);
    assert.match(e.text, /Usage: deno task demo/);
    assert.match(e.text, /--rate <number>.*default: 10/);
    assert.match(e.text, /env: DEMO_TOKEN/);
    return true;
  });
  const text = usage({
    ...spec,
    options: {
      ...spec.options,
      token: { ...spec.options.token, default: "hunter2" },
    },
  });
  assert.ok(!text.includes("hunter2"));
});

Deno.test("durations and sizes", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2"), 2000);
  assert.equal(parseDuration("1.5m"), 90_000);
  assert.throws(() => parseDuration("soon"), UsageError);
  assert.equal(parseBytes("64KiB"), 65536);
  assert.equal(parseBytes("10MB"), 10_000_000);
  assert.throws(() => parseBytes("-1"), UsageError);
});

Deno.test("an envOnly option refuses its flag, naming the variable, and reads the env", () => {
  const envOnly = {
    ...spec,
    options: {
      ...spec.options,
      token: { ...spec.options.token, envOnly: true },
    },
  } satisfies CommandSpec;
  assert.throws(
    () => parseCommand(envOnly, ["--token", "hunter2"], noEnv),
    (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /--token is not accepted.*ps.*set DEMO_TOKEN/);
      assert.ok(!e.message.includes("hunter2"));
      return true;
    },
  );
  const { options } = parseCommand(
    envOnly,
    [],
    (n) => n === "DEMO_TOKEN" ? "s3cret" : undefined,
  );
  assert.equal(options.token, "s3cret");
  assert.match(usage(envOnly), /env only: DEMO_TOKEN/);
});

Deno.test("withBareValues: a bare flag gets its value; values, = and -- are left alone", () => {
  const s = {
    name: "demo",
    summary: "demo",
    options: {
      on: { type: "string", description: "x", bare: "true" },
      kind: { type: "string", description: "y" },
    },
  } satisfies CommandSpec;
  assert.deepEqual(withBareValues(s, ["--on"]), ["--on", "true"]);
  assert.deepEqual(withBareValues(s, ["--on", "--kind", "k"]), [
    "--on",
    "true",
    "--kind",
    "k",
  ]);
  assert.deepEqual(withBareValues(s, ["--on", "false"]), ["--on", "false"]);
  assert.deepEqual(withBareValues(s, ["--on=false"]), ["--on=false"]);
  assert.deepEqual(withBareValues(s, ["--kind", "--on"]), [
    "--kind",
    "--on",
    "true",
  ]);
  assert.deepEqual(withBareValues(s, ["--", "--on"]), ["--", "--on"]);
});
