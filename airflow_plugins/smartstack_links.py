"""Registers the Smart Stack operator extra links (``dags/smartstack_airflow/links.py``) with
Airflow, as its documentation asks of every link an operator carries.

Airflow loads this folder as its plugins folder (``AIRFLOW__CORE__PLUGINS_FOLDER``, set by
``smartstack.stack.airflow.airflow_environment``). The links live next to the DAGs that use
them, so the DAG folder goes on the path first: only the DAG processor puts it there itself.
The plugin names no operators, so the UI shows the URLs the task runner stored as XComs.
"""

from __future__ import annotations

import sys

from airflow import settings
from airflow.plugins_manager import AirflowPlugin

if settings.DAGS_FOLDER not in sys.path:
    sys.path.append(settings.DAGS_FOLDER)

from smartstack_airflow.links import DashboardLink, MlflowRunLink  # noqa: E402


class SmartstackLinksPlugin(AirflowPlugin):
    name = "smartstack_links"
    operator_extra_links = [DashboardLink(), MlflowRunLink()]
