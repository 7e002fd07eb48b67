"""Customer feature rows computed from the raw generated tables with DuckDB, for tests and docs.

The dbt marts are the real source of these features; this is a small re-derivation of the subset
explanations use (same names and conventions: windows end the day before the snapshot, shares are
fractions, trend is the last 30 days over the monthly average of the 90 days before, capped at 10
and set to the cap when only the recent window has spend), so that tests do not depend on the
feature pipeline having run.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.datasets.synthetic.vocabulary import TREND_CAP

_SPEND = """
with t as (
    select customer_id, merchant_category as category, amount,
           date_diff('day', cast(event_timestamp as date), date '{snapshot}') as age
    from read_parquet('{raw}/transactions/*.parquet')
    where cast(event_timestamp as date) < date '{snapshot}'
)
select customer_id, category,
    sum(amount) filter (where age <= 7), count(*) filter (where age <= 7),
    sum(amount) filter (where age <= 30), count(*) filter (where age <= 30),
    sum(amount) filter (where age <= 90), count(*) filter (where age <= 90),
    sum(amount) filter (where age between 31 and 120),
    min(age)
from t where age <= 120
group by all
"""
_PROFILE = """
with quiz as (
    select customer_id, favourite_category, reward_preference,
           row_number() over (partition by customer_id order by answered_at desc) as rn
    from read_parquet('{raw}/quiz_responses/*.parquet')
    where cast(answered_at as date) < date '{snapshot}'
),
redeemed as (
    select i.customer_id, avg(case when o.offer_type = 'points' then 1.0 else 0.0 end) as share
    from read_parquet('{raw}/impressions/*.parquet') i
    join read_parquet('{raw}/offers/*.parquet') o using (offer_id)
    where i.redeemed_at is not null
      and cast(i.redeemed_at as date) < date '{snapshot}'
      and date_diff('day', cast(i.redeemed_at as date), date '{snapshot}') <= 90
    group by 1
)
select c.customer_id, c.card_product, c.tenure_months, q.favourite_category,
       q.reward_preference, r.share
from read_parquet('{raw}/customers/*.parquet') c
left join quiz q on q.customer_id = c.customer_id and q.rn = 1
left join redeemed r on r.customer_id = c.customer_id
"""


def customer_features(raw: Path, snapshot: str) -> dict[str, dict[str, Any]]:
    """One feature row per customer as of `snapshot` (YYYY-MM-DD)."""
    con = duckdb.connect()
    rows: dict[str, dict[str, Any]] = defaultdict(dict)
    for cid, card, tenure, fav, pref, share in con.execute(
        _PROFILE.format(raw=raw, snapshot=snapshot)
    ).fetchall():
        row = rows[cid]
        row.update(customer_id=cid, card_product=card, tenure_months=tenure)
        row["quiz_favourite_category"] = fav
        row["quiz_prefers_rewards"] = None if pref is None else int(pref == "rewards")
        row["points_redemption_share"] = share
        for c in MERCHANT_CATEGORIES:
            for w in (7, 30, 90):
                row[f"spend_{c}_{w}d"] = 0.0
                row[f"txn_count_{c}_{w}d"] = 0
            row[f"trend_{c}"] = None
    last_age: dict[str, int] = {}
    for cid, c, s7, n7, s30, n30, s90, n90, prior, age in con.execute(
        _SPEND.format(raw=raw, snapshot=snapshot)
    ).fetchall():
        row = rows[cid]
        row[f"spend_{c}_7d"], row[f"txn_count_{c}_7d"] = s7 or 0.0, n7
        row[f"spend_{c}_30d"], row[f"txn_count_{c}_30d"] = s30 or 0.0, n30
        row[f"spend_{c}_90d"], row[f"txn_count_{c}_90d"] = s90 or 0.0, n90
        recent = s30 or 0.0
        if prior:
            row[f"trend_{c}"] = min(recent / (prior / 3.0), TREND_CAP)
        elif recent > 0:
            row[f"trend_{c}"] = TREND_CAP
        last_age[cid] = min(age, last_age.get(cid, age))
    for cid, row in rows.items():
        total = sum(row[f"spend_{c}_90d"] for c in MERCHANT_CATEGORIES)
        row["spend_90d"] = total
        for c in MERCHANT_CATEGORIES:
            row[f"share_{c}_90d"] = row[f"spend_{c}_90d"] / total if total else 0.0
        row["days_since_last_txn"] = last_age.get(cid)
    return dict(rows)


def offers(raw: Path) -> dict[str, dict[str, Any]]:
    con = duckdb.connect()
    result = con.execute(
        "select offer_id, headline, merchant_category, offer_type, value, min_spend "
        f"from read_parquet('{raw}/offers/*.parquet')"
    )
    names = [d[0] for d in result.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in result.fetchall()}
