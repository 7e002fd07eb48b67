"""`smartstack engagement …`: sentences and exit codes, on a scratch home."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.engagement.rules import Action, load_rules
from smartstack.engagement.state import Activity
from smartstack.engagement.store import open_store
from smartstack.paths import ENGAGEMENT_RULES
from smartstack.privacy.audit import AuditLog
from smartstack.settings import Settings


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["engagement", *args], obj=settings)
    return result.exit_code, " ".join(result.output.split())


def test_check_names_the_rule_and_field_of_a_bad_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    code, output = _run(settings, "check")
    assert code == 0 and "rules v1: 5 active badges" in output
    raw = yaml.safe_load(ENGAGEMENT_RULES.read_text())
    raw["badges"][0]["colour"] = "gold"
    bad = tmp_path / "rules.yaml"
    bad.write_text(yaml.safe_dump(raw))
    code, output = _run(settings, "check", str(bad))
    assert code == 2
    assert "badge 'first_redemption': field 'colour': unknown field" in output
    assert "Traceback" not in output


def test_reevaluate_puts_a_new_file_in_force_and_show_prints_the_state(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    store = open_store(settings, load_rules(ENGAGEMENT_RULES))
    at = datetime(2026, 2, 2, tzinfo=UTC)
    store.apply([Activity(f"feedback:{n}", "C1", Action.click, at) for n in range(2)])
    store.close()
    raw = yaml.safe_load(ENGAGEMENT_RULES.read_text())
    raw["version"] = 2
    raw["badges"].append(
        {"id": "curious", "title": "Curious", "description": "Two clicks.", "metric": "clicks",
         "target": 2}
    )  # fmt: skip
    changed = tmp_path / "rules.yaml"
    changed.write_text(yaml.safe_dump(raw))

    code, output = _run(settings, "reevaluate", str(changed))
    assert code == 0 and "rules v2 in force; 1 badge awarded" in output
    (audited,) = AuditLog.from_settings(settings).records()  # a rule change is an admin action
    assert audited["action"] == "rules_changed"
    assert audited["details"] == {"file": str(changed), "version": 2, "badges_awarded": 1}
    code, output = _run(settings, "show", "C1")
    assert code == 0 and '"curious"' in output
    code, output = _run(settings, "show", "NOBODY")
    assert code == 1 and "no engagement recorded for customer 'NOBODY'" in output
