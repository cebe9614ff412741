"""`make bench`: issue 8's performance budgets (cold start, AWS calls per job, hot path, package size, memory,
cost and latency on paper) and issue 4's burst with re-deliveries against a naive baseline, each figure beside a
baseline measured in the same run. Run it with `python -m emr_dispatch_tools.bench` (see __main__)."""
