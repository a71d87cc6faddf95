-- Smoke table for tests/cluster_test.ts: local replicated table + Distributed on top.
CREATE TABLE IF NOT EXISTS analytics.smoke_local
(
    id String,
    value UInt64,
    created_at DateTime DEFAULT now()
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/smoke_local', '{replica}')
PARTITION BY toYYYYMM(created_at)
ORDER BY (id, created_at);

CREATE TABLE IF NOT EXISTS analytics.smoke AS analytics.smoke_local
ENGINE = Distributed(analytics_cluster, analytics, smoke_local, rand());
