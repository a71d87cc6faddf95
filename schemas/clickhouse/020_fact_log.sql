-- ReplacingMergeTree for the same reason as security_events (010): repeats of one event_id
-- from the at-least-once shipper collapse; read with FINAL for exact counts.
-- HTTP service logs: topics logs.auth|order|payment|notify -> fact_log, logs.error -> error_log
-- (same columns). Written by the sink; see 010_security_events.sql for why PARTITION BY
-- carries (_topic, _partition) and why the de-duplication window is raised.
-- is_error is derived by the sink (status >= 500).
CREATE TABLE IF NOT EXISTS analytics.fact_log_local
(
    event_id String,
    timestamp DateTime('UTC'),
    timestamp_ms UInt64,
    service String,
    method String,
    path String,
    status UInt16,
    latency_ms Float64,
    user_id String,
    client_ip String,
    user_agent String,
    trace_id String,
    level String,
    message String,
    is_error UInt8,
    _topic String,
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/fact_log_local', '{replica}')
PARTITION BY (toYYYYMM(_ingested_at), _topic, _partition)
ORDER BY (service, timestamp, event_id)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS analytics.fact_log AS analytics.fact_log_local
ENGINE = Distributed(analytics_cluster, analytics, fact_log_local, rand());

CREATE TABLE IF NOT EXISTS analytics.error_log_local
(
    event_id String,
    timestamp DateTime('UTC'),
    timestamp_ms UInt64,
    service String,
    method String,
    path String,
    status UInt16,
    latency_ms Float64,
    user_id String,
    client_ip String,
    user_agent String,
    trace_id String,
    level String,
    message String,
    is_error UInt8,
    _topic String,
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/error_log_local', '{replica}')
PARTITION BY (toYYYYMM(_ingested_at), _topic, _partition)
ORDER BY (service, timestamp, event_id)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS analytics.error_log AS analytics.error_log_local
ENGINE = Distributed(analytics_cluster, analytics, error_log_local, rand());
