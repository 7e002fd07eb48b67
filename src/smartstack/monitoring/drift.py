"""Feature and score drift against the champion's training reference, with Evidently.

The reference is what the champion learnt from: the customer-level features of the data set's
marts (the feature marts keyed by customer alone, such as ``customer_spend_features``, and
``customer_recent_spend``) at every as-of date inside the train part of its training window
(the ``train_window`` of the ``evaluation/dataset.json`` its MLflow run logged). Two current
samples are compared with it, each column with Evidently's ``ValueDrift`` (method and threshold
pinned in the settings):

- ``marts``: the same marts at their newest as-of date (what the next training set and the
  online store will hold);
- ``served``: the feature snapshots the ranking service logged over the last ``days`` days
  (the ranking log's ``features`` vectors, named by its ``feature_names`` metadata), one row per
  request, the customer-level columns only.

Only customer-level model features present in both are compared.

Score drift: the champion scores a fixed sample of customers against every offer twice,
with the features Feast's point-in-time retrieval gives as of the end of its train window
(the reference) and as of the newest marts (current), and the two score distributions are
compared (PSI by default). Both sides are built the same way, from the training path's
features, so only the population moved between them. The served scores are not compared with
the reference: the ranking log holds the offers the champion put on top, a selection whose
scores sit above any reference by construction.

The verdict raises the alarm when the share of drifted features reaches ``drift_share`` or the
score drifted; it is written beside the reports (``<monitoring_dir>/drift/<date>/``) and as
``<monitoring_dir>/drift/latest.json``, which the promotion gate reads when
``monitoring.block_promotion_on_drift`` is on.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from smartstack.data.warehouse import read_warehouse, warehouse_location
from smartstack.datasets import active
from smartstack.monitoring import dashboard
from smartstack.registry_errors import missing
from smartstack.settings import Settings
from smartstack.training.registry import tracking_uri

log = logging.getLogger(__name__)

STREAMED_MARTS = ("customer_recent_spend",)  # customer-level, outside the feature marts
EXPERIMENT = "offer-monitoring"
LATEST = "latest.json"


class DriftUnavailable(RuntimeError):
    """The drift job cannot run: no marts, no reference rows, a champion without its window."""


class NoChampion(DriftUnavailable):
    """Nothing to compare with: the serving alias names no version yet."""


@dataclass(frozen=True)
class Comparison:
    """One current sample against the reference."""

    name: str  # "marts" | "served"
    rows: int
    reference_rows: int
    threshold: float  # the feature threshold for this sample's size (scaled_threshold)
    scores: dict[str, float]  # feature -> drift score
    drifted: list[str]
    share: float

    @property
    def features(self) -> list[str]:
        return list(self.scores)


@dataclass(frozen=True)
class DriftVerdict:
    day: str
    measured_at: str  # ISO instant (UTC): the promotion gate compares it with a version's
    champion: str | None  # "offer-ranker v3"
    method: str
    threshold: float
    share_threshold: float
    reference_window: tuple[str, str]
    comparisons: list[Comparison]
    score_method: str
    score_threshold: float
    score_drift: float | None  # None: not measured
    score_drifted: bool
    score_note: str
    served_note: str  # whether the served snapshots were compared, and why not
    alarm_share: float  # drifted share of the features counted toward the alarm
    ignored: list[str]  # reported, not counted (monitoring.drift_alarm_ignore)
    alarm: bool
    recommendation: str
    reports: dict[str, str] = field(default_factory=dict)
    dashboard: dict[str, str] = field(default_factory=dict)  # dashboard.links of its snapshot
    mlflow_run: str | None = None

    @property
    def drifted(self) -> list[str]:
        """Every counted feature that drifted in any comparison, once, in order."""
        return list(
            dict.fromkeys(f for c in self.comparisons for f in c.drifted if f not in self.ignored)
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["drifted"] = self.drifted
        return out


# -- reference and current ------------------------------------------------------------------
def _window(dataset: dict[str, Any]) -> tuple[datetime, datetime]:
    """The train part's first and last event time: ``train_window``, or for a run logged before
    it existed a share split's ``"<iso> .. <iso>"`` train boundary."""
    if "train_window" in dataset:
        start, end = dataset["train_window"]
    else:
        boundary = dataset["boundaries"]["train"]
        found = re.fullmatch(r"\s*(\S+)\s*\.\.\s*(\S+)\s*", boundary)
        if not found:
            raise DriftUnavailable(
                f"the champion's run logged no train window (its train boundary is {boundary!r}):"
                " retrain to record one"
            )
        start, end = found.groups()
    return pd.Timestamp(start).to_pydatetime(), pd.Timestamp(end).to_pydatetime()


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    run_id: str
    features: list[str]
    window: tuple[datetime, datetime]


def champion_reference(settings: Settings) -> Champion:
    """The serving alias's version, its feature list and its train window (from its run)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(settings)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name, alias = settings.registered_model_name, settings.serving.model_alias
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if not missing(exc):
            raise  # a registry that cannot answer: a failed (retried) task, not "nothing to do"
        raise NoChampion(f"no {name}@{alias} in the registry: train and promote first") from exc
    with tempfile.TemporaryDirectory() as tmp:
        try:
            data = json.loads(
                Path(
                    client.download_artifacts(version.run_id, "evaluation/dataset.json", tmp)
                ).read_text()
            )
            features = json.loads(
                Path(
                    client.download_artifacts(version.run_id, "evaluation/features.json", tmp)
                ).read_text()
            )["features"]
        except (MlflowException, OSError) as exc:
            raise DriftUnavailable(
                f"{name} v{version.version}'s run {version.run_id} logged no evaluation/"
                "dataset.json and features.json"
            ) from exc
    return Champion(name, str(version.version), version.run_id, features, _window(data))


def _customer_marts(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """The data set's feature marts keyed by customer and as-of date alone (no offer), and the
    streamed spend's mart, as far as the warehouse holds them."""
    columns: dict[str, set[str]] = {}
    for table, column in con.sql(
        "select table_name, column_name from information_schema.columns"
    ).fetchall():
        columns.setdefault(table, set()).add(column)
    return [
        mart
        for mart in (*active(settings).feature_marts, *STREAMED_MARTS)
        if {"customer_id", "event_timestamp"} <= columns.get(mart, set())
        and "offer_id" not in columns[mart]
    ]


@dataclass(frozen=True)
class MartSides:
    """The customer-level marts' two sides, each a sample of at most ``drift_sample_rows``."""

    reference: pd.DataFrame  # rows as of a date inside the reference window
    current: pd.DataFrame  # rows as of the newest date
    newest: pd.Timestamp
    reference_as_of: pd.Timestamp  # the newest as-of date at or before the window's end
    score_customers: list[str]  # the score check's customers (none when not asked for)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _mart_sides(
    settings: Settings,
    window: tuple[pd.Timestamp, pd.Timestamp],
    rows: int,
    score_customers: int = 0,
) -> MartSides:
    """The customer-level marts joined on customer and as-of date (numeric columns only), as
    of the dates in ``window`` and as of the newest date, and ``score_customers`` customers
    found at both the window's last as-of date and the newest.

    DuckDB draws each side before anything reaches pandas: the joined marts took 4.85 GiB
    there at 100,000 customers and ten as-of dates, and grow with both. A row is drawn by the
    hash of its key (ties broken by the key) and the score's customers by a seeded generator,
    and each side comes in key order, so every run draws the same rows in the same order.
    """
    location = warehouse_location(settings)
    if not location.exists():
        raise DriftUnavailable(f"no warehouse at {location}: run the pipeline first")
    start, end = (t.to_pydatetime() for t in window)
    with read_warehouse(settings) as con:
        marts = _customer_marts(con, settings)
        if not marts:
            raise DriftUnavailable("the warehouse holds none of the customer feature marts")
        keys = " union ".join(f"select customer_id, event_timestamp from {m}" for m in marts)
        # A table, not a view: the dates, both sides and the score's customers all read it.
        con.execute(f"create temp table mart_keys as {keys}")
        newest, reference_as_of, in_window = con.execute(
            "select max(event_timestamp), max(event_timestamp) filter (event_timestamp <= $end),"
            " count(*) filter (event_timestamp between $start and $end) from mart_keys",
            {"start": start, "end": end},
        ).fetchone()
        if not in_window:
            raise DriftUnavailable(
                f"no mart rows as of {start:%Y-%m-%d} .. {end:%Y-%m-%d} (the champion's train "
                "window)"
            )
        taken = {"customer_id", "event_timestamp"}
        selected: list[str] = []
        for mart in marts:
            for column in con.sql(f"select * from {mart} limit 0").columns:
                name = column if column not in taken else f"{column}__{mart}"
                if column not in ("customer_id", "event_timestamp"):
                    taken.add(name)
                    selected.append(f"{mart}.{_quoted(column)} as {_quoted(name)}")
        joins = " ".join(f"left join {m} using (customer_id, event_timestamp)" for m in marts)

        def side(where: str, **params: Any) -> pd.DataFrame:
            return con.execute(
                f"with drawn as (select * from mart_keys where {where}"
                " order by hash(customer_id, event_timestamp), customer_id, event_timestamp"
                " limit $rows)"
                f" select customer_id, event_timestamp, {', '.join(selected)} from drawn {joins}"
                # In key order: the joins' threads return rows in any order
                " order by customer_id, event_timestamp",
                {**params, "rows": rows},
            ).df()

        reference = side("event_timestamp between $start and $end", start=start, end=end)
        current = side("event_timestamp = $newest", newest=newest)
        both: list[str] = []
        if score_customers:
            both = [
                str(c)
                for (c,) in con.execute(
                    "select customer_id from mart_keys where event_timestamp = $before intersect "
                    "select customer_id from mart_keys where event_timestamp = $now",
                    {"before": reference_as_of, "now": newest},
                ).fetchall()
            ]
    rng = np.random.default_rng(0)
    drawn = rng.choice(sorted(both), size=min(score_customers, len(both)), replace=False)
    numeric = [
        c
        for c in reference.columns
        if c not in ("customer_id", "event_timestamp")
        and pd.api.types.is_numeric_dtype(reference[c])
    ]
    keep = ["customer_id", "event_timestamp", *numeric]
    return MartSides(
        reference[keep],
        current[keep],
        pd.Timestamp(newest),
        pd.Timestamp(reference_as_of),
        sorted(drawn.tolist()),
    )


def _naive_utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert(UTC).tz_localize(None) if stamp.tzinfo else stamp


def ranking_log(settings: Settings) -> pd.DataFrame:
    """Every served offer in the ranking log (``served_at``, ``request_id``,
    ``model_version``, ``score``) with its feature vector as named columns (the file metadata's
    ``feature_names``); empty when nothing was served."""
    import pyarrow.dataset as ds

    root = settings.ranking_log_dir
    files = sorted(Path(root).glob("date=*/*.parquet")) if Path(root).exists() else []
    if not files:
        return pd.DataFrame()
    table = ds.dataset([str(f) for f in files], format="parquet").to_table()
    names = json.loads((table.schema.metadata or {}).get(b"feature_names", b"[]"))
    frame = table.to_pandas()
    frame = frame[frame["features"].map(lambda v: v is not None and len(v) == len(names))]
    if frame.empty or not names:
        return pd.DataFrame()
    values = pd.DataFrame(np.vstack(frame["features"].to_numpy()), columns=names, index=frame.index)
    keys = frame[["served_at", "request_id", "model_version", "score"]]
    return pd.concat([keys, values], axis=1).reset_index(drop=True)


# -- the champion's scores -----------------------------------------------------------------
def champion_scores(
    settings: Settings,
    champion: Champion,
    customers: list[str],
    reference_at: pd.Timestamp,
    current_at: pd.Timestamp,
) -> tuple[np.ndarray, np.ndarray]:
    """The champion's score of each customer against every offer of the labelled mart, with the
    feature service's values as of ``reference_at`` and as of ``current_at`` (Feast's
    point-in-time retrieval, as training reads them).

    The offer-only views' features are held at their reference values on both sides: offers
    age (their days to expiry fall to zero at the end of a campaign), which would move every
    score whatever the customers did; what is measured is the population's change.
    """
    from smartstack.featurestore import store
    from smartstack.serving.model import RegistryAlias

    shown = pd.read_parquet(store.labelled_path(settings), columns=["offer_id"])["offer_id"]
    offers = sorted(shown.astype(str).unique())
    names = store.model_feature_names(settings)

    def features(at: pd.Timestamp) -> pd.DataFrame:
        rows = pd.MultiIndex.from_product(
            [customers, offers], names=["customer_id", "offer_id"]
        ).to_frame(index=False)
        rows["event_timestamp"] = rows["request_timestamp"] = (
            at.tz_localize(UTC) if at.tzinfo is None else at
        )
        frame = store.training_frame(rows, settings)
        return frame.sort_values(["customer_id", "offer_id"]).reset_index(drop=True)

    before, after = features(pd.Timestamp(reference_at)), features(pd.Timestamp(current_at))
    held = [c for c in _offer_only_features(settings) if c in before]
    after[held] = before[held].to_numpy()
    model = RegistryAlias(
        tracking_uri(settings), champion.name, settings.serving.model_alias, names
    ).load(champion.version)

    def scores(frame: pd.DataFrame) -> np.ndarray:
        matrix = np.column_stack(
            [
                pd.to_numeric(frame[n], errors="coerce").to_numpy(np.float32)
                if n in frame
                else np.full(len(frame), np.nan, np.float32)
                for n in names
            ]
        )
        return model.score(matrix)[0]

    return scores(before), scores(after)


def _offer_only_features(settings: Settings) -> list[str]:
    """The feature service's features from views keyed by the offer alone."""
    from smartstack.featurestore import store

    keyed_by = {v.name: list(v.entities) for v in store.get_store(settings).list_feature_views()}
    return [
        f.name
        for projection in store.feature_service(settings).feature_view_projections
        if keyed_by.get(projection.name) == ["offer"]
        for f in projection.features
    ]


def _at_most(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``frame``, or a seeded sample of ``rows`` of it (the same on every run)."""
    return frame if len(frame) <= rows else frame.sample(rows, random_state=0)


def scaled_threshold(base: float, base_rows: int, floor: float, rows: int) -> float:
    """The per-feature threshold for a current sample of ``rows``.

    A distance between two samples of the same population is not zero: its noise falls as one
    over the square root of the smaller sample. A fixed threshold calibrated on 2,000 customers
    therefore misses at 10,000 (a drifting segment scored 0.065-0.105 where worlds without drift
    reached 0.048) and would be crossed by noise alone on a few hundred served requests.
    """
    return max(floor, base * (base_rows / max(rows, 1)) ** 0.5)


# -- Evidently ------------------------------------------------------------------------------
def _compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    method: str,
    threshold: float,
):
    """Evidently's drift preset over ``features``: the snapshot, per-feature scores and flags."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    report = Report(
        [DataDriftPreset(columns=features, num_method=method, num_threshold=threshold)],
        include_tests=True,
    )
    snap = report.run(
        current_data=current[features].astype(float),
        reference_data=reference[features].astype(float),
        tags=[dashboard.DRIFT],  # the dashboard's Drift panels plot the snapshots so tagged
    )
    d = snap.dict()
    scores = {
        m["config"]["column"]: float(m["value"])
        for m in d["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }
    flags = {
        t["metric_config"]["params"]["column"]: t["status"].value == "FAIL"
        for t in d["tests"]
        if t["id"] == "drift"
    }
    return snap, scores, [f for f in features if flags.get(f)]


def _score_drift(reference: np.ndarray, current: np.ndarray, method: str, threshold: float):
    from evidently import Report
    from evidently.metrics import ValueDrift

    snap = Report(
        [ValueDrift(column="score", method=method, threshold=threshold)], include_tests=True
    ).run(
        current_data=pd.DataFrame({"score": current}),
        reference_data=pd.DataFrame({"score": reference}),
    )
    d = snap.dict()
    value = float(d["metrics"][0]["value"])
    failed = any(t["status"].value == "FAIL" for t in d["tests"])
    return snap, value, failed


# -- the job --------------------------------------------------------------------------------
def check(
    settings: Settings,
    reference_window: tuple[datetime, datetime] | None = None,
    features: list[str] | None = None,
    days: int = 1,
    log_to_mlflow: bool = True,
    today: date | None = None,
) -> DriftVerdict:
    """Compare the newest marts and the served snapshots with the reference; write the reports
    and the verdict. Without ``reference_window`` the champion's train window is used (and the
    champion's features), and the run is logged to MLflow with its version."""
    cfg = settings.monitoring
    champion = None
    if reference_window is None:
        champion = champion_reference(settings)
        reference_window = champion.window
        features = features or champion.features
    start, end = (_naive_utc(x) for x in reference_window)
    sides = _mart_sides(
        settings,
        (start, end),
        cfg.drift_sample_rows,
        cfg.score_sample_customers if champion is not None else 0,
    )
    reference, current, newest = sides.reference, sides.current, sides.newest
    columns = [c for c in reference.columns if c not in ("customer_id", "event_timestamp")]
    if features is not None:
        columns = [c for c in features if c in columns]
    # A feature constant in the reference (or missing everywhere) says nothing about drift.
    columns = [c for c in columns if reference[c].notna().any() and reference[c].nunique() > 1]
    if not columns:
        raise DriftUnavailable("no customer-level feature in both the reference and the marts")

    day = (today or datetime.now(UTC).date()).isoformat()
    out = settings.monitoring_dir / "drift" / day
    out.mkdir(parents=True, exist_ok=True)
    reports: dict[str, str] = {}
    comparisons: list[Comparison] = []

    def run(name: str, cur: pd.DataFrame, cols: list[str]) -> Any:
        cur = _at_most(cur, cfg.drift_sample_rows)
        # A column with no value on this side (a day's few served rankings) has no distribution.
        cols = [c for c in cols if cur[c].notna().any()]
        if not cols:
            raise DriftUnavailable(f"no compared feature has a value in the {name} sample")
        threshold = scaled_threshold(
            cfg.drift_threshold, cfg.drift_threshold_rows, cfg.drift_threshold_floor, len(cur)
        )
        snap, scores, drifted = _compare(reference, cur, cols, cfg.drift_method, threshold)
        for kind, save in (("html", snap.save_html), ("json", snap.save_json)):
            path = out / f"features_{name}.{kind}"
            save(str(path))
            reports[f"features_{name}.{kind}"] = str(path)
        comparisons.append(
            Comparison(
                name,
                len(cur),
                len(reference),
                threshold,
                scores,
                drifted,
                len(drifted) / len(cols),
            )
        )
        return snap

    marts_snapshot = run("marts", current, columns)
    links: dict[str, str] = {}
    try:  # the dashboard is a view of the reports: its failure never fails the check
        links = dashboard.push_drift(settings, marts_snapshot, columns)
    except Exception:
        log.exception("could not add the drift report to the dashboard's workspace")

    served_note = "not compared: nothing served yet"
    log_rows = ranking_log(settings)
    if not log_rows.empty:
        last = log_rows["served_at"].max()
        recent = log_rows[log_rows["served_at"] > last - pd.Timedelta(days=days)]
        served = recent.drop_duplicates("request_id")
        shared = [c for c in columns if c in served.columns and served[c].notna().any()]
        if len(served) < cfg.drift_served_min_rows:
            served_note = (
                f"not compared: {len(served):,} rankings served in the newest {days} day(s), "
                f"fewer than drift_served_min_rows ({cfg.drift_served_min_rows:,})"
            )
        elif not shared:
            served_note = "not compared: the served snapshots hold none of the features"
        else:
            run("served", served, shared)
            served_note = f"compared: {len(served):,} rankings served in the newest {days} day(s)"

    score_value, score_drifted = None, False
    score_note = "not measured: no champion to score with (a reference window was given)"
    if champion is not None:
        customers, as_of_reference = sides.score_customers, sides.reference_as_of
        if not customers:
            raise DriftUnavailable(
                f"no customer in the marts both as of {as_of_reference:%Y-%m-%d} and now"
            )
        before, after = champion_scores(settings, champion, customers, as_of_reference, newest)
        snap, score_value, score_drifted = _score_drift(
            before, after, cfg.score_drift_method, cfg.score_drift_threshold
        )
        for kind, save in (("html", snap.save_html), ("json", snap.save_json)):
            path = out / f"score.{kind}"
            save(str(path))
            reports[f"score.{kind}"] = str(path)
        score_note = (
            f"{champion.name} v{champion.version}'s scores of {len(customers)} customers x "
            f"every offer as of {newest:%Y-%m-%d} vs as of {as_of_reference:%Y-%m-%d} "
            f"({len(after):,} and {len(before):,} scores)"
        )

    ignored = [
        c
        for c in columns
        if any(fnmatch(c, p.strip()) for p in cfg.drift_alarm_ignore.split(",") if p.strip())
    ]
    counted = [c for c in columns if c not in ignored]
    drifted = list(dict.fromkeys(f for c in comparisons for f in c.drifted if f in counted))
    share = len(drifted) / max(1, len(counted))
    alarm = share >= cfg.drift_share or score_drifted
    if alarm:
        parts = [f"{len(drifted)} features drifted ({', '.join(drifted)})"] if drifted else []
        if score_drifted:
            parts.append(f"the score drifted ({cfg.score_drift_method} {score_value:.3f})")
        recommendation = "retrain: " + "; ".join(parts)
    else:
        recommendation = (
            f"no action: {len(drifted)} of {len(counted)} features drifted "
            f"(alarm at {cfg.drift_share:.0%})"
        )
    verdict = DriftVerdict(
        day=day,
        measured_at=datetime.now(UTC).isoformat(),
        champion=f"{champion.name} v{champion.version}" if champion else None,
        method=cfg.drift_method,
        threshold=cfg.drift_threshold,
        share_threshold=cfg.drift_share,
        reference_window=(start.isoformat(), end.isoformat()),
        comparisons=comparisons,
        score_method=cfg.score_drift_method,
        score_threshold=cfg.score_drift_threshold,
        score_drift=score_value,
        alarm_share=share,
        ignored=ignored,
        score_drifted=score_drifted,
        score_note=score_note,
        served_note=served_note,
        alarm=alarm,
        recommendation=recommendation,
        reports=reports,
        dashboard=links,
    )
    if log_to_mlflow:
        verdict = _log(settings, verdict, champion, out)
    text = json.dumps(verdict.to_json(), indent=2, default=str)
    (out / "verdict.json").write_text(text)
    latest = settings.monitoring_dir / "drift" / LATEST
    tmp = latest.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(latest)
    if alarm:
        log.warning("drift alarm: %s", recommendation)
    return verdict


def _log(settings: Settings, verdict: DriftVerdict, champion: Champion | None, out: Path):
    """One run in the monitoring experiment, tagged with the champion's version."""
    import mlflow

    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(
            EXPERIMENT, artifact_location=(settings.mlflow_artifact_root / EXPERIMENT).as_uri()
        )
    mlflow.set_experiment(EXPERIMENT)
    tags = {"kind": "drift", "alarm": str(verdict.alarm).lower()}
    if champion is not None:
        tags |= {"model_name": champion.name, "model_version": champion.version}
    with mlflow.start_run(run_name=f"drift-{verdict.day}", tags=tags) as run:
        mlflow.log_params(
            {
                "method": verdict.method,
                "threshold": verdict.threshold,
                "share": verdict.share_threshold,
                "score_method": verdict.score_method,
                "score_threshold": verdict.score_threshold,
                "reference_window": " .. ".join(verdict.reference_window),
            }
        )
        metrics = {f"share_drifted.{c.name}": c.share for c in verdict.comparisons}
        metrics |= {f"threshold.{c.name}": c.threshold for c in verdict.comparisons}
        for c in verdict.comparisons:
            metrics |= {f"drift.{c.name}.{k}": v for k, v in c.scores.items() if np.isfinite(v)}
        if verdict.score_drift is not None:
            metrics["score_drift"] = verdict.score_drift
        metrics["alarm"] = float(verdict.alarm)
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out), artifact_path="drift")
        run_id = run.info.run_id
    return DriftVerdict(
        **{**asdict(verdict), "comparisons": verdict.comparisons, "mlflow_run": run_id}
    )


def latest_verdict(settings: Settings) -> dict[str, Any] | None:
    """The newest verdict written, or None."""
    path = settings.monitoring_dir / "drift" / LATEST
    return json.loads(path.read_text()) if path.exists() else None
