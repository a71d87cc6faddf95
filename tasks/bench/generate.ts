/**
 * Benchmark: writes N security events to rotating NDJSON files with the
 * generator's real model and file output (unthrottled, one core), and the
 * same number with a naive peer (object literal + `JSON.stringify` +
 * `crypto.randomUUID` + `Math.random` + `Date#toISOString`, the shape of a
 * direct port of the reference Python generator). Prints events/s, MB/s,
 * RSS before/after (memory must stay flat) and the ratio ours/peer.
 *
 * Usage: deno run --allow-read=.data --allow-write=.data tasks/bench/generate.ts [N]
 *
 * @module
 */
import { SimulatedClock } from "../../pipelines/generator/clock.ts";
import { SecurityModel } from "../../pipelines/generator/models/security.ts";
import { RotatingFileOutput } from "../../pipelines/generator/outputs/file.ts";
import { Rng } from "../../pipelines/generator/prng.ts";
import { runEventLoop } from "../../pipelines/generator/run.ts";

const N = Number(Deno.args[0] ?? 2_000_000);
if (!Number.isInteger(N) || N < 1) {
  console.error("usage: generate.ts [events]");
  Deno.exit(2);
}
const root = `.data/bench/generate-${crypto.randomUUID().slice(0, 8)}`;
const rssMb = () => (Deno.memoryUsage().rss / 1e6).toFixed(0);

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    n += (await Deno.stat(`${dir}/${e.name}`)).size;
  }
  return n;
}

async function ours(): Promise<{ eps: number; mbps: number }> {
  const dir = `${root}/ours`;
  const out = new RotatingFileOutput({
    dir,
    kind: "security",
    maxBytes: 256 * 1024 * 1024,
    maxAgeMs: 0,
  });
  const model = new SecurityModel(new Rng("bench"));
  const clock = new SimulatedClock(
    Date.parse("2025-01-01T00:00:00Z"),
    1000,
    "flat",
    new Rng("bench/clock"),
  );
  const rss0 = rssMb();
  const r = await runEventLoop(model, clock, out, {
    count: N,
    rate: 0,
    curve: "flat",
    signal: new AbortController().signal,
  });
  await out.close();
  const bytes = await dirBytes(dir);
  const secs = r.elapsedMs / 1000;
  console.log(
    `ours:  ${N} events in ${secs.toFixed(2)} s = ${
      Math.round(N / secs)
    } events/s, ${
      (bytes / 1e6 / secs).toFixed(1)
    } MB/s, ${out.paths.length} file(s), rss ${rss0} → ${rssMb()} MB`,
  );
  return { eps: N / secs, mbps: bytes / 1e6 / secs };
}

const TYPES = [
  "auth_success",
  "auth_failure",
  "firewall_block",
  "firewall_allow",
  "port_scan",
  "malware_detected",
];
const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const PROTOCOLS = ["tcp", "udp", "https", "ssh", "dns"];
const ACTIONS = ["allowed", "blocked", "detected", "logged"];
const pick = <T>(a: T[]): T => a[Math.floor(Math.random() * a.length)];
const ip = () =>
  `${1 + Math.floor(Math.random() * 223)}.${Math.floor(Math.random() * 256)}.${
    Math.floor(Math.random() * 256)
  }.${1 + Math.floor(Math.random() * 254)}`;

async function peer(): Promise<{ eps: number; mbps: number }> {
  const dir = `${root}/peer`;
  await Deno.mkdir(dir, { recursive: true });
  const file = await Deno.open(`${dir}/security.ndjson`, {
    write: true,
    create: true,
  });
  const enc = new TextEncoder();
  const t0 = performance.now();
  let lines: string[] = [];
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    const src = ip();
    const ev = {
      event_id: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      event_type: pick(TYPES),
      severity: pick(SEVERITIES),
      src_ip: src,
      src_port: 1024 + Math.floor(Math.random() * 64511),
      dst_ip: ip(),
      dst_port: Math.floor(Math.random() * 65536),
      protocol: pick(PROTOCOLS),
      user: "user" + Math.floor(Math.random() * 100),
      host: "host-" + Math.floor(Math.random() * 50),
      action: pick(ACTIONS),
      message: `event from ${src}`,
      scenario_id: "",
    };
    lines.push(JSON.stringify(ev));
    if (lines.length === 10_000) {
      const data = enc.encode(lines.join("\n") + "\n");
      bytes += data.length;
      await file.write(data);
      lines = [];
    }
  }
  if (lines.length) {
    const data = enc.encode(lines.join("\n") + "\n");
    bytes += data.length;
    await file.write(data);
  }
  file.close();
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `peer:  ${N} events in ${secs.toFixed(2)} s = ${
      Math.round(N / secs)
    } events/s, ${
      (bytes / 1e6 / secs).toFixed(1)
    } MB/s (naive JSON.stringify + randomUUID)`,
  );
  return { eps: N / secs, mbps: bytes / 1e6 / secs };
}

try {
  const a = await ours();
  const b = await peer();
  console.log(
    `ratio (ours/peer): ${
      (a.eps / b.eps).toFixed(2)
    }x events/s; goal ≥ 200000 security events/s: ${
      a.eps >= 200_000 ? "met" : "NOT met"
    }`,
  );
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
