"""Consent by purpose and erasure requests on the event paths: the contracts, the embedded path
(landed, online within the call, audited without the customer's id), the stream (erased
customers' events dropped, requests recorded), and the batch side (the raw table's consent in
the mart and the online store, a live change kept over a materialization)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from smartstack.events.consent_table import ConsentTable
from smartstack.events.contracts import (
    ConsentEvent,
    ContractViolation,
    ErasureEvent,
    QuizAnswerEvent,
    Topic,
    parse,
    serialize,
)
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.online_consent import (
    ConsentRow,
    OnlineConsentWriter,
    restore_live_consent,
)
from smartstack.events.online_quiz import OnlineQuizWriter
from smartstack.events.online_writer import OnlineSpendWriter
from smartstack.events.privacy_feed import PrivacyRecords
from smartstack.events.processor import StreamProcessor
from smartstack.events.producers import DirectEventWriter
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.events.recent_spend import RecentSpendState
from smartstack.featurestore import store
from smartstack.privacy.purposes import CONSENT_COLUMNS
from smartstack.settings import Settings
from tests.conftest import BuiltHome
from tests.events.helpers import feedback_event, publish_events, transaction
from tests.events.test_processor import run_until

T0 = datetime(2026, 7, 1, 9, tzinfo=UTC)
FEATURES = [f"customer_consent:{c}" for c in CONSENT_COLUMNS.values()]


def consent(n: int, customer: str, at: datetime, *given: bool, source: str = "app") -> ConsentEvent:
    personalization, llm_messaging, analytics = given
    return ConsentEvent(
        event_id=f"c{n}", customer_id=customer, changed_at=at, personalization=personalization,
        llm_messaging=llm_messaging, analytics=analytics, source=source,
    )  # fmt: skip


def online(settings: Settings, *customers: str) -> list[list[int | None]]:
    """Each customer's three consent values in the online store."""
    rows = (
        store.get_store(settings)
        .get_online_features(FEATURES, [{"customer_id": c} for c in customers])
        .to_dict()
    )
    return [[rows[c][i] for c in CONSENT_COLUMNS.values()] for i in range(len(customers))]


def interactions(home: Path, settings: Settings) -> Interactions:
    feature_store = store.get_store(settings)
    return Interactions(
        FeedbackTable(home / "feedback"),
        QuizAnswerTable(home / "quiz"),
        OnlineQuizWriter(feature_store),
        None,
        consent=ConsentTable(home / "consent"),
        consent_online=OnlineConsentWriter(feature_store),
        privacy=PrivacyRecords.from_settings(settings),
    )


# -- contracts ---------------------------------------------------------------------------------
def test_a_consent_event_is_strict_and_names_the_bad_field() -> None:
    good = consent(1, "CUST-A", T0, True, False, True).model_dump(mode="json")
    event = consent(1, "CUST-A", T0, True, False, True)
    assert parse(Topic.consent.value, serialize(event)) == event
    for field, value in (("personalization", "yes"), ("analytics", 1), ("source", "")):
        with pytest.raises(ContractViolation, match=field):
            parse(Topic.consent.value, pd.Series({**good, field: value}).to_json().encode())
    with pytest.raises(ValidationError, match="llm_messaging"):
        ConsentEvent.model_validate({k: v for k, v in good.items() if k != "llm_messaging"})
    with pytest.raises(ContractViolation, match="purpose"):
        parse(Topic.consent.value, pd.Series({**good, "purpose": "x"}).to_json().encode())
    with pytest.raises(ContractViolation, match="requested_at"):
        parse(Topic.erasure.value, b'{"event_id": "e1", "customer_id": "CUST-A"}')
    erasure = parse(
        Topic.erasure.value,
        b'{"event_id":"e1","customer_id":"C","requested_at":"2026-07-01T09:00:00"}',
    )  # noqa: E501
    assert isinstance(erasure, ErasureEvent) and erasure.requested_at.tzinfo is not None


# -- embedded (no broker) ----------------------------------------------------------------------
def test_a_consent_change_lands_goes_online_and_is_audited_without_the_id(
    feast_home: Path,
) -> None:
    settings = Settings(home=feast_home)
    applied = interactions(feast_home, settings)
    writer = DirectEventWriter(applied)
    writer.send(consent(1, "CUST-A", T0, True, True, True))
    writer.send(consent(2, "CUST-A", T0 + timedelta(hours=1), False, True, False, source="crm"))
    writer.send(consent(2, "CUST-A", T0 + timedelta(hours=1), False, True, False, source="crm"))

    assert online(settings, "CUST-A") == [[0, 1, 0]]
    landed = applied.consent.read() if applied.consent else None
    assert landed is not None and landed.column("event_id").to_pylist() == ["c1", "c2"]
    records = [r for r in applied.privacy.audit.records() if r["action"] == "consent"]  # type: ignore[union-attr]
    assert [(r["actor"], r["details"]["personalization"]) for r in records] == [
        ("app", True),
        ("crm", False),
    ]  # the redelivered copy is not audited twice
    assert records[0]["details"]["customer"] == applied.privacy.audit.customer("CUST-A")  # type: ignore[union-attr]
    assert "CUST-A" not in applied.privacy.audit.path.read_text()  # type: ignore[union-attr]
    assert applied.privacy.audit.verify() == []  # type: ignore[union-attr]

    # An erased customer's event is dropped: nothing lands, nothing changes online.
    applied.privacy.suppression.add("CUST-A")  # type: ignore[union-attr]
    writer.send(consent(3, "CUST-A", T0 + timedelta(hours=2), True, True, True))
    assert online(settings, "CUST-A") == [[0, 1, 0]]
    assert applied.consent.read().num_rows == 2  # type: ignore[union-attr]
    applied.close()


def test_a_customer_who_refuses_personalization_is_not_profiled(feast_home: Path) -> None:
    settings = Settings(home=feast_home)
    applied = Interactions.from_settings(settings, store.get_store(settings))
    writer = DirectEventWriter(applied)
    writer.send(consent(1, "CUST-NO", T0, False, True, True))
    writer.send(consent(2, "CUST-YES", T0, True, True, True))
    for n, customer in enumerate(("CUST-NO", "CUST-YES")):
        writer.send(feedback_event(f"f{n}", "click", customer, "OFF-1", T0 + timedelta(hours=1)))
    engagement = applied.engagement
    assert engagement is not None
    assert engagement.store.get("CUST-NO") is None  # landed, not profiled
    assert engagement.store.get("CUST-YES") is not None
    assert sorted(applied.feedback.read().column("customer_id").to_pylist()) == [
        "CUST-NO",
        "CUST-YES",
    ]
    # Consent given again: the next activity is counted.
    writer.send(consent(3, "CUST-NO", T0 + timedelta(hours=2), True, True, True))
    writer.send(feedback_event("f9", "click", "CUST-NO", "OFF-1", T0 + timedelta(hours=3)))
    assert engagement.store.get("CUST-NO") is not None
    applied.close()


def test_a_materialized_older_consent_does_not_hide_a_live_change(feast_home: Path) -> None:
    settings = Settings(home=feast_home)
    applied = interactions(feast_home, settings)
    snapshot = T0
    applied.land([], [], [consent(1, "CUST-L", snapshot + timedelta(hours=3), False, False, True)])
    writer = OnlineConsentWriter(store.get_store(settings))
    # What a materialization of the mart does on SQLite: the older record written last.
    writer.write([ConsentRow("CUST-L", snapshot - timedelta(days=30), True, True, True)])
    assert online(settings, "CUST-L") == [[1, 1, 1]]
    assert restore_live_consent(applied.consent, writer, snapshot) == 1  # type: ignore[arg-type]
    assert online(settings, "CUST-L") == [[0, 0, 1]]
    applied.close()


# -- the stream --------------------------------------------------------------------------------
def test_the_stream_records_erasures_and_drops_erased_customers_events(
    broker: str, feast_home: Path
) -> None:
    settings = Settings(home=feast_home)
    applied = interactions(feast_home, settings)
    privacy = applied.privacy
    assert privacy is not None
    privacy.suppression.add("CUST-OLD")  # erased before
    feature_store = store.get_store(settings)
    answer = QuizAnswerEvent(
        event_id="q1", customer_id="CUST-E", answered_at=T0, favourite_category="travel",
        reward_preference="rewards", planning_travel=True,
    )  # fmt: skip
    published = publish_events(broker, Topic.erasure, [ErasureEvent(
        event_id="e1", customer_id="CUST-E", requested_at=T0)])  # fmt: skip
    published += publish_events(broker, Topic.consent, [
        consent(1, "CUST-E", T0, False, False, False),
        consent(2, "CUST-OLD", T0, True, True, True),
        consent(3, "CUST-K", T0, True, False, True),
    ])  # fmt: skip
    published += publish_events(broker, Topic.quiz, [answer])
    published += publish_events(broker, Topic.feedback, [
        feedback_event("f1", "click", "CUST-OLD", "OFR-1", T0)])  # fmt: skip
    published += publish_events(broker, Topic.transactions, [
        transaction(1, "CUST-E", T0, "dining", 10.0),
        transaction(2, "CUST-K", T0, "dining", 12.0),
    ])  # fmt: skip
    processor = StreamProcessor(
        broker,
        RecentSpendState(feast_home / "state.sqlite"),
        OnlineSpendWriter(feature_store),
        applied,
        group="test-consent",
        max_batch=100,  # one batch: the erasure drops the same batch's events
        batch_wait=1.0,
    )
    totals = run_until(processor, published)

    assert totals.erasures == 1
    assert privacy.requests.get("CUST-E") is not None and "CUST-E" in privacy.suppression
    assert totals.consent_landed == 1  # CUST-K only
    assert applied.consent.read().column("customer_id").to_pylist() == ["CUST-K"]  # type: ignore[union-attr]
    assert applied.quiz.read().num_rows == 0 and applied.feedback.read().num_rows == 0
    assert totals.transactions == 1
    assert totals.suppressed >= 4  # CUST-E: consent, transaction (+ quiz); CUST-OLD: 2
    assert online(settings, "CUST-K", "CUST-E") == [[1, 0, 1], [None, None, None]]
    actions = [r["action"] for r in privacy.audit.records()]
    assert actions.count("erasure_requested") == 1 and actions.count("consent") == 1
    text = privacy.audit.path.read_text()
    assert "CUST-E" not in text and "CUST-K" not in text
    applied.close()


# -- the batch side ----------------------------------------------------------------------------
def test_raw_consent_reaches_the_mart_and_online_store_and_a_live_change_survives(
    built: BuiltHome, tmp_path: Path
) -> None:
    mart = pd.read_parquet(built.settings.features_dir / "customer_consent.parquet")
    customers = pd.read_parquet(built.data_dir / "raw" / "customers")
    assert set(mart.customer_id) == set(customers.customer_id)
    assert (mart[list(CONSENT_COLUMNS.values())] == 1).all().all()
    some = sorted(customers.customer_id)[:2]
    assert online(built.settings, *some) == [[1, 1, 1], [1, 1, 1]]

    from smartstack.cli.feast import _restore_live_rows

    settings = built.copy(tmp_path / "home")
    applied = Interactions.from_settings(settings, store.get_store(settings))
    now = datetime.now(UTC)
    DirectEventWriter(applied).send(consent(1, some[0], now, False, True, True))
    assert online(settings, some[0]) == [[0, 1, 1]]
    # A materialization loads the mart again (the record: all given) ...
    end = store.snapshot_time(settings) + timedelta(seconds=1)
    store.get_store(settings).materialize(
        start_date=end - timedelta(days=3650), end_date=end, feature_views=["customer_consent"]
    )
    # ... and the CLI's step after it writes the live change again.
    _restore_live_rows(settings, end)
    assert online(settings, *some) == [[0, 1, 1], [1, 1, 1]]
    applied.close()
