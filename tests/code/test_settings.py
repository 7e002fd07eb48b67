"""Settings: profile defaults, environment overrides, no secrets in what is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartstack.settings import OnlineStore, Profile, Settings, Warehouse


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Start every test from a blank environment (no .env, no SMARTSTACK_* variables)."""
    import os

    for name in list(os.environ):
        if name.startswith("SMARTSTACK_") or name in {
            "REDIS_URL",
            "MLFLOW_TRACKING_URI",
            "OPENAI_BASE_URL",
            "OPENAI_API_KEY",
            "OPENAI_MODEL",
            "KAFKA_BOOTSTRAP_SERVERS",
            "DATABASE_URL",
            "POSTGRES_URL",
        }:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_local_profile_is_embedded_by_default(tmp_path: Path) -> None:
    s = Settings()
    assert s.profile is Profile.local
    assert s.online_store is OnlineStore.sqlite and s.warehouse is Warehouse.duckdb
    assert s.home == tmp_path / "var"
    assert s.duckdb_path == tmp_path / "var" / "warehouse.duckdb"
    assert s.mlflow_tracking_uri == f"sqlite:///{tmp_path}/var/mlflow/mlflow.db"
    assert s.postgres_url is None
    assert s.kafka_bootstrap_servers is None  # no broker: feedback goes straight to its table
    assert not (tmp_path / "var").exists(), "reading settings must not create folders"


def test_prod_profile_switches_every_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSTACK_PROFILE", "prod")
    s = Settings()
    assert s.online_store is OnlineStore.redis and s.warehouse is Warehouse.bigquery
    assert s.postgres_url and s.postgres_url.startswith("postgresql://")
    assert s.mlflow_tracking_uri and s.mlflow_tracking_uri.startswith("postgresql://")
    assert s.kafka_bootstrap_servers == "kafka:9092"


def test_conventional_and_prefixed_variables_override_profile_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMARTSTACK_PROFILE", "prod")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6380/2")
    monkeypatch.setenv("SMARTSTACK_KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("SMARTSTACK_ONLINE_STORE", "sqlite")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("SMARTSTACK_HOME", str(tmp_path / "elsewhere"))
    s = Settings()
    assert s.redis_url == "redis://cache.internal:6380/2"
    assert s.kafka_bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert s.online_store is OnlineStore.sqlite
    assert s.llm.base_url == "http://127.0.0.1:8000/v1" and s.llm.configured
    assert s.data_dir == tmp_path / "elsewhere" / "data"


def test_the_shell_home_variable_is_not_mistaken_for_the_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", "/somewhere/else")
    assert Settings().home == tmp_path / "var"


def test_invalid_profile_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSTACK_PROFILE", "staging")
    with pytest.raises(ValueError, match="profile"):
        Settings()


def test_redacted_view_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("SMARTSTACK_SERVING_ADMIN_TOKEN", "admin-secret")
    monkeypatch.setenv("SMARTSTACK_POSTGRES_URL", "postgresql://app:hunter2@db:5432/smartstack")
    shown = str(Settings().redacted())
    assert "sk-very-secret" not in shown and "hunter2" not in shown
    assert "admin-secret" not in shown
    assert "postgresql://app:***@db:5432/smartstack" in shown


def test_every_component_reads_its_section_from_its_own_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTSTACK_SERVING_FREQUENCY_CAP", "7")
    monkeypatch.setenv("SMARTSTACK_SERVING_URL", "http://ranker:3000")
    monkeypatch.setenv("SMARTSTACK_LLM_TIMEOUT_S", "1.5")
    monkeypatch.setenv("OPENAI_MODEL", "from-the-ecosystem-name")
    monkeypatch.setenv("SMARTSTACK_LLM_MODEL", "from-our-name")
    monkeypatch.setenv("SMARTSTACK_TRAINING_CHUNK_ROWS", "1000")
    s = Settings()
    assert (s.serving.frequency_cap, s.serving.url) == (7, "http://ranker:3000")
    assert (s.llm.timeout_s, s.llm.model) == (1.5, "from-our-name")
    assert s.training.chunk_rows == 1000
    assert s.training.experiment == "offer-ranker"  # the rest of the section: params.yaml


def test_a_bad_value_names_its_section_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSTACK_SERVING_FEATURE_TIMEOUT_MS", "-1")
    with pytest.raises(ValueError, match=r"serving\.feature_timeout_ms"):
        Settings()


def test_training_parameters_come_from_the_file_with_the_data_sets_section(
    tmp_path: Path,
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "seed: 3\nsplit: {train: 0.6}\n"
        "datasets: {other: {seed: 4, split: {validation: 0.3}}}\n"
    )
    plain = Settings(training={"params": params}).training
    assert (plain.seed, plain.split.train, plain.split.validation) == (3, 0.6, 0.15)
    # Another data set's section replaces keys, and sections key by key.
    assert Settings(training={"params": params}, dataset="other").training.split.validation == 0.3
    with pytest.raises(ValueError, match="does not exist"):
        Settings(training={"params": tmp_path / "missing.yaml"})


def test_a_subprocess_given_the_environment_rebuilds_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a parent hands a child process: everything, explicitly, nothing inherited."""
    original = Settings(
        home=tmp_path / "elsewhere",
        dataset="starbucks",
        source_dir=tmp_path,
        serving={"frequency_cap": 9, "admin_token": "t0ken"},
        llm={"base_url": "http://127.0.0.1:9/v1"},
        training={"seed": 5},
    )
    for name, value in original.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original
    assert original.serving.admin_token.get_secret_value() == "t0ken"


def test_settings_cannot_be_changed_in_place() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Settings().home = Path("/elsewhere")  # type: ignore[misc]


def test_relative_paths_become_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Feast and dbt resolve relative paths against their own folders: never hand them one."""
    monkeypatch.setenv("SMARTSTACK_DATA_DIR", "some/data")
    s = Settings()
    assert s.data_dir == tmp_path / "some" / "data"
    assert s.duckdb_path.is_absolute() and s.sqlite_online_path.is_absolute()
