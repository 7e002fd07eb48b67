# Smart Stack: `make run` starts the whole stack and runs the pipeline in Airflow on embedded
# defaults, `make test` runs the tests. Both set themselves up (virtual environments from the
# pinned locks) and are safe to run twice. `make run-batch` runs the same job without Airflow.

PYTHON ?= python3.11
VENV := .venv
AIRFLOW_VENV := .venv-airflow
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.synced
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.synced
# The customer's web app (web/): npm installs its lock exactly, Vite builds it into web/dist,
# which the ranking service serves under /app/. Rebuilt only when a source file changed.
WEB_MODULES := web/node_modules/.package-lock.json
WEB_BUILD := web/dist/index.html
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/package.json web/vite.config.ts web/tsconfig.json
# promtool validates the Prometheus rules (monitoring/prometheus/, tests/monitoring/test_rules.py):
# taken from Debian's prometheus package and unpacked here, not installed (its postinst would
# start a Prometheus server).
PROMTOOL := .cache/promtool/usr/bin/promtool

.PHONY: run run-batch test test-quick test-web lint lock bench-generate setup setup-airflow web clean promtool

run: $(AIRFLOW_STAMP) $(WEB_BUILD)
	$(VENV)/bin/smartstack up

run-batch: $(STAMP)
	$(VENV)/bin/smartstack run

# The DAG tests run Airflow from its own environment. Two workers or more (pytest-xdist): the
# suite waits on services and subprocesses as much as it computes; tests/conftest.py schedules each
# module, and each folder sharing a costly fixture, on one worker.
test: $(AIRFLOW_STAMP) $(WEB_BUILD) $(PROMTOOL) test-web
	$(VENV)/bin/pytest --numprocesses auto

# The web app's component tests (Vitest + Testing Library in jsdom); the browser tests against
# the real service are part of pytest (tests/serving/test_web_browser.py).
test-web: $(WEB_MODULES)
	cd web && npm test

# The quick local loop: every test that needs no built data set, service or Airflow run.
test-quick: $(STAMP)
	$(VENV)/bin/pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench dags

bench-generate: $(STAMP)
	$(VENV)/bin/python bench/bench_generate.py --customers 100000

setup: $(STAMP)

setup-airflow: $(AIRFLOW_STAMP)

promtool: $(PROMTOOL)

$(PROMTOOL):
	rm -rf .cache/promtool && mkdir -p .cache/promtool
	cd .cache/promtool && apt-get download prometheus && dpkg-deb -x prometheus_*.deb .
	rm -f .cache/promtool/prometheus_*.deb
	test -x $@ && touch $@

web: $(WEB_BUILD)

$(WEB_MODULES): web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

$(WEB_BUILD): $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build

# The project environment: uv installs the lock exactly, then the project itself (editable).
# Bytecode is compiled at install time: every pipeline step is a fresh process (Airflow tasks
# above all), and without .pyc files each one compiles dbt, Feast or Airflow from source again.
# The stack's own processes run optimized (-O, smartstack.interpreter), so the bytecode of that
# level is compiled as well.
$(STAMP): requirements/project.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip sync --quiet --compile-bytecode --python $(VENV)/bin/python requirements/project.lock
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps -e .
	$(VENV)/bin/python -m compileall -q src
	$(VENV)/bin/python -O -m compileall -q -j 0 src $$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
	touch $@

# Airflow does not resolve next to Feast/MLflow/BentoML, so it gets its own environment.
# The DAGs import the pipeline's step definitions (standard library only) from the package, so
# it is installed there too, without its dependencies.
$(AIRFLOW_STAMP): requirements/airflow.lock $(STAMP)
	test -x $(AIRFLOW_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(AIRFLOW_VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(AIRFLOW_VENV)/bin/python requirements/airflow.lock
	$(UV) pip install --quiet --python $(AIRFLOW_VENV)/bin/python --no-deps -e .
	touch $@

# Re-pin after changing dependencies in pyproject.toml or requirements/airflow.in.
lock: $(STAMP)
	$(UV) pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements/project.lock
	$(UV) pip compile --quiet requirements/airflow.in --python-version 3.11 -o requirements/airflow.lock

clean:
	rm -rf var .pytest_cache web/dist
