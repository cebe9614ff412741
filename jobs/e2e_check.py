"""The job `make e2e` runs on EMR Serverless: count the lines of the file that landed, or fail on purpose.

A file whose first line is ``fail`` makes the job fail (so the end-to-end test sees one success and one failure
with a real Spark exit); any other file's line count is written as JSON under --output.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, help="s3:// URI of the file that landed")
    parser.add_argument("--output", required=True, help="s3:// prefix to write the count to")
    args = parser.parse_args()

    spark = SparkSession.builder.appName("emr-dispatch-e2e").getOrCreate()
    lines = [row.value for row in spark.read.text(args.input).collect()]
    if lines and lines[0].strip() == "fail":
        raise SystemExit(f"e2e: {args.input} asks this job to fail")
    spark.createDataFrame([(args.input, len(lines))], ["input", "lines"]).write.mode("overwrite").json(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
