"""Admin actions reach the audit log: a changed experiments file put in force by a worker.
(Reloads: ``test_erasure_http.py``; rule changes: ``tests/engagement/test_cli.py``; consent:
``tests/events/test_consent.py``; erasures and retention: their own tests.)"""

from __future__ import annotations

from pathlib import Path

import yaml

from smartstack.paths import EXPERIMENTS_FILE
from smartstack.privacy.audit import AuditLog
from smartstack.serving.app import RankingApp
from smartstack.settings import Settings
from tests.conftest import BuiltHome


def test_a_changed_experiments_file_is_audited_when_a_worker_puts_it_in_force(
    built: BuiltHome, tmp_path: Path
) -> None:
    plan = tmp_path / "experiments.yaml"
    plan.write_text(EXPERIMENTS_FILE.read_text())
    home = built.copy(tmp_path / "home").home
    settings = Settings(home=home, experiments={"file": plan})
    app = RankingApp(settings, log_snapshots=False)
    try:
        app.state.refresh()
        assert not [r for r in AuditLog.from_settings(settings).records()
                    if r["action"] == "experiments_changed"]  # fmt: skip
        changed = yaml.safe_load(plan.read_text()) | {
            "version": 7,
            "experiments": [
                {
                    "name": "smartscore-ab", "salt": "s1", "start": "2026-01-01T00:00:00Z",
                    "end": "2027-01-01T00:00:00Z", "customers": {"start": 0.0, "end": 0.5},
                    "arms": [
                        {"name": "control", "ranker": "champion", "share": 0.5},
                        {"name": "rules", "ranker": "smartscore", "share": 0.5},
                    ],
                }
            ],
        }  # fmt: skip
        plan.write_text(yaml.safe_dump(changed))
        app.state.refresh()
    finally:
        app.close()
    (record,) = [
        r
        for r in AuditLog.from_settings(settings).records()
        if r["action"] == "experiments_changed"
    ]
    assert record["details"]["version"] == 7
    assert record["details"]["experiments"] == ["smartscore-ab"]
    assert record["details"]["problem"] is None
    assert record["actor"].startswith("serving:")
