"""Experiments through a real ``bentoml serve``: customers routed by arm and the arm in the
ranking log, the shadow log, a broken experiments file served by the champion and counted,
and the simulator's logs read out and evaluated off-policy against the hidden model's truth."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import yaml

from smartstack.datasets.synthetic.truth import HiddenUtility
from smartstack.evaluation.job import LogSource, evaluate_slots, logged_slots
from smartstack.evaluation.logs import LoggedSlots, read_ranking_log
from smartstack.evaluation.readout import ab_readout, interleaving_readout, shadow_readout
from smartstack.evaluation.simulate import Simulator, plan
from smartstack.evaluation.truth import true_click_rate
from smartstack.experiments.assignment import Assigner
from smartstack.experiments.config import load_experiments
from smartstack.featurestore.store import snapshot_time
from smartstack.paths import PROJECT_ROOT
from tests.conftest import SMARTSTACK, BuiltHome, project_environment
from tests.serving.conftest import TEST_SERVING, Dataset, Registry, Server, configured

START = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = {
    "version": 1,
    "shadow": {"ranker": "challenger", "share": 1.0},
    "exploration": {"temperature": 0.5},
    "experiments": [
        {
            "name": "challenger-ab",
            "salt": "ab-1",
            "start": START.isoformat(),
            "end": (START + timedelta(days=365)).isoformat(),
            "customers": {"start": 0.0, "end": 0.5},
            "arms": [
                {"name": "control", "ranker": "champion", "share": 0.5},
                {"name": "treatment", "ranker": "challenger", "share": 0.5},
            ],
        },
        {
            "name": "rules-interleaved",
            "kind": "interleaving",
            "salt": "il-1",
            "start": START.isoformat(),
            "end": (START + timedelta(days=365)).isoformat(),
            "customers": {"start": 0.5, "end": 1.0},
            "arms": [
                {"name": "model", "ranker": "champion", "share": 0.5},
                {"name": "rules", "ranker": "smartscore", "share": 0.5},
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def server(
    built: BuiltHome, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serving-experiments")
    experiments = root / "experiments.yaml"
    experiments.write_text(yaml.safe_dump(PLAN))
    settings = configured(
        built.copy(root / "home"),
        serving={**TEST_SERVING, "frequency_cap": 1_000_000, "model_poll_seconds": 3600},
        experiments={"file": experiments, "seed": 7, "shadow_flush_seconds": 0.2},
    )
    registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    challenger = registry.register(dataset.training_frame, dataset.feature_names, trees=15)
    registry.client().set_registered_model_alias("offer-ranker", "challenger", challenger)
    server = Server(settings, root / "server.log")
    yield server
    server.stop()


def _versions(server: Server) -> dict[str, str]:
    client = server.registry.client()
    return {
        alias: str(client.get_model_version_by_alias("offer-ranker", alias).version)
        for alias in ("champion", "challenger")
    }


def _wait_for_log(server: Server, request_ids: set[str]) -> pd.DataFrame:
    deadline = time.monotonic() + 20
    while True:
        try:
            log = read_ranking_log(server.settings)
            if request_ids <= set(log["request_id"]):
                return log[log["request_id"].isin(request_ids)]
        except LookupError:
            pass
        assert time.monotonic() < deadline, "rankings did not reach the ranking log"
        time.sleep(0.3)


def test_customers_are_served_by_their_arm_and_the_log_records_it(
    server: Server, dataset: Dataset
) -> None:
    versions = _versions(server)
    assigner = Assigner(load_experiments(server.settings.experiments.file))
    at = datetime(2026, 6, 29, 12, tzinfo=UTC)
    expected, answers = {}, {}
    for customer in dataset.customers["customer_id"].head(40):
        assignment = assigner.assign(customer, at)
        assert assignment is not None  # the two slices cover every customer
        response = server.rank(customer, k=3)
        assert response.status_code == 200, response.text
        answers[response.json()["request_id"]] = response.json()
        expected[response.json()["request_id"]] = assignment
    log = _wait_for_log(server, set(answers))
    for request_id, rows in log.groupby("request_id"):
        assignment, answer = expected[request_id], answers[request_id]
        assert set(rows["experiment"]) == {assignment.experiment}
        if assignment.experiment == "challenger-ab":
            assert set(rows["arm"]) == {assignment.arm.name}
            if answer["tier"] == "model":
                assert answer["model"]["version"] == versions[assignment.arm.ranker]
            # Exploration: each shown offer's propensity is logged, below 1.
            assert rows["propensity"].between(0, 1, inclusive="right").all()
        else:
            assert set(rows["arm"]) == {"interleaved"}
            assert set(rows["team"]) <= {"model", "rules"}  # the arms, not their rankers


def test_the_shadow_ranker_is_logged_and_never_served(server: Server, dataset: Dataset) -> None:
    versions = _versions(server)
    ids = set()
    for customer in dataset.customers["customer_id"].head(10):
        ids.add(server.rank(customer, k=3).json()["request_id"])
    deadline = time.monotonic() + 20
    while True:
        try:
            readout = shadow_readout(server.settings)
            break
        except LookupError:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    assert readout.rankings >= 1
    assert any(name.startswith(f"shadow offer-ranker v{versions['challenger']}")
               for name in readout.latency_ms)  # fmt: skip
    shadow = pd.read_parquet(server.settings.home / "serving" / "shadow")
    assert (shadow["shadow_version"] == versions["challenger"]).all()
    # What was served was the served model's, never the shadow's.
    assert (shadow["served_version"] != versions["challenger"]).any() or (
        shadow["served_model"] == "smartscore"
    ).any()


AB = PLAN["experiments"][0]
BROKEN = {
    "share-out-of-range": {"version": 1, "shadow": {"ranker": "challenger", "share": 2}},
    "overlapping-slices": {
        "version": 1,
        "experiments": [AB, {**AB, "name": "second", "customers": {"start": 0.2, "end": 0.6}}],
    },
    "unknown-alias": {
        "version": 1,
        "experiments": [
            {
                **AB,
                "arms": [
                    {"name": "control", "ranker": "champion", "share": 0.5},
                    {"name": "treatment", "ranker": "challnger", "share": 0.5},
                ],
            }
        ],
    },
}


@pytest.mark.parametrize("broken", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_experiments_file_serves_the_champion_and_is_counted(
    server: Server, dataset: Dataset, broken: dict
) -> None:
    path = server.settings.experiments.file
    good = path.read_text()
    champion = _versions(server)["champion"]
    try:
        path.write_text(yaml.safe_dump(broken))
        server.reload()
        before = server.metric("smartstack_experiment_fallbacks_total", 'reason="config"')
        for customer in dataset.customers["customer_id"].head(12):
            response = server.rank(customer, k=3)
            assert response.status_code == 200, response.text
            if response.json()["tier"] == "model":
                assert response.json()["model"]["version"] == champion
        after = server.metric("smartstack_experiment_fallbacks_total", 'reason="config"')
        assert after - before == 12
    finally:
        path.write_text(good)
        server.reload()


def test_simulated_traffic_is_read_out_and_its_estimates_cover_the_truth(
    server: Server, built: BuiltHome
) -> None:
    settings = server.settings
    truth = HiddenUtility.from_data(built.data_dir)
    token = settings.auth.service_token.get_secret_value()
    requests = plan(truth.customer_ids(), 1500, snapshot_time(settings), timedelta(days=2), seed=3)
    result = Simulator(server.url, token, truth, k=3, seed=3, workers=1).run(requests)
    assert result.refused == 0 and result.requests == 1500
    _wait_for_log(server, set(result.served["request_id"]))
    # The feedback table holds every click the simulator sent (the service wrote it). Only the
    # simulator's requests are evaluated: the module's other tests ranked without clicking, and
    # their rows would read as misses the truth does not count.
    logged = logged_slots(settings, LogSource.service, settings.experiments.top_k, None, 0)
    simulated = logged.frame["request_id"].isin(set(result.served["request_id"]))
    assert simulated.any()
    slots = LoggedSlots(logged.frame[simulated].reset_index(drop=True), logged.source, logged.k)
    evaluation = evaluate_slots(
        settings, slots, ["champion", "challenger", "smartscore"], resamples=1000
    )
    requests_frame = evaluation.slots.frame.drop_duplicates("request_id")[
        ["request_id", "customer_id", "request_timestamp", "channel"]
    ]
    covered, total, missed = 0, 0, []
    for ranker in evaluation.rankers:
        true = true_click_rate(truth, requests_frame, evaluation.targets[ranker.ranker])
        for name, e in ranker.estimates.items():
            covered += e.low <= true <= e.high
            total += 1
            if not e.low <= true <= e.high:
                missed.append(ranker.ranker)
            print(
                f"{ranker.ranker} {name} [{e.low:.4f} {e.value:.4f} {e.high:.4f}] true {true:.4f}"
            )
    print(f"coverage on simulated logs: {covered}/{total}")
    assert covered >= total - 2, missed

    plan_ = load_experiments(settings.experiments.file)
    ab = ab_readout(settings, plan_.experiments[0], 3, 0.95)
    assert ab.split_ok and {a.arm for a in ab.arms} == {"control", "treatment"}
    assert all(a.rankings > 0 for a in ab.arms)
    interleaved = interleaving_readout(settings, plan_.experiments[1], 3)
    assert interleaved.preference is not None
    assert interleaved.preference.wins_a + interleaved.preference.wins_b > 0

    done = subprocess.run(
        [SMARTSTACK, "experiments", "readout"],
        env=project_environment(**settings.environment()),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "challenger-ab" in done.stderr and "rules-interleaved" in done.stderr
    assert "shadow:" in done.stderr
    client = server.registry.client()
    experiment = client.get_experiment_by_name(settings.experiments.tracking_experiment)
    runs = client.search_runs([experiment.experiment_id], "tags.kind = 'readout'")
    assert {r.data.params["experiment"] for r in runs} == {"challenger-ab", "rules-interleaved"}
    ab_run = next(r for r in runs if r.data.params["experiment"] == "challenger-ab")
    assert {"control_click_rate", "treatment_click_rate", "srm_p_value"} <= set(ab_run.data.metrics)


def test_the_simulators_plan_is_seeded_and_inside_its_window(built: BuiltHome) -> None:
    truth = HiddenUtility.from_data(built.data_dir)
    at = snapshot_time(built.settings)
    requests = plan(truth.customer_ids(), 50, at, timedelta(days=2), seed=1)
    assert all(at - timedelta(days=2) <= r.at <= at - timedelta(hours=1) for r in requests)
    assert plan(truth.customer_ids(), 50, at, timedelta(days=2), seed=1) == requests
