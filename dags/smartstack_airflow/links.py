"""Buttons on a monitoring task in the Airflow UI that open its reports (operator extra links).

The monitoring commands print their links as their result, the task's return value: ``snapshot``
(this run's report on the dashboard) or ``dashboard`` (the project page), and for drift
``mlflow_run``. In Airflow 3 a link is computed once, by the task runner as the task ends: it
calls each link's ``get_link``, which reads the task's return value here, and stores the URL as
an XCom under the link's ``xcom_key`` (``_link_<class name>``); the UI shows that XCom as a
button on the task, disabled when it is empty (a skipped task). Only an operator class carries
links (``operator_extra_links``), hence the two small operator classes below; the plugin in
``airflow_plugins/`` registers the links, as Airflow's documentation asks.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import BaseOperator, BaseOperatorLink, BaseXCom

# The MLflow UI of the local stack: `smartstack up` serves it on port 5000 unless told otherwise
# (`--mlflow-port`, which it passes on to Airflow as this variable).
MLFLOW_UI_URL = os.environ.get("SMARTSTACK_MLFLOW_UI_URL", "http://localhost:5000")


def task_result(ti_key: Any) -> dict[str, Any]:
    """The task's return value when it is a JSON object, else ``{}`` (a skipped task)."""
    found = BaseXCom.get_value(ti_key=ti_key, key=BaseXCom.XCOM_RETURN_KEY)
    return found if isinstance(found, dict) else {}


class DashboardLink(BaseOperatorLink):
    """This run's report on the monitoring dashboard, else the project's page."""

    name: ClassVar[str] = "Dashboard"  # type: ignore[misc]

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        result = task_result(ti_key)
        return str(result.get("snapshot") or result.get("dashboard") or "")


class MlflowRunLink(BaseOperatorLink):
    """The MLflow run the task logged (drift: its reports and metrics), in the MLflow UI."""

    name: ClassVar[str] = "MLflow run"  # type: ignore[misc]

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        run = task_result(ti_key).get("mlflow_run")
        return f"{MLFLOW_UI_URL.rstrip('/')}/#/runs/{run}" if run else ""


class ReportOperator(PythonOperator):
    """A monitoring step's task: a Python task with a link to its dashboard report."""

    operator_extra_links = (DashboardLink(),)


class DriftReportOperator(PythonOperator):
    """The drift step's task: links to its dashboard report and to its MLflow run."""

    operator_extra_links = (DashboardLink(), MlflowRunLink())
