"""What happens to a customer's feedback, quiz answers and consent, wherever they arrive.

The stream processor applies each micro-batch through :class:`Interactions`, and the service
does the same for one event when no broker is configured, so both paths land, push and count
alike:

1. feedback into the feedback table, quiz answers into the quiz table (each deduplicated by
   event id);
2. quiz answers into the online store's quiz view, so the next ranking uses them;
3. both into the engagement store (idempotent per event id), and the changed customers'
   engagement signals into the online store's engagement view (where the data set has one);
4. consent changes into the audit log (those not landed before), the consent table and the
   online store's consent view, so what reads consent sees a change within seconds.

Erasure requests and the dropping of erased customers' events are
:mod:`smartstack.events.privacy_feed`; :meth:`Interactions.suppressed` and
:meth:`Interactions.request_erasure` are how the processor and the service reach it.

Every step is idempotent, so a batch applied again after a crash changes nothing twice, and
each store write is retried while its store is briefly unreachable.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
from feast import FeatureStore
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from smartstack.datasets import active
from smartstack.engagement.state import CustomerEngagement
from smartstack.engagement.store import Applied
from smartstack.events.consent_table import ConsentTable
from smartstack.events.contracts import (
    ConsentEvent,
    ErasureEvent,
    FeedbackEvent,
    QuizAnswerEvent,
)
from smartstack.events.engagement_feed import EngagementFeed
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.online_consent import ConsentRow, OnlineConsentWriter
from smartstack.events.online_engagement import OnlineEngagementWriter
from smartstack.events.online_quiz import OnlineQuizWriter, QuizRow
from smartstack.events.privacy_feed import PrivacyRecords
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.settings import Settings

log = logging.getLogger(__name__)

# A store that is restarting or briefly unreachable (Redis, a locked SQLite file).
TRANSIENT_STORE_ERRORS = (
    OSError,
    sqlite3.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# A store write retried while the store is unreachable (each write is idempotent).
store_retry = retry(
    retry=retry_if_exception_type(TRANSIENT_STORE_ERRORS),
    stop=stop_after_delay(20),  # well inside the processor's max.poll.interval.ms (30 s)
    wait=wait_exponential(multiplier=0.2, max=5),
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)


@dataclass(frozen=True)
class Landed:
    feedback: int  # new rows in the feedback table
    quiz: int  # new rows in the quiz table
    counted: int  # new activities in the engagement store
    consent: int = 0  # new rows in the consent table


class NotConfigured(RuntimeError):
    """An event this :class:`Interactions` has no table or store for (a wiring error)."""


class Interactions:
    def __init__(
        self,
        feedback: FeedbackTable,
        quiz: QuizAnswerTable,
        quiz_online: OnlineQuizWriter,
        engagement: EngagementFeed | None,
        engagement_online: OnlineEngagementWriter | None = None,
        *,
        consent: ConsentTable | None = None,
        consent_online: OnlineConsentWriter | None = None,
        privacy: PrivacyRecords | None = None,
    ) -> None:
        self.feedback = feedback
        self.quiz = quiz
        self._quiz_online = quiz_online
        self.engagement = engagement
        self._engagement_online = engagement_online
        self.consent = consent
        self._consent_online = consent_online
        self.privacy = privacy

    @classmethod
    def from_settings(cls, settings: Settings, feature_store: FeatureStore) -> Interactions:
        """The configured tables and stores (``RuleFileError`` for a bad rule file)."""
        view = active(settings).engagement_view
        return cls(
            FeedbackTable.from_settings(settings),
            QuizAnswerTable.from_settings(settings),
            OnlineQuizWriter(feature_store),
            EngagementFeed.from_settings(settings, feature_store),
            OnlineEngagementWriter(feature_store, view) if view else None,
            consent=ConsentTable.from_settings(settings),
            consent_online=OnlineConsentWriter(feature_store),
            privacy=PrivacyRecords.from_settings(settings),
        )

    def suppressed(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these customers are erased: their events are dropped (none without a
        suppression list)."""
        return self.privacy.suppressed(customer_ids) if self.privacy is not None else set()

    def request_erasure(self, events: Sequence[ErasureEvent]) -> set[str]:
        """Record the requests and suppress the customers; returns them."""
        if self.privacy is None:
            raise NotConfigured("erasure events need the privacy records (from_settings)")
        return self.privacy.erasure_requested(events)

    def land(
        self,
        feedback: Sequence[FeedbackEvent],
        answers: Sequence[QuizAnswerEvent],
        consents: Sequence[ConsentEvent] = (),
    ) -> Landed:
        landed_consent = self._land_consent(consents) if consents else 0
        landed_feedback = self.feedback.append(feedback) if feedback else 0
        landed_quiz = self.quiz.append(answers) if answers else 0
        if answers:
            self._write_quiz_online(answers)
        counted = 0
        if self.engagement is not None and (feedback or answers):
            applied = self._count(self.engagement, feedback, answers)
            counted = applied.new
            if self._engagement_online is not None and applied.states:
                self._write_signals(self._engagement_online, applied.states)
        return Landed(landed_feedback, landed_quiz, counted, landed_consent)

    def _land_consent(self, consents: Sequence[ConsentEvent]) -> int:
        """Audit what is new, land it, and write every change online (the newest per customer
        wins, so writing one again is harmless)."""
        if self.consent is None or self._consent_online is None:
            raise NotConfigured("consent events need the consent table and view (from_settings)")
        if self.privacy is not None:
            self.privacy.consent_changed(self.consent.unlanded(consents))  # type: ignore[arg-type]
        landed = self.consent.append(consents)
        self._write_consent_online(self._consent_online, consents)
        return landed

    @staticmethod
    @store_retry
    def _write_consent_online(writer: OnlineConsentWriter, consents: Sequence[ConsentEvent]) -> int:
        return writer.write(ConsentRow.of(c.model_dump()) for c in consents)

    @store_retry
    def _write_quiz_online(self, answers: Sequence[QuizAnswerEvent]) -> int:
        """Every answer, landed before or not: the newest per customer wins in the store, so
        writing one again is harmless."""
        return self._quiz_online.write(QuizRow.of(a.model_dump()) for a in answers)

    @staticmethod
    @store_retry
    def _count(
        feed: EngagementFeed,
        feedback: Sequence[FeedbackEvent],
        answers: Sequence[QuizAnswerEvent],
    ) -> Applied:
        return feed.apply(feedback, answers)

    @staticmethod
    @store_retry
    def _write_signals(writer: OnlineEngagementWriter, states: Sequence[CustomerEngagement]) -> int:
        """The batch's customers' signals, changed or not: a pure function of their state, so
        a batch applied again after a crash writes what the first attempt may not have."""
        return writer.write(states)

    def close(self) -> None:
        self.feedback.close()
        self.quiz.close()
        if self.consent is not None:
            self.consent.close()
        if self.privacy is not None:
            self.privacy.close()
        if self.engagement is not None:
            self.engagement.close()
