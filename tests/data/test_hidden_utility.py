"""The evaluation-only truth: the generator's own funnel, for any customer, offer, time and slot.

An off-policy estimate is judged against what :class:`HiddenUtility` says a policy is worth, so
it has to give exactly what the generator drew the logged outcomes from.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smartstack.datasets.synthetic.generator import GeneratorConfig, generate
from smartstack.datasets.synthetic.truth import HiddenUtility
from smartstack.paths import PROJECT_ROOT

# Two chunks, so that chunk-local customer indices and global ones both have to line up.
CONFIG = GeneratorConfig(customers=400, seed=5, chunk_size=200)
US = pd.Timedelta(microseconds=1)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hidden-utility")
    generate(CONFIG, out, workers=1)
    return out


@pytest.fixture(scope="module")
def truth(generated: Path) -> HiddenUtility:
    return HiddenUtility.from_data(generated)


@pytest.fixture(scope="module")
def logged(generated: Path) -> pd.DataFrame:
    """Every logged impression with the generator's truth for it."""
    impressions = pd.read_parquet(generated / "raw" / "impressions")
    return impressions.merge(
        pd.read_parquet(generated / "ground_truth" / "impression_truth"), on="impression_id"
    )


def _reproduces(truth: HiddenUtility, logged: pd.DataFrame) -> None:
    ids = (logged["customer_id"].to_numpy(), logged["offer_id"].to_numpy())
    slot = (logged["channel"].to_numpy(), logged["position"].to_numpy())
    at = logged["shown_at"]  # pandas, UTC
    exact = {"rtol": 0, "atol": 1e-9}
    np.testing.assert_allclose(truth.utility(*ids, at), logged["true_utility"], **exact)
    np.testing.assert_allclose(truth.p_click(*ids, at, *slot), logged["p_click"], **exact)
    naive = at.dt.tz_localize(None).to_numpy().astype("datetime64[us]")  # numpy, taken as UTC
    np.testing.assert_allclose(truth.p_redeem(*ids, naive, *slot), logged["p_redeem"], **exact)


def test_reproduces_every_logged_impressions_truth(
    truth: HiddenUtility, logged: pd.DataFrame
) -> None:
    assert len(logged) > 5_000
    _reproduces(truth, logged)


def test_reproduces_a_data_set_without_quiz_answers(tmp_path: Path) -> None:
    """Seed 0 gives one customer who never answers the quiz: no stated match anywhere."""
    counts = generate(GeneratorConfig(customers=1, seed=0), tmp_path, workers=1)
    assert counts["quiz_responses"] == 0
    impressions = pd.read_parquet(tmp_path / "raw" / "impressions")
    logged = impressions.merge(
        pd.read_parquet(tmp_path / "ground_truth" / "impression_truth"), on="impression_id"
    )
    _reproduces(HiddenUtility.from_data(tmp_path), logged)


def test_unknown_ids_raise_naming_them(truth: HiddenUtility, logged: pd.DataFrame) -> None:
    row = logged.iloc[0]
    at = pd.Series([row["shown_at"]] * 2)
    with pytest.raises(KeyError, match="CUST-9999999"):
        truth.utility(np.array([row["customer_id"], "CUST-9999999"]), np.array(["OFR-001"] * 2), at)
    with pytest.raises(KeyError, match="OFR-777"):
        truth.p_click(
            np.array([row["customer_id"]] * 2),
            np.array(["OFR-001", "OFR-777"]),
            at,
            np.array(["app", "app"]),
            np.array([1, 2]),
        )
    with pytest.raises(KeyError, match="CUST-9999999"):
        truth.eligible_offers("CUST-9999999", row["shown_at"])


def test_a_quiz_answer_naming_the_category_raises_the_utility_from_the_next_instant(
    generated: Path, truth: HiddenUtility
) -> None:
    """The answer counts strictly after it is given, and adds the stated-match term (0.6),
    where the customer's previous answer named another category."""
    answers = pd.read_parquet(generated / "raw" / "quiz_responses").sort_values(
        ["customer_id", "answered_at"]
    )
    previous = answers.groupby("customer_id")["favourite_category"].shift()
    answers = answers[previous.ne(answers["favourite_category"])]
    offers = pd.read_parquet(
        generated / "raw" / "offers", columns=["offer_id", "merchant_category"]
    )
    offer_of = offers.drop_duplicates("merchant_category").set_index("merchant_category")
    customers = answers["customer_id"].to_numpy()
    offer_ids = offer_of.loc[answers["favourite_category"], "offer_id"].to_numpy()
    answered_at = answers["answered_at"].reset_index(drop=True)
    assert len(answers) > 100

    before = truth.utility(customers, offer_ids, answered_at - US)
    at = truth.utility(customers, offer_ids, answered_at)
    after = truth.utility(customers, offer_ids, answered_at + US)
    # A microsecond of recency moves the utility by about 1e-12; the answer moves it by 0.6.
    np.testing.assert_allclose(at - before, 0.0, atol=1e-9)
    np.testing.assert_allclose(after - at, 0.6, atol=1e-9)


def test_the_slot_and_channel_move_the_view_not_the_utility(
    truth: HiddenUtility, logged: pd.DataFrame
) -> None:
    rows = logged.head(200)
    ids = (rows["customer_id"].to_numpy(), rows["offer_id"].to_numpy(), rows["shown_at"])
    n = len(rows)

    def p_click(channel: str, position: int) -> np.ndarray:
        return truth.p_click(*ids, np.full(n, channel), np.full(n, position))

    np.testing.assert_allclose(p_click("app", 6) / p_click("app", 1), 0.97**5, rtol=1e-12)
    assert (p_click("app", 1) > p_click("web", 1)).all()
    assert (p_click("web", 1) > p_click("email", 1)).all()
    redeem_per_click = truth.p_redeem(*ids, np.full(n, "email"), np.full(n, 3)) / p_click(
        "email", 3
    )
    utility = truth.utility(*ids)
    np.testing.assert_allclose(redeem_per_click, 1 / (1 + np.exp(-(utility + 1))), rtol=1e-12)


def test_every_logged_slate_comes_from_the_eligible_offers(
    generated: Path, truth: HiddenUtility, logged: pd.DataFrame
) -> None:
    cards = pd.read_parquet(generated / "raw" / "customers").set_index("customer_id")
    slates = logged.groupby("request_id").agg(
        customer_id=("customer_id", "first"),
        shown_at=("shown_at", "first"),
        offers=("offer_id", set),
    )
    for slate in slates.itertuples():
        eligible = truth.eligible_offers(slate.customer_id, slate.shown_at)
        assert slate.offers <= set(eligible), slate
        if cards.loc[slate.customer_id, "card_product"] != "Platinum":
            assert "OFR-903" not in eligible  # the Platinum-only hotel offer


def test_lists_every_customer_and_needs_the_ground_truth(
    generated: Path, truth: HiddenUtility, tmp_path: Path
) -> None:
    customers = pd.read_parquet(generated / "raw" / "customers", columns=["customer_id"])
    assert truth.customer_ids().tolist() == customers["customer_id"].tolist()
    shutil.copytree(generated / "raw", tmp_path / "raw")  # a landed data set: no hidden truth
    with pytest.raises(FileNotFoundError):
        HiddenUtility.from_data(tmp_path)


def test_serving_never_imports_the_truth() -> None:
    """The truth reads ``ground_truth/``; a ranking that could see it would score itself."""
    serving = PROJECT_ROOT / "src" / "smartstack" / "serving"
    importers = [
        path.name
        for path in sorted(serving.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom | ast.Import)
        and any(
            name.startswith("smartstack.datasets.synthetic.truth")
            for name in [getattr(node, "module", None) or "", *(a.name for a in node.names)]
        )
    ]
    assert importers == []
