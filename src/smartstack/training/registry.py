"""MLflow tracking and the model registry: one place that knows URIs, names and aliases.

Local profile: a SQLite tracking store and local artifacts under ``SMARTSTACK_HOME/mlflow``.
Prod profile: PostgreSQL (``postgresql://…`` URLs are given the psycopg 3 driver, the one the
project installs) with the same artifact root setting.

Aliases: every candidate gets ``challenger`` when it is registered; only
:func:`smartstack.training.promote.promote` moves ``champion``, and only to a version tagged
``validation_status=passed``. Serving loads ``models:/<name>@champion``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from smartstack.registry_errors import missing
from smartstack.settings import Settings

CHALLENGER = "challenger"
CHAMPION = "champion"
STATUS_TAG = "validation_status"
REASON_TAG = "validation_reason"
# What a verdict was measured against: "champion v3", or "smartscore" when there was none.
VALIDATED_AGAINST = "validated_against"
PENDING, PASSED, REJECTED = "pending", "passed", "rejected"


def tracking_uri(settings: Settings) -> str:
    uri = settings.mlflow_tracking_uri
    for scheme in ("postgresql://", "postgres://"):
        if uri.startswith(scheme):
            return "postgresql+psycopg://" + uri.removeprefix(scheme)
    return uri


@dataclass(frozen=True)
class Tracking:
    client: MlflowClient
    experiment_id: str
    model_name: str


def configure(settings: Settings, experiment: str) -> Tracking:
    """Point MLflow at the settings' backend and return the experiment (created if needed)."""
    uri = tracking_uri(settings)
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        experiment_id = client.create_experiment(
            experiment, artifact_location=(settings.mlflow_artifact_root / experiment).as_uri()
        )
    else:
        experiment_id = found.experiment_id
    return Tracking(client, experiment_id, settings.registered_model_name)


def version_by_alias(tracking: Tracking, alias: str) -> ModelVersion | None:
    """The version ``alias`` names; None when there is none. A registry that cannot answer
    raises: judging a challenger against SmartScore because the champion could not be read
    would let it replace a better model."""
    try:
        return tracking.client.get_model_version_by_alias(tracking.model_name, alias)
    except MlflowException as exc:
        if missing(exc):
            return None
        raise


def versions_tagged(tracking: Tracking, tags: dict[str, str]) -> list[ModelVersion]:
    """Every version of the model carrying all of ``tags``."""
    try:
        versions = tracking.client.search_model_versions(f"name='{tracking.model_name}'")
    except MlflowException as exc:
        if missing(exc):
            return []
        raise
    return [v for v in versions if all(v.tags.get(k) == value for k, value in tags.items())]


def make_challenger(tracking: Tracking, version: str) -> None:
    tracking.client.set_registered_model_alias(tracking.model_name, CHALLENGER, version)


def mark_candidate(tracking: Tracking, version: str, tags: dict[str, str]) -> None:
    """A freshly registered version: alias ``challenger``, status ``pending``, run facts."""
    client = tracking.client
    for key, value in {STATUS_TAG: PENDING, **tags}.items():
        client.set_model_version_tag(tracking.model_name, version, key, value)
    client.set_registered_model_alias(tracking.model_name, CHALLENGER, version)


def record_decision(tracking: Tracking, version: str, passed: bool, reason: str, **tags: str):
    client = tracking.client
    client.set_model_version_tag(
        tracking.model_name, version, STATUS_TAG, PASSED if passed else REJECTED
    )
    client.set_model_version_tag(tracking.model_name, version, REASON_TAG, reason[:4900])
    for key, value in tags.items():
        client.set_model_version_tag(tracking.model_name, version, key, value)


class StaleVerdict(RuntimeError):
    """The version has no passing verdict against the model that is champion now."""


def crown_recorded(tracking: Tracking, version: str) -> str:
    """Make ``version`` champion on the verdict the promotion gate recorded, without judging again
    (:func:`smartstack.training.promote.evaluate` records it; the DAGs branch on it in between).

    Refused (:class:`StaleVerdict`) unless the version passed against the model that is champion
    now (SmartScore when there is none): a champion that moved since the evaluation is never
    replaced on an outdated comparison. A version that is already champion is left as it is, so
    running this twice gives the same registry. Returns the champion's version.
    """
    champion = version_by_alias(tracking, CHAMPION)
    if champion is not None and str(champion.version) == version:
        return version
    tags = tracking.client.get_model_version(tracking.model_name, version).tags
    status = tags.get(STATUS_TAG)
    if status != PASSED:
        raise StaleVerdict(
            f"version {version} has {STATUS_TAG}={status!r}: only a version that passed "
            "`smartstack evaluate` can be promoted"
        )
    now = "smartscore" if champion is None else f"champion v{champion.version}"
    judged = tags.get(VALIDATED_AGAINST)
    if judged != now:
        raise StaleVerdict(
            f"version {version} was judged against {judged}, but the reference is now {now}: "
            "run `smartstack evaluate` again"
        )
    crown(tracking, version)
    return version


def crown(tracking: Tracking, version: str) -> None:
    """Move ``champion`` to a version, refusing any version that has not passed the gate."""
    status = tracking.client.get_model_version(tracking.model_name, version).tags.get(STATUS_TAG)
    if status != PASSED:
        raise RuntimeError(f"version {version} has {STATUS_TAG}={status!r}: it cannot be champion")
    tracking.client.set_registered_model_alias(tracking.model_name, CHAMPION, version)


def load_booster(tracking: Tracking, version: str):
    import mlflow.xgboost

    return mlflow.xgboost.load_model(f"models:/{tracking.model_name}/{version}")
