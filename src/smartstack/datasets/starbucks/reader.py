"""Ingestion adapter: the public Starbucks rewards-offer data set into the platform's raw tables.

The source is a directory in the data set's own format (JSON lines, original field names):
``portfolio.json`` (10 offers), ``profile.json`` (customers) and ``transcript.json`` or
``transcript.json.gz`` (offers received, viewed, completed, and transactions, at whole hours
since the start of the test). Nothing is copied from it: the adapter reads it in place and
writes the raw tables of :mod:`smartstack.data.schema` under ``<out>/raw``, so that the same
quality gates, dbt models, Feast, training and serving run on it as on the synthetic data.

Mapping (every time is ``start`` + hours, ``start`` a configurable UTC date):

- ``customers`` ← profile: id, gender, age (the placeholder 118 becomes null), income, signup
  date; ``age_band`` from the age and ``tenure_months`` to the start date are derived; card
  product, region and consent (marketing and by purpose) do not exist here and stay null.
- ``offers`` ← portfolio: type (bogo, discount, informational), minimum spend (``difficulty``),
  reward (``value``), duration in days and channels. The portfolio has no catalogue window:
  offers are valid from the start with no end (``valid_to`` null); each receipt has its own.
- ``impressions`` ← one row per *offer received*, its view and its completion attributed to it
  (rules below), ``expires_at`` = received + duration.
- ``transactions`` ← transaction events (merchant Starbucks, category ``coffee_shops``).

Attribution, per customer and offer, oldest receipt first:

1. A view or a completion belongs to the earliest receipt of the same offer whose window
   (``received <= t <= received + duration``) contains it and that has none of that kind yet;
   an event no open receipt can take is counted as unattributed, never guessed.
2. ``completed_at`` is the completion within the window, whether or not the customer saw the
   offer. ``redeemed_at`` (the platform's success) is set only when the view came first
   (``viewed_at <= completed_at``): a completion without a view, or before it, is not a success.
3. Informational offers cannot be completed, so they never have a completion or a success.

``outcome`` is ``redeemed`` for a success, else ``viewed`` when viewed in the window, else
``shown``. The data set's end (the last event hour) is the snapshot; windows that reach past it
are censored, which the labelled mart flags. Output is staged and swapped in like the
generator's, with a ``manifest.json`` recording the start, the snapshot, the counts and the
source files' SHA-256.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.data.manifest import publish
from smartstack.data.schema import (
    AGE_BANDS,
    GENDERS,
    RAW_SCHEMAS,
    STARBUCKS_CHANNELS,
    STARBUCKS_OFFER_TYPES,
)
from smartstack.datasets import adapter

DEFAULT_START = date(2018, 8, 1)  # the day after the last signup in the public profiles
MISSING_AGE = 118  # the data set's placeholder for an unknown age
MERCHANT = "Starbucks"
CATEGORY = "coffee_shops"
TABLES: tuple[str, ...] = ("customers", "offers", "impressions", "transactions")
EVENTS = ("offer received", "offer viewed", "offer completed", "transaction")
DAYS_PER_MONTH = 30.4375
US_PER_HOUR = 3_600_000_000


class SourceError(adapter.SourceError):
    """The directory is not in the Starbucks format; the message says where and why."""


@dataclass(frozen=True)
class Offer:
    offer_id: str
    offer_type: str
    difficulty: float
    reward: float
    duration_days: float
    channels: tuple[str, ...]


@dataclass
class Transcript:
    """The transcript as columns, in file order (times in hours since the start)."""

    person: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    offer_id: list[str | None] = field(default_factory=list)
    amount: list[float | None] = field(default_factory=list)
    hour: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    offers: list[Offer]
    profiles: list[dict[str, Any]]
    transcript: Transcript
    files: dict[str, Path]


@dataclass(frozen=True)
class Attribution:
    """Per receipt: when it was viewed and completed (NaN: not in its window)."""

    viewed_hour: np.ndarray
    completed_hour: np.ndarray
    views_unattributed: int
    completions_unattributed: int


# -- reading -----------------------------------------------------------------------------------
def transcript_path(directory: Path) -> Path:
    for name in ("transcript.json.gz", "transcript.json"):
        if (directory / name).is_file():
            return directory / name
    raise SourceError(f"no transcript.json or transcript.json.gz in {directory}")


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    message = f"{path.name} line {number} is not JSON: {error.msg}"
                    raise SourceError(message) from None
                if not isinstance(record, dict):
                    raise SourceError(f"{path.name} line {number} is not a JSON object")
                yield number, record
    except (OSError, EOFError) as error:
        raise SourceError(f"cannot read {path}: {error}") from None


def _field(path: Path, number: int, record: dict[str, Any], name: str) -> Any:
    if name not in record:
        raise SourceError(f"{path.name} line {number} has no {name!r}")
    return record[name]


def read_offers(path: Path) -> list[Offer]:
    offers = []
    for number, record in _json_lines(path):
        offer_type = _field(path, number, record, "offer_type")
        channels = _field(path, number, record, "channels")
        if offer_type not in STARBUCKS_OFFER_TYPES:
            raise SourceError(f"{path.name} line {number}: unknown offer_type {offer_type!r}")
        if not isinstance(channels, list) or not set(channels) <= set(STARBUCKS_CHANNELS):
            raise SourceError(
                f"{path.name} line {number}: channels must be a list of "
                f"{', '.join(STARBUCKS_CHANNELS)}, not {channels!r}"
            )
        try:
            offers.append(
                Offer(
                    offer_id=str(_field(path, number, record, "id")),
                    offer_type=offer_type,
                    difficulty=float(_field(path, number, record, "difficulty")),
                    reward=float(_field(path, number, record, "reward")),
                    duration_days=float(_field(path, number, record, "duration")),
                    channels=tuple(sorted(channels)),
                )
            )
        except (TypeError, ValueError):
            raise SourceError(
                f"{path.name} line {number}: difficulty, reward and duration must be numbers"
            ) from None
    if not offers:
        raise SourceError(f"{path.name} holds no offer")
    return offers


def read_profiles(path: Path) -> list[dict[str, Any]]:
    profiles = []
    for number, record in _json_lines(path):
        for name in ("id", "gender", "age", "income", "became_member_on"):
            _field(path, number, record, name)
        if record["gender"] is not None and record["gender"] not in GENDERS:
            raise SourceError(f"{path.name} line {number}: unknown gender {record['gender']!r}")
        try:
            record["became_member_on"] = datetime.strptime(
                str(record["became_member_on"]), "%Y%m%d"
            ).date()
        except ValueError:
            raise SourceError(
                f"{path.name} line {number}: became_member_on must be YYYYMMDD, "
                f"not {record['became_member_on']!r}"
            ) from None
        profiles.append(record)
    return profiles


def read_transcript(path: Path) -> Transcript:
    out = Transcript()
    for number, record in _json_lines(path):
        event = _field(path, number, record, "event")
        value = _field(path, number, record, "value")
        hour = _field(path, number, record, "time")
        if event not in EVENTS:
            raise SourceError(f"{path.name} line {number}: unknown event {event!r}")
        if not isinstance(value, dict):
            raise SourceError(f"{path.name} line {number}: value must be an object")
        if not isinstance(hour, int | float) or hour < 0:
            raise SourceError(f"{path.name} line {number}: time must be hours >= 0, not {hour!r}")
        if event == "transaction":
            amount = value.get("amount")
            if not isinstance(amount, int | float) or amount <= 0:
                raise SourceError(f"{path.name} line {number}: a transaction needs an amount > 0")
            offer_id = None
        else:
            offer_id = value.get("offer id", value.get("offer_id"))
            if not isinstance(offer_id, str):
                raise SourceError(f"{path.name} line {number}: {event!r} has no offer id")
            amount = None
        out.person.append(str(_field(path, number, record, "person")))
        out.event.append(event)
        out.offer_id.append(offer_id)
        out.amount.append(None if amount is None else float(amount))
        out.hour.append(float(hour))
    if not out.event:
        raise SourceError(f"{path.name} holds no event")
    return out


def read_source(directory: Path) -> Source:
    """Read and check the three files; unknown offers or customers are errors, not drops."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SourceError(f"{directory} is not a directory")
    files = {
        "portfolio": directory / "portfolio.json",
        "profile": directory / "profile.json",
        "transcript": transcript_path(directory),
    }
    for path in files.values():
        if not path.is_file():
            raise SourceError(f"no {path.name} in {directory}")
    offers = read_offers(files["portfolio"])
    profiles = read_profiles(files["profile"])
    transcript = read_transcript(files["transcript"])
    known_offers = {o.offer_id for o in offers}
    known_people = {p["id"] for p in profiles}
    unknown_offer = next((o for o in transcript.offer_id if o and o not in known_offers), None)
    if unknown_offer:
        raise SourceError(f"the transcript names offer {unknown_offer}, absent from portfolio.json")
    unknown_person = next((p for p in transcript.person if p not in known_people), None)
    if unknown_person:
        raise SourceError(f"the transcript names person {unknown_person}, absent from profile.json")
    return Source(offers, profiles, transcript, files)


# -- attribution -------------------------------------------------------------------------------
def attribute(
    person: np.ndarray,
    offer: np.ndarray,
    received: np.ndarray,
    expires: np.ndarray,
    events: list[tuple[float, str, str, str]],
) -> Attribution:
    """Attribute ``(hour, kind, person, offer)`` view/completion events to receipts.

    Receipts are ``person``/``offer``/``received``/``expires`` arrays (hours); an event goes to
    the earliest receipt of its person and offer whose window holds it and that has no event of
    that kind yet. ``events`` must be sorted by hour.
    """
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index in np.lexsort((np.arange(received.size), received)):
        by_key[(person[index], offer[index])].append(int(index))
    found = {"viewed": np.full(received.size, np.nan), "completed": np.full(received.size, np.nan)}
    missed = {"viewed": 0, "completed": 0}
    for hour, kind, who, what in events:
        target = found[kind]
        for index in by_key.get((who, what), ()):
            if received[index] <= hour <= expires[index] and np.isnan(target[index]):
                target[index] = hour
                break
        else:
            missed[kind] += 1
    return Attribution(found["viewed"], found["completed"], missed["viewed"], missed["completed"])


# -- tables ------------------------------------------------------------------------------------
def _age_band(age: int | None) -> str | None:
    if age is None or age < 18:
        return None
    edges = (25, 35, 45, 55, 65)
    return AGE_BANDS[sum(age >= edge for edge in edges)]


def _timestamps(start_us: int, hours: np.ndarray) -> pa.Array:
    """Hours since the start as UTC timestamps; NaN hours become nulls."""
    missing = np.isnan(hours)
    micros = start_us + np.round(np.nan_to_num(hours) * US_PER_HOUR).astype(np.int64)
    return pa.array(micros, type=RAW_SCHEMAS["impressions"].field("shown_at").type, mask=missing)


def _headline(offer: Offer) -> str:
    days = f"{offer.duration_days:g} days"
    if offer.offer_type == "informational":
        return f"Informational, {days}"
    kind = "BOGO" if offer.offer_type == "bogo" else "Discount"
    return f"{kind}: spend ${offer.difficulty:g}, get ${offer.reward:g} ({days})"


def customers_table(profiles: list[dict[str, Any]], start: date) -> pa.Table:
    rows = []
    for p in profiles:
        age = None if p["age"] in (None, MISSING_AGE) else int(p["age"])
        signed_up: date = p["became_member_on"]
        months = int(max((start - signed_up).days, 0) // DAYS_PER_MONTH)
        rows.append(
            {
                "customer_id": str(p["id"]),
                "card_product": None,
                "age_band": _age_band(age),
                "region": None,
                "signup_date": signed_up,
                "tenure_months": months,
                "marketing_consent": None,
                "consent_personalization": None,
                "consent_llm_messaging": None,
                "consent_analytics": None,
                "gender": p["gender"],
                "age": age,
                "income": None if p["income"] is None else float(p["income"]),
            }
        )
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMAS["customers"])


def offers_table(offers: list[Offer], start_at: datetime) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "offer_id": o.offer_id,
                "headline": _headline(o),
                "merchant_category": CATEGORY,
                "offer_type": o.offer_type,
                "value": o.reward,
                "min_spend": o.difficulty,
                "valid_from": start_at,
                "valid_to": None,
                "eligible_card_products": None,
                "duration_days": o.duration_days,
                "channels": ",".join(o.channels),
            }
            for o in offers
        ],
        schema=RAW_SCHEMAS["offers"],
    )


def build_tables(source: Source, start: date) -> tuple[dict[str, pa.Table], dict[str, Any]]:
    """The four raw tables and the facts the manifest records."""
    start_at = datetime(start.year, start.month, start.day, tzinfo=UTC)
    start_us = int(start_at.timestamp() * 1_000_000)
    t = source.transcript
    event = np.array(t.event, dtype=object)
    person = np.array(t.person, dtype=object)
    offer_id = np.array(t.offer_id, dtype=object)
    hour = np.array(t.hour, dtype=float)
    offers = {o.offer_id: o for o in source.offers}

    received = np.flatnonzero(event == "offer received")
    # Impression ids follow (hour, customer, offer): the same files always give the same ids.
    received = received[np.lexsort((offer_id[received], person[received], hour[received]))]
    r_person, r_offer, r_hour = person[received], offer_id[received], hour[received]
    duration = np.array([offers[o].duration_days for o in r_offer]) * 24.0
    r_expires = r_hour + duration
    order = np.argsort(hour, kind="stable")
    kinds = {"offer viewed": "viewed", "offer completed": "completed"}
    events = [
        (hour[i], kinds[event[i]], person[i], offer_id[i]) for i in order if event[i] in kinds
    ]
    attributed = attribute(r_person, r_offer, r_hour, r_expires, events)
    viewed, completed = attributed.viewed_hour, attributed.completed_hour
    success = ~np.isnan(viewed) & ~np.isnan(completed) & (viewed <= completed)
    outcome = np.where(success, "redeemed", np.where(np.isnan(viewed), "shown", "viewed"))
    n = received.size
    impressions = pa.Table.from_arrays(
        [
            pa.array(np.arange(1, n + 1, dtype=np.int64)),
            pa.array(np.arange(1, n + 1, dtype=np.int64)),
            pa.array(r_person.tolist(), pa.string()),
            pa.array(r_offer.tolist(), pa.string()),
            pa.nulls(n, pa.string()),
            pa.array(np.ones(n, dtype=np.int32)),
            _timestamps(start_us, r_hour),
            _timestamps(start_us, viewed),
            pa.nulls(n, RAW_SCHEMAS["impressions"].field("clicked_at").type),
            _timestamps(start_us, np.where(success, completed, np.nan)),
            pa.array(outcome.tolist(), pa.string()),
            _timestamps(start_us, completed),
            _timestamps(start_us, r_expires),
        ],
        schema=RAW_SCHEMAS["impressions"],
    )

    paid = order[event[order] == "transaction"]
    m = paid.size
    transactions = pa.Table.from_arrays(
        [
            pa.array(np.arange(1, m + 1, dtype=np.int64)),
            pa.array(person[paid].tolist(), pa.string()),
            _timestamps(start_us, hour[paid]),
            pa.array([MERCHANT] * m, pa.string()),
            pa.array([CATEGORY] * m, pa.string()),
            pa.array(np.array([t.amount[i] for i in paid], dtype=float)),
            pa.array(["USD"] * m, pa.string()),
            pa.nulls(m, pa.string()),
        ],
        schema=RAW_SCHEMAS["transactions"],
    )
    tables = {
        "customers": customers_table(source.profiles, start),
        "offers": offers_table(source.offers, start_at),
        "impressions": impressions,
        "transactions": transactions,
    }
    last_hour = float(hour.max())
    facts = {
        "start": start_at.isoformat(),
        "impression_start": start_at.isoformat(),
        "snapshot": (start_at + timedelta(hours=last_hour)).isoformat(),
        "last_hour": last_hour,
        "attribution": {
            "views_unattributed": attributed.views_unattributed,
            "completions_unattributed": attributed.completions_unattributed,
            "completions_without_prior_view": int((~np.isnan(completed) & ~success).sum()),
        },
    }
    return tables, facts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest(source_dir: Path, out_dir: Path, start: date = DEFAULT_START) -> dict[str, Any]:
    """Write the raw tables of ``source_dir`` under ``out_dir/raw`` and return the manifest.

    Staged in ``out_dir/.staging`` and swapped in at the end, so a failure never leaves half a
    data set where the pipeline reads; the previous ``raw/`` (synthetic tables included) is
    replaced whole, and a synthetic ``ground_truth/`` is removed, so no table of another data
    set survives next to these.
    """
    source = read_source(Path(source_dir))
    tables, facts = build_tables(source, start)
    out_dir = Path(out_dir)
    staging = out_dir / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    for name, table in tables.items():
        folder = staging / "raw" / name
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-00000.parquet")
    manifest = {
        "source": "starbucks",
        "adapter": "smartstack.datasets.starbucks",
        "source_dir": str(Path(source_dir).resolve()),
        "source_files": {p.name: _sha256(p) for p in source.files.values()},
        **facts,
        "row_counts": {name: table.num_rows for name, table in sorted(tables.items())},
    }
    publish(staging, out_dir, manifest, ("raw",))
    shutil.rmtree(out_dir / "ground_truth", ignore_errors=True)
    return manifest
