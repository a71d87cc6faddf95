import assert from "node:assert/strict";
import { prom } from "../runtime/metrics.ts";
import { CdcMetrics } from "./metrics.ts";

Deno.test("CdcMetrics: Kafka Connect byte series with client and name labels", async () => {
  const registry = new prom.Registry();
  const m = new CdcMetrics(registry, "shop");
  m.bytesIn(1_000);
  m.bytesIn(234);
  m.bytesOut(5_000);
  // The rate needs time to pass since the start (same millisecond: 0 B/s).
  await new Promise((r) => setTimeout(r, 5));
  const text = await registry.metrics();
  const labels = `{client="deno-cdc-shop",name="shop"}`;
  assert.match(
    text,
    new RegExp(
      `^kafka_connect_metrics_incoming_byte_total${labels} 1234$`,
      "m",
    ),
  );
  assert.match(
    text,
    new RegExp(
      `^kafka_connect_metrics_outgoing_byte_total${labels} 5000$`,
      "m",
    ),
  );
  for (const dir of ["incoming", "outgoing"]) {
    const rate = new RegExp(
      `^kafka_connect_metrics_${dir}_byte_rate${labels} (\\S+)$`,
      "m",
    ).exec(text);
    assert.ok(rate && Number(rate[1]) > 0, `${dir} rate in\n${text}`);
  }
  // A second scrape does not count twice.
  assert.match(
    await registry.metrics(),
    new RegExp(
      `^kafka_connect_metrics_incoming_byte_total${labels} 1234$`,
      "m",
    ),
  );
});
