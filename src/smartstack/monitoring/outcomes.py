"""Live outcomes: click and redemption rates of served offers, as a table and as metrics.

dbt builds ``monitoring_outcomes_daily`` from the ranking log and the feedback table (per UTC
day of serving, model, tier, experiment arm and segment); this module reads it from the
warehouse and exports the latest day as Prometheus gauges. The mart is the one definition of
the rates: the figures people read in the table and the ones alerts fire on are the same rows.

The export is a file, not an endpoint: a daily batch job is gone before Prometheus could scrape
it, so it writes the node-exporter *textfile collector* format to ``<monitoring_dir>/outcomes.prom``
(atomically, through ``prometheus_client.write_to_textfile``), and the node exporter started
with ``--collector.textfile.directory=<monitoring_dir>`` serves the file's gauges with its own.

Local only: the mart is read from the DuckDB warehouse. On BigQuery the same table is in the
dataset dbt writes to, and a dashboard or alert queries it there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from smartstack.data.warehouse import read_warehouse, warehouse_location
from smartstack.settings import Settings, Warehouse

MART = "monitoring_outcomes_daily"
# The mart's key: one row per day and these labels.
LABELS: tuple[str, ...] = ("model_name", "model_version", "tier", "experiment", "arm", "segment")
FIGURES: tuple[str, ...] = ("shown", "clicks", "redemptions", "click_rate", "redemption_rate")
COLUMNS: tuple[str, ...] = ("served_on", *LABELS, *FIGURES)
METRICS_FILE = "outcomes.prom"
# Metric label names: `model` for the model's name, the rest as in the mart.
METRIC_LABELS: tuple[str, ...] = ("model", *LABELS[1:])


class OutcomesUnavailable(Exception):
    """The mart cannot be read (not built yet, another warehouse); the message is one sentence."""


@dataclass(frozen=True)
class Outcomes:
    """The mart's rows of the days asked for, newest day first."""

    rows: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.rows.empty

    @property
    def latest_day(self) -> pd.Timestamp | None:
        return None if self.rows.empty else self.rows["served_on"].max()

    def latest(self) -> pd.DataFrame:
        """The rows of the newest day: the figures the metrics export."""
        if self.rows.empty:
            return self.rows
        return self.rows[self.rows["served_on"] == self.latest_day]

    def records(self) -> list[dict[str, object]]:
        """JSON-ready rows (days as ISO dates)."""
        frame = self.rows.assign(served_on=self.rows["served_on"].dt.strftime("%Y-%m-%d"))
        return frame.to_dict(orient="records")


def read_outcomes(settings: Settings, days: int | None = None) -> Outcomes:
    """The mart's rows of the ``days`` newest days that have any (all without ``days``).

    Days count back from the newest day in the mart, not from the clock: a data set whose
    traffic ended in the past still shows its last week.
    """
    if settings.warehouse == Warehouse.bigquery:
        raise OutcomesUnavailable(
            f"`smartstack monitor outcomes` reads the local or spark warehouse: on BigQuery query "
            f"the table {MART} in the dataset {settings.bigquery_dataset}"
        )
    path = warehouse_location(settings)
    build = f"run `smartstack dbt build --select +{MART}` first"
    if not path.exists():
        raise OutcomesUnavailable(f"no warehouse at {path}: {build}")
    with read_warehouse(settings) as db:
        found = db.execute(
            "select count(*) from information_schema.tables where table_name = ?", [MART]
        ).fetchone()
        if not found or not found[0]:
            raise OutcomesUnavailable(f"no {MART} in {path}: {build}")
        frame = db.execute(f"select {', '.join(COLUMNS)} from {MART}").df()
    frame["served_on"] = pd.to_datetime(frame["served_on"])
    if days is not None and not frame.empty:
        first = frame["served_on"].max() - timedelta(days=days - 1)
        frame = frame[frame["served_on"] >= first]
    frame = frame.astype({"shown": "int64", "clicks": "int64", "redemptions": "int64"})
    order = ["served_on", *LABELS]
    frame = frame.sort_values(order, ascending=[False, *[True] * len(LABELS)])
    return Outcomes(frame.reset_index(drop=True))


def write_metrics(outcomes: Outcomes, directory: Path) -> Path:
    """The newest day's figures as gauges in ``<directory>/outcomes.prom``.

    A fresh registry per call: the file holds exactly the latest day's label sets, so a model
    version or arm that stopped serving disappears instead of repeating its last value. Without
    any served offer the file still exists, with the gauges declared and no samples.
    """
    registry = CollectorRegistry()
    labels = list(METRIC_LABELS)
    click_rate = Gauge(
        "smartstack_outcome_click_rate",
        "Clicked (or redeemed) share of the offers shown on the newest day of the ranking log.",
        labels,
        registry=registry,
    )
    redemption_rate = Gauge(
        "smartstack_outcome_redemption_rate",
        "Redeemed share of the offers shown on the newest day of the ranking log.",
        labels,
        registry=registry,
    )
    shown = Gauge(
        "smartstack_outcome_shown",
        "Offers shown on the newest day of the ranking log.",
        labels,
        registry=registry,
    )
    for row in outcomes.latest().itertuples(index=False):
        values = [str(getattr(row, column)) for column in LABELS]
        click_rate.labels(*values).set(float(row.click_rate))
        redemption_rate.labels(*values).set(float(row.redemption_rate))
        shown.labels(*values).set(float(row.shown))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / METRICS_FILE
    write_to_textfile(str(path), registry)
    return path
