-- The orders-warehouse route's Hive step (config/routes.yaml): load one cleaned file into the warehouse table.
-- Variables come from the route as -d NAME=value (${CLEAN}, ${WAREHOUSE}, ${SOURCE}, ${JOB_ID}); Hive pastes
-- them in as text.
-- Storage outlives the cluster: on EMR on EC2 the default metastore is a database on the primary node and a
-- managed table's data is in the cluster's HDFS, both lost when the cluster ends (EMR Release Guide,
-- "Configuring an external metastore for Hive"). So the warehouse table is EXTERNAL with its LOCATION in S3
-- (${WAREHOUSE}, under the route's output in the work bucket): each job adds its partition folder job_id=<id>/.
-- With the cluster's own metastore the table's definition is made again by each job (same location); readers
-- see every job's partition after MSCK REPAIR TABLE orders (or a Glue crawler). With a metastore that outlives
-- the job (the Glue Data Catalog, a hive-site classification on the route) the partitions accumulate in it.

-- The cleaned file of this job only: TEMPORARY (this session, never in the metastore), so no later or
-- concurrent job reads another job's folder, and nothing is left to drop.
CREATE TEMPORARY EXTERNAL TABLE orders_clean_staging (order_id STRING, amount DECIMAL(12, 2), ordered_at STRING)
STORED AS PARQUET
LOCATION '${CLEAN}';

CREATE EXTERNAL TABLE IF NOT EXISTS orders (order_id STRING, amount DECIMAL(12, 2), ordered_at STRING, source STRING)
PARTITIONED BY (job_id STRING)
STORED AS PARQUET
LOCATION '${WAREHOUSE}orders/';

INSERT OVERWRITE TABLE orders PARTITION (job_id = '${JOB_ID}')
SELECT order_id, amount, ordered_at, '${SOURCE}' FROM orders_clean_staging;
