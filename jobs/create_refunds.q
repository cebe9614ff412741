-- Init script of the refunds-hive route (initQueryFile, run in the job's own Hive session before the query).
-- The landed file is read in place, never moved: Hive's LOAD DATA INPATH (not LOCAL) would move it out of the
-- landing bucket. A table reads a folder, not a file, so this one reads a symlink manifest instead
-- (SymlinkTextInputFormat, HIVE-1272: the table's folder holds text files listing the data files to read);
-- load_refunds.q writes that manifest, one line: ${INPUT}.
-- Metastore: any. The table is TEMPORARY (Hive 0.14+: it lives in this session only, never in the metastore),
-- so with a metastore that outlives the job (the Glue Data Catalog) no later or concurrent job sees it, and
-- nothing is left to drop. ${OUTPUT} is the job's own output folder.
CREATE TEMPORARY EXTERNAL TABLE refunds_input (refund_id STRING, amount DECIMAL(12, 2))
ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
STORED AS
  INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
  OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${OUTPUT}input/';
