-- Init script of the refunds-hive route (initQueryFile): the table the load step writes, created once.
-- ${OUTPUT} is the job's own output folder; the table is external so dropping it never deletes data.
CREATE EXTERNAL TABLE IF NOT EXISTS refunds_raw (refund_id STRING, amount DECIMAL(12, 2))
ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
STORED AS TEXTFILE
LOCATION '${OUTPUT}raw/'
TBLPROPERTIES ('skip.header.line.count' = '1');
