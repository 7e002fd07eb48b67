"""``smartstack feast …``: the feature-store steps of the pipeline."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from smartstack.cli.console import console, fail, settings_of
from smartstack.settings import Settings

app = typer.Typer(
    help="Feast feature store: register definitions, load the online store, build training sets.",
    no_args_is_help=True,
)


@app.command()
def apply(ctx: typer.Context) -> None:
    """Register the active data set's feature service (offer_ranking_v1 for synthetic data), its
    offer catalogue and the views, sources and entities they read in the registry, and create
    the online tables (`feast apply`)."""
    from smartstack.featurestore import store
    from smartstack.featurestore.store import UnknownFeatureService

    settings = settings_of(ctx)
    try:
        store.apply(settings)
    except UnknownFeatureService as error:
        raise fail(f"{error}.") from None
    console.print(f"applied feature_repo to the {settings.profile} registry")


@app.command()
def materialize(
    ctx: typer.Context,
    end: Annotated[
        datetime | None,
        typer.Option(
            help="Load up to this instant (UTC) instead of the data set's snapshot: rows that "
            "arrived after the snapshot, such as an offer published since.",
            formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
) -> None:
    """Load the online store up to the data set's snapshot; later runs load only what is new
    (`feast materialize-incremental`)."""
    from smartstack.datasets import active
    from smartstack.featurestore import store
    from smartstack.privacy.locks import building
    from smartstack.settings import Warehouse

    settings = settings_of(ctx)
    marts = active(settings).feast_marts
    missing = [mart for mart in marts if not settings.mart_path(mart).exists()]
    if missing and settings.warehouse is not Warehouse.bigquery:
        raise fail(
            f"no feature marts in {settings.features_dir} (missing {', '.join(missing)}): run "
            "`smartstack dbt build` first."
        )
    started = time.perf_counter()
    with building(settings):  # no erasure rewrites the marts while they are loaded
        end = store.materialize(settings, end and end.replace(tzinfo=UTC))
        console.print(
            f"online store ({settings.online_store}) loaded up to {end.isoformat()} "
            f"in {time.perf_counter() - started:.1f}s"
        )
        _restore_live_rows(settings, end)


def _restore_live_rows(settings: Settings, end: datetime) -> None:
    """Write again what the stream wrote after ``end``: on SQLite the batch rows just loaded
    replace newer live ones (Redis keeps the newer by its timestamp)."""
    from smartstack.datasets import active
    from smartstack.engagement.rules import load_rules
    from smartstack.engagement.store import open_store
    from smartstack.events.consent_table import ConsentTable
    from smartstack.events.online_consent import OnlineConsentWriter, restore_live_consent
    from smartstack.events.online_engagement import OnlineEngagementWriter
    from smartstack.events.online_quiz import OnlineQuizWriter, restore_live_answers
    from smartstack.events.quiz_table import QuizAnswerTable
    from smartstack.featurestore import store

    dataset = active(settings)
    feature_store = store.get_store(settings)
    if dataset.quiz_view:
        table = QuizAnswerTable.from_settings(settings)
        try:
            restored = restore_live_answers(table, OnlineQuizWriter(feature_store), end)
        finally:
            table.close()
        if restored:
            console.print(f"{restored:,} quiz answers given since written again")
    consent = ConsentTable.from_settings(settings)  # every data set has the consent view
    try:
        restored = restore_live_consent(consent, OnlineConsentWriter(feature_store), end)
    finally:
        consent.close()
    if restored:
        console.print(f"{restored:,} customers' consent changed since written again")
    if dataset.engagement_view:
        engagement = open_store(settings, load_rules(settings.engagement.rules))
        try:
            newer = [
                s for s in engagement.customers() if s.last_activity_at and s.last_activity_at > end
            ]
            written = OnlineEngagementWriter(feature_store, dataset.engagement_view).write(newer)
        finally:
            engagement.close()
        if written:
            console.print(f"{written:,} customers' engagement since written again")


@app.command()
def config(ctx: typer.Context) -> None:
    """Print the feature_store.yaml equivalent of the active profile (for `feast ui` etc.)."""
    from smartstack.featurestore.config import config_yaml

    typer.echo(config_yaml(settings_of(ctx)), nl=False)


@app.command("training-set")
def training_set(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Parquet file to write the training set to.")],
) -> None:
    """Build the point-in-time training set: labelled impressions joined with the active
    feature service's values as of each impression (`get_historical_features`)."""
    from smartstack.featurestore import store

    started = time.perf_counter()
    try:
        frame = store.training_set(settings_of(ctx))
    except FileNotFoundError as error:
        raise fail(f"{error}.") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    console.print(
        f"wrote {len(frame):,} rows × {frame.shape[1]} columns to {out} "
        f"in {time.perf_counter() - started:.1f}s"
    )
