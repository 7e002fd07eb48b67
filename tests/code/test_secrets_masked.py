"""Secrets never printed: ``smartstack settings`` masks every secret field and every password,
token or key a URL carries, and the commands that name a store's URL mask it too."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smartstack.settings import Settings, mask_url
from tests.conftest import free_port, project_environment

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")

# Each secret a unique marker, set where an operator sets it.
SECRETS = {
    "SMARTSTACK_SERVING_ADMIN_TOKEN": "MARK-admin-token-1",
    "SMARTSTACK_LLM_API_KEY": "MARK-llm-key-2",
    "SMARTSTACK_AUTH_SIGNING_KEY": "MARK-signing-key-3",
    "SMARTSTACK_AUTH_SERVICE_TOKEN": "MARK-service-token-4",
    "SMARTSTACK_PRIVACY_HASH_KEY": "MARK-hash-key-5",
    "SMARTSTACK_POSTGRES_URL": "postgresql://feast:MARK-pg-pass-6@db:5432/feast",
    "SMARTSTACK_MLFLOW_TRACKING_URI": "postgresql://mlflow:MARK-mlflow-pass-7@db:5432/mlflow",
    "SMARTSTACK_REDIS_URL": "redis://:MARK-redis-pass-8@cache:6379/0",
    "SMARTSTACK_AUTH_JWKS_URL": "https://idp.example/jwks?access_token=MARK-jwks-token-9",
    "SMARTSTACK_LLM_BASE_URL": "https://llm-user:MARK-llm-url-pass-10@llm.example/v1",
}
# The ecosystem's names, and the aliases, one marker each.
CONVENTIONAL = {
    "OPENAI_API_KEY": "MARK-openai-key-11",
    "DATABASE_URL": "postgresql://app:MARK-database-url-12@db/app",
    "REDIS_URL": "rediss://default:MARK-redis-alias-13@cache:6380/1",
}


def _markers(environment: dict[str, str]) -> list[str]:
    return [re.search(r"MARK-[a-z-]+-\d+", v).group() for v in environment.values()]  # type: ignore[union-attr]


def _settings_output(tmp_path: Path, environment: dict[str, str]) -> str:
    done = subprocess.run(
        [SMARTSTACK, "settings"],
        capture_output=True,
        text=True,
        timeout=120,
        env=project_environment(SMARTSTACK_HOME=str(tmp_path / "home"), **environment),
    )
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)  # still the settings, as JSON
    return done.stdout + done.stderr


@pytest.mark.parametrize("environment", [SECRETS, CONVENTIONAL], ids=["smartstack", "aliases"])
def test_smartstack_settings_masks_every_secret(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    shown = _settings_output(tmp_path, environment)
    for marker in _markers(environment):
        assert marker not in shown, f"{marker} printed by `smartstack settings`"
    values = json.loads(shown[: shown.rindex("}") + 1])
    if environment is SECRETS:
        assert values["serving"]["admin_token"] == "***"
        assert values["llm"]["api_key"] == values["privacy"]["hash_key"] == "***"
        assert values["auth"]["signing_key"] == values["auth"]["service_token"] == "***"
        assert values["postgres_url"] == "postgresql://feast:***@db:5432/feast"
        assert values["mlflow_tracking_uri"] == "postgresql://mlflow:***@db:5432/mlflow"
        assert values["redis_url"] == "redis://:***@cache:6379/0"
        assert values["auth"]["jwks_url"] == "https://idp.example/jwks?access_token=***"
        assert values["llm"]["base_url"] == "https://llm-user:***@llm.example/v1"
    else:
        assert values["llm"]["api_key"] == "***"
        assert values["postgres_url"] == "postgresql://app:***@db/app"
        assert values["redis_url"] == "rediss://default:***@cache:6380/1"


def test_the_prod_profile_default_passwords_are_masked(tmp_path: Path) -> None:
    shown = _settings_output(tmp_path, {"SMARTSTACK_PROFILE": "prod"})
    values = json.loads(shown[: shown.rindex("}") + 1])
    assert values["postgres_url"] == "postgresql://smartstack:***@postgres:5432/smartstack"
    assert values["mlflow_tracking_uri"] == "postgresql://smartstack:***@postgres:5432/mlflow"


def test_masked_for_display_intact_for_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Masking goes by type (every ``SecretStr``, every URL); the values themselves stay."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    shown = json.dumps(settings.redacted())
    assert not [m for m in _markers(SECRETS) if m in shown]
    assert settings.serving.admin_token is not None
    assert (
        settings.serving.admin_token.get_secret_value() == SECRETS["SMARTSTACK_SERVING_ADMIN_TOKEN"]
    )  # the value itself is intact for its readers


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p%40ss@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u:pa@ss@h/d", "postgresql://u:***@h/d"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://h:6379/0?password=pw&db=1", "redis://h:6379/0?password=***&db=1"),
        ("postgresql://h/d?user=u&password=pw", "postgresql://h/d?user=u&password=***"),
        ("https://h/x?api_key=k&page=2", "https://h/x?api_key=***&page=2"),
        ("sqlite:////var/mlflow/mlflow.db", "sqlite:////var/mlflow/mlflow.db"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("https://h/a@b", "https://h/a@b"),  # an @ after the host is no user info
        (None, None),
    ],
)
def test_mask_url(url: str | None, shown: str | None) -> None:
    assert mask_url(url) == shown


def test_the_privacy_scan_names_redis_without_its_password(tmp_path: Path) -> None:
    """A command that names a store by its URL (the scan's unreachable Redis) masks it."""
    url = f"redis://:MARK-scan-redis-14@127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        [SMARTSTACK, "privacy", "scan", "CUST-0000001", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=project_environment(
            SMARTSTACK_HOME=str(tmp_path / "home"),
            SMARTSTACK_ONLINE_STORE="redis",
            SMARTSTACK_REDIS_URL=url,
        ),
    )
    assert done.returncode == 1, done.stdout + done.stderr  # Redis unscanned: a finding
    assert "MARK-scan-redis-14" not in done.stdout + done.stderr
    findings = json.loads(done.stdout[: done.stdout.rindex("]") + 1])
    assert [f["location"] for f in findings] == [mask_url(url)]
    assert "redis://:***@127.0.0.1" in findings[0]["location"]
