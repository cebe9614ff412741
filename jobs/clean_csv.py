"""Example PySpark job run by the example routes: read one CSV that landed, write it as Parquet.

Arguments arrive as --name=value so an object key is always the value of an option, never an option.
"""

from __future__ import annotations

import argparse
import json

from pyspark.sql import SparkSession, functions


def read_manifest(spark: SparkSession, uri: str) -> list[str]:
    """The inputs of a batch: emr-dispatch's manifest is one JSON object with an "inputs" list."""
    text = "\n".join(row.value for row in spark.read.text(uri).collect())
    return [f"s3://{item['bucket']}/{item['key']}" for item in json.loads(text)["inputs"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="s3:// URI of the CSV that landed (or of a folder, for marker routes)")
    source.add_argument("--inputs-manifest", help="s3:// URI of a batch's manifest written by emr-dispatch")
    parser.add_argument("--output", required=True, help="s3:// prefix to write Parquet to")
    parser.add_argument("--job-id", required=True, help="emr-dispatch job id, recorded in the output")
    parser.add_argument("--key-column", default="id", help="rows without it are dropped")
    args = parser.parse_args()

    spark = SparkSession.builder.appName(f"clean-csv-{args.job_id}").getOrCreate()
    paths = [args.input] if args.input else read_manifest(spark, args.inputs_manifest)
    rows = spark.read.option("header", "true").option("inferSchema", "true").csv(paths)
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
