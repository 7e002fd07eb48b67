"""The model card: ``training/model_card.md`` filled with one run's facts and figures."""

from __future__ import annotations

from string import Template
from typing import Any

from smartstack.paths import MODEL_CARD_TEMPLATE
from smartstack.training.evaluate import Report

CARD_METRICS = (
    "ndcg_3", "ndcg_5", "ndcg_3_rel", "map", "auc", "log_loss", "ece", "accuracy", "f1",
)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


def metrics_table(reports: dict[str, Report]) -> str:
    """One row per ranker, one column per metric (test period, all requests)."""
    head = "| ranker | " + " | ".join(CARD_METRICS) + " |"
    rule = "|---|" + "---:|" * len(CARD_METRICS)
    rows = [
        f"| {name} | " + " | ".join(_fmt(r["all"].get(m)) for m in CARD_METRICS) + " |"
        for name, r in reports.items()
    ]
    return "\n".join([head, rule, *rows])


def segment_table(model: Report, smartscore: Report, oracle: Report | None) -> str:
    head = "| segment | rows | NDCG@3 model | NDCG@3 SmartScore | NDCG@3 oracle | AUC model |"
    rows = [head, "|---|---:|---:|---:|---:|---:|"]
    for segment, metrics in model.items():
        if segment == "all":
            continue
        rows.append(
            f"| {segment} | {int(metrics.get('rows', 0)):,} | {_fmt(metrics['ndcg_3'])} | "
            f"{_fmt(smartscore[segment]['ndcg_3'])} | "
            f"{_fmt(oracle[segment]['ndcg_3']) if oracle else 'n/a'} | {_fmt(metrics['auc'])} |"
        )
    return "\n".join(rows)


def render(values: dict[str, Any], template: str | None = None) -> str:
    """Fill ``$placeholders``; unknown ones are left as they are."""
    text = template if template is not None else MODEL_CARD_TEMPLATE.read_text()
    return Template(text).safe_substitute({k: str(v) for k, v in values.items()})
