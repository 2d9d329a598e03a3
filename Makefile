# anbu: `make run` brings up the embedded stack with demo households; `make test` runs the suite.
# Both install what they need on a fresh Debian machine (run as root): apt packages (Java 17
# and Maven among them), a virtual environment in .venv, the project, and Apache Kafka's jars
# from Maven Central (fetched once into ~/.cache/anbu/kafka-<version>/lib).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := mosquitto influxdb postgresql chromium fonts-nanum openjdk-17-jre-headless maven
PYTEST_ARGS ?=
# Test files run in two processes (pytest-xdist, each file whole in one): most of a test's
# time is spent waiting on Kafka, Mosquitto or a child process, not on the CPU. Measured on
# this 2-core machine type: 1,135 s in one process, 631 s in two, the same 412 passing.
# PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2

.PHONY: run test apt venv kafka lint typecheck bench clean help

help:
	@echo "make run    install everything, start the stack with demo households, serve the web pages"
	@echo "make test   install everything the tests need and run them"
	@echo "make lint   ruff and mypy"
	@echo "make bench  run the benchmark suite"

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# The embedded broker's jars; a no-op once cached.
kafka: apt venv
	@$(BIN)/python -m anbu.stack.apache_kafka >/dev/null

run: apt venv kafka
	$(BIN)/anbu up --demo

# pytest exits 5 when it collected nothing: that is a failure, not a pass.
test: apt venv kafka
	@$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy .

bench: apt venv kafka
	$(BIN)/anbu bench

clean:
	rm -rf $(VENV) var test-artifacts bench-results .pytest_cache .mypy_cache .ruff_cache
