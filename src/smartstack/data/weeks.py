"""How engagement numbers weeks, shared by the live state and the request-time features.

A week runs Monday to Sunday (ISO); its number is its Monday's ordinal − 1, floor-divided by 7,
so consecutive weeks are consecutive integers across year boundaries (2020-W53, then 2021-W01).
The dbt macro ``week_number`` computes the same number in SQL.
"""

from __future__ import annotations

from datetime import date


def week_of(day: date) -> int:
    return (day.toordinal() - day.weekday() - 1) // 7
