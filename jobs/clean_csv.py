"""Example PySpark job run by the example routes: read one CSV that landed, write it as Parquet.

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
    parser.add_argument("--key-column", default="id", help="rows without it are dropped")
    args = parser.parse_args()

    spark = SparkSession.builder.appName(f"clean-csv-{args.job_id}").getOrCreate()
    rows = spark.read.option("header", "true").option("inferSchema", "true").csv(args.input)
    cleaned = (
        rows.dropDuplicates()
        .na.drop(subset=[args.key_column])
        .withColumn("emr_dispatch_job_id", functions.lit(args.job_id))
        .withColumn("ingested_at", functions.current_timestamp())
    )
    cleaned.write.mode("overwrite").parquet(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
