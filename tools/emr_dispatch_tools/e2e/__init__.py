"""`make e2e`: an opt-in end-to-end test of emr-dispatch against a real AWS account (see run.py)."""
