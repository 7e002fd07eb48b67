"""What the Smart Stack DAG files share: task-group builders, assets and the one way a task runs
project code (the ``smartstack`` command of the project environment).

Airflow runs in its own environment (``.venv-airflow``) and never imports the ``smartstack``
package: every task runs a ``smartstack`` command of the project environment (``.venv``) as a
subprocess, and the dbt tasks run Cosmos with that environment's ``smartstack-dbt``.
"""
