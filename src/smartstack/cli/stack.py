"""``smartstack up``: the whole product on this machine, driven by Airflow.

It prepares Airflow's database, starts the services of :mod:`smartstack.stack.services` (MLflow,
the Airflow API server, scheduler and DAG processor) side by side, triggers the daily DAG and
prints each task as it finishes. The services that need the pipeline's output start as soon as
the run has loaded the online store (:data:`ONLINE_STORE_LOADED`); once promotion is decided
(:data:`CHAMPION_DECIDED`) the ranking service loads the champion and is asked for a real
customer's offers, so a first run serves while the rest of it (explanations, readouts,
monitoring) goes on. Once the run is over it prints the URLs and keeps everything running
until Ctrl-C (or, with ``--exit-after-run``, stops right away) and stops every process it
started. Meanwhile a service with a restart policy (the stream processor, above all) that exits
is started again after a backoff; any other exit stops the stack.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from smartstack.cli.console import console, fail, settings_of
from smartstack.pipeline import CHAMPION_MODEL, ONLINE_FEATURES, STEPS
from smartstack.settings import Settings
from smartstack.stack.airflow import (
    DAILY_DAG,
    FINISHED,
    AirflowApi,
    TaskState,
    airflow_environment,
    airflow_executable,
    migrate,
)
from smartstack.stack.processes import (
    ManagedService,
    Running,
    ServiceFailed,
    Supervisor,
    port_in_use,
    sigterm_as_interrupt,
)
from smartstack.stack.services import Ports, local_services, stack_settings

# Task states that no longer change within this try.
_DONE = {"success", "failed", "skipped", "upstream_failed", "removed", "up_for_retry"}
_MARK = {"success": "[green]✓[/]", "skipped": "[dim]–[/]", "up_for_retry": "[yellow]↻[/]"}


def writers(output: str) -> tuple[str, ...]:
    """The daily DAG's tasks of the steps that write ``output``."""
    return tuple(f"{step.group}.{step.name}" for step in STEPS if output in step.outputs)


def tasks_done(tasks: Collection[TaskState], task_ids: Collection[str]) -> bool:
    """Whether every task of ``task_ids`` has succeeded or been skipped."""
    states = {task.task_id: task.state for task in tasks}
    return all(states.get(task_id) in ("success", "skipped") for task_id in task_ids)


@dataclass(frozen=True)
class Milestone:
    """Something to do, once, as soon as ``tasks`` of the run are done."""

    tasks: tuple[str, ...]
    action: Callable[[], None]


# Once the online store is loaded, the services waiting for the pipeline start beside the run
# (the ranking service ranks with the fallback until there is a champion); once promotion is
# decided, the service loads the champion and answers a sample request. A first run serves from
# then on, while the rest of it (explanations, readouts, monitoring) goes on.
ONLINE_STORE_LOADED = writers(ONLINE_FEATURES)
CHAMPION_DECIDED = writers(CHAMPION_MODEL)


def up(
    ctx: typer.Context,
    customers: Annotated[
        int, typer.Option(min=1, help="Scale of the synthetic data set the run generates.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed of the data set.")] = 42,
    airflow_port: Annotated[int, typer.Option(help="Airflow UI and API.")] = 8080,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI.")] = 5000,
    serving_port: Annotated[int, typer.Option(help="The ranking service (BentoML).")] = 3000,
    exit_after_run: Annotated[
        bool,
        typer.Option(
            "--exit-after-run/--keep-running",
            envvar="SMARTSTACK_EXIT_AFTER_RUN",
            help="Stop everything once the run and the sample request are done (CI, tests); "
            "the exit code says whether the run succeeded.",
        ),
    ] = False,
    run_timeout_minutes: Annotated[
        float, typer.Option(min=1, help="Give up on the DAG run after this long.")
    ] = 60,
) -> None:
    """Start Airflow (UI on :8080), MLflow (:5000) and the ranking service (:3000) on embedded
    defaults, run the daily pipeline DAG, print its progress, the URLs and a ranked response for
    a real customer, then keep running until Ctrl-C."""
    ports = Ports(airflow=airflow_port, mlflow=mlflow_port, serving=serving_port)
    settings = stack_settings(settings_of(ctx), ports)
    services = local_services(settings, ports)
    _check_can_start(settings, services)
    log_dir = settings.home / "logs"
    started = time.monotonic()
    console.rule("[bold]Smart Stack")
    console.print(f"home {settings.home}; service logs in {log_dir}/")
    try:
        with sigterm_as_interrupt(), Supervisor(log_dir) as supervisor:
            _step("Airflow database", lambda: migrate(
                airflow_executable(settings),
                airflow_environment(settings, ports.airflow),
                log_dir / "airflow-db-migrate.log",
            ))  # fmt: skip
            waiting = [s for s in services if not s.can_start]
            _start(supervisor, [s for s in services if s.can_start])
            api = AirflowApi(f"http://127.0.0.1:{ports.airflow}")
            beside_the_run: list[tuple[Running, float]] = []  # started mid-run, and when
            answered: list[bool] = []  # the sample request's outcome

            def start_waiting() -> None:
                beside_the_run.extend((supervisor.start(s), time.monotonic()) for s in waiting)
                if waiting:
                    console.print(f"starting {', '.join(s.name for s in waiting)} beside the run")

            def serve_champion() -> None:
                for running, since in beside_the_run:
                    _wait_ready(supervisor, running, since)
                answered.append(
                    _load_champion(settings) and _show_sample_ranking(settings, log_dir)
                )

            milestones = (
                Milestone(ONLINE_STORE_LOADED, start_waiting),
                Milestone(CHAMPION_DECIDED, serve_champion),
            )
            state = _run_pipeline(api, supervisor, customers, seed, run_timeout_minutes, milestones)
            if state != "success":
                _explain_failure(api, exit_after_run)
                if exit_after_run:
                    raise typer.Exit(1)
            elif not answered:  # the run ended before its milestones were seen
                if not beside_the_run:
                    start_waiting()
                serve_champion()
            if exit_after_run and not all(answered):
                raise typer.Exit(1)
            _show_urls(services, f"http://localhost:{ports.serving}", time.monotonic() - started)
            if exit_after_run:
                return
            console.print("[bold]Running. Press Ctrl-C to stop everything.")
            _watch(supervisor)
    except KeyboardInterrupt:
        console.print("\nstopped every service.")
    except ServiceFailed as error:
        raise fail(str(error), 1) from None


def _check_can_start(settings: Settings, services: list[ManagedService]) -> None:
    airflow = airflow_executable(settings)
    if not airflow.exists():
        raise fail(
            f"Airflow is not installed at {airflow}: run `make setup-airflow` (or `make run`, "
            "which sets everything up)."
        )
    busy = [f"{s.name} ({s.port})" for s in services if s.port and port_in_use(s.port)]
    if busy:
        raise fail(
            f"ports already in use: {', '.join(busy)}. Stop what listens there or pick other "
            "ports (--airflow-port, --mlflow-port, --serving-port)."
        )


def _step(what: str, action) -> None:
    started = time.monotonic()
    with console.status(f"{what}…"):
        action()
    console.print(f"[green]✓[/] {what} ready ({time.monotonic() - started:.0f}s)")


def _start(supervisor: Supervisor, services: Sequence[ManagedService]) -> None:
    """Start ``services`` side by side, then wait for each to answer: their start-ups (imports,
    mostly) overlap instead of adding up."""
    started = time.monotonic()
    for running in [supervisor.start(service) for service in services]:
        _wait_ready(supervisor, running, started)


def _wait_ready(supervisor: Supervisor, running: Running, since: float) -> None:
    name = running.service.name
    with console.status(f"starting {name}…") as status:
        supervisor.wait_ready(
            running, lambda _: status.update(f"starting {name}… {time.monotonic() - since:.0f}s")
        )
    where = f" at {running.service.url}" if running.service.url else ""
    console.print(f"[green]✓[/] {name} up{where} ({time.monotonic() - since:.0f}s)")


def _run_pipeline(
    api: AirflowApi,
    supervisor: Supervisor,
    customers: int,
    seed: int,
    timeout_minutes: float,
    milestones: Sequence[Milestone],
) -> str:
    """Trigger the daily DAG and follow it to its end, acting on each milestone, in order, as
    soon as it is reached."""
    with console.status("waiting for Airflow to load the DAGs…"):
        api.wait_for_dag(DAILY_DAG, timeout=300)
    api.unpause(DAILY_DAG)
    conf = {"source": "dataset", "customers": customers, "seed": seed}
    run_id = api.trigger(DAILY_DAG, conf)
    console.rule(f"[bold]{DAILY_DAG}: {customers:,} customers, seed {seed}")
    console.print(
        f"run {run_id}: {api.base_url.replace('127.0.0.1', 'localhost')}"
        f"/dags/{DAILY_DAG}/runs/{run_id}"
    )
    started = time.monotonic()
    seen: dict[str, tuple[str | None, int]] = {}
    state = "queued"
    pending = list(milestones)
    while state not in FINISHED:
        # A milestone's action runs outside the status line: it may show one of its own.
        with console.status("starting the run…") as status:
            while state not in FINISHED:
                if time.monotonic() - started > timeout_minutes * 60:
                    raise ServiceFailed(f"the run did not finish within {timeout_minutes:.0f} min")
                _supervise(supervisor)
                tasks = api.task_states(DAILY_DAG, run_id)
                _print_changes(tasks, seen)
                state = api.run_state(DAILY_DAG, run_id)
                if state not in FINISHED and pending and tasks_done(tasks, pending[0].tasks):
                    break
                running = [t.task_id for t in tasks if t.state == "running"]
                done = sum(t.state in _DONE - {"up_for_retry"} for t in tasks)
                status.update(
                    f"{done}/{len(tasks)} tasks done, {time.monotonic() - started:.0f}s"
                    + (f"; running {', '.join(running)}" if running else "")
                )
                time.sleep(2)
        if state not in FINISHED:
            pending.pop(0).action()
    _print_changes(api.task_states(DAILY_DAG, run_id), seen)
    colour = "green" if state == "success" else "red"
    console.rule(f"[bold {colour}]run {state} in {time.monotonic() - started:.0f}s")
    return state


def _print_changes(tasks: list[TaskState], seen: dict[str, tuple[str | None, int]]) -> None:
    for task in tasks:
        key = (task.state, task.try_number)
        if task.state not in _DONE or seen.get(task.task_id) == key:
            continue
        seen[task.task_id] = key
        mark = _MARK.get(task.state or "", "[red]✗[/]")
        took = f"{task.seconds:6.1f}s" if task.seconds is not None else " " * 7
        console.print(f"  {mark} {took}  {task.task_id}  [dim]{task.state}[/]")


def _explain_failure(api: AirflowApi, exit_after_run: bool) -> None:
    console.print(
        "[bold red]The pipeline run failed.[/] Open the failed task in the Airflow UI for its "
        "log (a failed quality gate names the table, the expectation and sample values)."
        + ("" if exit_after_run else " The services keep running so you can look.")
    )


def _load_champion(settings: Settings) -> bool:
    """Make the ranking service load the champion now (what the run's reload task does later)."""
    from smartstack.serving.client import ServingError, ServingUnreachable, reload

    token = settings.serving.admin_token
    try:
        served = reload(settings.serving.url, token.get_secret_value() if token else None)
    except (ServingError, ServingUnreachable) as error:
        console.print(f"[bold red]the ranking service could not load the champion:[/] {error}")
        return False
    console.print(
        f"[green]✓[/] serving {served['model']} version "
        f"{served['version'] or 'none (fallback ranking)'}"
    )
    return True


def _show_sample_ranking(settings: Settings, log_dir: Path) -> bool:
    """Ask the ranking service for a real customer's offers and print the answer."""
    from smartstack.featurestore.store import snapshot_time
    from smartstack.serving.client import ServingError, ServingUnreachable, rank

    customer = _a_customer(settings)
    at = snapshot_time(settings) - timedelta(hours=12)
    try:
        token = settings.auth.service_token
        response = rank(
            settings.serving.url, customer, at, k=3,
            token=token.get_secret_value() if token else None,
        )  # fmt: skip
    except (ServingError, ServingUnreachable) as error:
        log = log_dir / "bentoml.log"
        console.print(f"[bold red]the sample request failed:[/] {error}; see {log}")
        return False
    console.rule("[bold]a ranked response for a real customer")
    console.print(
        f"POST {settings.serving.url.replace('127.0.0.1', 'localhost')}/rank "
        + json.dumps({"customer_id": customer, "context": {"channel": "app",
                      "timestamp": at.isoformat()}, "k": 3})
    )  # fmt: skip
    console.print_json(json.dumps(response))
    return True


def _a_customer(settings: Settings) -> str:
    """The first customer of the raw customer table: one the pipeline just built features for."""
    import pyarrow.parquet as pq

    part = min((settings.raw_dir / "customers").glob("*.parquet"))
    return str(pq.read_table(part, columns=["customer_id"]).column(0)[0].as_py())


def _show_urls(services: list[ManagedService], serving_url: str, seconds: float) -> None:
    console.rule(f"[bold]Smart Stack is up ({seconds / 60:.1f} min)")
    for service in services:
        if service.url:
            console.print(f"  {service.name:<20} {service.url}")
    console.print(f"  {'web app':<20} {serving_url}/app/  (sign in as a sample customer)")
    console.print("  Airflow needs no login on this machine (simple auth manager, all admins).")


def _supervise(supervisor: Supervisor) -> None:
    """Restart what exited and may restart, one console line each; a service that exited
    without restarts left raises :class:`ServiceFailed`, which stops the stack."""
    for line in supervisor.supervise():
        console.print(f"[yellow]↻[/] {line}")


def _watch(supervisor: Supervisor) -> None:
    while True:
        _supervise(supervisor)
        time.sleep(1)
