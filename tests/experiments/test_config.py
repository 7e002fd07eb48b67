"""The experiments file: a bad one is refused whole, with a sentence naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.experiments.config import ExperimentFileError, load_experiments, parse_experiments
from smartstack.paths import EXPERIMENTS_FILE


def experiment(name: str = "challenger-ab", **changes: object) -> dict:
    return {
        "name": name,
        "salt": f"{name}-1",
        "start": "2026-07-01T00:00:00Z",
        "end": "2026-08-01T00:00:00Z",
        "arms": [
            {"name": "control", "ranker": "champion", "share": 0.5},
            {"name": "treatment", "ranker": "challenger", "share": 0.5},
        ],
        **changes,
    }


def parse(*experiments: dict, rankers: tuple[str, ...] | None = ("champion", "challenger")):
    return parse_experiments({"version": 1, "experiments": list(experiments)}, "test", rankers)


def test_the_shipped_file_is_valid_and_runs_nothing() -> None:
    assert load_experiments(EXPERIMENTS_FILE).experiments == ()


def test_a_valid_file_keeps_its_arms_in_order() -> None:
    parsed = parse(experiment(customers={"start": 0.0, "end": 0.2}))
    (only,) = parsed.experiments
    assert [(a.name, a.ranker, a.share) for a in only.arms] == [
        ("control", "champion", 0.5),
        ("treatment", "challenger", 0.5),
    ]
    assert (only.customers.start, only.customers.end) == (0.0, 0.2)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"arms": [{"name": "a", "ranker": "champion", "share": 1.5},
                      {"name": "b", "ranker": "challenger", "share": -0.5}]},
            "experiment 'challenger-ab': arms.0.share: Input should be less than or equal to 1",
        ),
        (
            {"arms": [{"name": "a", "ranker": "champion", "share": 0.5},
                      {"name": "b", "ranker": "challenger", "share": 0.4}]},
            "experiment 'challenger-ab': arms: shares sum to 0.9, not 1",
        ),
        ({"end": "2026-06-01T00:00:00Z"}, "experiment 'challenger-ab': end: 2026-06-01"),
        ({"start": "2026-07-01T00:00:00"}, "experiment 'challenger-ab': start: Input should have timezone info"),
        ({"customers": {"start": 0.5, "end": 0.2}}, "customers: end 0.2 is not after start 0.5"),
        ({"sample": 0.1}, "experiment 'challenger-ab': sample: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_experiments_are_refused_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ExperimentFileError, match="^test: ") as refused:
        parse(experiment(**changes))
    assert message in str(refused.value)


def test_an_unknown_alias_is_refused_and_smartscore_always_known() -> None:
    arms = [
        {"name": "control", "ranker": "champion", "share": 0.5},
        {"name": "rules", "ranker": "smartscore", "share": 0.5},
    ]
    assert parse(experiment(arms=arms), rankers=("champion",)).experiments
    with pytest.raises(ExperimentFileError, match=r"arms\.1\.ranker: 'challenger' is neither"):
        parse(experiment(), rankers=("champion",))


def test_overlapping_customers_of_experiments_running_together_are_refused() -> None:
    first = experiment("first", customers={"start": 0.0, "end": 0.5})
    second = experiment("second", customers={"start": 0.4, "end": 1.0})
    with pytest.raises(ExperimentFileError, match="'first' and 'second': customers: their slices"):
        parse(first, second)
    # Disjoint slices, or the same slice at different times, are fine.
    assert parse(first, experiment("second", customers={"start": 0.5, "end": 1.0}))
    later = {"start": "2026-08-01T00:00:00Z", "end": "2026-09-01T00:00:00Z"}
    assert parse(first, experiment("second", **later))


def test_the_cli_check_exits_2_with_the_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "experiments.yaml"
    broken = experiment(arms=[{"name": "a", "ranker": "champion", "share": 1.0}])
    bad.write_text(yaml.safe_dump({"version": 1, "experiments": [broken]}))
    result = CliRunner().invoke(app, ["experiments", "check", str(bad)])
    assert result.exit_code == 2
    assert "experiment 'challenger-ab': arms: Tuple should have at least 2 items" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"shadow": {"ranker": "challenger", "share": 1.5}}, "shadow.share: Input should be less"),
        (
            {"shadow": {"ranker": "challnger", "share": 0.1}},
            "shadow.ranker: 'challnger' is neither",
        ),
        ({"exploration": {"temperature": 0}}, "exploration.temperature: Input should be greater"),
    ],
)
def test_shadow_and_exploration_are_validated_naming_the_field(extra: dict, message: str) -> None:
    with pytest.raises(ExperimentFileError, match=message):
        parse_experiments({"version": 1, **extra}, "test", ("champion", "challenger"))


def test_interleaving_takes_exactly_two_arms() -> None:
    three = [{"name": n, "ranker": "champion", "share": 1 / 3} for n in ("a", "b", "c")]
    with pytest.raises(ExperimentFileError, match="interleaving takes exactly 2 arms, not 3"):
        parse(experiment(kind="interleaving", arms=three))
    assert parse(experiment(kind="interleaving")).experiments[0].kind == "interleaving"


def test_the_file_names_every_ranker_the_service_must_load() -> None:
    plan = parse_experiments(
        {
            "version": 1,
            "shadow": {"ranker": "candidate", "share": 0.1},
            "experiments": [experiment()],
        },
        "test",
    )
    assert plan.rankers() == {"champion", "challenger", "candidate"}


def test_the_cli_check_lists_shadow_and_exploration(tmp_path: Path) -> None:
    good = tmp_path / "experiments.yaml"
    plan = {
        "version": 1,
        "shadow": {"ranker": "smartscore", "share": 0.1},
        "exploration": {"temperature": 0.5},
        "experiments": [experiment(kind="interleaving")],
    }
    good.write_text(yaml.safe_dump(plan))
    result = CliRunner().invoke(app, ["experiments", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert "challenger-ab (interleaving)" in result.output
    assert "shadow: smartscore on 10% of personal rankings" in result.output
    assert "exploration: Plackett–Luce, temperature 0.5" in result.output


def test_interleaving_compares_two_different_rankers() -> None:
    same = [{"name": n, "ranker": "champion", "share": 0.5} for n in ("a", "b")]
    with pytest.raises(ExperimentFileError, match="interleaving compares two different rankers"):
        parse(experiment(kind="interleaving", arms=same))


def test_a_file_that_is_not_text_is_refused_with_a_sentence(tmp_path: Path) -> None:
    binary = tmp_path / "experiments.yaml"
    binary.write_bytes(b"\xff\xfe\x00version: 1")
    with pytest.raises(ExperimentFileError, match="not UTF-8 text"):
        load_experiments(binary)
