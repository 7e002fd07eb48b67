"""The promotion gate: ``champion`` moves to the challenger only when it is better.

Both models are scored here, now, on the same held-out rows: the test period of the current
training set. The champion is reloaded from the registry and scored with its own feature list,
so a champion trained on older data is judged on the new test period like the challenger,
rather than by the figures of its own (different) test set.

The challenger passes when

1. its overall ``metric`` (NDCG@3 by default) beats the reference by at least the margin: the
   champion by ``min_improvement``, or, when there is no champion yet, SmartScore by
   ``min_lift_over_smartscore`` (and strictly);
2. no segment with at least ``min_segment_rows`` test rows (card product, new/tenured,
   drifting/stable) loses more than ``segment_tolerance`` of that metric against the reference;
3. with ``off_policy`` on and a champion to compare with, its off-policy lower bound (click
   rate in the top k, estimated from logged traffic: :mod:`smartstack.evaluation`) clears the
   champion's estimate.

Every decision is recorded: the version is tagged ``validation_status`` = passed/rejected with
``validation_reason``, the training run gets the same tags, and a ``promote-v<N>`` run in the
experiment holds both models' figures. A rejected version never becomes champion
(:func:`smartstack.training.registry.crown` refuses it).

The gate runs in one step (:func:`promote`) or in two (:func:`evaluate`, then
:func:`smartstack.training.registry.crown_recorded`), so that an orchestrator can branch on the
recorded verdict between judging and moving the alias; the second step re-checks that the
champion has not moved since.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import mlflow
import numpy as np

from smartstack.settings import PromotionSettings, Settings, TrainingSettings, get_settings
from smartstack.training import dataset, registry
from smartstack.training.baselines import smartscore_baseline
from smartstack.training.evaluate import Report, evaluate_booster, evaluate_scores, flatten

log = logging.getLogger(__name__)


class NoChallenger(RuntimeError):
    """No model version carries the ``challenger`` alias: train one first."""


@dataclass(frozen=True)
class Decision:
    version: str
    passed: bool
    reason: str
    reference: str  # "champion v3" or "smartscore"
    challenger: Report
    reference_report: Report
    champion_before: str | None
    champion_after: str | None


def gate(
    challenger: Report,
    reference: Report,
    reference_name: str,
    margin: float,
    cfg: PromotionSettings,
) -> tuple[bool, str]:
    """The two rules, as a verdict and a sentence saying why."""
    m = cfg.metric
    new, old = challenger["all"][m], reference["all"][m]
    gain = new - old
    problems: list[str] = []
    if not (gain >= margin and gain > 0):
        problems.append(
            f"{m} {new:.4f} vs {reference_name} {old:.4f} ({gain:+.4f}) is below the margin "
            f"{margin:+.4f}"
        )
    regressions = []
    for segment, metrics in challenger.items():
        if segment == "all" or metrics.get("rows", 0) < cfg.min_segment_rows:
            continue
        ref = reference.get(segment, {}).get(m, float("nan"))
        drop = ref - metrics[m]
        if np.isfinite(drop) and drop > cfg.segment_tolerance:
            regressions.append(f"{segment} {metrics[m]:.4f} vs {ref:.4f} ({-drop:+.4f})")
    if regressions:
        problems.append(
            f"{m} regresses beyond the tolerance {cfg.segment_tolerance} in: "
            + "; ".join(regressions)
        )
    if problems:
        return False, "rejected: " + "; ".join(problems)
    return True, (
        f"passed: {m} {new:.4f} vs {reference_name} {old:.4f} ({gain:+.4f}, margin "
        f"{margin:+.4f}); no segment of ≥{cfg.min_segment_rows} rows drops more than "
        f"{cfg.segment_tolerance}"
    )


def promote(
    config: TrainingSettings,
    settings: Settings | None = None,
    data: dataset.TrainingData | None = None,
    version: str | None = None,
) -> Decision:
    """Judge the challenger (or ``version``) against the champion and move aliases."""
    decision, tracking = _judge(config, settings, data, version)
    if decision.passed and decision.champion_before != decision.version:
        registry.crown(tracking, decision.version)
        log.info("version %s is champion: %s", decision.version, decision.reason)
    elif not decision.passed:
        log.warning("version %s stays challenger: %s", decision.version, decision.reason)
    return decision


def evaluate(
    config: TrainingSettings,
    settings: Settings | None = None,
    data: dataset.TrainingData | None = None,
    version: str | None = None,
) -> Decision:
    """Judge the challenger (or ``version``) and record the verdict; no alias moves."""
    return _judge(config, settings, data, version)[0]


def _judge(
    config: TrainingSettings,
    settings: Settings | None,
    data: dataset.TrainingData | None,
    version: str | None,
) -> tuple[Decision, registry.Tracking]:
    """Score the candidate and the reference on the same rows and record the verdict."""
    settings = settings or get_settings()
    tracking = registry.configure(settings, config.experiment)
    if version is None:
        version = _challenger_version(tracking)
    champion = registry.version_by_alias(tracking, registry.CHAMPION)
    champion_version = None if champion is None else str(champion.version)
    data = data or dataset.build(settings, config.split)

    challenger = evaluate_booster(registry.load_booster(tracking, version), data)
    if champion_version == version:
        return Decision(
            version, True, "already champion", f"champion v{version}",
            challenger, challenger, version, version,
        ), tracking  # fmt: skip
    reference = _reference(tracking, champion_version, data, config.promotion)
    passed, reason = gate(
        challenger, reference.report, reference.name, reference.margin, config.promotion
    )
    off_policy: dict[str, float] = {}
    if config.promotion.off_policy and champion_version is not None:
        cleared, sentence, off_policy = off_policy_rule(
            settings, version, champion_version, config.promotion
        )
        reason = _with_rule(passed, reason, cleared, sentence)
        passed = passed and cleared
    if settings.monitoring.block_promotion_on_drift:
        cleared, sentence = drift_rule(settings, tracking, version)
        reason = _with_rule(passed, reason, cleared, sentence)
        passed = passed and cleared
    _record_verdict(tracking, version, passed, reason, reference.name, data)
    _log_promotion_run(
        tracking, version, passed, reason, challenger, reference, data, config.promotion,
        off_policy,
    )  # fmt: skip
    return Decision(
        version,
        passed,
        reason,
        reference.name,
        challenger,
        reference.report,
        champion_version,
        version if passed else champion_version,
    ), tracking


def off_policy_rule(
    settings: Settings, version: str, champion_version: str, cfg: PromotionSettings
) -> tuple[bool, str, dict[str, float]]:
    """Whether the candidate's off-policy lower bound clears the champion's estimate (click
    rate in the top k, from the configured log), a sentence saying so, and the figures."""
    from smartstack.evaluation.candidates import UnknownRanker
    from smartstack.evaluation.job import LogSource, evaluate_rankers
    from smartstack.evaluation.logs import NoLoggedTraffic
    from smartstack.experiments.ope import clears

    candidate, champion = f"v{version}", f"v{champion_version}"
    try:
        evaluation = evaluate_rankers(
            settings,
            [candidate, champion],
            source=LogSource(cfg.off_policy_source),
            max_requests=cfg.off_policy_requests,
        )
    except (NoLoggedTraffic, UnknownRanker) as error:  # the rule cannot pass: fail closed
        return False, f"the off-policy rule could not run: {error}", {"ope_cleared": 0.0}
    estimator = cfg.off_policy_estimator
    new = evaluation.of(candidate).estimates[estimator]
    old = evaluation.of(champion).estimates[estimator]
    cleared = clears(new, old)
    sentence = (
        f"off-policy {estimator.upper()} click rate in the top {evaluation.k} "
        f"({evaluation.requests} {cfg.off_policy_source} requests): lower bound {new.low:.4f} "
        f"{'clears' if cleared else 'does not clear'} champion v{champion_version}'s "
        f"{old.value:.4f}"
    )
    figures = {
        "ope_challenger_value": new.value,
        "ope_challenger_low": new.low,
        "ope_challenger_high": new.high,
        "ope_champion_value": old.value,
        "ope_cleared": float(cleared),
    }
    return cleared, sentence, figures


def drift_rule(settings: Settings, tracking: registry.Tracking, version: str) -> tuple[bool, str]:
    """With ``monitoring.block_promotion_on_drift``: refuse while the latest drift verdict
    (``<monitoring_dir>/drift/latest.json``, :mod:`smartstack.monitoring.drift`) holds an
    alarm measured after the candidate was registered, i.e. the candidate learnt from data
    older than the drift seen since; a version trained after the alarm passes this rule. Fails
    closed: a missing or unreadable verdict refuses too."""
    path = settings.monitoring_dir / "drift" / "latest.json"
    try:
        verdict = json.loads(path.read_text())
        measured = datetime.fromisoformat(verdict["measured_at"])
        alarm = bool(verdict["alarm"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return (
            False,
            f"no readable drift verdict at {path} ({exc.__class__.__name__}): run "
            "`smartstack monitor drift`",
        )
    created = tracking.client.get_model_version(tracking.model_name, version).creation_timestamp
    registered = datetime.fromtimestamp(created / 1000, UTC)
    if alarm and measured > registered:
        return False, (
            f"drift alarm of {verdict.get('day')} after version {version} was registered "
            f"({verdict.get('recommendation')})"
        )
    return True, "no drift alarm since the version was registered"


def _with_rule(passed: bool, reason: str, cleared: bool, sentence: str) -> str:
    """The offline verdict's sentence with the off-policy rule's added."""
    if passed and not cleared:
        return f"rejected: {sentence}"
    return f"{reason}; {sentence}"


def _challenger_version(tracking: registry.Tracking) -> str:
    """The version with the ``challenger`` alias: what is judged when no version is named."""
    found = registry.version_by_alias(tracking, registry.CHALLENGER)
    if found is None:
        raise NoChallenger(
            f"no version of {tracking.model_name} has the alias "
            f"'{registry.CHALLENGER}': run `smartstack train` first"
        )
    return str(found.version)


@dataclass(frozen=True)
class _Reference:
    """What the challenger must beat, and by how much."""

    name: str  # "champion v3" or "smartscore"
    report: Report
    margin: float


def _reference(
    tracking: registry.Tracking,
    champion_version: str | None,
    data: dataset.TrainingData,
    cfg: PromotionSettings,
) -> _Reference:
    """The champion scored on ``data`` now, or SmartScore when there is no champion yet."""
    if champion_version is not None:
        report = evaluate_booster(registry.load_booster(tracking, champion_version), data)
        return _Reference(f"champion v{champion_version}", report, cfg.min_improvement)
    report = evaluate_scores(data, smartscore_baseline(data))
    return _Reference("smartscore", report, cfg.min_lift_over_smartscore)


def _record_verdict(
    tracking: registry.Tracking,
    version: str,
    passed: bool,
    reason: str,
    reference_name: str,
    data: dataset.TrainingData,
) -> None:
    """Tag the version with the verdict and its reference, which
    :func:`smartstack.training.registry.crown` and ``crown_recorded`` check before moving
    ``champion``, and its training run with the verdict, so the run shows it too."""
    registry.record_decision(
        tracking,
        version,
        passed,
        reason,
        **{registry.VALIDATED_AGAINST: reference_name},
        validation_test_fingerprint=data.part_fingerprints["test"],
    )
    run_id = tracking.client.get_model_version(tracking.model_name, version).run_id
    if run_id:
        tracking.client.set_tag(
            run_id, "promotion", registry.PASSED if passed else registry.REJECTED
        )
        tracking.client.set_tag(run_id, "promotion_reason", reason[:4900])


def _log_promotion_run(
    tracking: registry.Tracking,
    version: str,
    passed: bool,
    reason: str,
    challenger: Report,
    reference: _Reference,
    data: dataset.TrainingData,
    cfg: PromotionSettings,
    off_policy: dict[str, float],
) -> None:
    """A ``promote-v<N>`` run holding the gate's settings and both models' figures (and the
    off-policy estimates when that rule is on)."""
    with mlflow.start_run(
        experiment_id=tracking.experiment_id,
        run_name=f"promote-v{version}",
        tags={
            "step": "promotion",
            "model_version": version,
            "reference": reference.name,
            "decision": registry.PASSED if passed else registry.REJECTED,
            "reason": reason[:4900],
            "test_fingerprint": data.part_fingerprints["test"],
        },
    ):
        mlflow.log_params(
            {
                "metric": cfg.metric,
                "margin": reference.margin,
                "segment_tolerance": cfg.segment_tolerance,
                "min_segment_rows": cfg.min_segment_rows,
            }
        )
        figures = flatten(challenger, "challenger") | flatten(reference.report, "reference")
        figures["passed"] = float(passed)
        mlflow.log_metrics(figures | off_policy)
        mlflow.log_text(reason, "decision.txt")
