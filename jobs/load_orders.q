-- The orders-warehouse route's Hive step (config/routes.yaml): load one cleaned file into the warehouse table.
-- Variables come from the route as -d NAME=value (${CLEAN}, ${SOURCE}, ${JOB_ID}); Hive pastes them in as text.
CREATE EXTERNAL TABLE IF NOT EXISTS orders_clean_staging (order_id STRING, amount DECIMAL(12, 2), ordered_at STRING)
STORED AS PARQUET
LOCATION '${CLEAN}';

CREATE TABLE IF NOT EXISTS orders (order_id STRING, amount DECIMAL(12, 2), ordered_at STRING, source STRING)
PARTITIONED BY (job_id STRING)
STORED AS PARQUET;

INSERT OVERWRITE TABLE orders PARTITION (job_id = '${JOB_ID}')
SELECT order_id, amount, ordered_at, '${SOURCE}' FROM orders_clean_staging;
