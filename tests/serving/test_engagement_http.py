"""`/engagement` and `/quiz` over HTTP in embedded mode (no broker): answers apply at once,
bad input is a 4xx naming the field, an unknown customer a 404."""

from __future__ import annotations

import uuid

from conftest import QUIZ_ONLY_CUSTOMER, Dataset, Server

from smartstack.events.quiz_table import QuizAnswerTable


def _answer(customer: str, **changes: object) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "customer_id": customer,
        "answered_at": "2026-06-29T08:00:00Z",
        "favourite_category": "dining",
        "reward_preference": "discounts",
        "planning_travel": False,
        **changes,
    }


def test_a_quiz_answer_is_stored_once_and_the_quiz_is_no_longer_due(
    sqlite_server: Server, dataset: Dataset
) -> None:
    # A customer no other test ranks: the answer changes their rankings from now on.
    customer = str(dataset.customers.customer_id.iloc[-7])
    body = {"customer_id": customer, "timestamp": "2026-06-29T12:00:00Z"}
    before = sqlite_server.http.post("/engagement", json=body)
    assert before.status_code == 200, before.text
    assert before.json()["quiz"]["due"] is True

    answer = _answer(customer)
    for _ in range(2):  # a client retry
        response = sqlite_server.http.post("/quiz", json=answer)
        assert response.json() == {"event_id": answer["event_id"], "stored": "table", "error": None}
    after = sqlite_server.http.post("/engagement", json=body).json()
    assert after["quiz"]["due"] is False
    assert after["quiz"]["last_answered_at"].startswith("2026-06-29T08:00:00")
    assert [b["id"] for b in after["badges"]] == ["quiz_taker"]
    # A month and a day later it is due again.
    later = sqlite_server.http.post(
        "/engagement", json={"customer_id": customer, "timestamp": "2026-07-30T12:00:00Z"}
    ).json()
    assert later["quiz"]["due"] is True and later["quiz"]["questions"]

    table = QuizAnswerTable.from_settings(sqlite_server.settings)
    ids = table.read().column("event_id").to_pylist()
    assert ids.count(answer["event_id"]) == 1


def test_an_answer_the_online_store_holds_counts_for_the_quiz_being_due(
    sqlite_server: Server,
) -> None:
    """The quiz-only customer's answer (2026-06-28) reached the online store without passing
    through engagement, as the data set's history does."""

    def quiz_at(moment: str) -> dict:
        body = {"customer_id": QUIZ_ONLY_CUSTOMER, "timestamp": moment}
        response = sqlite_server.http.post("/engagement", json=body)
        assert response.status_code == 200, response.text
        return response.json()["quiz"]

    soon = quiz_at("2026-06-29T12:00:00Z")
    assert soon["due"] is False and soon["last_answered_at"].startswith("2026-06-28")
    assert quiz_at("2026-08-01T12:00:00Z")["due"] is True


def test_bad_quiz_answers_are_a_400_naming_the_field(sqlite_server: Server) -> None:
    for change, field in [
        ({"favourite_category": "yachts"}, "favourite_category"),
        ({"reward_preference": "both"}, "reward_preference"),
        ({"planning_travel": "maybe"}, "planning_travel"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"answered_at": "soon"}, "answered_at"),
        ({"colour": "blue"}, "colour"),
    ]:
        response = sqlite_server.http.post("/quiz", json=_answer("CUST-0000007", **change))
        assert response.status_code == 400, (change, response.text)
        assert any(field in map(str, e["loc"]) for e in response.json()["detail"]), response.text


def test_engagement_of_an_unknown_customer_is_a_404(sqlite_server: Server) -> None:
    response = sqlite_server.http.post("/engagement", json={"customer_id": "NOBODY-123"})
    assert response.status_code == 404, response.text
    assert "NOBODY-123" in response.text
    response = sqlite_server.http.post("/engagement", json={"customer_id": "bad id!"})
    assert response.status_code == 400 and "customer_id" in response.text
