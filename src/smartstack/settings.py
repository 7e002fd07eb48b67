"""One typed settings object for every path, URL and store.

Values come, highest first, from keyword arguments, ``SMARTSTACK_*`` environment variables (and
the conventional names such as ``REDIS_URL`` or ``MLFLOW_TRACKING_URI``), a ``.env`` file, and
finally the defaults of the active profile:

- ``local`` (default): everything embedded under ``SMARTSTACK_HOME`` (DuckDB, SQLite, files);
- ``prod``: Redis online store, BigQuery warehouse, Postgres for the Feast registry and the
  MLflow backend, a Kafka cluster.

Reading settings has no side effects (no folders are created, nothing is configured): callers
create what they write to.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Profile(StrEnum):
    local = "local"
    prod = "prod"


class OnlineStore(StrEnum):
    sqlite = "sqlite"
    redis = "redis"


class Warehouse(StrEnum):
    duckdb = "duckdb"
    bigquery = "bigquery"


def _alias(name: str, *others: str) -> AliasChoices:
    """Accept ``SMARTSTACK_<NAME>``, the bare ``<NAME>`` the wider ecosystem uses, and others."""
    return AliasChoices(f"SMARTSTACK_{name}", name, *others)


# Profile defaults, applied only to fields the caller did not set. Paths are relative to `home`.
_PROFILE_DEFAULTS: dict[Profile, dict[str, Any]] = {
    Profile.local: {
        "online_store": OnlineStore.sqlite,
        "warehouse": Warehouse.duckdb,
        "redis_url": "redis://127.0.0.1:6379/0",
        "postgres_url": None,
        # No broker: POST /feedback writes straight to the local feedback table. The run
        # command that starts the local broker sets KAFKA_BOOTSTRAP_SERVERS.
        "kafka_bootstrap_servers": None,
    },
    Profile.prod: {
        "online_store": OnlineStore.redis,
        "warehouse": Warehouse.bigquery,
        "redis_url": "redis://redis:6379/0",
        "postgres_url": "postgresql://smartstack:smartstack@postgres:5432/smartstack",
        "kafka_bootstrap_servers": "kafka:9092",
        "mlflow_tracking_uri": "postgresql://smartstack:smartstack@postgres:5432/mlflow",
    },
}


class Settings(BaseSettings):
    """Where Smart Stack reads and writes, for one profile."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTSTACK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    profile: Profile = Field(Profile.local)
    home: Path = Field(
        Path("var"),
        description="Root of every local artefact (data, DuckDB file, registries, logs).",
    )
    dataset: str = Field(
        "synthetic",
        description="Which data set the pipeline runs on (smartstack.datasets): `synthetic` or "
        "`starbucks`. Another data set gets its own default home, `var/<dataset>`.",
    )
    source_dir: Path | None = Field(
        None,
        description="The data set's own files, read in place by its ingestion adapter (the "
        "Starbucks JSON directory); `--data-dir` on the CLI.",
    )
    source_start_date: date | None = Field(
        None,
        description="The UTC day hour 0 of an hours-since-start data set maps to (Starbucks; "
        "default 2018-08-01).",
    )
    feature_service: str | None = Field(
        None, description="Feature service of training and serving (default: the data set's)."
    )

    # Data and warehouse
    data_dir: Path | None = Field(None, description="Raw Parquet tables (default: <home>/data).")
    warehouse: Warehouse = Field(Warehouse.duckdb)
    duckdb_path: Path | None = Field(None)
    bigquery_project: str | None = Field(
        None, validation_alias=_alias("BIGQUERY_PROJECT", "GOOGLE_CLOUD_PROJECT")
    )
    bigquery_dataset: str = Field("smartstack")
    bigquery_keyfile: Path | None = Field(
        None, validation_alias=_alias("BIGQUERY_KEYFILE", "GOOGLE_APPLICATION_CREDENTIALS")
    )

    # Feature store
    feast_repo_path: Path = Field(Path("feature_repo"))
    online_store: OnlineStore = Field(OnlineStore.sqlite)
    sqlite_online_path: Path | None = Field(None)
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_alias("REDIS_URL"))
    postgres_url: str | None = Field(None, validation_alias=_alias("POSTGRES_URL", "DATABASE_URL"))

    # Model registry
    mlflow_tracking_uri: str | None = Field(None, validation_alias=_alias("MLFLOW_TRACKING_URI"))
    mlflow_artifact_root: Path | None = Field(None)
    registered_model_name: str = Field("offer-ranker")

    # Messaging (LLM explanations)
    openai_base_url: str | None = Field(None, validation_alias=_alias("OPENAI_BASE_URL"))
    openai_model: str = Field("gpt-4o-mini", validation_alias=_alias("OPENAI_MODEL"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_alias("OPENAI_API_KEY"))

    # Events
    kafka_bootstrap_servers: str | None = Field(
        None,
        description="Kafka brokers (host:port,…); unset or empty: no broker (embedded mode).",
        validation_alias=_alias("KAFKA_BOOTSTRAP_SERVERS"),
    )

    # Serving
    serving_url: str = Field("http://127.0.0.1:3000")

    @model_validator(mode="before")
    @classmethod
    def _apply_profile_defaults(cls, data: Any) -> Any:
        """Fill what the caller left unset from the chosen profile's defaults."""
        if not isinstance(data, dict):
            return data
        given = {k.lower().removeprefix("smartstack_"): v for k, v in data.items()}
        profile = Profile(given.get("profile", Profile.local))
        merged = dict(data)
        for name, value in _PROFILE_DEFAULTS[profile].items():
            field = cls.model_fields[name]
            aliases = {name} | {a.lower() for a in _choices(field.validation_alias)}
            if not aliases & {k.lower() for k in data}:
                merged[name] = value
        return merged

    @model_validator(mode="after")
    def _derive_local_paths(self) -> Settings:
        """Place embedded stores under ``home`` unless set explicitly."""
        if "home" not in self.model_fields_set and self.dataset != "synthetic":
            # Registries, quality references and marts of two data sets never mix.
            self.home = self.home / self.dataset
        home = self.home = self.home.resolve()
        if self.source_dir is not None:
            self.source_dir = self.source_dir.resolve()
        # Absolute paths: Feast resolves relative ones against its repository, dbt against its
        # project, so a relative path would point somewhere else in each tool.
        self.data_dir = (self.data_dir or home / "data").resolve()
        self.duckdb_path = (self.duckdb_path or home / "warehouse.duckdb").resolve()
        self.sqlite_online_path = (
            self.sqlite_online_path or home / "feast" / "online.db"
        ).resolve()
        self.mlflow_artifact_root = (
            self.mlflow_artifact_root or home / "mlflow" / "artifacts"
        ).resolve()
        if self.mlflow_tracking_uri is None:
            self.mlflow_tracking_uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
        return self

    @property
    def raw_dir(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "raw"

    def redacted(self) -> dict[str, Any]:
        """Settings as plain values with secrets and passwords masked, for display and logs."""
        values = self.model_dump(mode="json")
        values["openai_api_key"] = "***" if self.openai_api_key else None
        for key in ("postgres_url", "mlflow_tracking_uri", "redis_url"):
            values[key] = _mask_password(values[key])
        return values


def _choices(alias: Any) -> list[str]:
    return [a for a in getattr(alias, "choices", []) if isinstance(a, str)]


def _mask_password(url: str | None) -> str | None:
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
