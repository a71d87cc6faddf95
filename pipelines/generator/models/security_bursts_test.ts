import assert from "node:assert/strict";
import { Rng } from "../prng.ts";
import { Burst, type Stage } from "./security_bursts.ts";
import { newFields } from "./security_fill.ts";

/** A stage that records `tag:i` for each of its `n` events. */
function stage(tag: string, n: number, log: string[], more?: Partial<Stage>) {
  return {
    n,
    fill: (_f: unknown, _r: unknown, i: number) => void log.push(`${tag}:${i}`),
    ...more,
  } satisfies Stage;
}

Deno.test("Burst: stages in order, empty ones skipped, `then` inserted after its stage", () => {
  const log: string[] = [];
  const burst = new Burst([
    stage("a", 2, log, {
      then: () => [stage("b", 0, log), stage("c", 1, log)],
    }),
    stage("d", 0, log),
    stage("e", 2, log),
  ]);
  const f = newFields();
  const rng = new Rng("b");
  const last: boolean[] = [];
  while (!burst.done) last.push(burst.step(f, rng));
  assert.deepEqual(log, ["a:0", "a:1", "c:0", "e:0", "e:1"]);
  assert.deepEqual(last, [false, false, false, false, true]);
});

Deno.test("Burst: a new source port per event, except for samePort stages", () => {
  const ports: number[] = [];
  const burst = new Burst([
    { n: 3, fill: (f) => void ports.push(f.sport) },
    { n: 1, samePort: true, fill: (f) => void ports.push(f.sport) },
  ]);
  const f = newFields();
  const rng = new Rng("p");
  while (!burst.done) burst.step(f, rng);
  assert.equal(new Set(ports.slice(0, 3)).size, 3);
  assert.equal(ports[3], ports[2], "the alert keeps the last port");
  for (const p of ports) assert.ok(p >= 1024 && p <= 65535);
});

Deno.test("Burst: one without events is refused", () => {
  assert.throws(() => new Burst([{ n: 0, fill: () => {} }]), RangeError);
});
