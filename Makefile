# Smart Stack: `make run` runs the main job on embedded defaults, `make test` runs the tests.
# Both set themselves up (virtual environments from the pinned locks) and are safe to run twice.

PYTHON ?= python3.11
VENV := .venv
AIRFLOW_VENV := .venv-airflow
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.synced
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.synced

.PHONY: run test lint lock bench-generate setup setup-airflow clean

run: $(STAMP)
	$(VENV)/bin/smartstack run

test: $(STAMP)
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench dags

bench-generate: $(STAMP)
	$(VENV)/bin/python bench/bench_generate.py --customers 100000

setup: $(STAMP)

setup-airflow: $(AIRFLOW_STAMP)

# The project environment: uv installs the lock exactly, then the project itself (editable).
$(STAMP): requirements/project.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip sync --quiet --python $(VENV)/bin/python requirements/project.lock
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps -e .
	touch $@

# Airflow does not resolve next to Feast/MLflow/BentoML, so it gets its own environment.
$(AIRFLOW_STAMP): requirements/airflow.lock $(STAMP)
	test -x $(AIRFLOW_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(AIRFLOW_VENV)
	$(UV) pip sync --quiet --python $(AIRFLOW_VENV)/bin/python requirements/airflow.lock
	touch $@

# Re-pin after changing dependencies in pyproject.toml or requirements/airflow.in.
lock: $(STAMP)
	$(UV) pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements/project.lock
	$(UV) pip compile --quiet requirements/airflow.in --python-version 3.11 -o requirements/airflow.lock

clean:
	rm -rf var .pytest_cache
