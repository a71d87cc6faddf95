import assert from "node:assert/strict";
import { hopsFromScrape, renderHops } from "./hops.ts";
import { parsePromText } from "./prom_text.ts";

const hop = (name: string, le: number, sum: number, n: number) => `
pipeline_hop_seconds_bucket{hop="${name}",le="${le}"} ${n}
pipeline_hop_seconds_bucket{hop="${name}",le="+Inf"} ${n}
pipeline_hop_seconds_sum{hop="${name}"} ${sum}
pipeline_hop_seconds_count{hop="${name}"} ${n}`;

Deno.test("hopsFromScrape: hops from every process of the event path, end to end from the event tables only", () => {
  const b = hopsFromScrape({
    "generator-security": parsePromText(hop("write", 0.25, 10, 100)),
    "generator-http": parsePromText(hop("write", 0.25, 30, 100)),
    shipper: parsePromText(
      hop("read", 0.25, 20, 200) + hop("produce", 1, 100, 200),
    ),
    sink: parsePromText(
      hop("fetch", 0.5, 40, 200) + hop("insert", 2, 200, 200) + `
sink_event_freshness_seconds_bucket{table="security_events",le="+Inf"} 200
sink_event_freshness_seconds_sum{table="security_events"} 400
sink_event_freshness_seconds_count{table="security_events"} 200
sink_event_freshness_seconds_sum{table="pg_users"} 9999
sink_event_freshness_seconds_count{table="pg_users"} 1`,
    ),
    // The mirror sink is not on the event path.
    "sink-cdc": parsePromText(hop("insert", 30, 3000, 100)),
  });
  assert.deepEqual(Object.keys(b.hops), [
    "write",
    "read",
    "produce",
    "fetch",
    "insert",
  ]);
  assert.equal(b.hops.write.mean, 0.2);
  assert.equal(b.hops.write.count, 200);
  assert.equal(b.hops.insert.mean, 1);
  assert.equal(b.sumOfMeans, 0.2 + 0.1 + 0.5 + 0.2 + 1);
  assert.equal(b.endToEndMean, 2);
  assert.match(
    renderHops(b).at(-1)!,
    /sum of means\s+2\.000 s\s+end to end mean 2\.000 s/,
  );
});
