# Two entry points, both from a fresh machine with Python 3.11, pip and make:
#   make demo   set up, ingest sample_logs/, print the weekly report and write report.html
#   make test   set up, then ruff, mypy and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= tierlens-data

.PHONY: setup demo test lint typecheck bench sample-logs clean

# the demo needs the package and its charts only; the tests add the dev tools (pyspark, mypy...)
$(VENV)/.charts: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[charts]'
	@touch $@

$(VENV)/.dev: $(VENV)/.charts
	$(BIN)/python -m pip install --quiet -e '.[dev,charts]'
	@touch $@

setup: $(VENV)/.dev

demo: $(VENV)/.charts
	rm -rf $(DATA)
	$(BIN)/tierlens ingest sample_logs/ --quality sample_logs/quality/judgments.csv --data $(DATA)
	$(BIN)/tierlens report --data $(DATA) --format table
	$(BIN)/tierlens report --data $(DATA) -o report.html

lint: setup
	$(BIN)/ruff check
	$(BIN)/ruff format --check src

typecheck: setup
	$(BIN)/mypy

# the whole suite, on both cores (a bare `pytest` skips the slow tests)
test: lint typecheck
	$(BIN)/python -m pytest -m "slow or not slow" -n 2

bench: setup
	$(BIN)/python bench/ingest.py

sample-logs:
	$(PYTHON) scripts/gen_sample_logs.py --out sample_logs

clean:
	rm -rf $(VENV) $(DATA) .mypy_cache .ruff_cache .pytest_cache
