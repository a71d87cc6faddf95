/**
 * "Cluster": the infrastructure under the pipelines. Kafka (JMX exporter:
 * brokers up, controller, under-replicated partitions, ISR shrinks,
 * throughput, request latency), ClickHouse (replica health and replication
 * queue read from every node's system tables, node health from HAProxy) and
 * ZooKeeper (JMX exporter, and the sessions ClickHouse holds).
 *
 * @module
 */
import {
  CLICKHOUSE_ALL_NODES_CLUSTER,
  CLICKHOUSE_NODES,
  type ClickHouseNode,
  KAFKA_BROKERS,
  KAFKA_DEFAULTS,
} from "../../schemas/topology.ts";
import {
  type DashboardDef,
  panel,
  type PanelDef,
  type Query,
  traffic,
  UP_DOWN,
} from "./grafana.ts";

/**
 * `cluster()` over the `all_nodes` cluster (every node its own shard, see
 * tasks/cluster/configs.ts), so a panel sees every replica whichever node
 * HAProxy picked. Not `remote()`: that would log in as `default` without a
 * password; `all_nodes` carries the read-only user's. The datasource sets
 * skip_unavailable_shards=1: a node that is down is missing, not an error.
 */
export function allNodes(table: string): string {
  return `cluster('${CLICKHOUSE_ALL_NODES_CLUSTER}', ${table})`;
}

/** What the cluster dashboard needs to know of the topology. */
export interface ClusterShape {
  /** Number of Kafka brokers. */
  brokers: number;
  /** Kafka's min.insync.replicas (fewer brokers: acks=all fails). */
  minInsyncReplicas: number;
  /** The ClickHouse nodes. */
  nodes: readonly ClickHouseNode[];
}

/** The shape of the topology in schemas/topology.ts. */
export const TOPOLOGY_SHAPE: ClusterShape = {
  brokers: KAFKA_BROKERS.length,
  minInsyncReplicas: KAFKA_DEFAULTS.minInsyncReplicas,
  nodes: CLICKHOUSE_NODES,
};

/**
 * A count of live members that should be `expected`: green at it, orange
 * from `degraded` (still serving: min ISR brokers, one node per shard), red
 * below.
 */
function liveCount(
  title: string,
  description: string,
  expected: number,
  degraded: number,
  query: Query,
): PanelDef {
  return panel.stat({
    title,
    description,
    unit: "short",
    thresholds: [
      { color: "red", value: null },
      { color: "orange", value: degraded },
      { color: "green", value: expected },
    ],
    colorBackground: true,
    queries: [query],
  });
}

/** A count that is healthy at 0 and red from 1. */
function zeroIsHealthy(
  title: string,
  description: string,
  query: Query,
): PanelDef {
  return panel.stat({
    title,
    description,
    unit: "short",
    thresholds: traffic(1, 1),
    colorBackground: true,
    queries: [query],
  });
}

const KAFKA_RM = "kafka_server_replicamanager_value";
const KAFKA_CTRL = "kafka_controller_kafkacontroller_value";
const BTM = "kafka_server_brokertopicmetrics_count";

/** The cluster dashboard for a topology of this shape. */
export function clusterDashboard(shape: ClusterShape): DashboardDef {
  const BROKERS = shape.brokers;
  const NODES = shape.nodes.length;
  const SHARDS = new Set(shape.nodes.map((n) => n.shard)).size;
  const MIN_ISR = shape.minInsyncReplicas;
  const remote = (table: string) => allNodes(table);
  return {
    uid: "cluster",
    title: "Cluster: Kafka, ClickHouse, ZooKeeper",
    description:
      "Health of the Kafka brokers, the ClickHouse replicas and ZooKeeper that the pipelines run on.",
    tags: ["cluster", "kafka", "clickhouse", "zookeeper"],
    from: "now-1h",
    items: [
      panel.row("Kafka"),
      liveCount(
        "Brokers up",
        `Brokers whose JMX exporter answers Prometheus (${BROKERS} expected).`,
        BROKERS,
        MIN_ISR,
        { expr: `sum(up{job="kafka"})`, instant: true },
      ),
      panel.stat({
        title: "Active controllers",
        description:
          "KRaft active controllers: exactly 1 is healthy; 0 means no leader election can happen.",
        unit: "short",
        thresholds: [
          { color: "red", value: null },
          { color: "green", value: 1 },
          {
            color: "red",
            value: 2,
          },
        ],
        colorBackground: true,
        queries: [{
          expr: `sum(${KAFKA_CTRL}{name="ActiveControllerCount"})`,
          instant: true,
        }],
      }),
      zeroIsHealthy(
        "Under-replicated partitions",
        "Partitions with fewer in-sync replicas than replicas (sum over brokers). Should be 0.",
        {
          expr: `sum(${KAFKA_RM}{name="UnderReplicatedPartitions"})`,
          instant: true,
        },
      ),
      zeroIsHealthy(
        "Under min ISR",
        `Partitions below min.insync.replicas=${MIN_ISR}: producers with acks=all are failing for them right now.`,
        {
          expr: `sum(${KAFKA_RM}{name="UnderMinIsrPartitionCount"})`,
          instant: true,
        },
      ),
      zeroIsHealthy(
        "Offline partitions",
        "Partitions without a leader (unavailable). Reported by the active controller.",
        {
          expr: `max(${KAFKA_CTRL}{name="OfflinePartitionsCount"})`,
          instant: true,
        },
      ),
      zeroIsHealthy(
        "Fenced brokers",
        "Brokers the KRaft controller has fenced (not heartbeating).",
        {
          expr: `max(${KAFKA_CTRL}{name="FencedBrokerCount"})`,
          instant: true,
        },
      ),
      panel.timeseries({
        title: "ISR shrinks / expands",
        description:
          "Rate of in-sync replica set shrinks (a follower fell behind or a broker died) and expands (it caught up) per broker.",
        unit: "ops",
        w: 8,
        queries: [
          {
            expr:
              `sum by (instance) (rate(kafka_server_replicamanager_count{name="IsrShrinksPerSec"}[$__rate_interval]))`,
            legend: "shrinks {{instance}}",
          },
          {
            expr:
              `sum by (instance) (rate(kafka_server_replicamanager_count{name="IsrExpandsPerSec"}[$__rate_interval]))`,
            legend: "expands {{instance}}",
          },
        ],
      }),
      panel.timeseries({
        title: "Messages in/s per broker",
        description:
          "Messages appended per second, per broker (leader writes).",
        unit: "ops",
        w: 8,
        queries: [{
          expr:
            `sum by (instance) (rate(${BTM}{name="MessagesInPerSec",topic=""}[$__rate_interval]))`,
          legend: "{{instance}}",
        }],
      }),
      panel.timeseries({
        title: "Bytes in / out per broker",
        description:
          "Client traffic per broker (replication excluded). Out is drawn below zero.",
        unit: "Bps",
        w: 8,
        overrides: [{
          matcher: { id: "byRegexp", options: "out .*" },
          properties: [{ id: "custom.transform", value: "negative-Y" }],
        }],
        queries: [
          {
            expr:
              `sum by (instance) (rate(${BTM}{name="BytesInPerSec",topic=""}[$__rate_interval]))`,
            legend: "in {{instance}}",
          },
          {
            expr:
              `sum by (instance) (rate(${BTM}{name="BytesOutPerSec",topic=""}[$__rate_interval]))`,
            legend: "out {{instance}}",
          },
        ],
      }),
      panel.timeseries({
        title: "Messages in/s per topic (top 10)",
        description: "Which topics carry the traffic.",
        unit: "ops",
        queries: [{
          expr:
            `topk(10, sum by (topic) (rate(${BTM}{name="MessagesInPerSec",topic!=""}[$__rate_interval])))`,
          legend: "{{topic}}",
        }],
      }),
      panel.timeseries({
        title: "Request latency p99",
        description:
          "99th percentile of total request time for Produce and consumer Fetch, per broker. Fetch includes the long-poll wait (fetch.max.wait.ms), so only Produce reflects disk/replication latency.",
        unit: "ms",
        queries: [{
          expr:
            `max by (instance, request) (kafka_network_requestmetrics_99thpercentile{name="TotalTimeMs",request=~"Produce|FetchConsumer"})`,
          legend: "{{request}} {{instance}}",
        }],
      }),
      panel.bargauge({
        title: "Partitions and leaders per broker",
        description:
          "Replicas hosted and partitions led per broker: leaders should be balanced.",
        unit: "short",
        h: 6,
        queries: [
          {
            expr: `sum by (instance) (${KAFKA_RM}{name="PartitionCount"})`,
            legend: "replicas {{instance}}",
            instant: true,
          },
          {
            expr: `sum by (instance) (${KAFKA_RM}{name="LeaderCount"})`,
            legend: "leaders {{instance}}",
            instant: true,
          },
        ],
      }),
      panel.timeseries({
        title: "Broker JVM heap used",
        description: "Heap used per broker (JMX exporter's JVM metrics).",
        unit: "bytes",
        h: 6,
        queries: [{
          expr:
            `sum by (instance) (jvm_memory_used_bytes{job="kafka",area="heap"})`,
          legend: "{{instance}}",
        }],
      }),
      panel.row("ClickHouse"),
      liveCount(
        "Nodes up (HAProxy)",
        `ClickHouse nodes passing HAProxy's /ping health check (${NODES} expected). Needs the HAProxy Prometheus exporter.`,
        NODES,
        SHARDS,
        {
          expr:
            `sum(haproxy_server_status{proxy="clickhouse_nodes",state="UP"})`,
          instant: true,
        },
      ),
      zeroIsHealthy(
        "Readonly replicas",
        "Replicated tables in readonly mode (lost their ZooKeeper session): inserts into them fail.",
        {
          format: "table",
          sql:
            `SELECT countIf(is_readonly OR is_session_expired) AS readonly FROM ${
              remote("system.replicas")
            }`,
        },
      ),
      panel.stat({
        title: "Replication queue",
        description:
          "Entries waiting in the replication queues of all replicas (fetches, merges).",
        unit: "short",
        thresholds: traffic(20, 100),
        queries: [{
          format: "table",
          sql: `SELECT sum(queue_size) AS queue FROM ${
            remote("system.replicas")
          }`,
        }],
      }),
      panel.stat({
        title: "Max replica delay",
        description:
          "Largest absolute_delay: how far the most lagging replica is behind (seconds).",
        unit: "s",
        thresholds: traffic(10, 60),
        queries: [{
          format: "table",
          sql: `SELECT max(absolute_delay) AS delay FROM ${
            remote("system.replicas")
          }`,
        }],
      }),
      zeroIsHealthy(
        "Replicas missing",
        "Replica count gaps: total_replicas − active_replicas summed over tables, as seen by the live nodes (a dead replica shows here).",
        {
          format: "table",
          sql: `SELECT sum(total_replicas - active_replicas) AS missing FROM ${
            remote("system.replicas")
          }`,
        },
      ),
      liveCount(
        "Nodes answering",
        `ClickHouse nodes that answered this query through cluster('all_nodes') (${NODES} expected).`,
        NODES,
        SHARDS,
        {
          format: "table",
          sql: `SELECT uniqExact(substitution) AS nodes FROM ${
            remote("system.macros")
          } WHERE macro = 'replica'`,
        },
      ),
      panel.table({
        title: "Replicas",
        description:
          "Every replicated table on every node: readonly/session state, queue, delay and active/total replicas.",
        w: 24,
        h: 10,
        overrides: [{
          matcher: { id: "byName", options: "delay (s)" },
          properties: [{
            id: "custom.cellOptions",
            value: { type: "color-background", mode: "basic" },
          }, {
            id: "thresholds",
            value: { mode: "absolute", steps: traffic(10, 60) },
          }],
        }],
        queries: [{
          format: "table",
          sql:
            `SELECT replica_name AS replica, database, table, is_leader AS leader, is_readonly AS readonly,
  is_session_expired AS "session expired", queue_size AS queue, inserts_in_queue AS inserts,
  merges_in_queue AS merges, absolute_delay AS "delay (s)",
  concat(toString(active_replicas), '/', toString(total_replicas)) AS "active/total"
FROM ${remote("system.replicas")}
ORDER BY database, table, replica`,
        }],
      }),
      panel.table({
        title: "Replication queue entries",
        description:
          "Queued replication tasks on every node, oldest first, with retries and the last error. Stuck entries (many tries) need attention.",
        w: 24,
        h: 8,
        queries: [{
          format: "table",
          sql:
            `SELECT replica_name AS replica, database, table, type, create_time, new_part_name AS part,
  source_replica AS source, is_currently_executing AS running, num_tries AS tries,
  last_exception, postpone_reason
FROM ${remote("system.replication_queue")}
ORDER BY create_time LIMIT 100`,
        }],
      }),
      panel.row("ZooKeeper"),
      panel.stat({
        title: "ZooKeeper",
        description: "ZooKeeper's JMX exporter answers Prometheus.",
        mappings: UP_DOWN,
        thresholds: [{ color: "red", value: null }, {
          color: "green",
          value: 1,
        }],
        colorBackground: true,
        queries: [{ expr: `max(up{job="zookeeper"})`, instant: true }],
      }),
      panel.stat({
        title: "Alive connections",
        description:
          "Client connections to ZooKeeper (ClickHouse nodes hold one each).",
        unit: "short",
        queries: [{
          expr: `sum(zookeeper_numaliveconnections)`,
          instant: true,
        }],
      }),
      panel.stat({
        title: "Outstanding requests",
        description:
          "Requests queued in ZooKeeper; a sustained value means it cannot keep up.",
        unit: "short",
        thresholds: traffic(10, 100),
        queries: [{
          expr: `sum(zookeeper_outstandingrequests)`,
          instant: true,
        }],
      }),
      panel.stat({
        title: "Znodes",
        description:
          "Number of znodes (ClickHouse replication metadata, dedup block hashes...).",
        unit: "short",
        queries: [{
          expr: `sum(zookeeper_inmemorydatatree_nodecount)`,
          instant: true,
        }],
      }),
      liveCount(
        "ClickHouse ZooKeeper sessions",
        `Nodes with a live ZooKeeper session (${NODES} expected); replicated tables go readonly without one.`,
        NODES,
        SHARDS,
        {
          format: "table",
          sql: `SELECT sum(value) AS sessions FROM ${
            remote("system.metrics")
          } WHERE metric = 'ZooKeeperSession'`,
        },
      ),
      panel.stat({
        title: "ClickHouse ZooKeeper wait",
        description:
          "Average time ClickHouse waited per ZooKeeper transaction since start (ms).",
        unit: "ms",
        thresholds: traffic(10, 100),
        queries: [{
          format: "table",
          sql: `SELECT sumIf(value, event = 'ZooKeeperWaitMicroseconds') / 1000
  / greatest(sumIf(value, event = 'ZooKeeperTransactions'), 1) AS wait_ms
FROM ${
            remote("system.events")
          } WHERE event IN ('ZooKeeperWaitMicroseconds', 'ZooKeeperTransactions')`,
        }],
      }),
      panel.timeseries({
        title: "ZooKeeper request latency",
        description:
          "Average and maximum request latency reported by ZooKeeper (ms).",
        unit: "ms",
        queries: [
          { expr: `max(zookeeper_avgrequestlatency)`, legend: "avg" },
          { expr: `max(zookeeper_maxrequestlatency)`, legend: "max" },
        ],
      }),
      panel.timeseries({
        title: "ZooKeeper packets/s",
        description: "Packets received and sent per second.",
        unit: "pps",
        queries: [
          {
            expr: `sum(rate(zookeeper_packetsreceived[$__rate_interval]))`,
            legend: "received",
          },
          {
            expr: `sum(rate(zookeeper_packetssent[$__rate_interval]))`,
            legend: "sent",
          },
        ],
      }),
    ],
  };
}

/** The cluster dashboard of the repository's topology. */
export const cluster: DashboardDef = clusterDashboard(TOPOLOGY_SHAPE);
