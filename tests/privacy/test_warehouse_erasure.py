"""The warehouse erasure: DuckDB directly, and the BigQuery statements as BigQuery SQL, run
through DuckDB on a copy of the warehouse (no BigQuery project is reachable here)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from smartstack.erasure.warehouse import (
    PARAMETER,
    bigquery_statements,
    bigquery_table_query,
    erase_from_duckdb,
)
from tests.conftest import BuiltHome

PROJECT, DATASET = "smartstack-ci", "smartstack"


def _base_tables(db: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        t
        for (t,) in db.execute(
            "select table_name from information_schema.tables t join information_schema.columns c "
            "using (table_schema, table_name) where c.column_name = 'customer_id' "
            "and t.table_type = 'BASE TABLE' order by 1"
        ).fetchall()
    ]


def _rows_of(db: duckdb.DuckDBPyConnection, tables: list[str], customer: str) -> dict[str, int]:
    return {
        t: db.execute(f'select count(*) from "{t}" where customer_id = ?', [customer]).fetchone()[0]
        for t in tables
    }


def _a_customer(db: duckdb.DuckDBPyConnection) -> str:
    (customer,) = db.execute(
        "select customer_id from int_transactions_aggregated_daily order by 1 limit 1"
    ).fetchone()
    return customer


def test_the_bigquery_statements_are_parameterised_and_delete_exactly_the_customer(
    built: BuiltHome, tmp_path: Path
) -> None:
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(built.settings.duckdb_path.read_bytes())
    with duckdb.connect(str(copy)) as db:
        tables = _base_tables(db)
        customer = _a_customer(db)
        before = {t: db.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
        theirs = _rows_of(db, tables, customer)
        assert len(tables) >= 5 and sum(theirs.values()) > 0

        statements = bigquery_statements(PROJECT, DATASET, tables)
        assert len(statements) == len(tables)
        for table, statement in zip(tables, statements, strict=True):
            tree = sqlglot.parse_one(statement, read="bigquery")
            assert isinstance(tree, exp.Delete)
            (target,) = list(tree.find_all(exp.Table))
            assert (target.catalog, target.db, target.name) == (PROJECT, DATASET, table)
            (parameter,) = list(tree.find_all(exp.Parameter))
            assert parameter.name == PARAMETER  # the id is bound, never spliced into the text
            assert customer not in statement
            # The same statement on the local warehouse: the table unqualified, the parameter
            # bound to the customer.
            target.set("catalog", None)
            target.set("db", None)
            parameter.replace(exp.Literal.string(customer))
            db.execute(tree.sql(dialect="duckdb"))

        assert set(_rows_of(db, tables, customer).values()) == {0}
        after = {t: db.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
        assert after == {t: before[t] - theirs[t] for t in tables}

    listing = sqlglot.parse_one(bigquery_table_query(PROJECT, DATASET), read="bigquery")
    sources = {(t.catalog, t.db, t.name) for t in listing.find_all(exp.Table)}
    assert sources == {
        (PROJECT, DATASET, "INFORMATION_SCHEMA.COLUMNS"),
        (PROJECT, DATASET, "INFORMATION_SCHEMA.TABLES"),
    }


def test_duckdb_erasure_leaves_no_trace_in_the_file(built: BuiltHome, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(built.settings.duckdb_path.read_bytes())
    with duckdb.connect(str(copy), read_only=True) as db:
        tables = _base_tables(db)
        views = db.execute("select view_name from duckdb_views() where not internal").fetchall()
        customer = _a_customer(db)
        others = db.execute(
            "select count(*) from int_transactions_aggregated_daily where customer_id <> ?",
            [customer],
        ).fetchone()[0]
    assert customer.encode() in copy.read_bytes()

    removed = erase_from_duckdb(copy, customer)

    assert removed > 0
    assert customer.encode() not in copy.read_bytes()  # deleted rows' bytes included
    with duckdb.connect(str(copy), read_only=True) as db:
        assert set(_rows_of(db, tables, customer).values()) == {0}
        # Every table and view survives the rewrite.
        assert _base_tables(db) == tables
        assert (
            db.execute("select view_name from duckdb_views() where not internal").fetchall()
            == views
        )
        kept = db.execute(
            "select count(*) from int_transactions_aggregated_daily where customer_id <> ?",
            [customer],
        ).fetchone()[0]
        assert kept == others
    assert erase_from_duckdb(copy, customer) == 0  # idempotent
