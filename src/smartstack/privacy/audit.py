"""An append-only, hash-chained log of privacy-relevant actions: erasures, consent changes and
admin actions (reloads, rule and experiment changes).

Each record is one JSON line carrying its sequence number, the previous record's hash and its
own: HMAC-SHA256 (the privacy key) of the previous hash and the record's canonical JSON. A
changed record no longer matches its hash; an inserted or deleted one breaks the sequence and
the chain; a deleted tail is caught by the head file (last sequence number and hash), written
after every append. Without the key nobody can write a chain that verifies. Customer ids
appear only as references (:func:`~smartstack.privacy.keys.customer_ref`).

Several processes append (the service's workers, the stream processor, the CLI): an append
holds an exclusive ``flock`` on the log while it reads the tail and writes.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartstack.privacy.keys import customer_ref, hash_key
from smartstack.settings import Settings

LOG_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditProblem:
    line: int  # 1-based line of the log (0: the head file)
    problem: str


class AuditLog:
    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.head = path.with_name(HEAD_FILE)
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditLog:
        return cls(settings.privacy_dir / LOG_FILE, hash_key(settings))

    def customer(self, customer_id: str) -> str:
        """The reference a record names a customer by."""
        return customer_ref(self._key, customer_id)

    def append(self, action: str, actor: str, **details: Any) -> dict[str, Any]:
        """Add one record (``details``: JSON values) and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            seq, prev = self._tail(log)
            record: dict[str, Any] = {
                "seq": seq + 1,
                "at": datetime.now(UTC).isoformat(),
                "action": action,
                "actor": actor,
                "details": details,
                "prev": prev,
            }
            record["hash"] = self._hash(record)
            log.seek(0, os.SEEK_END)
            if log.tell():
                log.seek(-1, os.SEEK_END)
                if log.read(1) != b"\n":  # a torn last line: start the record on its own
                    log.write(b"\n")
            log.write(_line(record))
            log.flush()
            os.fsync(log.fileno())
            self._write_head(record["seq"], record["hash"])
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, in order; a line that is not one (torn, or not JSON) is left out:
        ``verify`` is what reports it."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as log:
            fcntl.flock(log, fcntl.LOCK_SH)  # never a line an append is still writing
            for line in log:
                try:
                    record = json.loads(line) if line.strip() else None
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record

    def verify(self) -> list[AuditProblem]:
        """Every break in the chain; empty when the log is intact."""
        problems: list[AuditProblem] = []
        seq, prev = 0, GENESIS
        if not self.path.exists():
            return self._check_head(problems, seq, prev)
        with open(self.path, encoding="utf-8") as log:
            # Shared lock: an append in progress (its line written, its head not yet) would
            # otherwise read as a removed tail.
            fcntl.flock(log, fcntl.LOCK_SH)
            for number, line in enumerate(log, start=1):
                try:
                    record = json.loads(line)
                    stored = record.pop("hash")
                    ok = hmac.compare_digest(stored, self._hash(record))
                    int(record["seq"])
                except (ValueError, KeyError, TypeError, AttributeError):
                    problems.append(AuditProblem(number, "not a record of this log"))
                    continue
                if not ok:
                    problems.append(AuditProblem(number, "changed: its hash does not match"))
                if record.get("seq") != seq + 1:
                    problems.append(
                        AuditProblem(
                            number,
                            f"out of sequence: {record.get('seq')} after {seq} "
                            "(a record was inserted or deleted)",
                        )
                    )
                if record.get("prev") != prev:
                    problems.append(AuditProblem(number, "the chain breaks: previous hash differs"))
                seq, prev = int(record["seq"]), stored
            return self._check_head(problems, seq, prev)

    def _check_head(self, problems: list[AuditProblem], seq: int, prev: str) -> list[AuditProblem]:
        head = self._read_head()
        if head != (seq, prev) and not (head is None and seq == 0):
            problems.append(
                AuditProblem(
                    0,
                    f"the head names record {head[0] if head else 'none'} but the log ends at "
                    f"{seq}: records were removed from the end (or the head was changed)",
                )
            )
        return problems

    def _hash(self, record: dict[str, Any]) -> str:
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _tail(log: Any) -> tuple[int, str]:
        """The last record's sequence number and hash (0 and the genesis hash when empty).

        A last line that is not a record (a writer that died mid-line) is passed over: the
        next record chains to the last whole one, and ``verify`` reports the torn line."""
        log.seek(0, os.SEEK_END)
        end = log.tell()
        step = 4096
        start = max(0, end - step)
        while end:
            log.seek(start)
            lines = log.read(end - start).splitlines()
            whole = lines if start == 0 else lines[1:]  # the first may be cut by the window
            for line in reversed(whole):
                try:
                    last = json.loads(line)
                    return int(last["seq"]), str(last["hash"])
                except (ValueError, KeyError, TypeError):
                    continue
            if start == 0:
                break
            start = max(0, start - step)
        return 0, GENESIS

    def _write_head(self, seq: int, digest: str) -> None:
        draft = self.head.with_suffix(".tmp")
        draft.write_text(json.dumps({"seq": seq, "hash": digest}))
        draft.replace(self.head)

    def _read_head(self) -> tuple[int, str] | None:
        try:
            head = json.loads(self.head.read_text())
            return int(head["seq"]), str(head["hash"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode()
