/**
 * Pins the generator's output for fixed seeds: the exact bytes the real
 * model → clock → loop → output chain writes (same wiring as `setup.ts`), as
 * a SHA-256 and the first line in full. A refactor of the models, the loops
 * or the outputs must leave these unchanged; a deliberate change of the
 * output updates them in the same commit.
 */
import assert from "node:assert/strict";
import { type Curve, SimulatedClock } from "./clock.ts";
import { CdcModel, CounterIds, quotasFor } from "./models/cdc.ts";
import { HttpModel } from "./models/http.ts";
import type { EventModel } from "./models/mod.ts";
import { SecurityModel } from "./models/security.ts";
import { LineCdcSink } from "./outputs/cdc_sink.ts";
import { RotatingFileOutput } from "./outputs/file.ts";
import { StdoutOutput } from "./outputs/stdout.ts";
import { Rng } from "./prng.ts";
import { type LoopOptions, runCdcLoop, runEventLoop } from "./run.ts";
import { needsPermissions } from "../../tests/_gate.ts";

/** Collects everything written, like a pipe that never closes. */
class Capture {
  readonly chunks: Uint8Array[] = [];
  writeSync(p: Uint8Array): number {
    this.chunks.push(p.slice());
    return p.length;
  }
  bytes(): Uint8Array {
    const n = this.chunks.reduce((s, c) => s + c.length, 0);
    const all = new Uint8Array(n);
    let off = 0;
    for (const c of this.chunks) {
      all.set(c, off);
      off += c.length;
    }
    return all;
  }
}

async function sha256(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The clock `setup.ts` builds for a seeded run. */
function seededClock(seed: string, rate: number, curve: Curve, start: number) {
  return new SimulatedClock(
    start,
    rate > 0 ? rate : 1000,
    curve,
    new Rng(`${seed}/clock`),
  );
}

function limits(count: number, curve: Curve): LoopOptions {
  return { count, rate: 0, curve, signal: new AbortController().signal };
}

async function eventRun(
  model: EventModel,
  seed: string,
  count: number,
  curve: Curve,
  start: number,
): Promise<{ hash: string; first: string; lines: number }> {
  const cap = new Capture();
  const out = new StdoutOutput(cap);
  const clock = seededClock(seed, 0, curve, start);
  const r = await runEventLoop(model, clock, out, limits(count, curve));
  await out.close();
  assert.equal(r.stoppedBy, "count");
  assert.equal(r.generated, count);
  const bytes = cap.bytes();
  const text = new TextDecoder().decode(bytes);
  return {
    hash: await sha256(bytes),
    first: text.slice(0, text.indexOf("\n")),
    lines: text.split("\n").length - 1,
  };
}

const EPOCH = Date.UTC(2025, 0, 1);
/** Where size rotation at 300 kB cut the golden security stream. */
const FILE_SIZES = [
  299740,
  299765,
  299721,
  299766,
  299648,
  299998,
  299680,
  299915,
  299804,
  299770,
  299830,
  299738,
  299919,
  299933,
  299719,
  299840,
  299691,
  299990,
  299675,
  299806,
  299868,
  299817,
  299689,
  299995,
  288919,
];

Deno.test("golden: security events for seed 'golden' (20k, flat)", async () => {
  const seed = "golden";
  const model = new SecurityModel(new Rng(seed), { attackRatio: 0.25 });
  const got = await eventRun(model, seed, 20_000, "flat", EPOCH);
  assert.equal(got.lines, 20_000);
  assert.equal(
    got.first,
    '{"event_id":"a4aac0b7-b62a-4990-a0eb-653cf454dfad","timestamp":"2025-01-01T00:00:00.000Z","event_type":"data_exfiltration","severity":"critical","src_ip":"10.0.8.12","src_port":31923,"dst_ip":"37.237.246.88","dst_port":443,"protocol":"https","user":"","host":"app-02","action":"detected","message":"1966 MB uploaded from app-02 to 37.237.246.88","scenario_id":""}',
  );
  assert.equal(
    got.hash,
    "58b61e9db60328d676bbe326bf1129ec6e9763cf09cb0f7c702c3a7162ba51f5",
  );
});

Deno.test("golden: http events for seed 'golden-http' (10k, daily)", async () => {
  const seed = "golden-http";
  const model = new HttpModel(new Rng(seed), {});
  const start = Date.UTC(2025, 0, 1, 3);
  const got = await eventRun(model, seed, 10_000, "daily", start);
  assert.equal(got.lines, 10_000);
  assert.equal(
    got.first,
    '{"event_id":"c100f488-2f37-4b7e-b04b-95a4374e1ede","timestamp":"2025-01-01T03:00:00.000Z","service":"notify","method":"GET","path":"/api/v1/notify/templates/254368","status":400,"latency_ms":6.66,"user_id":"u8538","client_ip":"184.183.132.99","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0","trace_id":"8c83fec112c99d3bfd16fabd1d968047","level":"warn","message":"GET /api/v1/notify/templates/254368 rejected: bad request"}',
  );
  assert.equal(
    got.hash,
    "5fff998771bafd7f1fe9a067b31a4999ee93883828741fdcdf38fdef84bc2fd8",
  );
});

Deno.test("golden: cdc changes for seed 'golden-cdc' (5k, exact mix)", async () => {
  const seed = "golden-cdc";
  const count = 5000;
  const mix = { insert: 60, update: 30, delete: 10 };
  const model = new CdcModel(new Rng(seed), new CounterIds(), {
    mix,
    quotas: quotasFor(count, mix),
    maxTxSize: 5,
  });
  const cap = new Capture();
  const out = new StdoutOutput(cap);
  const sink = new LineCdcSink(out);
  const clock = seededClock(seed, 0, "flat", EPOCH);
  const r = await runCdcLoop(model, clock, sink, limits(count, "flat"));
  await out.close();
  assert.equal(r.stoppedBy, "count");
  assert.equal(r.generated, count);
  assert.deepEqual(sink.applied, {
    users: { insert: 1213, update: 589, delete: 107 },
    orders: { insert: 1787, update: 911, delete: 393 },
  });
  assert.equal(sink.transactions, 2201);
  const bytes = cap.bytes();
  const text = new TextDecoder().decode(bytes);
  assert.equal(
    text.slice(0, text.indexOf("\n")),
    '{"timestamp":"2025-01-01T00:00:00.000Z","tx_id":1,"tx_index":0,"tx_size":1,"op":"insert","table":"users","id":1,"row":{"id":1,"name":"Carla Yilmaz","email":"carla.yilmaz1@example.com"}}',
  );
  assert.equal(
    await sha256(bytes),
    "923b68bc1074b7d93e62cf2053ae85a8ea880049a81b97255575342883defb96",
  );
});

Deno.test(
  "golden: the same security events through rotating files (same bytes, same cuts)",
  needsPermissions(
    { name: "write", path: ".data" },
    { name: "read", path: ".data" },
  ),
  async () => {
    const root = new URL("../../", import.meta.url).pathname;
    const dir = `${root}.data/tests/gen-golden-${
      crypto.randomUUID().slice(0, 8)
    }`;
    try {
      const seed = "golden";
      const model = new SecurityModel(new Rng(seed), { attackRatio: 0.25 });
      const out = new RotatingFileOutput({
        dir,
        kind: "security",
        maxBytes: 300_000,
        maxAgeMs: 0,
      });
      const clock = seededClock(seed, 0, "flat", EPOCH);
      const r = await runEventLoop(model, clock, out, limits(20_000, "flat"));
      await out.close();
      assert.equal(r.generated, 20_000);
      const files = out.paths.map((p) => Deno.readFileSync(p));
      const all = new Uint8Array(files.reduce((s, f) => s + f.length, 0));
      let off = 0;
      for (const f of files) {
        all.set(f, off);
        off += f.length;
      }
      assert.equal(
        await sha256(all),
        "58b61e9db60328d676bbe326bf1129ec6e9763cf09cb0f7c702c3a7162ba51f5",
      );
      assert.deepEqual(files.map((f) => f.length), FILE_SIZES);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
