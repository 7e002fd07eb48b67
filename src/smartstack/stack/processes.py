"""Start long-running services as child processes, wait until they answer, stop them all.

Each service runs in a session of its own, so the terminal's Ctrl-C reaches only the
supervisor, which then stops the services in reverse order: SIGTERM to every process of the
service's tree (children that started sessions of their own included, found while their parent
is alive), then SIGKILL to whatever is left after a grace period. Output goes to one log file
per service.

A service that exits by itself fails the stack, unless it has a :class:`RestartPolicy`: then
:meth:`Supervisor.supervise` starts it again after a backoff, appending to the same log, until
it has used up its restarts within the policy's window (what docker compose's
``restart: on-failure`` or systemd's ``Restart=on-failure`` with ``StartLimitBurst`` do).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil


class ServiceFailed(RuntimeError):
    """A service exited or did not become ready; the message ends with its log's last lines."""


@dataclass(frozen=True)
class RestartPolicy:
    """How often a service that exits by itself is started again before it fails the stack.

    Some services exit on purpose when a dependency is gone for too long (the stream processor
    stops after 20 s without its online store, so that the consumer leaves its group before
    ``max.poll.interval`` runs out, and resumes from its last commit): for them a restart is
    the recovery, not a failure. The backoff doubles with each restart inside the window, so a
    dependency that stays down is not hammered, and a limit turns a service that cannot stay up
    into a failure with its log instead of an endless loop.
    """

    max_restarts: int = 5  # within window_seconds; one more exit fails the stack
    window_seconds: float = 600.0  # restarts older than this are forgotten
    backoff_seconds: float = 1.0  # before the first restart of the window; doubles after
    max_backoff_seconds: float = 30.0

    def backoff(self, recent_restarts: int) -> float:
        """Seconds to wait before the next restart, given the restarts already in the window."""
        return min(self.backoff_seconds * 2**recent_restarts, self.max_backoff_seconds)


@dataclass(frozen=True)
class ManagedService:
    """One long-running process of the stack and how to know it is up."""

    name: str
    command: Sequence[str]
    port: int | None = None  # must be free before the start; the readiness probe's port
    ready_path: str | None = None  # HTTP path answering 2xx when ready; None: port open
    url: str | None = None  # what people open, printed when the stack is up
    env: Mapping[str, str] = field(default_factory=dict)  # added to the supervisor's environment
    cwd: Path | None = None
    ready_timeout: float = 180.0
    # A file the service cannot start without (the feature registry): while it is missing the
    # service waits for the pipeline to build it, then starts.
    needs: Path | None = None
    # None: an exit fails the whole stack (right for what cannot resume cleanly, Airflow).
    restart: RestartPolicy | None = None

    @property
    def can_start(self) -> bool:
        return self.needs is None or self.needs.exists()

    @property
    def probe_url(self) -> str | None:
        if self.port is None or self.ready_path is None:
            return None
        return f"http://127.0.0.1:{self.port}{self.ready_path}"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Running:
    """A started service: its current process and, once it has exited, its restarts."""

    service: ManagedService
    process: subprocess.Popen
    log: Path
    restarts: list[float] = field(default_factory=list)  # monotonic times of every restart
    restart_at: float | None = None  # while it waits out its backoff: when it starts again
    exit_code: int | None = None  # the code of the exit that the pending restart follows

    def recent_restarts(self, now: float) -> int:
        """Restarts within the policy's window before ``now`` (0 without a policy)."""
        policy = self.service.restart
        if policy is None:
            return 0
        return sum(now - at < policy.window_seconds for at in self.restarts)


class Supervisor:
    """Owns the running services; use as a context manager so they always stop."""

    def __init__(self, log_dir: Path, grace_seconds: float = 20.0) -> None:
        self.log_dir = log_dir
        self.grace_seconds = grace_seconds
        self.running: list[Running] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, service: ManagedService) -> Running:
        """Start ``service`` in its own session, output to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{service.name}.log"
        running = Running(service, _spawn(service, log, mode="w"), log)
        self.running.append(running)
        return running

    def wait_ready(self, running: Running, on_wait: Callable[[float], None] | None = None) -> float:
        """Block until the service answers; returns the seconds it took."""
        service, started = running.service, time.monotonic()
        deadline = started + service.ready_timeout
        while time.monotonic() < deadline:
            self.check_alive(running)
            if _answers(service):
                return time.monotonic() - started
            if on_wait:
                on_wait(time.monotonic() - started)
            time.sleep(0.5)
        raise ServiceFailed(
            f"{service.name} did not become ready within {service.ready_timeout:.0f}s"
            + _tail(running.log)
        )

    def check_alive(self, running: Running) -> None:
        code = running.process.poll()
        if code is not None:
            raise ServiceFailed(
                f"{running.service.name} exited with code {code}" + _tail(running.log)
            )

    def supervise(self) -> list[str]:
        """Restart what exited and may restart; returns one line per restart, for the console.

        Call it every second or so. It never sleeps: an exited service gets a restart time
        (now + its backoff) and is started by the first call after that, so one service's
        backoff does not hold up the supervision of the others. A restarted service is not
        waited for (readiness is checked only at the first start); if it exits again, that
        counts as one more restart. Raises :class:`ServiceFailed` for a service that exited
        without a policy or with no restarts left in its window: that stops the stack.
        """
        lines: list[str] = []
        now = time.monotonic()
        for running in self.running:
            if running.restart_at is None:
                code = running.process.poll()
                if code is None:
                    continue
                service, policy = running.service, running.service.restart
                recent = running.recent_restarts(now)
                if policy is None:
                    raise ServiceFailed(
                        f"{service.name} exited with code {code}" + _tail(running.log)
                    )
                if recent >= policy.max_restarts:
                    raise ServiceFailed(
                        f"{service.name} exited with code {code} after {recent} restarts within "
                        f"{policy.window_seconds:.0f}s" + _tail(running.log)
                    )
                # What the service left behind in its session (workers) must let go of the port.
                _signal_session(running.process.pid, signal.SIGTERM)
                running.exit_code = code
                running.restart_at = now + policy.backoff(recent)
            if now >= running.restart_at:
                lines.append(self._restart(running, now))
        return lines

    def _restart(self, running: Running, now: float) -> str:
        service, policy = running.service, running.service.restart
        assert policy is not None  # only services with a policy get a restart time
        _signal_session(running.process.pid, signal.SIGKILL)
        running.restarts.append(now)
        count = f"{running.recent_restarts(now)}/{policy.max_restarts}"
        line = f"{service.name} exited with code {running.exit_code}; restarted ({count})"
        with running.log.open("a") as out:
            out.write(f"\n--- smartstack up: {line} ---\n")
        running.process = _spawn(service, running.log, mode="a")
        running.restart_at = running.exit_code = None
        return line

    def stop_all(self) -> list[str]:
        """Stop every service, last started first; returns their names in stopping order."""
        stopped = []
        while self.running:
            running = self.running.pop()
            stop_tree(running.process.pid, self.grace_seconds)
            running.process.wait()
            stopped.append(running.service.name)
        return stopped


def _spawn(service: ManagedService, log: Path, mode: str) -> subprocess.Popen:
    """Start the service's command in a session of its own, output to ``log`` (``mode`` "w"
    for a first start, "a" for a restart, so the log keeps what led to the exit)."""
    if service.port is not None and port_in_use(service.port):
        raise ServiceFailed(
            f"{service.name} cannot start: port {service.port} is already in use (stop "
            "what listens there, or choose another port)"
        )
    with log.open(mode) as out:
        return subprocess.Popen(
            list(service.command),
            cwd=service.cwd,
            env={**os.environ, **service.env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _signal_session(pid: int, signum: int) -> None:
    """Signal what is left of the process group an exited (and reaped) service led: its
    session's pgid is its pid, and descendants of a dead process can no longer be found
    through it. A live process with that pid is a newcomer (pid reuse), so it is left alone;
    a group id cannot be reused while the group has members."""
    if psutil.pid_exists(pid):
        return
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_tree(pid: int, grace_seconds: float) -> None:
    """SIGTERM a process and all its descendants, then SIGKILL what is still there."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in tree:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=grace_seconds)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def _answers(service: ManagedService) -> bool:
    if service.port is None:
        return True
    if service.probe_url is None:
        return port_in_use(service.port)
    try:
        return httpx.get(service.probe_url, timeout=2).is_success
    except httpx.HTTPError:
        return False


def _tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"; last lines of {log}:\n" + "\n".join(text)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, ``kill`` (SIGTERM) stops the supervisor as cleanly as Ctrl-C does."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
