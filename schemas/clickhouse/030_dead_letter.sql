-- Dead letters of the sink: messages that failed validation or that ClickHouse rejected,
-- with the reason and the original text. Same partitioning rule as the data tables so a
-- retried batch's dead letters are de-duplicated too. `source` is topic:partition:offset.
CREATE TABLE IF NOT EXISTS analytics.dead_letter_local
(
    ts DateTime('UTC'),
    pipeline String,
    reason String,
    source String,
    original String,
    _topic String,
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime('UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/dead_letter_local', '{replica}')
PARTITION BY (toYYYYMM(_ingested_at), _topic, _partition)
ORDER BY (_topic, _partition, _offset)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS analytics.dead_letter AS analytics.dead_letter_local
ENGINE = Distributed(analytics_cluster, analytics, dead_letter_local, rand());
