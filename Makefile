# The only entry point: CI (.ci/run) calls the same targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
# sam build needs the Lambda runtime's interpreter (python3.13); pyenv carries it on these machines.
export PYENV_VERSION ?= 3.11.7:3.12.1:3.13.0

.PHONY: demo demo-lost-events sandbox e2e test checks quick lint fmt typecheck unit routes-check validate checkov bandit security build deploy bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# SAM CLI pins its own boto3: it lives in its own virtualenv.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

# checkov pins a year-old boto3: it lives in its own virtualenv too.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

demo: $(VENV)/.installed
	$(PY) -m emr_dispatch_tools.demo

# template.yaml in a moto server that stays up, with the demo's story in it: prints the `export` lines after
# which every README and RUNBOOK command works against it (SANDBOX_PORT, default 5055). Ctrl-C stops it.
sandbox: $(VENV)/.installed
	$(PY) -m emr_dispatch_tools.sandbox

# The same story with every EMR event lost: the sweeper alone finds out how each job ended.
demo-lost-events: $(VENV)/.installed
	$(PY) -m emr_dispatch_tools.demo --drop-events

# Not a test: issue 8's performance budgets (cold start, AWS calls per job, hot path, package size after
# sam build, memory, cost on paper), each against a baseline measured in the same run -> docs/BENCHMARKS.md.
# With the SAM CLI installed, figure 4 is measured after `sam build`; on a fresh clone without it (installing it
# takes minutes) the layer is pip-installed for the Lambda platform instead, and the report says which.
bench: $(VENV)/.installed
	@if [ -f $(SAM_VENV)/.installed ]; then $(MAKE) --no-print-directory build; fi
	$(PY) -m emr_dispatch_tools.bench --output docs/BENCHMARKS.md $(if $(wildcard $(SAM_VENV)/.installed),,--no-sam-build)

# The tests (pytest, both cores) stream as they run; the checks that only read files (lint, types, the routes file, the
# template, the scanners: ≈ 30 s of CPU) run beside them at a lower priority, so they take the cores the tests leave
# idle, and their output is printed whole after the tests'. make test fails if either part failed.
test: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	@checks_log=$$(mktemp); \
	nice -n 10 $(MAKE) --no-print-directory --keep-going --output-sync=target -j 2 checks > $$checks_log 2>&1 & \
	checks_pid=$$!; \
	$(MAKE) --no-print-directory unit; tests=$$?; \
	wait $$checks_pid; checks=$$?; \
	echo "--- lint, typecheck, routes-check, validate, security (run beside the tests):"; \
	cat $$checks_log; rm -f $$checks_log; \
	if [ $$tests -ne 0 ] || [ $$checks -ne 0 ]; then \
		echo "make test: FAILED (tests exit $$tests, checks exit $$checks)"; exit 1; \
	fi

checks: lint typecheck routes-check validate security

# Opt-in, not part of `make test`: deploys a uniquely named stack into the AWS account of the current credentials
# (AWS_PROFILE / AWS_REGION), runs one EMR Serverless success and one failure, asserts ledger, alert and the
# stopped application, then deletes everything it made. Without credentials it says why it is skipped, exits 0.
# Cost and permissions: README, "End-to-end test".
e2e: $(VENV)/.installed
	$(PY) -m emr_dispatch_tools.e2e

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(VENV)/bin/pytest -n auto

# The unit tests alone (no moto stack, no network): seconds, for the edit-test loop. `make test` runs everything.
quick: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit -n auto

routes-check: $(VENV)/.installed
	$(VENV)/bin/emr-dispatch routes check config/routes.yaml

validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint --template template.yaml

# Scanners: each suppression carries its reason where it is made (template Metadata, # nosec comments).
security: checkov bandit

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

bandit: $(VENV)/.installed
	$(VENV)/bin/bandit --quiet --recursive layers/emr_dispatch/emr_dispatch functions

build: $(SAM_VENV)/.installed
	$(SAM) build --template template.yaml

deploy: build
	$(SAM) deploy

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .ruff_cache
