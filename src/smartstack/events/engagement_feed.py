"""Feedback and quiz answers as engagement activities, applied to the engagement store.

The stream processor calls :meth:`EngagementFeed.apply` with each micro-batch's events (every
valid one, landed before or not: the store counts an id once, so a batch redelivered after a
crash adds nothing twice); the service does the same when no broker is configured, and
``smartstack engagement rebuild`` with the landed tables. Only what engagement counts becomes
an activity: redemptions, ratings, clicks and quiz answers.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence

from feast import FeatureStore

from smartstack.datasets import active
from smartstack.engagement.rules import Action, load_rules
from smartstack.engagement.signals import OfferCategories, ProfilingConsent, SpendGuard
from smartstack.engagement.state import Activity
from smartstack.engagement.store import Applied, EngagementStore, open_store
from smartstack.events.contracts import FeedbackEvent, FeedbackKind, QuizAnswerEvent
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.landed import LandedEvents
from smartstack.events.privacy_feed import count_dropped, drop_suppressed
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.privacy.suppression import SuppressionList
from smartstack.settings import Settings

_ACTIONS = {
    FeedbackKind.redeem: Action.redeem,
    FeedbackKind.rating: Action.rating,
    FeedbackKind.click: Action.click,
}
# Offer id -> merchant category (None: not in the catalogue).
Categories = Callable[[str], str | None]


def activities(
    feedback: Sequence[FeedbackEvent], quiz: Sequence[QuizAnswerEvent], categories: Categories
) -> list[Activity]:
    """The events engagement counts, feedback first, each source in its own order. Ids are
    prefixed by source: a feedback id and a quiz id may be equal."""
    found = [
        Activity(
            f"feedback:{event.event_id}",
            event.customer_id,
            action,
            event.occurred_at,
            categories(event.offer_id) if action is Action.redeem else None,
            event.timezone,
        )
        for event in feedback
        if (action := _ACTIONS.get(event.kind)) is not None
    ]
    found += [
        Activity(
            f"quiz:{event.event_id}",
            event.customer_id,
            Action.quiz,
            event.answered_at,
            None,
            event.timezone,
        )
        for event in quiz
    ]
    return found


class EngagementFeed:
    """Applies events to the store, with the guardrail's verdict for the spending customers."""

    def __init__(
        self,
        store: EngagementStore,
        guard: SpendGuard,
        categories: Categories,
        suppression: SuppressionList | None = None,
        consent: ProfilingConsent | None = None,
    ) -> None:
        self.store = store
        self.guard = guard
        self._categories = categories
        # Customers who refuse personalization are not profiled: their activity is not counted.
        self.consent = consent
        # Erased customers, whose landed events a rebuild leaves out (the live paths drop
        # their events before they reach the feed).
        self.suppression = suppression

    @classmethod
    def from_settings(cls, settings: Settings, feature_store: FeatureStore) -> EngagementFeed:
        """The configured store and rule file (raises ``RuleFileError`` for a bad file)."""
        store = open_store(settings, load_rules(settings.engagement.rules))
        return cls.from_store(store, feature_store, settings)

    @classmethod
    def from_store(
        cls, store: EngagementStore, feature_store: FeatureStore, settings: Settings
    ) -> EngagementFeed:
        """A feed into ``store``, with the guardrail and offer categories of the feature store."""
        return cls(
            store,
            SpendGuard(feature_store, store.rules.guardrail),
            OfferCategories(feature_store, active(settings)).category,
            SuppressionList.from_settings(settings),
            ProfilingConsent(feature_store, settings.privacy.unrecorded_consent),
        )

    def close(self) -> None:
        self.guard.close()
        self.store.close()
        if self.consent is not None:
            self.consent.close()
        if self.suppression is not None:
            self.suppression.close()

    def apply(
        self, feedback: Sequence[FeedbackEvent] = (), quiz: Sequence[QuizAnswerEvent] = ()
    ) -> Applied:
        """Count what was not counted before, for the customers who allow profiling."""
        found = activities(feedback, quiz, self._categories)
        if self.consent is not None and found:
            refused = self.consent.refused(a.customer_id for a in found)
            found = [a for a in found if a.customer_id not in refused]
        guardrail = self.store.rules.guardrail
        spending = (
            {a.customer_id for a in found if a.action in guardrail.spending_actions}
            if guardrail
            else set()
        )
        return self.store.apply(found, self.guard.rising(spending))


def _landed_batches(
    table: LandedEvents, contract: type[FeedbackEvent] | type[QuizAnswerEvent]
) -> Iterator[tuple[object, int, list]]:
    """``(landed_at, source rank, events)`` per landed part, in landing order."""
    rank = 0 if contract is FeedbackEvent else 1  # the processor lands feedback first
    for part in table.parts():
        if not part.num_rows:
            continue
        rows = part.drop_columns(["landed_at"]).to_pylist()
        events = [
            contract.model_validate({k: v for k, v in row.items() if v is not None}) for row in rows
        ]
        yield part.column("landed_at")[0].as_py(), rank, events


def replay(
    feedback: FeedbackTable,
    quiz: QuizAnswerTable,
    feed: EngagementFeed,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Count every landed event again, batch by landed batch in landing order (the order the
    live path counted them in); returns how many activities were new to the store. Events of
    customers on the feed's suppression list are left out (one look-up per landed batch)."""
    counted = 0
    merged = heapq.merge(
        _landed_batches(feedback, FeedbackEvent),
        _landed_batches(quiz, QuizAnswerEvent),
        key=lambda item: (item[0], item[1]),
    )
    for _, rank, events in merged:
        if feed.suppression is not None:
            erased = feed.suppression.suppressed(e.customer_id for e in events)
            if erased:
                kept = drop_suppressed(events, erased)
                count_dropped("rebuild", len(events) - len(kept), len(erased))
                events = kept
        applied = feed.apply(events, []) if rank == 0 else feed.apply([], events)
        counted += applied.new
        if on_batch:
            on_batch(counted)
    return counted
