/**
 * Issue 14: where an event's time goes. A short generate → file → ship →
 * Kafka → sink → ClickHouse flow on a fresh topic; then every hop of
 * `pipeline_hop_seconds` exists in the process that measures it, covers the
 * run's events, and the hop means add up to the end-to-end mean (created →
 * acknowledged by ClickHouse, the sink's own freshness histogram) within 10 %.
 */
import assert from "node:assert/strict";
import {
  freshTopic,
  pollUntil,
  ROOT,
  startTask,
  type TaskProcess,
  tempDataDir,
} from "./_helpers.ts";
import { type Sample, scrape, sumOf } from "../tasks/flow/prom_text.ts";
import { histogramsBy } from "../tasks/flow/hops.ts";
import { type Hop, HOP_METRIC, HOPS } from "../pipelines/runtime/hops.ts";
import { PIPELINE_METRICS_PORTS as METRICS_PORTS } from "../schemas/topology.ts";

const RATE = 1000;
const SECONDS = 12;

const url = (port: number) => `http://127.0.0.1:${port}/metrics`;

Deno.test({
  name:
    "latency: every hop is measured, and the hop means add up to the end-to-end mean within 10 %",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("latency");
    const dir = await tempDataDir("latency");
    const id = crypto.randomUUID().slice(0, 8);
    const procs: TaskProcess[] = [];
    try {
      const sink = startTask("sink", [
        "--metrics-port",
        String(METRICS_PORTS.sink),
        "--topics",
        topic,
        "--map",
        `${topic}=security_events`,
        "--group",
        `latency-${id}`,
      ]);
      procs.push(sink);
      await pollUntil(() => sink.stderrText().includes('"consuming"'), {
        what: "the sink consuming",
        timeoutMs: 60_000,
      });
      const shipper = startTask("ship", [
        "--metrics-port",
        String(METRICS_PORTS.shipper),
        "--path",
        `${dir}/*.ndjson`,
        "--topic",
        topic,
        "--state-dir",
        `${ROOT}.data/shipper/latency-${id}`,
        "--http-port",
        "0",
      ]);
      procs.push(shipper);
      const generator = startTask("generate", [
        "--metrics-port",
        String(METRICS_PORTS.generator),
        "--kind",
        "security",
        "--to",
        "file",
        "--dir",
        dir,
        "--rate",
        String(RATE),
        "--duration",
        `${SECONDS}s`,
      ]);
      procs.push(generator);
      // The generator exits at the end: keep its last scrape.
      let genScrape: Sample[] | undefined;
      const exited = generator.wait();
      let done = false;
      exited.then(() => done = true);
      while (!done) {
        genScrape = await scrape(url(METRICS_PORTS.generator)) ?? genScrape;
        await new Promise((r) => setTimeout(r, 200));
      }
      const gen = await exited;
      assert.equal(gen.code, 0, gen.stderr.slice(-3000));
      const summary = gen.stderr.split("\n").find((l) =>
        l.includes('"msg":"summary"')
      );
      const generated = Number(summary ? JSON.parse(summary).events : NaN);
      assert.ok(generated > RATE * SECONDS * 0.8, `generated ${generated}`);

      // Drained: ClickHouse acknowledged every generated event.
      const sinkScrape = await pollUntil(async () => {
        const s = await scrape(url(METRICS_PORTS.sink));
        const rows = s
          ? sumOf(s, "sink_rows_out_total", { table: "security_events" })
          : 0;
        return rows >= generated ? s : undefined;
      }, { what: "the sink to insert every event", timeoutMs: 90_000 });
      const shipScrape = await scrape(url(METRICS_PORTS.shipper));
      assert.ok(shipScrape && genScrape, "shipper and generator scraped");

      const where: Record<Hop, Sample[]> = {
        write: genScrape,
        read: shipScrape,
        produce: shipScrape,
        fetch: sinkScrape,
        insert: sinkScrape,
      };
      const means: Record<string, number> = {};
      for (const hop of HOPS) {
        const f = histogramsBy(where[hop], HOP_METRIC, "hop").get(hop);
        assert.ok(f, `hop ${hop} is exported`);
        // Each hop covers (nearly) every event of the run; the generator's
        // last scrape may miss its final write-out.
        assert.ok(
          f.count >= generated * 0.9 && f.count <= generated * 1.01,
          `hop ${hop}: ${f.count} events of ${generated}`,
        );
        assert.ok(f.mean >= 0 && f.mean < 30, `hop ${hop} mean ${f.mean}`);
        means[hop] = f.mean;
      }
      const e2e = histogramsBy(
        sinkScrape,
        "sink_event_freshness_seconds",
        "table",
      ).get("security_events");
      assert.ok(e2e && e2e.count >= generated, "end-to-end histogram");
      const sum = Object.values(means).reduce((a, b) => a + b, 0);
      const report = `hop means ${
        JSON.stringify(
          Object.fromEntries(
            Object.entries(means).map(([k, v]) => [k, Number(v.toFixed(4))]),
          ),
        )
      }, sum ${sum.toFixed(4)} s, end to end ${e2e.mean.toFixed(4)} s`;
      console.log(report);
      assert.ok(
        Math.abs(sum - e2e.mean) <= 0.1 * e2e.mean,
        `the hops do not add up: ${report}`,
      );
    } finally {
      for (const p of procs) p.kill();
      for (const p of procs) await p.wait();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(`${ROOT}.data/shipper/latency-${id}`, {
        recursive: true,
      }).catch(() => {});
    }
  },
});
