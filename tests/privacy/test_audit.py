"""The audit log: an intact chain verifies; every kind of tampering is found and its line named;
appends from several processes make one intact chain; the CLI's exit codes."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.privacy.audit import AuditLog, AuditProblem
from smartstack.privacy.keys import hash_key
from smartstack.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def log(settings: Settings) -> AuditLog:
    """Five records: an erasure, a consent change, three admin actions."""
    audit = AuditLog.from_settings(settings)
    audit.append("erasure", "cli", customer=audit.customer("C000001"), stores=["raw", "feast"])
    audit.append("consent", "service", customer=audit.customer("C000002"), granted=False)
    for n in range(3):
        audit.append("reload", "admin", version=str(n))
    return audit


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(lines))


def _lines_named(problems: list[AuditProblem]) -> set[int]:
    return {p.line for p in problems}


def test_an_untouched_chain_verifies(log: AuditLog) -> None:
    assert log.verify() == []
    assert [r["seq"] for r in log.records()] == [1, 2, 3, 4, 5]
    assert "C000001" not in log.path.read_text()  # customers only as references


def test_an_empty_or_missing_log_verifies(settings: Settings) -> None:
    assert AuditLog.from_settings(settings).verify() == []


def test_a_changed_detail_is_found_on_its_line(log: AuditLog) -> None:
    lines = _lines(log)
    record = json.loads(lines[1])
    record["details"]["granted"] = True
    lines[1] = json.dumps(record, sort_keys=True) + "\n"
    _write(log, lines)
    problems = log.verify()
    assert _lines_named(problems) == {2}
    assert "changed" in problems[0].problem


def test_a_copied_line_inserted_is_found(log: AuditLog) -> None:
    lines = _lines(log)
    lines.insert(2, lines[1])  # record 2 twice in a row: the copy is line 3
    _write(log, lines)
    problems = log.verify()
    assert _lines_named(problems) == {3}
    assert any("out of sequence: 2 after 2" in p.problem for p in problems)
    # Further down, the copy is the first line named (the record after it breaks too).
    lines = _lines(log)
    del lines[2]
    lines.insert(3, lines[1])
    _write(log, lines)
    assert min(_lines_named(log.verify())) == 4


def test_a_forged_line_inserted_is_found(log: AuditLog) -> None:
    lines = _lines(log)
    forged = json.loads(lines[2])
    forged["action"] = "erasure"
    lines.insert(3, json.dumps(forged, sort_keys=True) + "\n")
    _write(log, lines)
    problems = log.verify()
    assert 4 in _lines_named(problems)
    assert any(p.line == 4 and "changed" in p.problem for p in problems)


def test_a_deleted_record_in_the_middle_is_found(log: AuditLog) -> None:
    lines = _lines(log)
    del lines[2]  # record 3
    _write(log, lines)
    problems = log.verify()
    assert _lines_named(problems) == {3}  # record 4, now on line 3, follows record 2
    assert any("out of sequence: 4 after 2" in p.problem for p in problems)
    assert any("chain breaks" in p.problem for p in problems)


def test_a_deleted_last_record_is_caught_by_the_head(log: AuditLog) -> None:
    _write(log, _lines(log)[:-1])
    problems = log.verify()
    assert _lines_named(problems) == {0}  # the head file
    assert "the head names record 5 but the log ends at 4" in problems[0].problem


def test_a_record_forged_with_another_key_is_found(settings: Settings, log: AuditLog) -> None:
    forger = AuditLog(log.path, b"not the key")
    forger.append("erasure", "intruder", customer="someone")  # chains onto the real tail
    problems = log.verify()
    assert _lines_named(problems) >= {6}
    assert any(p.line == 6 and "changed" in p.problem for p in problems)
    # The whole log rewritten under another key fails on every line.
    assert _lines_named(AuditLog(log.path, hash_key(settings)).verify()) >= {6}


def test_a_line_that_is_not_a_record_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    lines.insert(1, '{"seq": "two"}\n')
    _write(log, lines)
    problems = log.verify()
    assert AuditProblem(2, "not a record of this log") in problems


def _append_many(home: str, worker: int, count: int) -> None:
    audit = AuditLog.from_settings(Settings(home=Path(home)))
    for n in range(count):
        audit.append("reload", f"worker-{worker}", n=n)


def test_appends_from_several_processes_make_one_chain(settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")  # no inherited locks or file handles
    workers = [
        context.Process(target=_append_many, args=(str(settings.home), w, 50)) for w in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    audit = AuditLog.from_settings(settings)
    assert audit.verify() == []
    records = list(audit.records())
    assert [r["seq"] for r in records] == list(range(1, 201))
    for w in range(4):
        mine = [r["details"]["n"] for r in records if r["actor"] == f"worker-{w}"]
        assert mine == list(range(50))  # each process's appends in its order


def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["privacy", "audit", *args], obj=settings)
    return result.exit_code, " ".join(result.output.split())


def test_the_cli_verifies_and_names_each_problem(settings: Settings, log: AuditLog) -> None:
    code, output = _cli(settings, "verify")
    assert code == 0 and "5 records, chain intact" in output
    lines = _lines(log)
    del lines[2]
    _write(log, lines[:-1])
    code, output = _cli(settings, "verify")
    assert code == 1
    assert "line 3: out of sequence: 4 after 2" in output
    assert "head file (audit.head): the head names record 5 but the log ends at 4" in output
    assert "Traceback" not in output


def test_the_cli_shows_records_filtered(settings: Settings, log: AuditLog) -> None:
    code, output = _cli(settings, "show", "--action", "reload", "--last", "2", "--json")
    assert code == 0
    records = [json.loads(line) for line in output.replace("} {", "}\n{").splitlines()]
    assert [(r["seq"], r["details"]["version"]) for r in records] == [(4, "1"), (5, "2")]
    code, output = _cli(settings, "show")
    assert code == 0
    assert "audit log: 5 records" in output and "consent" in output


def test_a_torn_last_line_is_reported_and_appends_go_on(log: AuditLog) -> None:
    count = len(_lines(log))
    with log.path.open("ab") as handle:  # a writer that died mid-record
        handle.write(b'{"seq": 99, "act')
    record = log.append("reload", "admin@127.0.0.1", version="3")
    assert record["seq"] == count + 1  # chained to the last whole record
    problems = log.verify()
    assert _lines_named(problems) == {count + 1}
    assert "not a record" in problems[0].problem
    assert [r["seq"] for r in log.records()][-1] == count + 1
