"""Redaction rules: every kind of identifier goes, nothing the prompts need is touched."""

from __future__ import annotations

import pytest

from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.messaging.facts import build_facts
from smartstack.messaging.prompt import build_messages
from smartstack.messaging.redaction import Redactor, luhn_valid
from tests.messaging.conftest import COFFEE_DISCOUNT, COFFEE_REASONS, coffee_features

redact = Redactor(SYNTHETIC).redact


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("mail diego.novak195@example.com now", "mail [EMAIL] now", "EMAIL"),
        ("mail first.last+tag@mail.co.uk", "mail [EMAIL]", "EMAIL"),
        ("call +1-291-555-0180.", "call [PHONE].", "PHONE"),
        ("call (291) 555-0180", "call [PHONE]", "PHONE"),
        ("call 291.555.0180 or 2915550180", "call [PHONE] or [PHONE]", "PHONE"),
        ("call +44 20 7946 0958", "call [PHONE]", "PHONE"),
        ("card 370928125561229", "card [CARD]", "CARD"),
        ("card 3709 2812 5561 229", "card [CARD]", "CARD"),
        ("card 4111-1111-1111-1111", "card [CARD]", "CARD"),
        ("account 1234567890123", "account [NUMBER]", "NUMBER"),  # long, not a card: still gone
        ("at 2181 Cedar Ln, Franklin 31404", "at [ADDRESS]", "ADDRESS"),
        ("at 42 Oak Street, Apt 5, Springfield, IL 62704.", "at [ADDRESS].", "ADDRESS"),
        ("PO Box 1234", "[ADDRESS]", "ADDRESS"),
        ("zip code 90210", "zip code [ADDRESS]", "ADDRESS"),
        ("Dear Diego Novak,", "Dear [NAME],", "NAME"),
        ("Mr. Smith called", "[NAME] called", "NAME"),
        ("my name is Lena", "my name is [NAME]", "NAME"),
        ("offer for Isla Haddad today", "offer for [NAME] today", "NAME"),
    ],
)
def test_identifiers_are_replaced(text: str, expected: str, kind: str) -> None:
    result = redact(text)

    assert result.text == expected
    assert kind in result.kinds


@pytest.mark.parametrize(
    "text",
    [
        "You spent 3x as much at coffee shops ($42.60) as before; 15% off coffee shops fits.",
        '{"spend_last_90_days_usd": 1240.55, "purchases_last_90_days": 35, "pct": 53.3}',
        "$17 back when you spend $67 on restaurants",
        "5x points on flights booked this month, valid 2026-05-31 to 2026-06-30",
        "Your Blue Cash card earns 4x points at Morning Ritual Coffee.",
        "1,240 2,500 10,000 and 31 months",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    result = redact(text)

    assert result.text == text and not result.changed


def test_real_prompts_need_no_redaction() -> None:
    """The facts carry no identifiers, so redaction must not change a prompt built from them."""
    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, COFFEE_REASONS, "fv", SYNTHETIC)

    for message in build_messages(facts, SYNTHETIC):
        assert not redact(message["content"]).changed, message["content"]


def test_a_customers_own_values_are_redacted_in_any_form() -> None:
    redactor = Redactor.for_customer(
        SYNTHETIC,
        {
            "full_name": "Mei Dubois",
            "email": "mei.dubois37@example.com",
            "phone": "+1-964-555-0113",
            "card_number": "372564189178507",
            "street_address": "1035 Mill Rd",
            "city": "Springfield",
            "postal_code": "07219",
        },
    )

    result = redactor.redact("MEI from springfield (07219) — ring 964 555 0113, or write to Mei")

    assert result.text == "[NAME] from [ADDRESS] ([ADDRESS]) — ring [PHONE], or write to [NAME]"
    assert set(result.kinds) == {"NAME", "ADDRESS", "PHONE"}


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("370928125561229")
    assert not luhn_valid("4111111111111112")
