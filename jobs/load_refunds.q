-- Example Hive script of the refunds-hive route (EMR Serverless, application of type HIVE).
-- Variables arrive as --hivevar NAME=value: ${INPUT} is the file that landed, ${OUTPUT} the job's output
-- folder, ${JOB_ID} emr-dispatch's job id. emr-dispatch passes only keys that stay one word (README, Hive).
-- The job reads the landed file where it is and writes only under ${OUTPUT}: the job role needs s3:GetObject
-- on the input, never a delete (docs/SECURITY.md).

-- The manifest of refunds_input (create_refunds.q): one line, the landed file.
INSERT OVERWRITE DIRECTORY '${OUTPUT}input/'
SELECT '${INPUT}';

-- The file's header row (refund_id,amount) is dropped by the WHERE: a header-skip table property is not
-- applied through a symlink manifest by every Hive version.
INSERT OVERWRITE DIRECTORY '${OUTPUT}clean/'
STORED AS PARQUET
SELECT refund_id, amount, '${JOB_ID}' AS job_id
FROM refunds_input
WHERE refund_id IS NOT NULL AND refund_id <> 'refund_id';
