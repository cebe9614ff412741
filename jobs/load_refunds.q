-- Example Hive script of the refunds-hive route (EMR Serverless, application of type HIVE).
-- Variables arrive as --hivevar NAME=value: ${INPUT} is the file that landed, ${OUTPUT} the job's output
-- folder, ${JOB_ID} emr-dispatch's job id. emr-dispatch passes only keys that stay one word (README, Hive).
LOAD DATA INPATH '${INPUT}' INTO TABLE refunds_raw;

INSERT OVERWRITE DIRECTORY '${OUTPUT}clean/'
STORED AS PARQUET
SELECT refund_id, amount, '${JOB_ID}' AS job_id FROM refunds_raw WHERE refund_id IS NOT NULL;
