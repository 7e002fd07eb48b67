"""``smartstack events …`` (broker, replay, process) and ``smartstack feedback summary``."""

from __future__ import annotations

import logging
import signal
import time
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from smartstack.cli.console import console, fail, settings_of
from smartstack.events.contracts import Topic
from smartstack.settings import Settings

if TYPE_CHECKING:
    from smartstack.events.online_writer import OnlineSpendWriter
    from smartstack.events.processor import Totals
    from smartstack.events.recent_spend import RecentSpendState

app = typer.Typer(
    help="Real-time events: a local Kafka-protocol broker, the generator's replay, and the "
    "stream processor that feeds the online store and the feedback table.",
    no_args_is_help=True,
)
feedback_app = typer.Typer(help="Offer feedback and explanation ratings.", no_args_is_help=True)
REPLAYABLE = {"transactions": Topic.transactions, "clickstream": Topic.clickstream}


def _servers(settings: Settings) -> str:
    from smartstack.events.kafka import NoBroker, bootstrap_servers, check_broker, ensure_topics

    try:
        servers = bootstrap_servers(settings)
        check_broker(servers)
        ensure_topics(servers)
    except NoBroker as error:
        raise fail(f"{error}.") from None
    return servers


@app.command()
def broker(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 9092,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions per event topic.")] = 4,
) -> None:
    """Run a local Kafka-protocol broker (tansu, in-memory storage) with the event topics, in
    the foreground until Ctrl-C. Point clients at it with KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT."""
    from smartstack.events.kafka import NoBroker, start_broker

    log = settings_of(ctx).home / "events" / "broker.log"
    try:
        process = start_broker("127.0.0.1", port, log, partitions)
    except NoBroker as error:
        raise fail(f"{error}; see {log}.") from None
    console.print(
        f"broker listening on 127.0.0.1:{port} (topics: {', '.join(t.value for t in Topic)}); "
        f"log: {log}"
    )
    stop = lambda *_: process.terminate()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        code = process.wait()
    if code not in (0, -signal.SIGTERM):
        raise fail(f"the broker exited with code {code}; see {log}.", code=1)


@app.command()
def replay(
    ctx: typer.Context,
    rate: Annotated[
        float, typer.Option(min=0, help="Events per second; 0 sends as fast as the broker takes.")
    ] = 1000.0,
    topic: Annotated[
        list[str] | None,
        typer.Option(help="transactions and/or clickstream (repeatable). Default: both."),
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Replay events from this time on (UTC).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
) -> None:
    """Stream the generated transactions and clickstream to the broker in event-time order, as
    a live source system would."""
    from smartstack.events.producers import PublishFailed
    from smartstack.events.producers import replay as run_replay
    from smartstack.privacy.suppression import SuppressionList

    settings = settings_of(ctx)
    names = topic or list(REPLAYABLE)
    unknown = [n for n in names if n not in REPLAYABLE]
    if unknown:
        raise fail(f"unknown topic {', '.join(unknown)}: choose from {', '.join(REPLAYABLE)}.")
    topics = [REPLAYABLE[n] for n in names]
    missing = [t for t in names if not any((settings.raw_dir / t).glob("*.parquet"))]
    if missing:
        raise fail(
            f"no {', '.join(missing)} data in {settings.raw_dir}: run `smartstack generate`."
        )
    servers = _servers(settings)
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)
    started = time.perf_counter()
    suppression = SuppressionList.from_settings(settings)  # erased customers are not replayed
    try:
        sent = run_replay(
            settings.raw_dir,
            servers,
            topics,
            rate,
            since,
            limit,
            on_progress=lambda n: console.print(f"sent {n:,} events"),
            suppression=suppression,
        )
    except PublishFailed as error:
        raise fail(f"{error}.", code=1) from None
    finally:
        suppression.close()
    elapsed = time.perf_counter() - started
    rate_done = sent / max(elapsed, 1e-9)
    console.print(f"replayed {sent:,} events in {elapsed:.1f}s ({rate_done:,.0f}/s)")


class _Progress:
    """A progress line every ``every`` seconds: events per second and what became of them."""

    def __init__(self, every: float) -> None:
        self._every = every
        self._since = time.monotonic()
        self._consumed = 0

    def __call__(self, totals: Totals) -> bool:
        now = time.monotonic()
        if now - self._since >= self._every:
            rate = (totals.consumed - self._consumed) / (now - self._since)
            console.print(
                f"{totals.consumed:,} events ({rate:,.0f}/s): {totals.transactions:,} "
                f"transactions applied, {totals.feedback_landed:,} feedback landed, "
                f"{totals.quiz_landed:,} quiz answers landed, "
                f"{totals.engagement_counted:,} engagement activities counted, "
                f"{totals.dead_letters:,} dead letters, {totals.duplicates:,} duplicates"
            )
            self._since, self._consumed = now, totals.consumed
        return False  # never asks the processor to stop


def _window_state(settings: Settings, seed: bool) -> RecentSpendState:
    """The processor's window state; on a first start seeded with the 7 days before the data
    set's snapshot from the raw transactions, so streamed spend adds to the history."""
    from smartstack.events.recent_spend import RecentSpendState
    from smartstack.featurestore import store

    state = RecentSpendState(settings.stream_state_path)
    transactions = settings.raw_dir / "transactions"
    if seed and state.is_empty and any(transactions.glob("*.parquet")):
        as_of = store.snapshot_time(settings)
        loaded = state.seed(transactions, as_of)
        console.print(f"seeded the window with {loaded:,} transactions before {as_of:%Y-%m-%d}")
    return state


def _online_writer(settings: Settings) -> OnlineSpendWriter:
    from feast.errors import FeatureViewNotFoundException

    from smartstack.events.online_writer import OnlineSpendWriter, ViewMismatch
    from smartstack.featurestore import store

    try:
        return OnlineSpendWriter(store.get_store(settings))
    except (FeatureViewNotFoundException, ViewMismatch) as error:
        raise fail(f"{error}: run `smartstack feast apply` first.") from None


@app.command()
def process(
    ctx: typer.Context,
    group: Annotated[str, typer.Option(help="Consumer group id.")] = "smartstack-stream-processor",
    max_batch: Annotated[int, typer.Option(min=1, help="Most messages per micro-batch.")] = 50_000,
    batch_wait: Annotated[
        float, typer.Option(min=0.01, help="Longest wait (s) for a micro-batch to fill.")
    ] = 0.5,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address of the metrics server (0.0.0.0 in a container).")
    ] = "127.0.0.1",
    seed: Annotated[
        bool,
        typer.Option(
            help="On a first start, load the 7 days before the data set's snapshot from the raw "
            "transactions, so streamed spend adds to the history."
        ),
    ] = True,
    progress_every: Annotated[float, typer.Option(help="Seconds between progress lines.")] = 10.0,
) -> None:
    """Run the stream processor (a consumer-group member) until SIGTERM or Ctrl-C: recent spend
    and quiz answers into the online store, feedback and quiz answers into their tables and the
    engagement store, bad events to the dead-letter topic."""
    settings = settings_of(ctx)
    servers = _servers(settings)  # before the heavy imports: a missing broker answers at once

    from confluent_kafka import KafkaException
    from prometheus_client import start_http_server

    from smartstack.engagement.rules import RuleFileError
    from smartstack.events.interactions import TRANSIENT_STORE_ERRORS, Interactions
    from smartstack.events.processor import DeadLetterFailed, StreamProcessor
    from smartstack.featurestore import store

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("smartstack").setLevel(logging.INFO)
    warnings.filterwarnings("ignore", message="Stream feature views are experimental")
    writer = _online_writer(settings)
    state = _window_state(settings, seed)
    try:
        interactions = Interactions.from_settings(settings, store.get_store(settings))
    except RuleFileError as error:
        raise fail(f"{error}.") from None
    processor = StreamProcessor(servers, state, writer, interactions, group, max_batch, batch_wait)
    signal.signal(signal.SIGTERM, lambda *_: processor.stop())
    signal.signal(signal.SIGINT, lambda *_: processor.stop())
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host)
    console.print(f"processing {servers} as group {group}; state: {state.path}")
    try:
        totals = processor.run(until=_Progress(progress_every))
    except (DeadLetterFailed, KafkaException, *TRANSIENT_STORE_ERRORS) as error:
        # Nothing of the failed batch was committed: a restart consumes it again.
        raise fail(f"stopped: {error}; restart to resume from the last commit.", 1) from None
    finally:
        state.close()
        interactions.close()
    console.print(
        f"stopped after {totals.consumed:,} events in {totals.batches:,} batches; offsets committed"
    )


@feedback_app.command()
def summary(ctx: typer.Context) -> None:
    """Mean rating and count of explanations per source, template and model (from the
    feedback table), most rated first."""
    from smartstack.events.feedback_table import FeedbackTable
    from smartstack.messaging.feedback import summarize_ratings

    table = FeedbackTable.from_settings(settings_of(ctx))
    rows = summarize_ratings(table.read())
    if not rows:
        console.print(f"no ratings in {table.directory} yet")
        return
    typer.echo("source\ttemplate_id\tmodel\tmean_rating\tcount")
    for row in rows:
        typer.echo(
            f"{row.source}\t{row.template_id or '-'}\t{row.model or '-'}\t"
            f"{row.mean_rating:.3f}\t{row.count}"
        )
