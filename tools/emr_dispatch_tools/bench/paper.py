"""Against the anchors, on paper: latency and controller cost beside an Airflow sensor and Step Functions'
EMR .sync integration. Prices and intervals are cited (us-east-1, as published when this was written); the
per-job call and invocation counts come from this run's lifecycle measurement."""

from __future__ import annotations

from dataclasses import dataclass

from emr_dispatch_tools.bench.lifecycle import Lifecycle

SOURCES = {
    "s3": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html",
    "airflow": "https://airflow.apache.org/docs/apache-airflow/stable/_api/airflow/sensors/base/index.html",
    "sfn-emr": "https://docs.aws.amazon.com/step-functions/latest/dg/connect-emr.html",
    "sfn-price": "https://aws.amazon.com/step-functions/pricing/",
    "lambda-price": "https://aws.amazon.com/lambda/pricing/",
    "ddb-price": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "sqs-price": "https://aws.amazon.com/sqs/pricing/",
    "eb-price": "https://aws.amazon.com/eventbridge/pricing/",
}

LAMBDA_REQUEST = 0.20 / 1e6  # per request
LAMBDA_ARM_GB_SECOND = 0.0000133334
DDB_WRITE_UNIT = 0.625 / 1e6  # on-demand, per write request unit (after the November 2024 price cut)
DDB_READ_UNIT = 0.125 / 1e6
SQS_REQUEST = 0.40 / 1e6  # standard queue, per request (64 KB chunk)
SFN_TRANSITION = 0.025 / 1000
MEMORY_GB = 0.25  # the template's MemorySize
ASSUMED_CALL_SECONDS = 0.040  # one in-region AWS API round trip, assumed (not measured here)
SFN_STATES_PER_JOB = 5  # a minimal per-job workflow: start task (.sync), choice, record, notify, end


@dataclass
class JobCost:
    engine: str
    lambda_invocations: float
    calls: int
    writes: int
    reads: int
    dollars: float
    step_functions_dollars: float


def job_costs(life: Lifecycle, own_ms_per_invocation: float) -> list[JobCost]:
    """Controller cost of one successful job per engine (launch alone in its SQS batch: the worst case;
    its state-change events; one sweep while it runs), times 1,000."""
    costs = []
    for engine in ("emr-ec2", "emr-serverless", "emr-eks"):
        rows = [row for row in life.rows if row.engine == engine and row.path.startswith("success: ")]
        launch = next((row for row in life.rows if row.engine == engine and row.path == "launch (new object)"), None)
        sweep = next((row for row in life.rows if row.engine == engine and row.path == "sweep, per running job"), None)
        if launch is None or sweep is None:
            continue
        every = [launch, *rows, sweep]
        invocations = 1 + len(rows)  # the launcher's, one per event; the sweep's run is shared by all jobs
        calls = sum(row.total for row in every)
        writes = sum(
            n * (2 if op.endswith("TransactWriteItems") else 1) * 2  # each write also updates a GSI: twice
            for row in every
            for op, n in row.calls.items()
            if op.split(".")[-1] in {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
        )
        reads = sum(n for row in every for op, n in row.calls.items() if op.split(".")[-1] in {"GetItem", "Query"})
        seconds = calls * ASSUMED_CALL_SECONDS + invocations * own_ms_per_invocation / 1000
        dollars = (
            invocations * LAMBDA_REQUEST
            + seconds * MEMORY_GB * LAMBDA_ARM_GB_SECOND
            + writes * DDB_WRITE_UNIT
            + reads * DDB_READ_UNIT
            + 3 * SQS_REQUEST  # S3's send, the event source mapping's receive and delete (unbatched: worst case)
        )
        costs.append(
            JobCost(
                engine, invocations, calls, writes, reads, dollars * 1000, SFN_STATES_PER_JOB * SFN_TRANSITION * 1000
            )
        )
    return costs


def markdown(life: Lifecycle, own_ms_per_invocation: float) -> str:
    costs = job_costs(life, own_ms_per_invocation)
    rows = "\n".join(
        f"| {c.engine} | {c.lambda_invocations:.0f} | {c.calls} | {c.writes} | {c.reads} | ${c.dollars:.4f} | "
        f"${c.step_functions_dollars:.3f} | {c.dollars / c.step_functions_dollars:.2f}× |"
        for c in costs
    )
    s = SOURCES
    return f"""### Latency, on paper

| | emr-dispatch | Airflow S3 sensor + EMR operator/sensor | Step Functions, EMR `.sync` |
|---|---|---|---|
| arrival → job submitted | S3 → SQS delivery ("typically … in seconds but can sometimes take a minute or longer" [S3]) + up to the event source mapping's 5 s batching window (template) + three sequential calls (claim, start, record) | object found at the next poke: `poke_interval` defaults to 60 s [Airflow], so 30 s on average, 60 s at worst, plus scheduling | not event-driven by itself: needs S3 → EventBridge → StartExecution (seconds), then the EMR task |
| engine state change → outcome recorded | the engine's EventBridge event → tracker (asynchronous invoke, typically seconds); events are best effort, so a lost one is caught by the next sweep: at most 5 min (`rate(5 minutes)`) | next sensor poke: 60 s by default | the `.sync` poll: "60 seconds for the first 10 minutes and 300 seconds after that" [SFN-EMR]: up to 60 s, then up to 300 s for jobs longer than 10 min |

### Controller cost per 1,000 jobs, on paper

Per successful job of each engine, from this run's lifecycle counts: one launcher invocation per job (an arrival
alone in its SQS batch: the worst case; a burst shares batches of 10), one tracker invocation per state-change
event, and one sweep's per-job calls (the sweep itself runs every 5 minutes whatever the load: 288 invocations a
day, about ${288 * 30 * (LAMBDA_REQUEST + 0.5 * MEMORY_GB * LAMBDA_ARM_GB_SECOND):.2f} a month at 0.5 s each).
Lambda duration is an assumption: {ASSUMED_CALL_SECONDS * 1000:.0f} ms per AWS call (in-region round trip) plus this
run's measured own time per invocation ({own_ms_per_invocation:.1f} ms), at 256 MB arm64. DynamoDB items are under
1 KB; every write is counted twice (each changes a GSI key: `by_state`, `by_engine_id`), transactions twice again;
reads at one unit each. SQS: three requests per arrival, unbatched. EventBridge: events from AWS services on the
default bus are free [EventBridge]; SNS alerts only for failures (negligible). EMR itself is not included.
Step Functions: a minimal per-job Standard workflow of {SFN_STATES_PER_JOB} states (start the job with `.sync`, a
choice, record, notify, end) at $0.025 per 1,000 state transitions [SFN-price], state transitions only (its own
Lambda/DynamoDB/SNS calls would come on top).

| engine | Lambda invocations / job | AWS calls / job | DynamoDB write units / job | read units / job | emr-dispatch $ / 1,000 jobs | Step Functions transitions $ / 1,000 jobs | ratio |
|---|---|---|---|---|---|---|---|
{rows}

Prices (us-east-1): Lambda $0.20 per million requests and $0.0000133334 per GB-s on arm64 [Lambda-price];
DynamoDB on-demand $0.625 per million write request units, $0.125 per million read request units [DynamoDB-price];
SQS standard $0.40 per million requests [SQS-price]; Step Functions Standard $0.025 per 1,000 state transitions
[SFN-price].

Sources: [S3] {s["s3"]} · [Airflow] {s["airflow"]} · [SFN-EMR] {s["sfn-emr"]} · [SFN-price] {s["sfn-price"]} ·
[Lambda-price] {s["lambda-price"]} · [DynamoDB-price] {s["ddb-price"]} · [SQS-price] {s["sqs-price"]} ·
[EventBridge] {s["eb-price"]}
"""
