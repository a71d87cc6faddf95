import assert from "node:assert/strict";
import { Rng } from "../prng.ts";
import { newSlot } from "./mod.ts";
import { EVENT_TYPES, SecurityModel } from "./security.ts";

function generate(n: number, seed = "s", attackRatio?: number) {
  const model = new SecurityModel(new Rng(seed), { attackRatio });
  const slot = newSlot();
  const out = [];
  for (let i = 0; i < n; i++) {
    model.next(slot, 1_700_000_000_000 + i);
    const ev = JSON.parse(slot.line);
    assert.equal(slot.key, ev.src_ip);
    out.push(ev);
  }
  return out;
}

Deno.test("security events: every type appears, lines are valid JSON", () => {
  const events = generate(50_000);
  const types = new Set(events.map((e) => e.event_type));
  for (const t of EVENT_TYPES) assert.ok(types.has(t), `missing ${t}`);
});

Deno.test("attack bursts come from one source and share a scenario id", () => {
  const events = generate(50_000);
  const bursts = new Map<string, typeof events>();
  for (const e of events) {
    if (!e.scenario_id) continue;
    if (!bursts.has(e.scenario_id)) bursts.set(e.scenario_id, []);
    bursts.get(e.scenario_id)!.push(e);
  }
  assert.ok(bursts.size > 20, `${bursts.size} bursts`);
  const inBursts = [...bursts.values()].reduce((n, b) => n + b.length, 0);
  assert.ok(Math.abs(inBursts / events.length - 0.25) < 0.02, "attack ratio");
  let bruteForces = 0;
  let scans = 0;
  for (const [id, b] of bursts) {
    if (id.startsWith("bf-")) {
      bruteForces++;
      assert.equal(new Set(b.map((e) => e.src_ip)).size, 1, "one source");
      const failures = b.filter((e) => e.event_type === "auth_failure").length;
      assert.ok(failures >= Math.min(10, b.length - 1), `${id} failures`);
      const successIdx = b.findIndex((e) => e.event_type === "auth_success");
      if (successIdx >= 0) {
        assert.equal(successIdx, b.length - 1, "success last");
      }
    }
    if (id.startsWith("ps-") && b.length >= 30) {
      scans++;
      assert.equal(new Set(b.map((e) => e.src_ip)).size, 1);
      assert.ok(new Set(b.map((e) => e.dst_port)).size >= 30, "many ports");
    }
  }
  assert.ok(
    bruteForces > 3 && scans > 1,
    `${bruteForces} brute forces, ${scans} scans`,
  );
});

Deno.test("attack ratio 0 means only background noise", () => {
  assert.ok(generate(5000, "n", 0).every((e) => e.scenario_id === ""));
});
