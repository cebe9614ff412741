"""The offline AWS world around moto: what moto does not do (contracts, IAM, quotas, time)."""
