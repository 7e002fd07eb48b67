"""The Starbucks adapter: row counts on a sample of the real files, and the attribution rules
on receipts written by hand with the real offer portfolio."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from starbucks_sample import records, write_sample
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.data.schema import RAW_SCHEMAS
from smartstack.datasets.starbucks.reader import SourceError, ingest
from smartstack.settings import get_settings

START = date(2018, 8, 1)
T0 = datetime(2018, 8, 1, tzinfo=UTC)


def raw(out: Path, table: str) -> pd.DataFrame:
    return pq.read_table(out / "raw" / table, schema=RAW_SCHEMAS[table]).to_pandas()


def at(hour: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(hours=hour))


@pytest.fixture(scope="module")
def ingested(starbucks_train_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sb-ingested")
    ingest(starbucks_train_sample, out, START)
    return out


def test_row_counts_match_the_sample_files(starbucks_train_sample: Path, ingested: Path) -> None:
    events = pd.Series([r["event"] for r in records(starbucks_train_sample)]).value_counts()
    profiles = (starbucks_train_sample / "profile.json").read_text().splitlines()
    manifest = json.loads((ingested / "manifest.json").read_text())
    counts = {
        "customers": len(profiles),
        "offers": 10,
        "impressions": int(events["offer received"]),
        "transactions": int(events["transaction"]),
    }
    assert manifest["row_counts"] == counts
    for table, rows in counts.items():
        assert len(raw(ingested, table)) == rows, table
    last = max(r["time"] for r in records(starbucks_train_sample))
    assert datetime.fromisoformat(manifest["snapshot"]) == T0 + timedelta(hours=last)
    # Every completion in the sample falls in the window of a receipt of its offer.
    completions = int(events["offer completed"])
    impressions = raw(ingested, "impressions")
    attributed = int(impressions["completed_at"].notna().sum())
    assert attributed + manifest["attribution"]["completions_unattributed"] == completions
    assert attributed > 100


def test_attribution_rules_hold_on_every_sampled_receipt(ingested: Path) -> None:
    impressions = raw(ingested, "impressions").merge(
        raw(ingested, "offers")[["offer_id", "offer_type"]], on="offer_id"
    )
    done = impressions[impressions["completed_at"].notna()]
    assert (
        (done["completed_at"] >= done["shown_at"]) & (done["completed_at"] <= done["expires_at"])
    ).all()
    assert (
        impressions.loc[impressions["offer_type"] == "informational", "completed_at"].isna().all()
    )
    success = impressions["outcome"] == "redeemed"
    assert (impressions.loc[success, "viewed_at"] <= impressions.loc[success, "completed_at"]).all()
    assert (impressions["redeemed_at"].notna() == success).all()
    completed_first = impressions["completed_at"].notna() & (
        impressions["viewed_at"].isna() | (impressions["viewed_at"] > impressions["completed_at"])
    )
    assert completed_first.sum() > 0  # the sample has completions without a prior view ...
    assert not success[completed_first].any()  # ... and none of them is a success


@pytest.fixture(scope="module")
def portfolio(starbucks_source: Path) -> dict[str, dict]:
    offers = [json.loads(line) for line in (starbucks_source / "portfolio.json").open()]
    bogo = next(o for o in offers if o["offer_type"] == "bogo" and o["duration"] == 7)
    info = next(o for o in offers if o["offer_type"] == "informational")
    return {"bogo": bogo, "info": info}


def write_case(
    directory: Path, source: Path, events: list[tuple[str, str, str | float, float]]
) -> Path:
    """A Starbucks directory with customers p1..p9 and the given (person, event, value, hour)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "portfolio.json", directory / "portfolio.json")
    people = sorted({e[0] for e in events})
    (directory / "profile.json").write_text(
        "".join(
            json.dumps(
                {
                    "gender": None,
                    "age": 118,
                    "id": p,
                    "became_member_on": "20170101",
                    "income": None,
                }
            )
            + "\n"
            for p in people
        )
    )
    lines = []
    for person, event, value, hour in events:
        key = {
            "offer received": "offer id",
            "offer viewed": "offer id",
            "offer completed": "offer_id",
            "transaction": "amount",
        }[event]
        lines.append(
            json.dumps({"person": person, "event": event, "value": {key: value}, "time": hour})
            + "\n"
        )
    (directory / "transcript.json").write_text("".join(lines))
    return directory


def test_a_view_then_a_completion_in_the_window_is_a_success_and_nothing_else_is(
    starbucks_source: Path, portfolio: dict[str, dict], tmp_path: Path
) -> None:
    bogo, info = portfolio["bogo"]["id"], portfolio["info"]["id"]  # bogo: 7 days
    events = [
        # p1: viewed, then completed inside the window: a success.
        ("p1", "offer received", bogo, 0),
        ("p1", "offer viewed", bogo, 6),
        ("p1", "transaction", 12.5, 12),
        ("p1", "offer completed", bogo, 12),
        # p2: completed before viewing: completed (label B) but not a success (label A).
        ("p2", "offer received", bogo, 0),
        ("p2", "offer completed", bogo, 10),
        ("p2", "offer viewed", bogo, 30),
        # p3: completed after the window closed: not this receipt's completion.
        ("p3", "offer received", bogo, 0),
        ("p3", "offer viewed", bogo, 1),
        ("p3", "offer completed", bogo, 169),
        # p4: informational: viewed, never completable.
        ("p4", "offer received", info, 0),
        ("p4", "offer viewed", info, 5),
        # p5: two receipts of one offer: events go to the oldest open receipt first; a view at
        # the very end of a window still counts.
        ("p5", "offer received", bogo, 0),
        ("p5", "offer received", bogo, 168),
        ("p5", "offer viewed", bogo, 168),
        ("p5", "offer viewed", bogo, 200),
        ("p5", "offer completed", bogo, 210),
    ]
    out = tmp_path / "out"
    manifest = ingest(write_case(tmp_path / "src", starbucks_source, events), out, START)
    rows = raw(out, "impressions").sort_values(["customer_id", "shown_at"]).reset_index(drop=True)
    by = {c: frame.reset_index(drop=True) for c, frame in rows.groupby("customer_id")}

    assert by["p1"].loc[0, "outcome"] == "redeemed"
    assert by["p1"].loc[0, "redeemed_at"] == by["p1"].loc[0, "completed_at"] == at(12)
    assert by["p1"].loc[0, "expires_at"] == at(168)

    assert by["p2"].loc[0, "completed_at"] == at(10)
    assert pd.isna(by["p2"].loc[0, "redeemed_at"]) and by["p2"].loc[0, "outcome"] == "viewed"

    assert pd.isna(by["p3"].loc[0, "completed_at"]) and by["p3"].loc[0, "outcome"] == "viewed"
    assert manifest["attribution"]["completions_unattributed"] == 1

    assert pd.isna(by["p4"].loc[0, "completed_at"]) and by["p4"].loc[0, "outcome"] == "viewed"

    first, second = by["p5"].loc[0], by["p5"].loc[1]
    assert first["viewed_at"] == at(168) and pd.isna(first["completed_at"])
    assert second["viewed_at"] == at(200) and second["completed_at"] == at(210)
    assert second["outcome"] == "redeemed" and first["outcome"] == "viewed"

    customers = raw(out, "customers").set_index("customer_id")
    assert customers["age"].isna().all()  # the placeholder age 118 is not an age
    assert raw(out, "transactions")["amount"].tolist() == [12.5]


def test_gzipped_and_plain_transcripts_give_the_same_tables(
    starbucks_source: Path,
    starbucks_transcript: list[str],
    starbucks_customers: list[str],
    tmp_path: Path,
) -> None:
    few = set(starbucks_customers[-40:])
    tables = []
    for gzipped in (True, False):
        directory = write_sample(
            starbucks_source,
            tmp_path / f"src-{gzipped}",
            few,
            starbucks_transcript,
            gzipped=gzipped,
        )
        ingest(directory, tmp_path / f"out-{gzipped}", START)
        tables.append(
            {
                t: raw(tmp_path / f"out-{gzipped}", t)
                for t in RAW_SCHEMAS
                if (tmp_path / f"out-{gzipped}" / "raw" / t).exists()
            }
        )
    assert (
        tables[0].keys()
        == tables[1].keys()
        == {"customers", "offers", "impressions", "transactions"}
    )
    for name in tables[0]:
        pd.testing.assert_frame_equal(tables[0][name], tables[1][name], obj=name)


def test_bad_directories_get_one_sentence(starbucks_source: Path, tmp_path: Path) -> None:
    shutil.copyfile(starbucks_source / "portfolio.json", tmp_path / "portfolio.json")
    with pytest.raises(SourceError, match="no transcript.json"):
        ingest(tmp_path, tmp_path / "out", START)
    (tmp_path / "profile.json").write_text(
        json.dumps(
            {"gender": "M", "age": 40, "id": "p1", "became_member_on": "20170101", "income": 50000}
        )
        + "\n"
    )
    (tmp_path / "transcript.json").write_text(
        json.dumps(
            {"person": "p1", "event": "offer received", "value": {"offer id": "nope"}, "time": 0}
        )
        + "\n"
    )
    with pytest.raises(SourceError, match="offer nope, absent from portfolio.json"):
        ingest(tmp_path, tmp_path / "out", START)
    assert not (tmp_path / "out" / "raw").exists()  # nothing half-written


def isolate_dataset_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the variables the dataset options write, and have them restored afterwards (a
    plain ``delenv`` of an unset variable would not undo a later write)."""
    for name in ("SMARTSTACK_DATASET", "SMARTSTACK_SOURCE_DIR", "SMARTSTACK_SOURCE_START_DATE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_the_run_command_asks_for_the_directory_in_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_dataset_variables(monkeypatch)
    monkeypatch.setenv("SMARTSTACK_HOME", str(tmp_path))
    runner = CliRunner()
    try:
        missing = runner.invoke(app, ["run", "--dataset", "starbucks"])
        unknown = runner.invoke(app, ["run", "--dataset", "nosuch"])
        bad_day = runner.invoke(
            app,
            ["run", "--dataset", "starbucks", "--data-dir", str(tmp_path), "--start-date", "1 Aug"],
        )
    finally:
        get_settings.cache_clear()
    assert missing.exit_code == 2 and "pass --data-dir PATH" in missing.output
    assert unknown.exit_code == 2 and "unknown data set 'nosuch'" in unknown.output
    assert bad_day.exit_code == 2 and "YYYY-MM-DD" in bad_day.output
    for result in (missing, unknown, bad_day):
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_ingest_step_lands_the_data_set_for_the_dags(
    starbucks_train_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`smartstack ingest` (the DAGs' first task) honours the data set: the adapter reads the
    directory instead of the generator writing synthetic tables."""
    isolate_dataset_variables(monkeypatch)
    monkeypatch.setenv("SMARTSTACK_HOME", str(tmp_path))
    try:
        result = CliRunner().invoke(
            app, ["ingest", "--dataset", "starbucks", "--data-dir", str(starbucks_train_sample)]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    # An explicit SMARTSTACK_HOME is used as given (no per-data-set subfolder).
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert counts == manifest["row_counts"]
    assert set(counts) == {"customers", "offers", "impressions", "transactions"}
