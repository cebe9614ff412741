"""Logger shared by every module of the package (Powertools, JSON, one service name)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="emr-dispatch", child=False)
