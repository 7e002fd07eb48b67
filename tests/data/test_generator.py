"""The synthetic data set: deterministic, well-formed, consistent, and shaped by its ground truth."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from smartstack.data.schema import (
    CARD_PRODUCTS,
    GROUND_TRUTH_SCHEMAS,
    MERCHANT_CATEGORIES,
    OUTCOMES,
    RAW_SCHEMAS,
)
from smartstack.datasets.synthetic.generator import GeneratorConfig, generate
from tests.conftest import SMALL


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _sql(root: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per generated table."""
    con = duckdb.connect()
    for group, tables in (("raw", RAW_SCHEMAS), ("ground_truth", GROUND_TRUTH_SCHEMAS)):
        for table in tables:
            con.execute(
                f"create view {table} as select * from read_parquet('{root}/{group}/{table}/*.parquet')"
            )
    return con


def test_same_seed_gives_identical_files_whatever_the_worker_count(
    small_dataset: Path, tmp_path: Path
) -> None:
    generate(SMALL, tmp_path / "again", workers=1)
    assert _digests(tmp_path / "again") == _digests(small_dataset)


def test_another_seed_gives_other_data(small_dataset: Path, tmp_path: Path) -> None:
    generate(replace(SMALL, seed=SMALL.seed + 1), tmp_path / "other", workers=2)
    theirs = _digests(tmp_path / "other")
    ours = _digests(small_dataset)
    assert (
        theirs["raw/transactions/part-00000.parquet"] != ours["raw/transactions/part-00000.parquet"]
    )


def test_rerun_into_the_same_folder_replaces_the_data(tmp_path: Path) -> None:
    config = replace(SMALL, customers=300)
    generate(config, tmp_path, workers=1)
    first = _digests(tmp_path)
    generate(config, tmp_path, workers=1)
    assert _digests(tmp_path) == first
    assert not (tmp_path / ".staging").exists()


@pytest.mark.parametrize(
    ("group", "table", "schema"),
    [
        *(("raw", t, s) for t, s in RAW_SCHEMAS.items()),
        *(("ground_truth", t, s) for t, s in GROUND_TRUTH_SCHEMAS.items()),
    ],
)
def test_every_table_has_its_contract_schema(
    small_dataset: Path, group: str, table: str, schema
) -> None:
    parts = sorted((small_dataset / group / table).glob("part-*.parquet"))
    assert parts, f"no part files for {table}"
    for part in parts:
        assert pq.read_schema(part).remove_metadata().equals(schema), part


def test_row_counts_are_at_the_requested_scale(small_dataset: Path) -> None:
    con = _sql(small_dataset)
    assert con.execute("select count(*) from customers").fetchone()[0] == SMALL.customers
    assert con.execute("select count(*) from customer_pii").fetchone()[0] == SMALL.customers
    assert con.execute("select count(distinct offer_id) from offers").fetchone()[0] >= 30
    per_customer = con.execute("select count(*) from transactions").fetchone()[0] / SMALL.customers
    assert 70 <= per_customer <= 130  # ~100 per customer: 100k customers give ~10M transactions


def test_every_reference_resolves(small_dataset: Path) -> None:
    con = _sql(small_dataset)
    orphans = {
        "impression customer": "select count(*) from impressions i anti join customers c using (customer_id)",
        "impression offer": "select count(*) from impressions i anti join offers o using (offer_id)",
        "transaction customer": "select count(*) from transactions t anti join customers c using (customer_id)",
        "click customer": "select count(*) from clickstream e anti join customers c using (customer_id)",
        "click offer": "select count(*) from clickstream e anti join offers o using (offer_id) where e.offer_id is not null",
        "quiz customer": "select count(*) from quiz_responses q anti join customers c using (customer_id)",
        "pii customer": "select count(*) from customer_pii p anti join customers c using (customer_id)",
        "impression truth": "select count(*) from impressions i anti join impression_truth t using (impression_id)",
    }
    assert {name: con.execute(q).fetchone()[0] for name, q in orphans.items()} == dict.fromkeys(
        orphans, 0
    )


def test_keys_are_unique(small_dataset: Path) -> None:
    con = _sql(small_dataset)
    for table, key in [
        ("customers", "customer_id"),
        ("offers", "offer_id"),
        ("transactions", "transaction_id"),
        ("impressions", "impression_id"),
        ("clickstream", "event_id"),
        ("quiz_responses", "response_id"),
    ]:
        rows, distinct = con.execute(
            f"select count(*), count(distinct {key}) from {table}"
        ).fetchone()
        assert rows == distinct, table


def test_enums_stay_within_their_domains(small_dataset: Path) -> None:
    con = _sql(small_dataset)

    def values(sql: str) -> set[str]:
        return {row[0] for row in con.execute(sql).fetchall()}

    assert values("select distinct merchant_category from transactions") == set(MERCHANT_CATEGORIES)
    assert values("select distinct card_product from customers") == set(CARD_PRODUCTS)
    assert values("select distinct outcome from impressions") == set(OUTCOMES)


def test_nothing_happens_at_or_after_the_snapshot(small_dataset: Path) -> None:
    con = _sql(small_dataset)
    snapshot = SMALL.end.isoformat()
    for table, column in [
        ("transactions", "event_timestamp"),
        ("clickstream", "event_timestamp"),
        ("quiz_responses", "answered_at"),
        ("impressions", "shown_at"),
        ("impressions", "redeemed_at"),
    ]:
        late = con.execute(
            f"select count(*) from {table} where {column} >= '{snapshot}'"
        ).fetchone()[0]
        assert late == 0, f"{table}.{column}"


def test_funnel_is_ordered_in_time_and_stage(small_dataset: Path) -> None:
    con = _sql(small_dataset)
    broken = con.execute("""
        select count(*) from impressions where
            viewed_at < shown_at or clicked_at < viewed_at or redeemed_at < clicked_at
            or (outcome = 'shown' and viewed_at is not null)
            or (outcome = 'viewed' and (viewed_at is null or clicked_at is not null))
            or (outcome = 'clicked' and (clicked_at is null or redeemed_at is not null))
            or (outcome = 'redeemed' and redeemed_at is null)
    """).fetchone()[0]
    assert broken == 0


def test_outcome_rate_rises_with_the_true_utility(small_dataset: Path) -> None:
    """The hidden utility drives behaviour, so a model can learn it."""
    con = _sql(small_dataset)
    rates = con.execute("""
        select quintile, avg((outcome = 'redeemed')::int) as redeem, avg((outcome in ('clicked', 'redeemed'))::int) as click
        from (select ntile(5) over (order by true_utility) as quintile, outcome
              from impressions join impression_truth using (impression_id))
        group by quintile order by quintile
    """).fetchall()
    redeem = [r[1] for r in rates]
    click = [r[2] for r in rates]
    assert redeem == sorted(redeem) and click == sorted(click)
    assert redeem[-1] > 5 * redeem[0]


def test_drifting_segment_moves_spend_from_dining_to_travel(small_dataset: Path) -> None:
    con = _sql(small_dataset)
    shares = dict(
        ((drifting, after), (travel, dining))
        for drifting, after, travel, dining in con.execute("""
            select is_drifting, event_timestamp >= coalesce(drift_at, '2100-01-01') as after,
                   avg((merchant_category = 'travel')::int), avg((merchant_category = 'dining')::int)
            from transactions join customer_truth using (customer_id) group by all
        """).fetchall()
    )
    before_travel, before_dining = shares[(True, False)]
    after_travel, after_dining = shares[(True, True)]
    assert after_travel > 3 * before_travel
    assert after_dining < before_dining / 2
    # Everyone else keeps a steady taste and has no post-drift period at all.
    assert (False, True) not in shares
    drifting_share = con.execute("select avg(is_drifting::int) from customer_truth").fetchone()[0]
    assert 0.03 < drifting_share < 0.15


def test_ground_truth_and_pii_stay_out_of_the_pseudonymous_tables(small_dataset: Path) -> None:
    hidden = {f.name for s in GROUND_TRUTH_SCHEMAS.values() for f in s} - {
        "customer_id",
        "impression_id",
    }
    pii = {f.name for f in RAW_SCHEMAS["customer_pii"]} - {"customer_id"}
    for table, schema in RAW_SCHEMAS.items():
        names = set(schema.names)
        assert not names & hidden, table
        if table != "customer_pii":
            assert not names & pii, table
    assert not (small_dataset / "raw" / "customer_truth").exists()


def test_card_numbers_pass_the_luhn_check(small_dataset: Path) -> None:
    numbers = pq.read_table(small_dataset / "raw" / "customer_pii", columns=["card_number"])
    for number in numbers.column(0).to_pylist()[:200]:
        digits = [int(d) for d in number]
        checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
        assert len(number) == 15 and checksum % 10 == 0, number


def test_a_customer_who_never_answers_the_quiz_is_generated(tmp_path: Path) -> None:
    """Seed 0 gives one customer and no quiz answer: impressions then have no stated match."""
    counts = generate(GeneratorConfig(customers=1, seed=0), tmp_path, workers=1)
    assert counts["quiz_responses"] == 0
    assert counts["customers"] == 1 and counts["impressions"] > 0
