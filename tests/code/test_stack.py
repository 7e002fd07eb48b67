"""The run command's process management, on real processes: services start, answer, and stop
with every process they started (even ones in sessions of their own), on Ctrl-C or ``kill``;
one that exits is restarted with backoff if its policy allows, else it fails the stack."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from smartstack.cli.stack import CHAMPION_DECIDED, ONLINE_STORE_LOADED, tasks_done
from smartstack.paths import PROJECT_ROOT
from smartstack.settings import Settings
from smartstack.stack.airflow import TaskState
from smartstack.stack.processes import (
    ManagedService,
    RestartPolicy,
    Running,
    ServiceFailed,
    Supervisor,
    port_in_use,
)
from smartstack.stack.services import RESTART, Ports, local_services, stack_settings
from tests.dags.airflow_helpers import require_airflow

PYTHON = sys.executable
SMARTSTACK = str(Path(sys.executable).parent / "smartstack")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_service(port: int, pid_file: Path) -> ManagedService:
    """An HTTP server that first starts a grandchild in a session of its own."""
    script = textwrap.dedent(f"""
        import http.server, subprocess, sys
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                  start_new_session=True)
        open({str(pid_file)!r}, "w").write(str(helper.pid))
        http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port={port},
                         bind="127.0.0.1")
    """)
    return ManagedService("web", [PYTHON, "-c", script], port=port, ready_path="/",
                          ready_timeout=30)  # fmt: skip


def gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
        if not alive:
            return True
        time.sleep(0.2)
    return False


def test_services_answer_then_stop_with_every_process_they_started(tmp_path: Path) -> None:
    port = free_port()
    worker = ManagedService("worker", [PYTHON, "-c", "import time; time.sleep(600)"])
    with Supervisor(tmp_path / "logs", grace_seconds=5) as supervisor:
        web = supervisor.start(web_service(port, tmp_path / "helper.pid"))
        supervisor.wait_ready(web)
        sleeper = supervisor.start(worker)
        supervisor.wait_ready(sleeper)
        assert port_in_use(port)
        pids = [web.process.pid, sleeper.process.pid, int((tmp_path / "helper.pid").read_text())]
        assert all(psutil.pid_exists(p) for p in pids)
        assert supervisor.stop_all() == ["worker", "web"]  # last started, first stopped
    assert gone(pids)
    assert not port_in_use(port)
    assert (tmp_path / "logs" / "web.log").exists()


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with Supervisor(tmp_path) as supervisor, pytest.raises(ServiceFailed, match="in use"):
            supervisor.start(web_service(port, tmp_path / "pid"))
        assert supervisor.running == []


def test_a_service_that_dies_is_reported_with_the_end_of_its_log(tmp_path: Path) -> None:
    crash = ManagedService("crash", [PYTHON, "-c", "print('no config'); raise SystemExit(3)"],
                           port=free_port(), ready_path="/")  # fmt: skip
    with Supervisor(tmp_path) as supervisor:
        running = supervisor.start(crash)
        with pytest.raises(ServiceFailed, match="crash exited with code 3") as failure:
            supervisor.wait_ready(running)
    assert "no config" in str(failure.value)


# Tiny backoffs: the tests wait for processes, not for the policy.
QUICK = RestartPolicy(max_restarts=2, window_seconds=600, backoff_seconds=0.01,
                      max_backoff_seconds=0.05)  # fmt: skip


def supervise_until(supervisor: Supervisor, done, lines: list[str], timeout: float = 30) -> None:
    """Call ``supervise`` the way ``smartstack up`` does until ``done()``, collecting its lines."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, lines
        lines += supervisor.supervise()
        time.sleep(0.05)


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [RESTART.backoff(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_service_that_exits_is_restarted_and_its_log_kept(tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    script = textwrap.dedent(f"""
        import pathlib, time
        marker = pathlib.Path({str(marker)!r})
        if not marker.exists():
            marker.touch()
            print("store unreachable", flush=True)
            raise SystemExit(1)
        print("resumed", flush=True)
        time.sleep(600)
    """)
    flaky = ManagedService("flaky", [PYTHON, "-c", script], restart=QUICK)
    with Supervisor(tmp_path / "logs", grace_seconds=5) as supervisor:
        running = supervisor.start(flaky)
        first = running.process.pid
        lines: list[str] = []
        supervise_until(supervisor, lambda: "resumed" in running.log.read_text(), lines)
        assert lines == ["flaky exited with code 1; restarted (1/2)"]
        assert len(running.restarts) == 1 and running.process.pid != first
        assert running.process.poll() is None
        assert supervisor.supervise() == []  # running: nothing to do
    log = running.log.read_text()  # appended to, not truncated
    assert log.index("store unreachable") < log.index("restarted (1/2)") < log.index("resumed")


def test_a_service_that_keeps_exiting_uses_up_its_restarts_then_fails(tmp_path: Path) -> None:
    crashy = ManagedService("crashy", [PYTHON, "-c", "print('boom'); raise SystemExit(2)"],
                            restart=QUICK)  # fmt: skip
    lines: list[str] = []
    with Supervisor(tmp_path) as supervisor, pytest.raises(ServiceFailed) as failure:
        running = supervisor.start(crashy)
        supervise_until(supervisor, lambda: False, lines)
    assert lines == ["crashy exited with code 2; restarted (1/2)",
                     "crashy exited with code 2; restarted (2/2)"]  # fmt: skip
    message = str(failure.value)
    assert message.startswith("crashy exited with code 2 after 2 restarts within 600s")
    assert message.count("boom") == 3  # the tail of the log, all three runs in it
    assert len(running.restarts) == 2


def test_a_service_without_a_policy_fails_at_once(tmp_path: Path) -> None:
    once = ManagedService("once", [PYTHON, "-c", "print('bad'); raise SystemExit(3)"])
    with Supervisor(tmp_path) as supervisor:
        running = supervisor.start(once)
        running.process.wait(30)
        with pytest.raises(ServiceFailed, match="once exited with code 3") as failure:
            supervisor.supervise()
    assert "bad" in str(failure.value) and running.restarts == []


def test_a_backoff_is_scheduled_not_slept(tmp_path: Path) -> None:
    slow = RestartPolicy(
        max_restarts=1, window_seconds=600, backoff_seconds=600, max_backoff_seconds=600
    )
    sleeper = ManagedService("sleeper", [PYTHON, "-c", "import time; time.sleep(600)"])
    quitter = ManagedService("quitter", [PYTHON, "-c", "raise SystemExit(1)"], restart=slow)
    with Supervisor(tmp_path, grace_seconds=5) as supervisor:
        awake = supervisor.start(sleeper)
        waiting: Running = supervisor.start(quitter)
        waiting.process.wait(30)
        assert supervisor.supervise() == []  # returns at once, the restart is only scheduled
        assert waiting.restart_at is not None and waiting.restart_at > time.monotonic() + 60
        assert waiting.exit_code == 1 and waiting.restarts == []
        assert awake.process.poll() is None
        assert supervisor.stop_all() == ["quitter", "sleeper"]  # a pending restart stops too


def test_kill_stops_the_supervisor_and_its_services(tmp_path: Path) -> None:
    port = free_port()
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from smartstack.stack.processes import ManagedService, Supervisor, sigterm_as_interrupt
        from tests.code.test_stack import web_service
        try:
            with sigterm_as_interrupt(), Supervisor(Path({str(tmp_path)!r})) as supervisor:
                supervisor.wait_ready(supervisor.start(
                    web_service({port}, Path({str(tmp_path / "helper.pid")!r}))))
                print("ready", flush=True)
                time.sleep(600)
        except KeyboardInterrupt:
            print("stopped", flush=True)
    """)
    parent = subprocess.Popen([PYTHON, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=PROJECT_ROOT)  # fmt: skip
    assert parent.stdout.readline().strip() == "ready"
    tree = [c.pid for c in psutil.Process(parent.pid).children(recursive=True)]
    tree.append(int((tmp_path / "helper.pid").read_text()))
    os.kill(parent.pid, signal.SIGTERM)
    assert parent.stdout.readline().strip() == "stopped"
    assert parent.wait(30) == 0
    assert gone(tree)
    assert not port_in_use(port)


def test_the_local_stack_is_one_declarative_list(tmp_path: Path) -> None:
    ports = Ports(airflow=18080, mlflow=15000, serving=13000)
    settings = stack_settings(Settings(home=tmp_path / "home"), ports)
    services = local_services(settings, ports)
    names = [s.name for s in services]
    assert names == ["mlflow", "kafka", "airflow-api-server", "airflow-scheduler",
                     "airflow-dag-processor", "stream-processor", "bentoml",
                     "dashboard"]  # fmt: skip
    by_name = {s.name: s for s in services}
    assert {by_name[n].port for n in ("mlflow", "airflow-api-server", "bentoml")} == {
        15000, 18080, 13000}  # fmt: skip
    # The ranking service needs the feature registry the pipeline writes.
    assert by_name["bentoml"].needs == settings.home / "feast" / "registry.db"
    assert not by_name["bentoml"].can_start
    # The local broker, and the stream processor that waits for the registry like the service.
    assert by_name["kafka"].port == 9092
    assert by_name["stream-processor"].needs == by_name["bentoml"].needs
    assert by_name["bentoml"].env["SMARTSTACK_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    # The monitoring dashboard: Evidently's UI over the workspace the monitoring tasks fill.
    dashboard = by_name["dashboard"]
    assert dashboard.port == 8001 and dashboard.ready_path == "/api/version"
    assert dashboard.command[1:4] == ["ui", "--workspace", str(settings.home / "monitoring" /
                                                                "workspace")]  # fmt: skip
    assert dashboard.needs is None and dashboard.url == "http://localhost:8001"
    # What resumes cleanly restarts with backoff; Airflow fails the stack at once.
    assert {n for n, s in by_name.items() if s.restart == RESTART} == {
        "mlflow", "kafka", "stream-processor", "bentoml", "dashboard"}  # fmt: skip
    assert all(s.restart is None for s in services if s.name.startswith("airflow"))
    # Every process of the stack gets the same settings, whole.
    assert by_name["bentoml"].env.items() >= settings.environment().items()
    # The project's processes run optimized; Airflow's environment has no bytecode for that.
    optimized = {n for n, s in by_name.items() if s.env.get("PYTHONOPTIMIZE") == "1"}
    assert optimized == {"mlflow", "kafka", "stream-processor", "bentoml", "dashboard"}
    airflow = [s for s in services if s.name.startswith("airflow")]
    envs = [s.env for s in airflow]
    # One configuration for every Airflow process: the shared JWT secret above all.
    assert all(env == envs[0] for env in envs)
    env = envs[0]
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(PROJECT_ROOT / "airflow_plugins")
    assert env["SMARTSTACK_MLFLOW_UI_URL"] == "http://localhost:15000"
    assert env["AIRFLOW_HOME"] == str(settings.home / "airflow")
    assert env["SMARTSTACK_HOME"] == str(settings.home)
    assert env["SMARTSTACK_SERVING_URL"] == "http://127.0.0.1:13000"
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32


def test_up_refuses_ports_in_use_with_a_sentence(tmp_path: Path) -> None:
    require_airflow()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [SMARTSTACK, "up", "--airflow-port", str(port), "--mlflow-port", str(free_port()),
             "--serving-port", str(free_port()), "--exit-after-run"],
            env={**os.environ, "SMARTSTACK_HOME": str(tmp_path)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"ports already in use: airflow-api-server ({port})" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_the_milestones_are_the_tasks_that_write_the_online_store_and_the_champion() -> None:
    """`up` starts the ranking service once the online store is loaded and asks it for a sample
    once promotion is decided (done, or skipped: the service then ranks with the fallback)."""
    assert ONLINE_STORE_LOADED == ("feature_store.feast_materialize",)
    assert CHAMPION_DECIDED == ("model.promote",)

    def tasks(**states: str | None) -> list[TaskState]:
        return [TaskState(task, states.get(task.split(".")[1]), None, 1) for task in (
            "model.train", "feature_store.feast_materialize", "model.promote", "serving.reload"
        )]  # fmt: skip

    assert not tasks_done(tasks(train="success"), ONLINE_STORE_LOADED)
    assert tasks_done(tasks(feast_materialize="success"), ONLINE_STORE_LOADED)
    assert not tasks_done(tasks(feast_materialize="failed"), ONLINE_STORE_LOADED)
    assert not tasks_done(tasks(feast_materialize="up_for_retry"), ONLINE_STORE_LOADED)
    assert not tasks_done(tasks(promote="running"), CHAMPION_DECIDED)
    assert tasks_done(tasks(promote="success"), CHAMPION_DECIDED)
    assert tasks_done(tasks(promote="skipped"), CHAMPION_DECIDED)
    assert not tasks_done([], CHAMPION_DECIDED)
