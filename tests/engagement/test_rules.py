from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from smartstack.engagement.quiz import load_quiz
from smartstack.engagement.rules import RuleFileError, load_rules, parse_rules
from smartstack.events.contracts import QuizAnswerEvent
from smartstack.paths import ENGAGEMENT_RULES, QUIZ_QUESTIONS


def _raw() -> dict:
    return yaml.safe_load(ENGAGEMENT_RULES.read_text())


def _error(raw: dict) -> str:
    with pytest.raises(RuleFileError) as caught:
        parse_rules(raw, "rules.yaml")
    return str(caught.value)


def test_the_shipped_rules_load_with_the_issues_examples() -> None:
    rules = load_rules(ENGAGEMENT_RULES)
    assert {b.id for b in rules.active} >= {"first_redemption", "explorer", "four_week_streak"}
    assert rules.guardrail is not None and rules.guardrail.ratio == 1.5


def test_an_unknown_field_names_the_rule_and_the_field() -> None:
    raw = _raw()
    raw["badges"][1]["tagret"] = 3
    assert "badge 'explorer': field 'tagret': unknown field" in _error(raw)


def test_a_bad_value_names_the_rule_and_the_field() -> None:
    raw = _raw()
    raw["badges"][2]["target"] = 0
    raw["badges"][3]["metric"] = "spend"
    message = _error(raw)
    assert "badge 'four_week_streak': field 'target'" in message
    assert "badge 'critic': field 'metric'" in message


def test_guardrail_and_duplicate_ids_are_named() -> None:
    raw = _raw()
    raw["guardrail"]["ratio"] = -1
    assert "rule 'guardrail': field 'ratio'" in _error(raw)
    raw = _raw()
    raw["badges"].append(dict(raw["badges"][0]))
    assert "badge 'first_redemption': field 'id': used by another badge" in _error(raw)


def test_a_missing_or_broken_file_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="cannot be read"):
        load_rules(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("badges: [")
    with pytest.raises(RuleFileError, match="not valid YAML"):
        load_rules(tmp_path / "bad.yaml")


def test_the_quiz_asks_exactly_what_the_answer_contract_holds() -> None:
    quiz = load_quiz(QUIZ_QUESTIONS)
    answer_fields = set(QuizAnswerEvent.model_fields) - {
        "schema_version", "event_id", "customer_id", "answered_at", "timezone",
    }  # fmt: skip
    assert {q.id for q in quiz.questions} == answer_fields
    for question in quiz.questions:
        for option in question.options:  # every offered answer is one the contract takes
            answer = {
                "event_id": "e",
                "customer_id": "C",
                "answered_at": "2026-01-01T00:00:00Z",
                "favourite_category": "travel",
                "reward_preference": "rewards",
                "planning_travel": False,
                question.id: option.value,
            }
            QuizAnswerEvent.model_validate_json(json.dumps(answer))
