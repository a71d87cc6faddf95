-- CDC mirrors of PostgreSQL shop.users / shop.orders, applied by the sink in CDC mode from the
-- Debezium-format topics customers.public.users / customers.public.orders.
-- ReplacingMergeTree versioned by the change's LSN; deletes are rows with _deleted = 1, so
--   SELECT ... FROM analytics.pg_users FINAL WHERE _deleted = 0
-- equals the PostgreSQL table. Sharded by id (the sink routes id % 2 like the Distributed key),
-- so all versions of a row meet on one shard. TIMESTAMP columns arrive as microseconds
-- (Debezium MicroTimestamp): kept exactly in *_us and as DateTime (seconds) for queries.
CREATE TABLE IF NOT EXISTS analytics.pg_users_local
(
    id Int64,
    name Nullable(String),
    email Nullable(String),
    created_at Nullable(DateTime('UTC')),
    created_at_us Nullable(Int64),
    _version UInt64,
    _deleted UInt8,
    _op String,
    _topic String,
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/pg_users_local', '{replica}', _version)
ORDER BY id
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS analytics.pg_users AS analytics.pg_users_local
ENGINE = Distributed(analytics_cluster, analytics, pg_users_local, id);

CREATE TABLE IF NOT EXISTS analytics.pg_orders_local
(
    id Int64,
    user_id Nullable(Int64),
    product_name Nullable(String),
    quantity Nullable(Int64),
    order_date Nullable(DateTime('UTC')),
    order_date_us Nullable(Int64),
    _version UInt64,
    _deleted UInt8,
    _op String,
    _topic String,
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/pg_orders_local', '{replica}', _version)
ORDER BY id
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS analytics.pg_orders AS analytics.pg_orders_local
ENGINE = Distributed(analytics_cluster, analytics, pg_orders_local, id);
