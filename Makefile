# The two commands: `make run` (the main job) and `make test` (the whole suite with its real
# peers). Both are idempotent and work on a fresh Debian machine as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the test suite's real peers come from (see docs/testing.md).
TEST_DEBS := postgresql sip-tester kamailio snmpd snmp openssh-server prometheus-blackbox-exporter prometheus prometheus-alertmanager openssh-client openssl iputils-ping
# Reports (PDF via WeasyPrint with Chinese fonts) need these to run; poppler-utils checks PDFs.
RUN_DEBS := fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
TEST_DEBS += $(RUN_DEBS) poppler-utils

.PHONY: run test lint venv install install-dev test-debs clean emulators

run: install
	scripts/ensure-debs $(RUN_DEBS)
	$(BIN)/hotline-ops init
	exec $(BIN)/hotline-ops serve

test: install-dev test-debs
	scripts/test-run

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

venv: $(BIN)/python

$(BIN)/python:
	scripts/ensure-debs python3 python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

test-debs:
	scripts/ensure-debs $(TEST_DEBS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info

# Local stand-ins for WeCom, DingTalk, SMS (gateway + Alibaba SendSms) and voice APIs, for
# trying the example channels in incidents/channels.yaml (docs/channels.md).
emulators: install
	exec $(BIN)/python -m hotline_ops.notify.emulators
