# The two commands that matter: `make demo` and `make test`. Both set up .venv first (idempotent).
SHELL := /bin/bash
VENV := .venv
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_LOCALHOST_ONLY := 1

.PHONY: setup demo test lint clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	$(VENV)/bin/python -m pytest -q test

lint: setup
	$(VENV)/bin/ruff check occtrack_ros test launch

clean:
	rm -rf build install log out
