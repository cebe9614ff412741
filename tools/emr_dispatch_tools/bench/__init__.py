"""`make bench`: a burst of S3 arrivals with re-deliveries through the launcher, against a naive
one-job-per-event baseline, all in moto. Run it with `python -m emr_dispatch_tools.bench` (see __main__)."""
