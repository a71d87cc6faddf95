import assert from "node:assert/strict";
import process from "node:process";
import { setTimeout as nodeSetTimeout } from "node:timers";
import {
  describeWarning,
  DROPPED_WARNINGS,
  installWarningFilter,
  isDroppedWarning,
} from "./warnings.ts";

const NEGATIVE = "-1764800000000 is a negative number.\n" +
  "Timeout duration was set to 1.";

Deno.test("warnings: type and message of each emitWarning form", () => {
  assert.deepEqual(describeWarning("m", "T"), { type: "T", message: "m" });
  assert.deepEqual(describeWarning("m", { type: "T", code: "X" }), {
    type: "T",
    message: "m",
  });
  assert.deepEqual(describeWarning("m"), { type: "Warning", message: "m" });
  const err = new Error("boom");
  err.name = "DeprecationWarning";
  assert.deepEqual(describeWarning(err), {
    type: "DeprecationWarning",
    message: "boom",
  });
});

Deno.test("warnings: only the named warning with its message is dropped", () => {
  assert.equal(DROPPED_WARNINGS.length, 1);
  assert.equal(isDroppedWarning(NEGATIVE, "TimeoutNegativeWarning"), true);
  assert.equal(
    isDroppedWarning(NEGATIVE, { type: "TimeoutNegativeWarning" }),
    true,
  );
  assert.equal(
    isDroppedWarning(
      "-5 is a negative number.\nTimeout duration was set to 1.",
      "TimeoutNegativeWarning",
    ),
    true,
  );
  // Same type, other message; same message, other type; other warnings.
  assert.equal(
    isDroppedWarning("Infinity does not fit", "TimeoutNegativeWarning"),
    false,
  );
  assert.equal(isDroppedWarning(NEGATIVE, "TimeoutOverflowWarning"), false);
  assert.equal(isDroppedWarning(NEGATIVE), false);
  assert.equal(
    isDroppedWarning("Buffer() is deprecated", "DeprecationWarning"),
    false,
  );
  const err = new Error("possible EventEmitter memory leak detected");
  err.name = "MaxListenersExceededWarning";
  assert.equal(isDroppedWarning(err), false);
});

/**
 * Warnings that reach the listeners (on a later tick) after `act`, polled
 * until `last` arrives or 2 s pass.
 */
async function warningsUntil(last: string, act: () => void): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (w: Error) => seen.push(w);
  process.on("warning", listener);
  try {
    act();
    const deadline = Date.now() + 2_000;
    while (!seen.some((w) => w.name === last) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    process.off("warning", listener);
  }
  return seen;
}

Deno.test("warnings: the installed filter drops the negative timeout, passes the rest", async () => {
  // Without the filter, Node's timers do warn (so the check below can fail).
  const before = await warningsUntil("TimeoutNegativeWarning", () => {
    nodeSetTimeout(() => {}, -5);
  });
  assert.deepEqual(before.map((w) => w.name), ["TimeoutNegativeWarning"]);

  installWarningFilter();
  const wrapped = process.emitWarning;
  installWarningFilter();
  assert.equal(process.emitWarning, wrapped, "installing twice wraps once");

  // Warnings arrive in order: once the last one is there, a dropped one
  // would have arrived before it.
  const after = await warningsUntil("PipelineTestWarning", () => {
    nodeSetTimeout(() => {}, -5);
    process.emitWarning(NEGATIVE, "TimeoutNegativeWarning");
    process.emitWarning("something else", "PipelineTestWarning");
  });
  assert.deepEqual(
    after.map((w) => [w.name, w.message]),
    [["PipelineTestWarning", "something else"]],
  );
});
