-- Security events (topic security.events), written by the sink (pipelines/sink).
-- The sink inserts into the shard-local table itself: every Kafka partition is routed to one
-- shard, and PARTITION BY includes (_topic, _partition) so each Kafka partition's offset range
-- becomes its own part. A retried batch is byte-identical, so ReplicatedMergeTree block
-- de-duplication (hashes in ZooKeeper, shared by both replicas) drops it: no duplicates after
-- a crash. The window is raised from 100 to 1000 blocks to cover recovery after long outages.
-- ReplacingMergeTree: the shipper is at-least-once, so after a crash Kafka may hold an event
-- twice (same event_id, same key, so same Kafka partition and shard); rows with the same sorting
-- key (which contains event_id) collapse on merge, and SELECT ... FINAL counts each event once.
-- Timestamps: DateTime (seconds, UTC) plus epoch milliseconds (18.16 has no DateTime64).
CREATE TABLE IF NOT EXISTS analytics.security_events_local
(
    event_id String,
    timestamp DateTime('UTC'),
    timestamp_ms UInt64,
    event_type String,
    severity String,
    src_ip String,
    src_port UInt16,
    dst_ip String,
    dst_port UInt16,
    protocol String,
    user String,
    host String,
    action String,
    message String,
    scenario_id String,
    _topic String,
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/security_events_local', '{replica}')
PARTITION BY (toYYYYMM(_ingested_at), _topic, _partition)
ORDER BY (timestamp, event_type, event_id)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS analytics.security_events AS analytics.security_events_local
ENGINE = Distributed(analytics_cluster, analytics, security_events_local, rand());
