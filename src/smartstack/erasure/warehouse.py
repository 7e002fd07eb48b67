"""One customer out of the warehouse: every base table with a ``customer_id`` column.

The tables come from the warehouse's own catalogue (``information_schema``), not from a list
kept here, so a new dbt model is covered the day it is built. Views need nothing: they read
tables and Parquet that the erasure rewrites. Locally the marts are Parquet files the warehouse
reads through views (erased with the other Parquet); on BigQuery they are tables, found and
erased like the rest, with the id passed as a query parameter, never spliced into the text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

from smartstack.settings import Settings

CUSTOMER_COLUMN = "customer_id"
PARAMETER = "customer_id"

_DUCKDB_TABLES = """
select c.table_schema, c.table_name
from information_schema.columns c
join information_schema.tables t using (table_catalog, table_schema, table_name)
where c.column_name = 'customer_id' and t.table_type = 'BASE TABLE'
order by 1, 2
"""


def erase_from_duckdb(path: Path, customer_id: str) -> int:
    if not path.exists():
        return 0
    db = duckdb.connect(str(path))
    try:
        removed = 0
        for schema, table in db.execute(_DUCKDB_TABLES).fetchall():
            (count,) = db.execute(
                f'delete from "{schema}"."{table}" where {CUSTOMER_COLUMN} = ?', [customer_id]
            ).fetchone()
            removed += int(count)
        db.execute("checkpoint")
    finally:
        db.close()
    _rewrite(path)  # also on a resume after a crash between the delete and the rewrite
    return removed


def _rewrite(path: Path) -> None:
    """Copy the database into a new file and swap it in: DuckDB frees a deleted row's blocks
    for reuse but leaves their bytes in the file until something overwrites them."""
    fresh = path.with_name(f".erasing-{path.name}")
    fresh.unlink(missing_ok=True)
    db = duckdb.connect()
    try:
        db.execute("attach ? as source (read_only)", [str(path)])
        db.execute("attach ? as fresh", [str(fresh)])
        db.execute("copy from database source to fresh")
    finally:
        db.close()
    os.replace(fresh, path)


def bigquery_table_query(project: str, dataset: str) -> str:
    """The base tables of the dataset that have a customer column."""
    return (
        "SELECT c.table_name "
        f"FROM `{project}.{dataset}.INFORMATION_SCHEMA.COLUMNS` AS c "
        f"JOIN `{project}.{dataset}.INFORMATION_SCHEMA.TABLES` AS t USING (table_name) "
        f"WHERE c.column_name = '{CUSTOMER_COLUMN}' AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name"
    )


def bigquery_statements(project: str, dataset: str, tables: Iterable[str]) -> list[str]:
    """One parameterised ``DELETE`` per table (``@customer_id``)."""
    return [
        f"DELETE FROM `{project}.{dataset}.{table}` WHERE {CUSTOMER_COLUMN} = @{PARAMETER}"
        for table in tables
    ]


def erase_from_bigquery(settings: Settings, customer_id: str) -> int:
    """Run the statements on BigQuery (needs credentials: not reachable in tests, which
    check the statements themselves against the local warehouse)."""
    from google.cloud import bigquery

    if settings.bigquery_project is None:
        raise ValueError("bigquery_project is not set")
    client = bigquery.Client(project=settings.bigquery_project)
    tables = [
        row.table_name
        for row in client.query(
            bigquery_table_query(settings.bigquery_project, settings.bigquery_dataset)
        ).result()
    ]
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(PARAMETER, "STRING", customer_id)]
    )
    removed = 0
    for statement in bigquery_statements(
        settings.bigquery_project, settings.bigquery_dataset, tables
    ):
        job = client.query(statement, job_config=config)
        job.result()
        removed += job.num_dml_affected_rows or 0
    return removed
