-- Applied by `deno task up` to EACH ClickHouse node individually, files in name order.
-- Rules for every file here: statements end with `;` at the end of a line, everything is
-- `CREATE ... IF NOT EXISTS`, local tables are ReplicatedMergeTree with the {shard}/{replica}
-- macros ('/clickhouse/tables/{shard}/analytics/<table>', '{replica}'), and Distributed tables
-- point at cluster `analytics_cluster`. Must work on ClickHouse 18.16 (native) and current
-- releases (compose): no DateTime64, no query parameters.
CREATE DATABASE IF NOT EXISTS analytics;
