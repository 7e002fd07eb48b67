"""Start long-running services as child processes, wait until they answer, stop them all.

Each service runs in a session of its own, so the terminal's Ctrl-C reaches only the
supervisor, which then stops the services in reverse order: SIGTERM to every process of the
service's tree (children that started sessions of their own included, found while their parent
is alive), then SIGKILL to whatever is left after a grace period. Output goes to one log file
per service.
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
    service: ManagedService
    process: subprocess.Popen
    log: Path


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
        if service.port is not None and port_in_use(service.port):
            raise ServiceFailed(
                f"{service.name} cannot start: port {service.port} is already in use (stop "
                "what listens there, or choose another port)"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{service.name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                list(service.command),
                cwd=service.cwd,
                env={**os.environ, **service.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        running = Running(service, process, log)
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

    def first_exited(self) -> Running | None:
        """A service that stopped by itself, if any."""
        return next((r for r in self.running if r.process.poll() is not None), None)

    def stop_all(self) -> list[str]:
        """Stop every service, last started first; returns their names in stopping order."""
        stopped = []
        while self.running:
            running = self.running.pop()
            stop_tree(running.process.pid, self.grace_seconds)
            running.process.wait()
            stopped.append(running.service.name)
        return stopped


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
