import assert from "node:assert/strict";
import { CLICKHOUSE_NODES, KAFKA_BROKERS } from "../../schemas/topology.ts";
import { cluster, clusterDashboard } from "./cluster.ts";
import type { ChQuery, DashboardDef, PanelDef } from "./grafana.ts";

function stat(d: DashboardDef, title: string): PanelDef {
  const p = d.items.find((i) => i.title === title);
  assert.ok(p && p.kind === "stat", `no stat panel "${title}"`);
  return p;
}

/** Six ClickHouse nodes in three shards, five brokers with min ISR 3. */
const BIGGER = clusterDashboard({
  brokers: 5,
  minInsyncReplicas: 3,
  nodes: [1, 2, 3, 4, 5, 6].map((i) => ({
    name: `ch${i}`,
    shard: Math.ceil(i / 2),
    httpPort: 28122 + i,
    tcpPort: 29000 + i,
    interserverPort: 29010 + i,
  })),
});

Deno.test("cluster panels expect the topology's brokers and nodes", () => {
  const brokers = stat(cluster, "Brokers up");
  assert.equal(brokers.thresholds!.at(-1)!.value, KAFKA_BROKERS.length);
  assert.match(brokers.description, /\(3 expected\)/);
  for (
    const t of [
      "Nodes up (HAProxy)",
      "Nodes answering",
      "ClickHouse ZooKeeper sessions",
    ]
  ) {
    const p = stat(cluster, t);
    assert.deepEqual(p.thresholds, [
      { color: "red", value: null },
      { color: "orange", value: 2 },
      { color: "green", value: CLICKHOUSE_NODES.length },
    ]);
    assert.match(p.description, /\(4 expected\)/);
  }
});

Deno.test("cluster panels follow a different topology", () => {
  assert.deepEqual(stat(BIGGER, "Brokers up").thresholds, [
    { color: "red", value: null },
    { color: "orange", value: 3 },
    { color: "green", value: 5 },
  ]);
  assert.match(stat(BIGGER, "Under min ISR").description, /replicas=3:/);
  const answering = stat(BIGGER, "Nodes answering");
  assert.deepEqual(answering.thresholds, [
    { color: "red", value: null },
    { color: "orange", value: 3 },
    { color: "green", value: 6 },
  ]);
  assert.match(answering.description, /\(6 expected\)/);
  const sql = (answering.queries[0] as ChQuery).sql;
  assert.match(sql, /FROM cluster\('all_nodes', system\.macros\)/);
  // Nothing of the 4-node topology leaks into the other one.
  assert.doesNotMatch(JSON.stringify(BIGGER), /\(4 expected\)|:19001/);
});

Deno.test("zero-is-healthy panels share one shape", () => {
  for (
    const t of [
      "Under-replicated partitions",
      "Under min ISR",
      "Offline partitions",
      "Fenced brokers",
      "Readonly replicas",
      "Replicas missing",
    ]
  ) {
    const p = stat(cluster, t);
    assert.equal(p.colorBackground, true, t);
    assert.equal(p.unit, "short", t);
    assert.deepEqual(p.thresholds, [
      { color: "green", value: null },
      { color: "orange", value: 1 },
      { color: "red", value: 1 },
    ], t);
  }
});
