"""``smartstack engagement …``: check and apply the rule file, show a customer, rebuild."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from smartstack.cli.console import console, fail, settings_of

app = typer.Typer(
    help="Streaks, badges and the monthly quiz: the rule file, a customer's engagement, and "
    "the store rebuilt from the landed feedback and quiz answers.",
    no_args_is_help=True,
)
RulesFile = Annotated[
    Path | None,
    typer.Argument(help="The rules file (default: the engagement.rules setting)."),
]


@app.command()
def check(ctx: typer.Context, path: RulesFile = None) -> None:
    """Validate a rules file and the quiz file; exit 2 naming the rule and field at fault."""
    from smartstack.engagement.quiz import load_quiz
    from smartstack.engagement.rules import RuleFileError, load_rules

    settings = settings_of(ctx)
    try:
        rules = load_rules(path or settings.engagement.rules)
        quiz = load_quiz(settings.engagement.quiz)
    except RuleFileError as error:
        raise fail(f"{error}.") from None
    active = ", ".join(b.id for b in rules.active)
    console.print(
        f"rules v{rules.version}: {len(rules.active)} active badges ({active}); "
        f"quiz v{quiz.version}: {len(quiz.questions)} questions"
    )


@app.command()
def reevaluate(ctx: typer.Context, path: RulesFile = None) -> None:
    """Put a changed rules file in force for every writer and award the badges it makes due
    (badges of retired rules are kept)."""
    from smartstack.engagement.rules import RuleFileError, load_rules
    from smartstack.engagement.store import open_store
    from smartstack.privacy.audit import AuditLog

    settings = settings_of(ctx)
    try:
        rules = load_rules(path or settings.engagement.rules)
    except RuleFileError as error:
        raise fail(f"{error}.") from None
    store = open_store(settings, rules)
    try:
        awarded = store.reevaluate(rules)
    finally:
        store.close()
    AuditLog.from_settings(settings).append(
        "rules_changed",
        "cli",
        file=str(path or settings.engagement.rules),
        version=rules.version,
        badges_awarded=awarded,
    )
    console.print(
        f"rules v{rules.version} in force; {awarded:,} badge{'' if awarded == 1 else 's'} awarded"
    )


@app.command()
def show(
    ctx: typer.Context, customer_id: Annotated[str, typer.Argument(help="The customer.")]
) -> None:
    """Print a customer's stored engagement as JSON."""
    from smartstack.engagement.rules import load_rules
    from smartstack.engagement.store import open_store

    settings = settings_of(ctx)
    store = open_store(settings, load_rules(settings.engagement.rules))
    try:
        state = store.get(customer_id)
    finally:
        store.close()
    if state is None:
        raise fail(f"no engagement recorded for customer {customer_id!r}.", 1)
    typer.echo(json.dumps(state.to_json(), indent=2))


@app.command()
def rebuild(
    ctx: typer.Context,
    verify: Annotated[
        bool,
        typer.Option(
            help="Rebuild into a scratch store and compare it with the live one instead "
            "(exit 1 naming the customers that differ); the live store is not touched."
        ),
    ] = False,
) -> None:
    """Replay the landed feedback and quiz answers from the start into the engagement store,
    which then holds exactly what the live path computed. Stop the stream processor first
    (or use --verify, which is safe while it runs)."""
    from smartstack.engagement.rules import RuleFileError, load_rules
    from smartstack.engagement.store import SqliteEngagementStore, differences, open_store
    from smartstack.events.engagement_feed import EngagementFeed, replay
    from smartstack.events.feedback_table import FeedbackTable
    from smartstack.events.quiz_table import QuizAnswerTable
    from smartstack.featurestore import store as feature_stores

    settings = settings_of(ctx)
    try:
        rules = load_rules(settings.engagement.rules)
    except RuleFileError as error:
        raise fail(f"{error}.") from None
    feature_store = feature_stores.get_store(settings)
    live = open_store(settings, rules)
    scratch = Path(tempfile.mkdtemp(prefix="engagement-")) / "rebuilt.sqlite" if verify else None
    target = SqliteEngagementStore(scratch, live.rules) if scratch else live
    feed = EngagementFeed.from_store(target, feature_store, settings)
    feedback = FeedbackTable.from_settings(settings)
    quiz = QuizAnswerTable.from_settings(settings)
    try:
        if not verify:
            target.clear()
        counted = replay(feedback, quiz, feed)
        where = "a scratch store" if verify else "the store"
        console.print(f"replayed {counted:,} activities into {where}")
        if verify:
            differ = differences(live, target)
            if differ:
                raise fail(
                    f"{len(differ):,} customers differ from the live store, e.g. "
                    f"{', '.join(differ[:5])}.",
                    1,
                )
            console.print("the rebuilt state equals the live state")
    finally:
        feed.close()
        feedback.close()
        quiz.close()
        if scratch:
            live.close()
