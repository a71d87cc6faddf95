import assert from "node:assert/strict";
import { parseCommand, UsageError } from "../runtime/cli.ts";
import {
  GENERATOR_SPEC,
  parsePairs,
  SEEDED_EPOCH,
  toConfig,
} from "./config.ts";

const noEnv = () => undefined;
const cfg = (...args: string[]) =>
  toConfig(parseCommand(GENERATOR_SPEC, args, noEnv).options, () => "rnd");

Deno.test("defaults: security to rotating files, wall clock, random seed", () => {
  const c = cfg();
  assert.equal(c.kind, "security");
  assert.equal(c.to, "file");
  assert.equal(c.dir, ".data/events");
  assert.equal(c.seed, "rnd");
  assert.equal(c.seeded, false);
  assert.equal(c.startMs, undefined);
  assert.equal(c.maxFileBytes, 64 * 1024 * 1024);
  assert.equal(c.metricsPort, 19464);
  assert.equal(c.flushMs, 50);
});

Deno.test("--flush-interval is a duration from 1ms to 250ms", () => {
  assert.equal(cfg("--flush-interval", "10ms").flushMs, 10);
  assert.equal(cfg("--flush-interval", "250ms").flushMs, 250);
  assert.throws(() => cfg("--flush-interval", "0ms"), UsageError);
  assert.throws(() => cfg("--flush-interval", "1s"), UsageError);
});

Deno.test("--seed starts simulated time at the fixed epoch; --start overrides", () => {
  assert.equal(cfg("--seed", "7").startMs, Date.parse(SEEDED_EPOCH));
  assert.equal(
    cfg("--seed", "7", "--start", "2026-03-01T12:00:00Z").startMs,
    Date.parse("2026-03-01T12:00:00Z"),
  );
});

Deno.test("cdc --count becomes exact quotas", () => {
  const c = cfg(
    "--kind",
    "cdc",
    "--to",
    "postgres",
    "--count",
    "100",
    "--mix",
    "insert=50,update=30,delete=20",
  );
  assert.deepEqual(c.quotas, { insert: 50, update: 30, delete: 20 });
  assert.equal(c.dir, ".data/cdc-events");
});

Deno.test("bad combinations and values are usage errors", () => {
  const bad = [
    ["--to", "postgres"],
    ["--kind", "cdc", "--to", "kafka"],
    ["--kind", "cdc", "--count", "10", "--mix", "insert=10,delete=90"],
    ["--kind", "cdc", "--mix", "insert=0,update=1"],
    ["--mix", "insert=x"],
    ["--mix", "upsert=3"],
    ["--service-mix", "auth=0,order=0,payment=0,notify=0"],
    ["--error-rates", "auth=1.5"],
    ["--error-rates", "auth=0.6", "--warn-rates", "auth=0.6"],
    ["--start", "yesterday"],
    ["--duration", "soon"],
    ["--max-file-bytes", "12"],
    ["--topic", "bad topic"],
    ["--tag", "has space"],
  ];
  for (const args of bad) {
    assert.throws(() => cfg(...args), UsageError, args.join(" "));
  }
  assert.throws(
    () => parseCommand(GENERATOR_SPEC, ["--kind", "dns"], noEnv),
    UsageError,
  );
  assert.throws(
    () => parseCommand(GENERATOR_SPEC, ["--rate", "-1"], noEnv),
    UsageError,
  );
  assert.throws(
    () => parseCommand(GENERATOR_SPEC, ["--frobnicate"], noEnv),
    UsageError,
  );
});

Deno.test("parsePairs keeps defaults for keys not given", () => {
  const v = parsePairs("x", ["b=2"], ["a", "b"], {
    complete: true,
    defaults: { a: 1, b: 0 },
  });
  assert.deepEqual(v, { a: 1, b: 2 });
});
