"""The customer's web app in a real headless Chromium (Debian's, driven by Playwright) against
the real service over HTTP: sign-in, offers with explanations, feedback into the feedback table,
a streak over two weeks of a controlled clock, the quiz moving the ranking, the error state of
a stopped service, and another customer's data refused."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import (
    TEST_SERVING,
    Dataset,
    Registry,
    Server,
    configured,
    register_responsive_champion,
)
from playwright.sync_api import Browser, Page, expect, sync_playwright

from smartstack.engagement.rules import load_rules
from smartstack.engagement.signals import SpendGuard
from smartstack.events.feedback_table import FeedbackTable
from smartstack.featurestore import store
from smartstack.paths import WEB_DIR
from smartstack.settings import Settings

pytestmark = pytest.mark.slow

AXE = WEB_DIR / "node_modules" / "axe-core" / "axe.min.js"
# Inside the data set's offers (2026-05-01 to 2026-06-30): a Wednesday, and one a week later.
WEEK_ONE = datetime(2026, 6, 17, 12, tzinfo=UTC)
WEEK_TWO = datetime(2026, 6, 24, 12, tzinfo=UTC)
PHONE = {"width": 390, "height": 844}


def _chromium() -> str:
    path = os.environ.get("SMARTSTACK_CHROMIUM") or shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed in CI (.ci/run installs Debian's package)")
        pytest.skip("no chromium: `apt-get install chromium` for the browser tests")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


def _settings(dataset: Dataset, home: Path) -> Settings:
    """The app on the wall clock (the tests set the browser's), no frequency cap (the tests
    load the same customer's offers several times)."""
    return configured(
        dataset.built.copy(home),
        serving={**TEST_SERVING, "frequency_cap": 0},
        web={"clock": "wall"},
    )


@pytest.fixture(scope="module")
def app_server(
    dataset: Dataset, web_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("web")
    settings = _settings(dataset, root / "home")
    register_responsive_champion(
        Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root), dataset
    )
    server = Server(settings, root / "server.log")
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def open_as(page: Page, server: Server, customer: str, at: datetime) -> dict:
    """The app signed in as ``customer`` at ``at`` (the browser's clock), its first ``/rank``
    answer returned. The token comes as an identity provider would hand it over."""
    token = server.http.post("/auth/token", json={"customer_id": customer}).json()["token"]
    page.clock.install(time=at)
    with page.expect_response(lambda r: r.url.endswith("/rank")) as ranked:
        page.goto(f"{server.url}/app/#token={token}")
    expect(page.get_by_test_id("offer").first).to_be_visible()
    return ranked.value.json()


def shown(page: Page) -> list[str]:
    return page.get_by_test_id("offer").evaluate_all("els => els.map(e => e.dataset.offerId)")


def offer(page: Page, offer_id: str):  # noqa: ANN201 (a Playwright locator)
    return page.locator(f'[data-testid="offer"][data-offer-id="{offer_id}"]')


def serious_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def feedback_rows(server: Server, customer: str) -> list[dict]:
    table = FeedbackTable.from_settings(server.settings).read().to_pylist()
    return [row for row in table if row["customer_id"] == customer]


def test_sign_in_shows_ranked_offers_with_explanations_accessibly(
    page: Page, app_server: Server, dataset: Dataset
) -> None:
    page.clock.install(time=WEEK_TWO)
    page.goto(f"{app_server.url}/app/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert serious_violations(page) == []
    first = page.get_by_test_id("sign-in-customer").first
    customer = first.get_attribute("data-customer-id")
    with page.expect_response(lambda r: r.url.endswith("/rank")) as ranked:
        first.click()
    answer = ranked.value.json()
    expect(page.get_by_test_id("offer").first).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text(customer)
    assert shown(page) == [o["offer_id"] for o in answer["offers"]]
    top = answer["offers"][0]
    card = offer(page, top["offer_id"])
    expect(card.get_by_role("heading")).to_have_text(top["offer"]["headline"])
    expect(card.get_by_test_id("explanation")).to_have_text(top["explanation"]["text"])
    chips = card.get_by_test_id("reason-chip").all_inner_texts()
    assert chips and all(r["label"] in " ".join(chips) for r in top["reasons"])
    expect(card.get_by_test_id("offer-validity")).to_contain_text("2026")
    assert serious_violations(page) == []
    # Keyboard: Tab reaches the first offer's first action, and Enter sends it.
    for _ in range(12):  # the header's buttons and the explanation's stars come first
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Interested":
            break
    assert card.evaluate("(el) => el.contains(document.activeElement)")
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as sent:
        page.keyboard.press("Enter")
    assert sent.value.status == 200 and sent.value.request.post_data_json["kind"] == "click"
    expect(card).to_contain_text("Saved")
    # A phone-sized screen: one column, nothing wider than the screen.
    page.set_viewport_size(PHONE)
    expect(page.get_by_test_id("offer").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(page) == []


def test_skipping_removes_the_offer_and_a_rating_reaches_the_feedback_table(
    page: Page, app_server: Server, dataset: Dataset
) -> None:
    customer = str(dataset.customers.customer_id.iloc[-21])
    answer = open_as(page, app_server, customer, WEEK_TWO)
    skipped, rated = answer["offers"][0], answer["offers"][1]
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as sent:
        offer(page, skipped["offer_id"]).get_by_role("button", name="Not for me").click()
    assert sent.value.status == 200
    expect(offer(page, skipped["offer_id"])).to_have_count(0)
    assert skipped["offer_id"] not in shown(page)

    card = offer(page, rated["offer_id"])
    card.get_by_role("button", name="4 stars").click()
    expect(card).to_contain_text("Thanks for rating")
    rows = feedback_rows(app_server, customer)
    skips = [r for r in rows if r["kind"] == "skip"]
    ratings = [r for r in rows if r["kind"] == "rating"]
    assert [(r["offer_id"], r["request_id"]) for r in skips] == [
        (skipped["offer_id"], answer["request_id"])
    ]
    assert len(ratings) == 1
    rating, explanation = ratings[0], rated["explanation"]
    assert rating["offer_id"] == rated["offer_id"] and rating["rating"] == 4
    assert rating["template_id"] == explanation["template_id"]
    assert rating["feature_version"] == explanation["feature_version"]


def _unguarded_customer(settings: Settings, dataset: Dataset) -> str:
    """A customer whose redemptions count (their recent spend is not rising sharply)."""
    guard = SpendGuard(store.get_store(settings), load_rules(settings.engagement.rules).guardrail)
    candidates = [str(c) for c in dataset.customers.customer_id.iloc[-40:-30]]
    try:
        held_back = guard.rising(candidates)
    finally:
        guard.close()
    return next(c for c in candidates if c not in held_back)


def test_redeeming_in_two_consecutive_weeks_builds_a_streak_and_earns_a_badge(
    page: Page, app_server: Server, dataset: Dataset
) -> None:
    customer = _unguarded_customer(app_server.settings, dataset)
    first = open_as(page, app_server, customer, WEEK_ONE)["offers"][0]["offer_id"]
    with page.expect_response(lambda r: r.url.endswith("/engagement")):
        offer(page, first).get_by_role("button", name="Redeem").click()
    expect(offer(page, first)).to_contain_text("Redeemed")
    expect(page.get_by_test_id("streak")).to_contain_text("1-week streak")
    expect(page.locator('[data-testid="badge"][data-badge-id="first_redemption"]')).to_be_visible()

    page.clock.set_system_time(WEEK_TWO)
    with page.expect_response(lambda r: r.url.endswith("/rank")) as ranked:
        page.reload()
    second = next(o["offer_id"] for o in ranked.value.json()["offers"] if o["offer_id"] != first)
    offer(page, second).get_by_role("button", name="Redeem").click()
    expect(offer(page, second)).to_contain_text("Redeemed")
    expect(page.get_by_test_id("streak")).to_contain_text("2-week streak")
    redeemed = [r for r in feedback_rows(app_server, customer) if r["kind"] == "redeem"]
    assert sorted(r["occurred_at"].date().isoformat() for r in redeemed) == [
        WEEK_ONE.date().isoformat(),
        WEEK_TWO.date().isoformat(),
    ]


def test_answering_the_quiz_moves_the_ranking(
    page: Page, app_server: Server, dataset: Dataset
) -> None:
    customer = _quiz_due(app_server, dataset)
    before = open_as(page, app_server, customer, WEEK_TWO)
    quiz = page.get_by_test_id("quiz")
    expect(quiz).to_be_visible()
    assert serious_violations(page) == []
    # Name the category of the lowest offer shown: the champion scores it higher when it is the
    # customer's stated favourite (a monotone constraint).
    favourite = dataset.offers.set_index("offer_id").loc[
        before["offers"][-1]["offer_id"], "merchant_category"
    ]
    label = next(
        option["label"]
        for question in _engagement(app_server, customer)["quiz"]["questions"]
        if question["id"] == "favourite_category"
        for option in question["options"]
        if option["value"] == favourite
    )
    quiz.get_by_label(label, exact=True).check()
    quiz.get_by_label("Points I can collect and redeem").check()
    quiz.get_by_label("No", exact=True).check()
    with page.expect_response(lambda r: r.url.endswith("/rank")) as ranked:
        quiz.get_by_role("button", name="Send answers").click()
    expect(page.get_by_text("Thanks! Your offers now reflect your answers.")).to_be_visible()
    after = ranked.value.json()
    scores = {o["offer_id"]: o["score"] for o in after["offers"]}
    moved = [
        o["offer_id"]
        for o in before["offers"]
        if o["offer_id"] in scores and scores[o["offer_id"]] > o["score"]
    ]
    assert moved, "no offer of the stated favourite category gained score"
    expect(page.get_by_test_id("offer").first).to_be_visible()
    assert shown(page) == [o["offer_id"] for o in after["offers"]]
    expect(page.get_by_test_id("quiz")).to_have_count(0)


def _engagement(server: Server, customer: str) -> dict:
    response = server.http.post(
        "/engagement", json={"customer_id": customer, "timestamp": WEEK_TWO.isoformat()}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _quiz_due(server: Server, dataset: Dataset) -> str:
    """A customer whose monthly quiz is due in the second week."""
    candidates = (str(c) for c in dataset.customers.customer_id.iloc[-60:-40])
    return next(c for c in candidates if _engagement(server, c)["quiz"]["due"])


def test_a_token_for_another_customer_is_refused(
    page: Page, app_server: Server, dataset: Dataset
) -> None:
    mine, theirs = (str(c) for c in dataset.customers.customer_id.iloc[-25:-23])
    open_as(page, app_server, mine, WEEK_TWO)
    session = json.loads(page.evaluate("sessionStorage.getItem('smartstack.session')"))
    status = page.evaluate(
        """async ([token, customer]) => (await fetch('/rank', {method: 'POST',
             headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + token},
             body: JSON.stringify({customer_id: customer, context: {channel: 'web'}})})).status""",
        [session["token"], theirs],
    )
    assert status == 403
    # The app itself, told to show another customer with this token, shows a refusal.
    page.evaluate(
        "s => sessionStorage.setItem('smartstack.session', s)",
        json.dumps({**session, "customer_id": theirs}),
    )
    page.reload()
    expect(page.get_by_test_id("error")).to_contain_text("can't see that customer")
    assert page.get_by_test_id("offer").count() == 0


def test_a_stopped_service_shows_an_error_with_a_retry(
    page: Page, dataset: Dataset, web_build: Path, tmp_path: Path
) -> None:
    server = Server(_settings(dataset, tmp_path / "home"), tmp_path / "server.log")
    try:
        open_as(page, server, str(dataset.customers.customer_id.iloc[-26]), WEEK_TWO)
    finally:
        server.stop()
    page.get_by_role("button", name="Refresh").click()
    error = page.get_by_test_id("error")
    expect(error).to_contain_text("can't reach Smart Stack")
    assert serious_violations(page) == []
    # Retry asks again (and still nobody answers).
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/rank")):
        error.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("error")).to_be_visible()
    assert page.get_by_test_id("offers").count() == 0
