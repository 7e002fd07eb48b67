"""The models compile for BigQuery, proven without credentials.

`dbt parse` checks the project against the bigquery target; `dbt compile` (with only the
table-exists question answered locally) renders every model in both its full and incremental
form, and sqlglot parses each statement in BigQuery's dialect. A DuckDB-only construct (a `::`
cast, a `read_parquet` source, a double-quoted identifier, which BigQuery reads as a string)
fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlglot import exp

from smartstack.features.dbt import dbt_environment, dbt_vars, run_dbt
from smartstack.settings import Settings

pytestmark = pytest.mark.slow


def _tables_read(statement: exp.Expression) -> list[exp.Table]:
    """The tables a statement reads, its own CTEs left out."""
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    return [t for t in statement.find_all(exp.Table) if t.name not in ctes or t.db]


def _fake_keyfile(path: Path) -> Path:
    """A syntactically valid service-account key that can sign nothing useful."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "smartstack-ci",
                "private_key_id": "0",
                "private_key": pem,
                "client_email": "ci@smartstack-ci.iam.gserviceaccount.com",
                "client_id": "0",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def bigquery_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home-bigquery")
    return Settings(
        home=home,
        warehouse="bigquery",
        bigquery_project="smartstack-ci",
        bigquery_keyfile=_fake_keyfile(home / "key.json"),
    )


def test_dbt_parse_on_the_bigquery_target(bigquery_settings: Settings) -> None:
    assert run_dbt(["parse"], bigquery_settings, target="bigquery") == 0


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_every_model_compiles_to_bigquery_sql(bigquery_settings: Settings, mode: str) -> None:
    env = dbt_environment(bigquery_settings)
    target = bigquery_settings.home / "dbt" / f"target-{mode}"
    env["DBT_TARGET_PATH"] = str(target)
    script = Path(__file__).with_name("compile_bigquery.py")
    done = subprocess.run(
        [sys.executable, str(script), mode, json.dumps(dbt_vars(bigquery_settings))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

    models = target / "compiled" / "smartstack" / "models"
    # Models only: data tests compile into folders named after their YAML file.
    compiled = sorted(p for p in models.rglob("*.sql") if not p.parent.name.endswith(".yml"))
    assert len(compiled) >= 18
    spines = []
    for path in compiled:
        sql = path.read_text()
        assert "::" not in sql and "read_parquet" not in sql and '"' not in sql, path.name
        tables = _tables_read(sqlglot.parse_one(sql, read="bigquery"))
        # Every table a model reads is a table of the BigQuery dataset, fully qualified.
        assert all((t.catalog, t.db) == ("smartstack-ci", "smartstack") for t in tables), (
            path.name,
            [t.sql(dialect="bigquery") for t in tables],
        )
        if not tables:
            spines.append(path.stem)
    # Only the dates every feature is computed at read no table (they come from the vars), and,
    # on a first build where no table exists yet, the staging models of the landed event tables
    # (an empty result with the table's columns until the stream's sink created it).
    landed = [
        "stg_events__consent_events",
        "stg_events__feedback",
        "stg_events__quiz_answers",
        "stg_events__ranking_log",
    ]
    first_build = landed if mode == "full" else []
    assert spines == ["int_snapshot_dates_generated", *first_build]
    if mode == "incremental":
        daily = (
            target / "compiled/smartstack/models/intermediate/int_transactions_aggregated_daily.sql"
        )
        assert "from `smartstack-ci`.`smartstack`.`int_transactions_aggregated_daily`" in (
            daily.read_text()
        )
