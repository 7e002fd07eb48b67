# Airflow with the project beside it, the same split as `.venv-airflow` and `.venv` locally:
# Airflow and Cosmos in the image's own environment, the project (dbt, Great Expectations,
# Feast, XGBoost, MLflow) in /opt/smartstack/.venv, which the DAG tasks run (SMARTSTACK_VENV).
# Also the image of the MLflow server, which runs the project environment's `mlflow`.
#   docker compose build
FROM apache/airflow:3.3.2-python3.11

USER root
# Java for Spark (the spark warehouse: dbt-spark, Feast's Spark offline store, xgboost.spark, and
# the spark-master and spark-worker services).
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY --chown=airflow:root . /opt/smartstack
USER airflow
WORKDIR /opt/smartstack

RUN pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --no-cache --python "$(command -v python)" -r requirements/airflow.lock \
 && uv pip install --no-cache --no-deps --python "$(command -v python)" -e . \
 && uv venv --python python3.11 /opt/smartstack/.venv \
 && uv pip sync --no-cache --compile-bytecode --python /opt/smartstack/.venv/bin/python \
      requirements/project.lock \
 && uv pip install --no-cache --no-deps --python /opt/smartstack/.venv/bin/python -e .

ENV SMARTSTACK_VENV=/opt/smartstack/.venv \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/smartstack/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/smartstack/airflow_plugins
