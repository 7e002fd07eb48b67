"""The data-set adapter interface: everything that differs between the data sets the platform
runs on, in one place.

Each data set is one implementation (:mod:`smartstack.datasets.synthetic`,
:mod:`smartstack.datasets.starbucks`) registered by name in :mod:`smartstack.datasets`; the
``dataset`` setting picks one, and every layer asks the adapter instead of the name:

- **landing**: which raw tables it writes (their contracts are
  :data:`smartstack.data.schema.RAW_SCHEMAS`), how (:meth:`DatasetAdapter.land`) and the errors
  its source can raise (:class:`SourceError` and its subclasses: one sentence each);
- **features**: the dbt vars that enable its models, the marts Feast reads, the feature service
  of its model, its offer catalogue view and popularity (what serving reads) and, where it has
  them, the quiz view cold start reads and the engagement view the stream pushes to;
- **training**: the labelled mart, the targets, how rows are grouped for ranking metrics, the
  segments and subsets reported apart, the demographic-only baseline's view;
- **explanations**: the :class:`~smartstack.datasets.vocabulary.Vocabulary` its offers and
  customers are described in.

Hyper-parameters and the time split stay in ``training/params.yaml`` (its ``datasets:``
section), feature names in ``feature_repo/``, quality rules in ``expectations/`` (keyed by the
adapter's name): each tool keeps its own definitions, the adapter says which ones apply.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from smartstack.datasets.vocabulary import Vocabulary
    from smartstack.settings import Settings


class SourceError(ValueError):
    """The data set's source cannot be landed as it is (missing directory, wrong format); the
    message is one sentence naming the file and what is wrong."""


@dataclass(frozen=True)
class Target:
    """What a model predicts, on which rows, and how its ranking is graded.

    ``label`` is a 0/1 column of the labelled mart; ``rows`` (a 0/1 column) restricts the rows
    the target is defined on; ``grade`` is the NDCG gain: the synthetic engagement grade of
    ``relevance`` (0 shown/viewed, 1 clicked, 2 redeemed) or the label itself.
    """

    name: str
    label: str
    rows: str | None = None
    grade: Literal["engagement", "label"] = "engagement"
    description: str = ""


@dataclass(frozen=True)
class FeatureRef:
    """One feature of one Feast feature view."""

    view: str
    feature: str


@dataclass(frozen=True)
class LandOptions:
    """What a run asks of the landing step; each adapter reads what applies to it (the
    generator its scale and seed, a reader of files its settings' ``source_dir``)."""

    customers: int = 10_000
    seed: int = 42


@dataclass(frozen=True)
class Landed:
    """What a landing wrote: rows per raw table, and one line saying from where."""

    row_counts: dict[str, int]
    origin: str


class DatasetAdapter(ABC):
    """One data set, as every layer of the platform needs to know it."""

    name: ClassVar[str]
    description: ClassVar[str]
    # -- landing
    raw_tables: ClassVar[tuple[str, ...]]  # what `land` writes; dbt reads these
    land_command: ClassVar[str]  # how a person lands it, for error messages
    needs_source_dir: ClassVar[bool] = False  # read from the `source_dir` setting
    # -- features
    dbt_vars: ClassVar[Mapping[str, Any]] = {}
    feature_marts: ClassVar[tuple[str, ...]]  # point-in-time feature marts Feast reads
    serving_marts: ClassVar[tuple[str, ...]] = ()  # marts of the catalogue, quiz, engagement
    feature_service: ClassVar[str]  # default; the feature_service setting overrides it
    catalogue_view: ClassVar[str]  # offer terms, validity and eligibility, by offer id
    popularity: ClassVar[FeatureRef]  # the smoothed rate the non-personal tiers order by
    quiz_view: ClassVar[str | None] = None  # stated favourite category, by customer id
    engagement_view: ClassVar[str | None] = None  # engagement signals, by customer id
    # Every card product of the data set (an offer listing them all is open to every card);
    # empty: the data set has no card restrictions.
    card_products: ClassVar[tuple[str, ...]] = ()
    # -- training
    labelled_mart: ClassVar[str]  # the dbt mart of labelled rows (the training entity frame)
    targets: ClassVar[tuple[Target, ...]]  # the first is the registered model's
    ranking_group: ClassVar[str]  # rows ranked together for NDCG/MAP
    evaluation_columns: ClassVar[tuple[str, ...]] = ()  # labelled-mart columns kept aside
    segments: ClassVar[tuple[str, ...]] = ()  # columns whose values are reported (and gated)
    # Named subsets of the test rows reported beside "all": column -> required value.
    subsets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    demographic_view: ClassVar[str | None] = None  # view of the demographic-only baseline

    @property
    def primary(self) -> Target:
        return self.targets[0]

    @property
    def contracts(self) -> dict[str, pa.Schema]:
        """The schema of every raw table this data set lands."""
        from smartstack.data.schema import RAW_SCHEMAS

        return {table: RAW_SCHEMAS[table] for table in self.raw_tables}

    @property
    def feast_marts(self) -> tuple[str, ...]:
        """Every mart Feast reads: checked before the online store is loaded."""
        return (*self.feature_marts, *self.serving_marts)

    @property
    def catalogue_views(self) -> tuple[str, ...]:
        """Views registered beside the feature service: those serving reads, and the
        engagement view, so the stream processor can push to it whichever service is active."""
        views = [self.catalogue_view, self.popularity.view]
        views += [v for v in (self.quiz_view, self.engagement_view) if v]
        return tuple(dict.fromkeys(views))

    @property
    @abstractmethod
    def vocabulary(self) -> Vocabulary:
        """The words and facts explanations of this data set's offers may use."""

    @abstractmethod
    def land(self, settings: Settings, options: LandOptions) -> Landed:
        """Write the raw tables under ``settings.raw_dir`` (and the ``manifest.json`` of the
        data set's time frame beside them), replacing what was there whole; raise
        :class:`SourceError` when the source cannot be read."""

    def evaluation_frame(self, frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
        """Add the columns evaluation reports by (segments, an oracle) to the training
        frame; by default the labelled mart already carries them."""
        return frame


class UnknownDataset(ValueError):
    """The ``dataset`` setting names no data set this platform knows; one sentence."""
