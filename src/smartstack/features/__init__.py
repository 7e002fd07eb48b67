"""The feature layer: the dbt project in ``dbt_project/`` and the commands that run it."""
