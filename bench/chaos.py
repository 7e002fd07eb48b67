"""Chaos run: open-loop load on the real stack while its dependencies fail on a schedule.

    .venv/bin/python bench/chaos.py                     # 5 minutes, 200 /rank/s, 20 /feedback/s
    .venv/bin/python bench/chaos.py --duration 60 --rank-rate 100 --feedback-rate 10

What runs, each a real process this script starts, signals and stops:

- ``redis-server --port <free> --save ''``: the online store (materialized from the home);
- a Kafka-protocol broker (tansu, in-memory storage, as ``smartstack events broker``);
- ``mlflow server`` over the home's registry: the service polls it for its champion;
- an OpenAI-compatible LLM endpoint (the tests' scripted server, in this process), which
  ``/explain`` calls and which can be made to hang;
- the stream processor (``smartstack events process``), landing feedback into its table;
- ``bentoml serve serving.service:RankingService`` with ``--workers`` workers, pointed at all
  of them through its settings (``Settings.environment()``), the champion polled every 2 s.

k6 sends ``--rank-rate`` requests/s to ``/rank``, ``--feedback-rate`` to ``/feedback`` (each
event a unique id; a 5xx or no answer is retried with the same id, as the endpoint's contract
says, every attempt counted) and ``--explain-rate`` to ``/explain``, open loop
(``bench/k6_chaos.js``), while these faults start and end on a schedule (a baseline first, then
each fault for 60% of its slot and a recovery for the rest):

1. ``redis-kill``: Redis SIGKILLed, then restarted from the snapshot it saved just before;
2. ``redis-pause``: Redis SIGSTOPped (hanging, not refusing), then SIGCONTed;
3. ``mlflow-down``: the MLflow server stopped, then started again;
4. ``artifact-deleted``: the champion's artifact folder moved away and the ``champion`` alias
   moved to a new version of it (the service must try to load it and keep the loaded model),
   then the folder and the alias restored;
5. ``llm-hang``: the LLM endpoint accepts requests and never answers, then answers again;
6. ``broker-restart``: the broker stopped (SIGTERM), then started again (empty: in-memory);
7. ``processor-kill``: the stream processor SIGKILLed, then started again.

After the load it waits (bounded) for the processor to land every accepted feedback event,
reads the feedback table and reconciles: lost (accepted, i.e. answered 2xx, and not in the
table) and duplicated (in the table more than once). It prints a Markdown table per phase:
requests, 5xx, 4xx, no answer, answers per tier, answers without a tier, p50 and p99 of
``/rank``, and p99 without the requests that started within 2 s of a fault's start or end;
the same for ``/feedback`` and ``/explain``; then the reconciliation. ``--out`` gets it all
as JSON, with every request.

The goals: no 5xx and no request unanswered, nothing lost or duplicated, every ``/rank`` answer
names its tier, and a ``/rank`` p99 of 50 ms or less away from the fault edges.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from bench_serving import (  # noqa: E402
    TIMESTAMP,
    VENV_BIN,
    candidate_offers,
    customer_ids,
    ensure_data,
    ensure_model,
    free_port,
    service_authorization,
)

EDGE_SECONDS = 2.0  # p99 "outside the edges" leaves out requests this close to a fault edge
FAULTS = (
    "redis-kill",
    "redis-pause",
    "mlflow-down",
    "artifact-deleted",
    "llm-hang",
    "broker-restart",
    "processor-kill",
)
TIERS = ("model", "smartscore", "popularity", "last_served")


class PortTaken(RuntimeError):
    """A service exited at start because its port was in use."""


# A start refused because its picked port was taken in the meantime is tried again (Managed.start).
PORT_TAKEN_RETRY = Retrying(
    retry=retry_if_exception_type(PortTaken),
    stop=stop_after_attempt(5),
    wait=wait_fixed(2),
    reraise=True,
)


class Managed:
    """A process in its own session that can be signalled, stopped and started again; ``ready``
    says when it serves. ``supervised``: started again when it exits on its own (as systemd or
    Kubernetes would), each such exit recorded."""

    def __init__(
        self,
        name: str,
        args: list[str],
        log: Path,
        ready: Callable[[], bool],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        supervised: bool = False,
    ) -> None:
        self.name, self.args, self.log, self.ready = name, args, log, ready
        self.env, self.cwd, self.supervised = env, cwd, supervised
        self.proc: subprocess.Popen | None = None
        self.wanted = False  # should be running (not stopped by a fault or at the end)
        self.lock = threading.RLock()
        self.exits: list[dict] = []  # exits on its own: when, and the code

    def start(self, timeout: float = 240) -> None:
        """Start it. Its port was picked free minutes before (the settings name it), and another
        process' connection may hold it for a moment since: a start refused for that waits and
        tries the same port again."""
        with self.lock:
            self.wanted = True
            PORT_TAKEN_RETRY(self._start, timeout)

    def _start(self, timeout: float) -> None:
        written_before = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
                cwd=self.cwd,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                # This start's output only: an earlier start's port clash is not this one's.
                tail = self.log.read_bytes()[written_before:].decode(errors="replace")[-3000:]
                failure = PortTaken if "Address already in use" in tail else RuntimeError
                raise failure(f"{self.name} exited ({self.proc.returncode}):\n{tail}")
            try:
                if self.ready():
                    return
            except Exception:  # noqa: BLE001 (not up yet, whatever the client says)
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready in {timeout:.0f}s; see {self.log}")
            time.sleep(0.2)

    def send(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        self.wanted = False
        with self.lock:
            self._stop(sig, timeout)

    def _stop(self, sig: int, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def supervise(managed: list[Managed], t0: list[float], done: threading.Event) -> None:
    """Start again each supervised process that exited on its own (not while it is being
    started or stopped)."""
    while not done.wait(0.5):
        for m in managed:
            if not (m.supervised and m.wanted and m.lock.acquire(blocking=False)):
                continue
            try:
                if m.wanted and m.proc is not None and m.proc.poll() is not None:
                    at = time.time() - (t0[0] if t0 else time.time())
                    m.exits.append({"at": round(at, 1), "code": m.proc.returncode})
                    print(
                        f"{at:6.1f}s {m.name} exited ({m.proc.returncode}): restarting", flush=True
                    )
                    try:
                        m._start(240)
                    except Exception as error:  # noqa: BLE001 (tried again next time)
                        print(f"{m.name} did not start again: {error!r}"[:500], flush=True)
            finally:
                m.lock.release()


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=2).status_code == 200


@dataclass
class Stack:
    """Every process of the run, and what the faults need to reach."""

    work: Path
    settings: object
    base: object
    redis: Managed
    broker: Managed
    mlflow: Managed
    processor: Managed
    service: Managed
    llm: object
    url: str
    moved: list[tuple[Path, Path]] = field(default_factory=list)
    champion: str = ""
    t0: list[float] = field(default_factory=list)  # when the load started (epoch seconds)
    done: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.done.set()
        for managed in (self.service, self.processor, self.mlflow, self.broker, self.redis):
            try:
                managed.stop()
            except Exception as error:  # noqa: BLE001 (stop the others anyway)
                print(f"stopping {managed.name}: {error!r}", file=sys.stderr)
        self.llm.stop()


def start_stack(args: argparse.Namespace, home: Path, work: Path) -> Stack:
    import redis

    from smartstack.events.kafka import broker_command, check_broker, ensure_topics
    from smartstack.featurestore import store
    from smartstack.settings import OnlineStore, Settings
    from tests.messaging.openai_server import OpenAICompatibleServer, Reply

    base = Settings(home=home)
    ensure_model(base)
    redis_port, broker_port, mlflow_port = free_port(), free_port(), free_port()
    service_port, metrics_port = free_port(), free_port()
    llm = OpenAICompatibleServer()
    llm.reset(Reply("You earn the most points on this card at the places you shop."))
    llm.start()
    settings = Settings(
        home=home / "chaos",
        data_dir=base.data_dir,
        online_store=OnlineStore.redis,
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        mlflow_tracking_uri=f"http://127.0.0.1:{mlflow_port}",
        mlflow_artifact_root=base.mlflow_artifact_root,
        kafka_bootstrap_servers=f"127.0.0.1:{broker_port}",
        # Caps high enough never to filter the repeated customers; the champion polled often
        # enough that a 60-second run sees the registry's faults.
        serving={"frequency_cap": 1_000_000, "model_poll_seconds": 2.0},
        llm={"base_url": llm.base_url, "api_key": "chaos", "model": "chaos"},
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SMARTSTACK_", "MLFLOW_", "OPENAI_", "KAFKA_", "REDIS_URL", "BENTOML_")
        )
    }
    env |= settings.environment()
    (work / "redis").mkdir()
    client = redis.Redis(port=redis_port, socket_timeout=1)
    servers = settings.kafka_bootstrap_servers

    def broker_ready() -> bool:
        check_broker(servers, 1)
        ensure_topics(servers)
        return True

    # The registry server and the stream processor each start slowly (about 15 s and 10 s of
    # CPU): niced, their restarts do not take the service's cores (in production each runs on
    # machines of its own). Niced, the processor still keeps up: it needs a tenth of a core at
    # the run's feedback rate, and the reconciliation reports how long it took to catch up.
    nice = ["nice", "-n", str(args.nice)] if args.nice else []
    bentoml_config = work / "bentoml.yaml"
    bentoml_config.write_text(f"services:\n  offer_ranker:\n    workers: {args.workers}\n")
    stack = Stack(
        work=work,
        settings=settings,
        base=base,
        redis=Managed(
            "redis",
            ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"]
            + ["--dir", str(work / "redis")],
            work / "redis.log",
            lambda: bool(client.ping()),
        ),
        broker=Managed(
            "broker", broker_command("127.0.0.1", broker_port), work / "broker.log", broker_ready
        ),
        mlflow=Managed(
            "mlflow",
            [
                *nice,
                str(VENV_BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                base.mlflow_tracking_uri,
            ]
            + ["--default-artifact-root", str(base.mlflow_artifact_root)]
            + ["--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1"],
            work / "mlflow.log",
            http_ok(f"http://127.0.0.1:{mlflow_port}/health"),
            env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        ),
        processor=Managed(
            "processor",
            [
                *nice,
                str(VENV_BIN / "smartstack"),
                "events",
                "process",
                "--metrics-port",
                str(metrics_port),
            ],
            work / "processor.log",
            http_ok(f"http://127.0.0.1:{metrics_port}/metrics"),
            env=env,
            supervised=True,
        ),
        service=Managed(
            "service",
            [str(VENV_BIN / "bentoml"), "serve", "serving.service:RankingService"]
            + ["--host", "127.0.0.1", "--port", str(service_port)],
            work / "service.log",
            http_ok(f"http://127.0.0.1:{service_port}/readyz"),
            env={
                **env,
                "BENTOML_CONFIG": str(bentoml_config),
                "BENTOML_HOME": str(work / "bentoml"),
                "BENTOML_DO_NOT_TRACK": "true",
            },
            cwd=ROOT,
        ),
        llm=llm,
        url=f"http://127.0.0.1:{service_port}",
    )
    try:
        stack.redis.start()
        print(f"materializing the online store into redis on port {redis_port}", flush=True)
        # A fresh registry, so the first materialization loads the new Redis in full.
        shutil.rmtree(settings.home / "feast", ignore_errors=True)
        store.apply(settings)
        store.materialize(settings)
        # The processor's state keeps its offsets in the broker's log; this run's broker starts
        # empty, so a previous run's offsets would skip this run's first events.
        for stale in settings.stream_state_path.parent.glob(settings.stream_state_path.name + "*"):
            stale.unlink()
        stack.broker.start()
        stack.mlflow.start()
        print("starting the stream processor and the service", flush=True)
        stack.processor.start()
        stack.service.start()
        threading.Thread(
            target=supervise, args=([stack.processor], stack.t0, stack.done), daemon=True
        ).start()
    except BaseException:
        stack.stop()
        raise
    return stack


def champion_artifact(settings: object) -> tuple[str, str, Path]:
    """The registered model's name, the champion's version and its artifact folder."""
    from mlflow.tracking import MlflowClient

    uri = settings.mlflow_tracking_uri
    client = MlflowClient(uri, uri)
    name = settings.registered_model_name
    version = client.get_model_version_by_alias(name, "champion")
    source = version.source
    if source.startswith("models:/"):  # MLflow 3: a logged model, found by its id
        source = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    return name, version.version, Path(source.removeprefix("file://"))


def fault_actions(stack: Stack) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """Each fault's start and end."""
    import redis
    from mlflow.tracking import MlflowClient

    from tests.messaging.openai_server import Reply

    base = stack.base
    registry = MlflowClient(base.mlflow_tracking_uri, base.mlflow_tracking_uri)
    registry.get_registered_model(base.registered_model_name)  # its store set up before the load
    answer = stack.llm.default

    def redis_kill() -> None:
        # What a Redis with persistence would come back with: a snapshot taken now.
        redis.Redis.from_url(stack.settings.redis_url, socket_timeout=5).save()
        stack.redis.stop(signal.SIGKILL)

    def artifact_delete() -> None:
        name, version, folder = champion_artifact(base)
        stack.champion = version
        aside = folder.with_name(folder.name + ".chaos-deleted")
        folder.rename(aside)
        stack.moved.append((aside, folder))
        current = registry.get_model_version(name, version)
        created = registry.create_model_version(
            name, str(folder), current.run_id, tags={"chaos": "artifact deleted"}
        )
        registry.set_registered_model_alias(name, "champion", created.version)

    def artifact_restore() -> None:
        while stack.moved:
            aside, folder = stack.moved.pop()
            aside.rename(folder)
        registry.set_registered_model_alias(base.registered_model_name, "champion", stack.champion)

    def llm_hang() -> None:
        stack.llm.reset(Reply(answer.content, delay_s=3600))

    return {
        "redis-kill": (redis_kill, stack.redis.start),
        "redis-pause": (
            lambda: stack.redis.send(signal.SIGSTOP),
            lambda: stack.redis.send(signal.SIGCONT),
        ),
        "mlflow-down": (stack.mlflow.stop, stack.mlflow.start),
        "artifact-deleted": (artifact_delete, artifact_restore),
        "llm-hang": (llm_hang, lambda: stack.llm.reset(answer)),
        "broker-restart": (stack.broker.stop, stack.broker.start),
        "processor-kill": (lambda: stack.processor.stop(signal.SIGKILL), stack.processor.start),
    }


def schedule(duration: float, faults: list[str]) -> list[tuple[float, str, str]]:
    """(seconds after the load starts, fault, "start" or "end"): a baseline of a fifteenth of
    the run, then one slot per fault, the fault for 60% of it and a recovery for the rest."""
    baseline = duration / 15
    slot = (duration - baseline) / len(faults)
    plan = []
    for i, fault in enumerate(faults):
        start = baseline + i * slot
        plan += [(start, fault, "start"), (start + 0.6 * slot, fault, "end")]
    return plan


def run_faults(
    actions: dict, t0: float, plan: list[tuple[float, str, str]], edges: list[dict]
) -> list[threading.Thread]:
    """The plan carried out from ``t0`` (epoch seconds), one thread per fault (its end waits
    for its start; a slow restart does not delay the next fault); each edge is recorded with
    when it began and finished."""

    def carry_out(steps: list[tuple[float, str, str]]) -> None:
        for offset, fault, edge in steps:
            delay = t0 + offset - time.time()
            if delay > 0:
                time.sleep(delay)
            began = time.time()
            error = None
            try:
                actions[fault][0 if edge == "start" else 1]()
            except Exception as exc:  # noqa: BLE001 (recorded and reported; the run goes on)
                error = repr(exc)
            edges.append(
                {"fault": fault, "edge": edge, "at": began, "done": time.time(), "error": error}
            )
            print(
                f"{began - t0:6.1f}s {fault} {edge}"
                + (f" FAILED: {error}" if error else f" ({time.time() - began:.1f}s)"),
                flush=True,
            )

    threads = []
    for fault in dict.fromkeys(f for _, f, _ in plan):
        steps = [step for step in plan if step[1] == fault]
        threads.append(threading.Thread(target=carry_out, args=(steps,), daemon=True))
        threads[-1].start()
    return threads


def load(
    args: argparse.Namespace, stack: Stack, work: Path, run_id: str
) -> tuple[list, list, dict]:
    """k6's load with the faults alongside: the requests, the fault edges and k6's summary."""
    offers = candidate_offers(stack.settings)
    (work / "customers.txt").write_text("\n".join(customer_ids(stack.base)))
    authorization = service_authorization(stack.settings)
    probe = httpx.post(
        f"{stack.url}/rank",
        json={
            "customer_id": customer_ids(stack.base)[0],
            "context": {"channel": "app", "timestamp": TIMESTAMP},
            "candidate_offer_ids": offers,
            "k": 10,
        },
        headers={"Authorization": authorization},
        timeout=10,
    )
    print(f"probe: {probe.status_code} tier={probe.json().get('tier')}", flush=True)
    actions = fault_actions(stack)  # its imports and clients ready before the load
    log, summary = work / "k6.log", work / "k6-summary.json"
    env = {
        **os.environ,
        "BENCH_URL": stack.url,
        "BENCH_SECONDS": str(args.duration),
        "BENCH_RANK_RATE": str(args.rank_rate),
        "BENCH_FEEDBACK_RATE": str(args.feedback_rate),
        "BENCH_EXPLAIN_RATE": str(args.explain_rate),
        "BENCH_CUSTOMERS": str(work / "customers.txt"),
        "BENCH_OFFERS": ",".join(offers),
        "BENCH_TIMESTAMP": TIMESTAMP,
        "BENCH_AUTHORIZATION": authorization,
        "BENCH_RUN": run_id,
        "BENCH_OUT": str(summary),
        "K6_NO_USAGE_REPORT": "true",
    }
    command = [str(VENV_BIN / "k6"), "run", "--quiet", "--no-color"]
    command += ["--log-output", f"file={log}", "--log-format", "raw"]
    k6 = subprocess.Popen(
        [*command, str(ROOT / "bench" / "k6_chaos.js")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "k6.err").open("w"),
    )
    # k6 takes a moment to start its scenarios: the schedule counts from the first request.
    deadline = time.monotonic() + 60
    while not (log.exists() and log.stat().st_size) and k6.poll() is None:
        if time.monotonic() > deadline:
            k6.kill()
            raise TimeoutError("k6 sent nothing in 60 s")
        time.sleep(0.05)
    t0 = None
    while t0 is None:
        for line in log.read_text().splitlines():
            if line.startswith('{"e"'):
                t0 = json.loads(line)["t"] / 1000
                stack.t0.append(t0)
                break
        else:
            time.sleep(0.05)
    edges: list[dict] = []
    threads = run_faults(actions, t0, schedule(args.duration, args.faults), edges)
    code = k6.wait()
    for thread in threads:
        thread.join(120)
    if code != 0:
        raise RuntimeError(f"k6 exited {code}: {(work / 'k6.err').read_text()[-2000:]}")
    requests = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line of k6's own
        record["t"] = record["t"] / 1000 - t0
        requests.append(record)
    for edge in edges:
        edge["at"] -= t0
        edge["done"] -= t0
    return requests, edges, json.loads(summary.read_text())


def reconcile(stack: Stack, accepted: set[str], run_id: str, timeout: float) -> dict:
    """Waits (bounded) until every accepted event is in the feedback table; what is missing
    then is lost, what is there more than once duplicated."""
    import pyarrow.compute as pc

    from smartstack.events.feedback_table import FeedbackTable

    table = FeedbackTable.from_settings(stack.settings)
    started = progressed = time.monotonic()
    landed = -1
    while True:
        ids = table.read().column("event_id")
        ours = Counter(i for i in ids.filter(pc.starts_with(ids, f"{run_id}-")).to_pylist())
        lost = accepted - set(ours)
        if len(ours) != landed:
            landed, progressed = len(ours), time.monotonic()
        now = time.monotonic()
        # Done when all landed, at the timeout, or after 30 s without one more landing.
        if not lost or now - started > timeout or now - progressed > 30:
            break
        time.sleep(1)
    table.close()
    return {
        "accepted": len(accepted),
        "landed": len(ours),
        "lost": len(lost),
        "duplicated": sum(1 for n in ours.values() if n > 1),
        "landed_not_accepted": len(set(ours) - accepted),
        "drain_seconds": round(time.monotonic() - started, 1),
        "lost_ids": sorted(lost),
    }


def phases(edges: list[dict], duration: float) -> list[dict]:
    """Baseline, then each fault and the recovery after it, bounded by when the edges began."""
    out = [{"phase": "baseline", "start": 0.0}]
    for edge in sorted(edges, key=lambda e: e["at"]):
        name = edge["fault"] if edge["edge"] == "start" else f"after {edge['fault']}"
        out.append({"phase": name, "start": edge["at"]})
    for phase, after in zip(out, [*out[1:], {"start": duration + 30}], strict=True):
        phase["end"] = after["start"]
    return out


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def endpoint_stats(requests: list[dict], edges: list[float]) -> dict:
    statuses = Counter(r["s"] for r in requests)
    latencies = [r["ms"] for r in requests if r["s"]]
    calm = [
        r["ms"]
        for r in requests
        if r["s"] and all(abs(r["t"] - edge) > EDGE_SECONDS for edge in edges)
    ]
    return {
        "requests": len(requests),
        "2xx": sum(n for s, n in statuses.items() if 200 <= s < 300),
        "4xx": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
        "no_answer": statuses.get(0, 0),
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "p99_calm_ms": percentile(calm, 0.99),
    }


def summarize(requests: list[dict], edges: list[dict], duration: float) -> dict:
    edge_times = [e["at"] for e in edges]
    rows = []
    for phase in [*phases(edges, duration), {"phase": "all", "start": -1e9, "end": 1e9}]:
        inside = [r for r in requests if phase["start"] <= r["t"] < phase["end"]]
        row = {"phase": phase["phase"], "start": round(max(phase["start"], 0), 1)}
        for endpoint in ("rank", "feedback", "explain"):
            mine = [r for r in inside if r["e"] == endpoint]
            row[endpoint] = endpoint_stats(mine, edge_times)
        answered = [r for r in inside if r["e"] == "rank" and 200 <= r["s"] < 300]
        row["rank"]["tiers"] = dict(Counter(r["tier"] for r in answered if r["tier"]))
        row["rank"]["missing_tier"] = sum(1 for r in answered if not r["tier"])
        rows.append(row)
    return {"phases": rows}


def markdown(result: dict) -> str:
    def cell(value: object) -> str:
        return "–" if value is None else str(value)

    tiers = sorted({t for row in result["phases"] for t in row["rank"]["tiers"]} | {"model"})
    head = ["phase", "from (s)", "/rank", "5xx", "4xx", "no answer"]
    head += [f"tier {t}" for t in tiers]
    head += ["no tier", "p50 (ms)", "p99 (ms)", "p99 ±2 s off edges (ms)"]
    head += ["/feedback attempts", "fb 5xx", "fb no answer", "fb p99 (ms)"]
    head += ["/explain", "ex 5xx", "ex p99 (ms)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in result["phases"]:
        rank, fb, ex = row["rank"], row["feedback"], row["explain"]
        cells = [row["phase"], row["start"], rank["requests"], rank["5xx"], rank["4xx"]]
        cells += [rank["no_answer"], *(rank["tiers"].get(t, 0) for t in tiers)]
        cells += [rank["missing_tier"], rank["p50_ms"], rank["p99_ms"], rank["p99_calm_ms"]]
        cells += [fb["requests"], fb["5xx"], fb["no_answer"], fb["p99_ms"]]
        cells += [ex["requests"], ex["5xx"], ex["p99_ms"]]
        name = f"**{cells[0]}**" if cells[0] == "all" else cells[0]
        lines.append("| " + " | ".join([name, *map(cell, cells[1:])]) + " |")
    rec = result["reconciliation"]
    lines.append("")
    lines.append(
        f"Feedback: {rec['accepted']} events accepted (2xx), {rec['landed']} in the table, "
        f"**{rec['lost']} lost**, **{rec['duplicated']} duplicated**, "
        f"{rec['landed_not_accepted']} landed without a 2xx (drained in {rec['drain_seconds']} s)."
    )
    if result["k6"].get("dropped"):
        lines.append(
            f"k6 dropped {result['k6']['dropped']} requests (not sent: every virtual user was "
            "waiting for an answer); they are in no row above."
        )
    for exit_ in result["processor_exits"]:
        lines.append(
            f"The stream processor exited on its own at {exit_['at']} s (code {exit_['code']}) "
            "and was started again."
        )
    failed = [e for e in result["edges"] if e["error"]]
    for edge in failed:
        lines.append(f"Fault action failed: {edge['fault']} {edge['edge']}: {edge['error']}")
    goals = result["goals"]
    lines.append(
        "Goals: " + ", ".join(f"{name} {'pass' if ok else 'FAIL'}" for name, ok in goals.items())
    )
    return "\n".join(lines)


def goals(result: dict) -> dict[str, bool]:
    total = next(row for row in result["phases"] if row["phase"] == "all")
    rec = result["reconciliation"]
    p99 = total["rank"]["p99_calm_ms"]
    return {
        "0 5xx": total["rank"]["5xx"] + total["feedback"]["5xx"] == 0,
        "0 unanswered": total["rank"]["no_answer"] + total["feedback"]["no_answer"] == 0,
        "0 lost": rec["lost"] == 0,
        "0 duplicated": rec["duplicated"] == 0,
        "every answer names its tier": total["rank"]["missing_tier"] == 0,
        "p99 ≤ 50 ms off the edges": p99 is not None and p99 <= 50,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=ROOT / "var" / "bench" / "chaos",
        help="a built home (`smartstack run --customers N`); built here when missing",
    )
    parser.add_argument("--customers", type=int, default=1200, help="when building the home")
    parser.add_argument("--duration", type=int, default=300, help="seconds of load")
    parser.add_argument("--rank-rate", type=int, default=200, help="/rank requests per second")
    parser.add_argument("--feedback-rate", type=int, default=20, help="/feedback events per second")
    parser.add_argument(
        "--explain-rate", type=int, default=1, help="/explain requests per second (the LLM's load)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the service")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma-separated, in order, of {FAULTS}"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=10,
        help="niceness of the MLflow server and the stream processor (0: none)",
    )
    parser.add_argument("--drain-timeout", type=float, default=120, help="seconds, at most")
    parser.add_argument("--out", type=Path, help="JSON: the table's figures and every request")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    args.faults = [f for f in args.faults.split(",") if f]
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed")
    home = args.home.resolve()
    ensure_data(home, args.customers)
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    print(f"work folder (logs): {work}", flush=True)
    run_id = f"chaos-{uuid.uuid4().hex[:12]}"
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    stack = start_stack(args, home, work)
    try:
        requests, edges, k6_summary = load(args, stack, work, run_id)
        accepted = {r["id"] for r in requests if r["e"] == "feedback" and 200 <= r["s"] < 300}
        print(f"load done; waiting for {len(accepted)} accepted events to land", flush=True)
        reconciliation = reconcile(stack, accepted, run_id, args.drain_timeout)
    finally:
        stack.stop()
        for aside, folder in stack.moved:  # a run stopped mid-fault leaves the model whole
            aside.rename(folder)
    result = {
        "command": " ".join([".venv/bin/python", "bench/chaos.py", *(argv or sys.argv[1:])]),
        "run_id": run_id,
        "loadavg_before": loadavg,
        "settings": {
            k: getattr(args, k)
            for k in ("duration", "rank_rate", "feedback_rate", "explain_rate", "workers", "faults")
        },
        "k6": k6_summary,
        "edges": edges,
        **summarize(requests, edges, args.duration),
        "reconciliation": reconciliation,
        "processor_exits": stack.processor.exits,
    }
    result["goals"] = goals(result)
    result["table"] = markdown(result)
    print("\n" + result["table"], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**result, "requests": requests}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
