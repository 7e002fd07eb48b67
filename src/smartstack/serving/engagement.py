"""``POST /engagement``: a customer's streak, badges, next badges and whether the quiz is due.

Read from the engagement store the stream processor (or, without a broker, the service
itself) keeps; the quiz's questions come with the answer when it is due, so the app needs one
call to show everything.

A customer who has not consented to personalization gets no profile: no streak, badges,
progress or quiz prompt (the quiz feeds personal rankings), and ``limited_by`` says why. Their
consent is read from the online store on every request, so a change shows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from smartstack.engagement.quiz import Question, Quiz, quiz_due
from smartstack.engagement.state import CustomerEngagement, iso_week, next_badges
from smartstack.engagement.store import EngagementStore
from smartstack.events.contracts import CustomerId
from smartstack.privacy.purposes import Consent, Purpose
from smartstack.serving.metrics import CONSENT_LIMITED
from smartstack.serving.schemas import LIMITED_BY


class EngagementRequest(BaseModel):
    # Strict like /rank's request: a number is not a timestamp.
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: CustomerId
    timestamp: datetime | None = Field(
        None, description="The moment to evaluate the streak at (default: now)."
    )


class Streak(BaseModel):
    current_weeks: int = Field(description="Weeks in a row up to this week (or last week).")
    longest_weeks: int
    last_week: str | None = Field(description="ISO week of the last qualifying action.")
    weeks_since_last: int | None = Field(description="0: this week; null: never.")


class EarnedBadgeOut(BaseModel):
    id: str
    title: str
    earned_at: datetime


class BadgeProgress(BaseModel):
    id: str
    title: str
    description: str
    value: int
    target: int
    progress: float = Field(ge=0, le=1)


class QuizStatus(BaseModel):
    due: bool
    last_answered_at: datetime | None
    version: int
    questions: list[Question] = Field(description="Only when due: what to ask.")


class EngagementResponse(BaseModel):
    customer_id: str
    rules_version: int
    streak: Streak
    badges: list[EarnedBadgeOut]
    next_badges: list[BadgeProgress]
    withheld_spending: int = Field(
        description="Redemptions that earned nothing because the customer's recent spend was "
        "rising sharply against their own baseline (the guardrail)."
    )
    quiz: QuizStatus
    limited_by: list[Purpose] = Field(default_factory=list, description=LIMITED_BY)


class UnknownCustomer(LookupError):
    """Neither engagement nor the feature store knows the customer (HTTP 404)."""


class EngagementView:
    def __init__(
        self,
        store: EngagementStore,
        quiz: Quiz,
        quiz_interval_days: int,
        known: Callable[[str], bool],
        answered_at: Callable[[str], datetime | None],
        consent: Callable[[str], tuple[bool | None, Consent]] | None = None,
    ) -> None:
        """``consent``: whether the online store knows the customer (None: it could not be
        read) and their consent, in one read; None: everyone consents."""
        self._store = store
        self._quiz = quiz
        self._interval = quiz_interval_days
        self._known = known
        self._answered_at = answered_at
        self._consent = consent

    def read(self, request: EngagementRequest) -> EngagementResponse:
        customer = request.customer_id
        now = request.timestamp or datetime.now(UTC)
        state = self._store.get(customer)
        known, consent = self._consent(customer) if self._consent else (None, Consent())
        if state is None:
            if not (self._known(customer) if known is None else known):
                raise UnknownCustomer(f"customer_id: no customer {customer!r} is known")
            state = CustomerEngagement(customer)
        rules = self._store.rules
        if not consent.personalization:
            return self._no_profile(customer, rules.version)
        # Answers given before engagement existed (the data set's history) count too.
        last_answer = max(
            (t for t in (state.last_quiz_at, self._answered_at(customer)) if t), default=None
        )
        due = quiz_due(last_answer, now, self._interval)
        return EngagementResponse(
            customer_id=customer,
            rules_version=rules.version,
            streak=Streak(
                current_weeks=state.current_streak(now),
                longest_weeks=state.longest_streak,
                last_week=iso_week(state.weeks[-1]) if state.weeks else None,
                weeks_since_last=state.weeks_since_last(now),
            ),
            badges=[
                EarnedBadgeOut(id=b.id, title=b.title, earned_at=b.earned_at)
                for b in sorted(state.badges.values(), key=lambda b: (b.earned_at, b.id))
            ],
            next_badges=[
                BadgeProgress(
                    id=p.badge.id,
                    title=p.badge.title,
                    description=p.badge.description,
                    value=p.value,
                    target=p.badge.target,
                    progress=p.fraction,
                )
                for p in next_badges(state, rules)
            ],
            withheld_spending=state.withheld,
            quiz=QuizStatus(
                due=due,
                last_answered_at=last_answer,
                version=self._quiz.version,
                questions=list(self._quiz.questions) if due else [],
            ),
        )

    def _no_profile(self, customer: str, rules_version: int) -> EngagementResponse:
        """What a customer without consent to personalization sees: nothing about them."""
        CONSENT_LIMITED.labels(purpose=Purpose.personalization.value).inc()
        return EngagementResponse(
            customer_id=customer,
            rules_version=rules_version,
            streak=Streak(current_weeks=0, longest_weeks=0, last_week=None, weeks_since_last=None),
            badges=[],
            next_badges=[],
            withheld_spending=0,
            quiz=QuizStatus(
                due=False, last_answered_at=None, version=self._quiz.version, questions=[]
            ),
            limited_by=[Purpose.personalization],
        )

    def close(self) -> None:
        self._store.close()
