"""Example PySpark job run by the orders-daily route: read one CSV of orders, write it as Parquet.

Arguments arrive as --name=value so an object key is always the value of an option, never an option.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession, functions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, help="s3:// URI of the CSV that landed")
    parser.add_argument("--output", required=True, help="s3:// prefix to write Parquet to")
    parser.add_argument("--job-id", required=True, help="emr-dispatch job id, recorded in the output")
    args = parser.parse_args()

    spark = SparkSession.builder.appName(f"clean-orders-{args.job_id}").getOrCreate()
    orders = spark.read.option("header", "true").option("inferSchema", "true").csv(args.input)
    cleaned = (
        orders.dropDuplicates()
        .na.drop(subset=["order_id"])
        .withColumn("emr_dispatch_job_id", functions.lit(args.job_id))
        .withColumn("ingested_at", functions.current_timestamp())
    )
    cleaned.write.mode("overwrite").parquet(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
