"""emr-dispatch: files landing in S3 become Amazon EMR work, recorded, alerted on and cleaned up."""

MANAGED_BY = "emr-dispatch"
"""Value of the ``managed-by`` tag on everything emr-dispatch starts; IAM conditions rely on it."""

NAME_PREFIX = "emr-dispatch-"
"""Prefix of cluster and step names; the tracker's EventBridge rules filter on it."""
