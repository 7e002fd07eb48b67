"""One typed settings object for every path, URL, store and component knob.

Values come, highest first, from keyword arguments, ``SMARTSTACK_*`` environment variables (and
the conventional names such as ``REDIS_URL``, ``MLFLOW_TRACKING_URI`` or ``OPENAI_BASE_URL``), a
``.env`` file, the training parameters file, and finally the defaults of the active profile:

- ``local`` (default): everything embedded under ``SMARTSTACK_HOME`` (DuckDB, SQLite, files);
- ``prod``: Redis online store, BigQuery warehouse, Postgres for the Feast registry and the
  MLflow backend, a Kafka cluster.

The tree: paths and stores at the top, then one section per component, each read from its own
prefix (``SMARTSTACK_SERVING_FEATURE_TIMEOUT_MS`` is ``serving.feature_timeout_ms``):

- ``serving``: the ranking service's deadlines, caps, ranking log and admin token;
- ``llm``: the OpenAI-compatible endpoint explanations may call, and its limits;
- ``engagement``: the badge rules and quiz files, and where engagement state lives;
- ``experiments``: the experiments file (which rankers share live traffic);
- ``auth``: how the endpoints the web app calls verify who is asking (tokens, service token);
- ``web``: where the built web app is and which clock it shows offers for;
- ``training``: the model's parameters from ``training/params.yaml`` (``SMARTSTACK_TRAINING_PARAMS``
  points elsewhere), with the active data set's section applied, plus the retrieval chunk size.

Reading settings has no side effects (no folders are created, nothing is configured), and a
subprocess is handed its settings explicitly with :meth:`Settings.environment`, never through a
changed parent environment.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from smartstack.paths import (
    AIRFLOW_VENV,
    DBT_PROJECT_DIR,
    ENGAGEMENT_RULES,
    EXPERIMENTS_FILE,
    QUIZ_QUESTIONS,
    TRAINING_PARAMS,
    WEB_DIST,
)


class Profile(StrEnum):
    local = "local"
    prod = "prod"


class OnlineStore(StrEnum):
    sqlite = "sqlite"
    redis = "redis"


class Warehouse(StrEnum):
    duckdb = "duckdb"
    bigquery = "bigquery"
    # dbt-spark in this process' SparkSession (`spark_master`: local mode or a cluster's URL),
    # Feast's Spark offline store and xgboost.spark over the same Parquet marts.
    spark = "spark"


def _alias(name: str, *others: str) -> AliasChoices:
    """Accept ``SMARTSTACK_<NAME>``, the bare ``<NAME>`` the wider ecosystem uses, and others."""
    return AliasChoices(f"SMARTSTACK_{name}", name, *others)


# Profile defaults, applied only to fields the caller did not set.
_PROFILE_DEFAULTS: dict[Profile, dict[str, Any]] = {
    Profile.local: {
        "online_store": OnlineStore.sqlite,
        "warehouse": Warehouse.duckdb,
        "redis_url": "redis://127.0.0.1:6379/0",
        "postgres_url": None,
        # No broker: POST /feedback writes straight to the local feedback table. The run
        # command that starts the local broker sets KAFKA_BOOTSTRAP_SERVERS.
        "kafka_bootstrap_servers": None,
    },
    Profile.prod: {
        "online_store": OnlineStore.redis,
        "warehouse": Warehouse.bigquery,
        "redis_url": "redis://redis:6379/0",
        "postgres_url": "postgresql://smartstack:smartstack@postgres:5432/smartstack",
        "kafka_bootstrap_servers": "kafka:9092",
        "mlflow_tracking_uri": "postgresql://smartstack:smartstack@postgres:5432/mlflow",
    },
}
# Section values that differ by profile, applied to the keys the caller left unset. The local
# profile signs its own tokens with a fixed, public key: its sign-in page lets anyone be anyone,
# so the key protects nothing there; prod has no key until one is configured.
_PROFILE_SECTIONS: dict[Profile, dict[str, dict[str, Any]]] = {
    Profile.local: {
        "auth": {
            "signing_key": "smartstack-local-signing-key-for-the-local-profile-only",
            "service_token": "smartstack-local-service-token",
            "local_sign_in": True,
        },
        "web": {"clock": "dataset"},
        "monitoring": {"clock": "dataset"},
    },
}
# A data set other than this one gets its own home (``<home>/<dataset>``).
DEFAULT_DATASET = "synthetic"
# A Spark memory size (spark.driver.memory): a number and a binary unit, MiB without one.
SPARK_MEMORY_UNITS = ("b", "k", "m", "g", "t", "p")
SPARK_MEMORY = re.compile(r"(\d+)([bkmgtpBKMGTP])?[bB]?")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServingSettings(_Section):
    """The ranking service: deadlines, caps, buffer sizes and who may call its admin endpoints."""

    url: str = Field("http://127.0.0.1:3000", description="Where the service answers.")
    feature_timeout_ms: float = Field(
        20.0,
        gt=0,
        description="Deadline of one online feature read before falling back (the store "
        "client's own timeout: Redis socket, SQLite lock wait).",
    )
    breaker_failures: int = Field(
        5,
        ge=0,
        description="Failed online reads in a row that open the circuit (skip the store). "
        "0: never open it.",
    )
    breaker_reset_seconds: float = Field(
        2.0, gt=0, description="How long an open circuit skips the store before a trial read."
    )
    shed_loop_lag_ms: float = Field(
        20.0,
        ge=0,
        description="Event-loop lag of a worker above which /rank answers from the cheap tiers "
        "(last served, popularity) without reading features or scoring, until the lag is "
        "below half of it (smartstack.serving.overload). 0: never shed.",
    )
    model_alias: str = Field("champion")
    model_poll_seconds: float = Field(
        10.0,
        gt=0,
        description="How often the registry is checked for a new champion or a newer "
        "materialization of the catalogue.",
    )
    reasons_per_offer: int = Field(3, ge=0, le=10)
    explain_deadline_s: float = Field(
        3.0, gt=0, description="Longest `POST /explain` waits for the LLM, retries included."
    )
    explain_top: int = Field(
        3,
        ge=0,
        le=30,
        description="Top offers of each ranking that carry an explanation (0: none). They come "
        "from the explanation cache or the template, never from a live LLM call.",
    )
    frequency_cap: int = Field(
        3, ge=0, description="Times one offer may be served to one customer per window (0: off)."
    )
    frequency_window_seconds: float = Field(86_400.0, gt=0)
    customers_in_memory: int = Field(
        100_000, ge=1, description="Customers kept in the last-served and frequency-cap caches."
    )
    ranking_cache_customers: int = Field(
        2_000,
        ge=0,
        description="Customers whose personal ranking each worker keeps and reuses while their "
        "online rows, the offers, the model and catalogue, and the request's hour are unchanged "
        "(smartstack.serving.ranking_cache; about 140 KB each with 30 offers and 216 trees). "
        "0: rank every request afresh.",
    )
    snapshot_dir: Path | None = Field(None, description="Default: <home>/serving/snapshots.")
    snapshot_flush_rankings: int = Field(
        1_000, ge=1, description="Rankings that make the writer flush before its timer."
    )
    snapshot_flush_seconds: float = Field(5.0, gt=0)
    snapshot_buffer_size: int = Field(
        20_000, ge=1, description="Rankings buffered for the writer; beyond it they are dropped."
    )
    admin_token: SecretStr | None = Field(
        None, description="Bearer token that remote callers of /admin/* must present."
    )
    max_body_bytes: int = Field(
        65_536,
        ge=1,
        description="Largest request body the API endpoints accept, in bytes: a larger one "
        "(by its Content-Length, or as it streams in) is refused with 413 before it is read "
        "further or parsed. The largest legitimate request (200 candidate offer ids) is a "
        "few KiB.",
    )


class EngagementSettings(_Section):
    """Streaks, badges and the monthly quiz: the rule files and where the state lives."""

    rules: Path = Field(ENGAGEMENT_RULES, description="The badges, streak and guardrail file.")
    quiz: Path = Field(QUIZ_QUESTIONS, description="The monthly quiz's questions.")
    quiz_interval_days: int = Field(
        30, ge=1, description="A quiz answered longer ago than this is due again."
    )
    store_path: Path | None = Field(
        None, description="The embedded store (local profile). Default: <home>/engagement/."
    )
    redis_prefix: str = Field(
        "smartstack:engagement", min_length=1, description="Key prefix in Redis (prod profile)."
    )


class ExperimentsSettings(_Section):
    """Experiments on live traffic: the file that says which rankers share it."""

    file: Path = Field(EXPERIMENTS_FILE, description="The experiments file (versioned data).")
    shadow_dir: Path | None = Field(None, description="Default: <home>/serving/shadow.")
    shadow_flush_seconds: float = Field(1.0, gt=0, description="How often shadow jobs are scored.")
    shadow_buffer_size: int = Field(
        10_000, ge=1, description="Shadow jobs waiting beyond this are dropped (and counted)."
    )
    seed: int | None = Field(
        None, description="Seeds exploration, interleaving and the shadow share (None: random)."
    )
    top_k: int = Field(3, ge=1, le=4, description="Slots whose clicks measure a ranker's value.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Of every interval reported.")
    tracking_experiment: str = Field(
        "offer-experiments", description="The MLflow experiment readouts and estimates go to."
    )


class MonitoringSettings(_Section):
    """What monitoring watches and when it alerts (docs/monitoring.md)."""

    directory: Path | None = Field(
        None, description="Reports and metric files. Default: <home>/monitoring."
    )
    clock: Literal["wall", "dataset"] = Field(
        "wall",
        description="The moment ages are measured from: the wall clock, or the data set's "
        "snapshot (a generated or historical data set ends in the past).",
    )
    view_cadence_hours: float = Field(
        24.0, gt=0, description="How often each feature view is expected to be materialized."
    )
    freshness_slack_hours: float = Field(
        12.0,
        ge=0,
        description="A view is stale when its newest materialized row is older than its "
        "cadence plus this.",
    )
    drift_method: str = Field(
        "wasserstein",
        description="Evidently's drift method for each customer-level feature (normed "
        "Wasserstein distance: the shift in units of the reference's spread).",
    )
    drift_threshold: float = Field(
        0.1,
        gt=0,
        description="A feature drifted when its drift score reaches this, for a current sample "
        "of drift_threshold_rows rows; scaled by the square root of drift_threshold_rows over "
        "the sample's rows for other sizes (a distance between samples is that noisy).",
    )
    drift_threshold_rows: int = Field(
        2_000,
        ge=1,
        description="The current sample's size at which drift_threshold holds (where it was "
        "calibrated: the largest score of worlds without drift was 0.105 at 2,000 customers).",
    )
    drift_threshold_floor: float = Field(
        0.02,
        gt=0,
        description="The scaled threshold never falls below this: with a very large sample every "
        "shift is measurable, and one this small is not worth a retrain.",
    )
    drift_sample_rows: int = Field(
        20_000,
        ge=100,
        description="Rows of each side compared for feature drift at most: a larger side is "
        "sampled (the same rows every run), so the job's time stays flat as customers grow (10,000 "
        "customers: 60,000 reference rows took Evidently 38 s, 20,000 took 21 s).",
    )
    drift_served_min_rows: int = Field(
        100,
        ge=1,
        description="The served snapshots are compared from this many rankings served in the "
        "day: fewer say little (the threshold scaled to 100 rows is 0.45 already) and cost as "
        "much as the marts' comparison (Evidently's time is mostly per feature).",
    )
    drift_share: float = Field(
        0.03,
        gt=0,
        le=1,
        description="The alarm (a retrain recommendation) is raised when this share of the "
        "compared features drifted.",
    )
    drift_alarm_ignore: str = Field(
        "offer_*_90d,offers_clicked_90d,*redemptions_90d,points_*_share,active_days_30d,"
        "page_views_30d,searches_30d,promotion_*_30d,days_since_quiz",
        description="Features (comma-separated fnmatch patterns) reported but not counted "
        "toward the alarm: in the generated data set they count from offer and clickstream "
        "logs that begin with the impression window, so they ramp up through any training "
        "window by construction.",
    )
    score_drift_method: str = Field(
        "psi",
        description="Evidently's drift method for the champion's score distribution (the "
        "reference customers' scores at the end of its train window vs the newest marts').",
    )
    score_sample_customers: int = Field(
        500,
        ge=10,
        description="Customers scored (against every offer) on each side of the score drift "
        "check: a fixed sample, the same on both sides.",
    )
    score_drift_threshold: float = Field(
        0.2, gt=0, description="The score drifted (and the alarm is raised) at this value."
    )
    block_promotion_on_drift: bool = Field(
        False,
        description="The promotion gate refuses while the latest drift verdict holds an alarm "
        "(retrain on fresh data first).",
    )


class RetentionSettings(_Section):
    """How long each log of customers' activity is kept (days; the daily DAG enforces it)."""

    ranking_log_days: int = Field(180, ge=1, description="Ranking and shadow logs.")
    feedback_days: int = Field(730, ge=1, description="Landed feedback, quiz and consent events.")
    explanation_cache_days: int = Field(30, ge=1, description="Cached explanations.")


class PrivacySettings(_Section):
    """Consent, erasure and the audit trail."""

    directory: Path | None = Field(
        None,
        description="The suppression list, the erasure journal and the audit log. "
        "Default: <home>/privacy.",
    )
    unrecorded_consent: bool = Field(
        True,
        description="A purpose no source records (the public Starbucks data, a customer not yet "
        "loaded) counts as granted (True) or refused (False).",
    )
    hash_key: SecretStr | None = Field(
        None,
        description="HMAC key of the customer ids the suppression list and the audit log keep "
        "(never in clear) and of the audit chain. Unset: a key generated once in the privacy "
        "directory.",
    )
    retention: RetentionSettings = RetentionSettings()


class AuthSettings(_Section):
    """Who may call the endpoints the web app uses (``/rank``, ``/explain``, ``/feedback``,
    ``/quiz``, ``/engagement``): a customer with a signed token, about themselves only, or a
    server-to-server caller with the service token."""

    signing_key: SecretStr | None = Field(
        None, description="HS256 key of the tokens this platform signs (local sign-in)."
    )
    jwks_url: str | None = Field(
        None,
        description="The identity provider's JWKS: tokens signed with its RS256 keys are "
        "accepted (a bank's sign-in), besides those of `signing_key`.",
    )
    issuer: str | None = Field(None, description="The `iss` tokens must carry (unset: any).")
    audience: str = Field("smartstack", description="The `aud` tokens must carry.")
    customer_claim: str = Field("sub", description="The claim that holds the customer id.")
    token_minutes: float = Field(60.0, gt=0, description="Lifetime of locally signed tokens.")
    service_token: SecretStr | None = Field(
        None, description="Bearer token of server-to-server callers (any customer)."
    )
    local_sign_in: bool = Field(
        False, description="The sign-in page listing sample customers (local profile only)."
    )


class WebSettings(_Section):
    """The customer's web app, served by the ranking service under ``/app/``."""

    dist_dir: Path = Field(WEB_DIST, description="The built app (`npm run build` in web/).")
    clock: Literal["wall", "dataset"] = Field(
        "wall",
        description="The moment the app shows offers for: the wall clock, or the data set's "
        "snapshot (a generated or historical data set ends in the past) advancing from when "
        "the app loads.",
    )


class LLMSettings(_Section):
    """The OpenAI-compatible endpoint explanations may call; none configured: templates only."""

    base_url: str | None = Field(None, description="OPENAI_BASE_URL: OpenAI, vLLM, Ollama, ...")
    model: str = Field("gpt-4o-mini", description="OPENAI_MODEL")
    api_key: SecretStr | None = Field(None, description="OPENAI_API_KEY")
    timeout_s: float = Field(4.0, gt=0, description="One attempt.")
    attempts: int = Field(3, ge=1)
    deadline_s: float = Field(10.0, gt=0, description="One explanation, retries included.")
    backoff_initial_s: float = Field(0.25, ge=0)
    backoff_max_s: float = Field(2.0, ge=0)
    max_tokens: int = Field(120, ge=1)
    temperature: float = Field(0.2, ge=0)

    @property
    def configured(self) -> bool:
        return self.base_url is not None or self.api_key is not None


Objective = Literal["binary", "rank"]


class SplitSettings(_Section):
    """By shares of requests in time order (default), or by send time when
    ``train_before_hour`` is set: rows sent before that hour since the data set's start train
    (``validation_customers`` of their customers validate), later rows are the test period."""

    train: float = 0.70  # share of requests, oldest first
    validation: float = 0.15  # the next share; the test set is the latest remainder
    train_before_hour: float | None = None
    validation_customers: float = 0.2


class PromotionSettings(_Section):
    metric: str = "ndcg_3"
    min_improvement: float = 0.002  # over the champion, on the same test set
    min_lift_over_smartscore: float = 0.0  # first run, when there is no champion
    segment_tolerance: float = 0.02  # largest allowed drop of `metric` in any segment
    min_segment_rows: int = 600  # smaller segments are reported, not gated (too noisy)
    # Also require the challenger's off-policy lower bound (click rate in the top k, from
    # logged traffic) to clear the champion's estimate; see docs/experiments.md.
    off_policy: bool = False
    off_policy_source: Literal["generator", "service"] = "generator"
    off_policy_estimator: Literal["ips", "snips", "dr"] = "dr"
    off_policy_requests: int = Field(20_000, ge=100)


class TuningSettings(_Section):
    trials: int = 20
    timeout_seconds: int = 1800


# Fields of the training section that do not decide the model: not logged, not fingerprinted.
_TRAINING_RUNTIME = frozenset({"params", "chunk_rows", "retrieval_memory_limit"})


class LargeTrainingSettings(_Section):
    """Tree parameters for a large training part, applied over ``xgboost``: a larger step
    fits a training set of millions of rows in a fraction of the trees for about the same
    NDCG@3, where a smaller one loses more (``docs/benchmarks.md``, "Training at scale")."""

    min_train_rows: int = Field(1_000_000, ge=1)
    xgboost: dict[str, Any] = Field(default_factory=dict)
    early_stopping_rounds: int | None = Field(
        None,
        ge=1,
        description="Replaces early_stopping_rounds for a large training part (unset: keep it). "
        "A larger step's validation loss levels off in fewer rounds.",
    )


class TrainingSettings(_Section):
    """The model's parameters (``training/params.yaml``, versioned with the code and logged to
    every MLflow run) and how the training set is retrieved."""

    params: Path = Field(TRAINING_PARAMS, description="The parameters file these came from.")
    chunk_rows: int = Field(
        250_000,
        ge=1,
        description="Labelled rows per point-in-time retrieval (whole customers per chunk).",
    )
    retrieval_memory_limit: str = Field(
        "1GB",
        description="DuckDB's memory limit in the training set's point-in-time joins (its "
        "`memory_limit`; past it DuckDB spills to <home>/tmp/duckdb). At 100,000 customers "
        "the retrieval peaked at 3.7 GiB under 1GB and 4.3 under 2.5GB, in about the same "
        "time; chunks of 125,000 rows instead peaked at 3.4 for 10% more time "
        "(docs/benchmarks.md).",
    )
    max_customers: int | None = Field(
        100_000,
        ge=1,
        description="Train on at most this many customers (a stable sample by id hash; "
        "unset: all). At 100,000 customers training takes minutes and GiBs that grow with rows, "
        "for NDCG@3 0.010 above 10,000 customers (docs/benchmarks.md).",
    )
    seed: int = 42
    objective: Objective = "binary"
    nthread: int = 2
    num_boost_round: int = 3000
    early_stopping_rounds: int = 60
    xgboost: dict[str, Any] = Field(default_factory=dict)
    large: LargeTrainingSettings = LargeTrainingSettings()
    split: SplitSettings = SplitSettings()
    promotion: PromotionSettings = PromotionSettings()
    tuning: TuningSettings = TuningSettings()
    popularity_prior_weight: float = 20.0
    experiment: str = "offer-ranker"

    def with_overrides(self, **changes: Any) -> TrainingSettings:
        """A copy with the given values (None: keep), validated like the file."""
        given = {k: v for k, v in changes.items() if v is not None}
        return TrainingSettings.model_validate({**self.model_dump(), **given})

    def flat(self) -> dict[str, Any]:
        """Every value that decides the model as ``section.key`` → value, for
        ``mlflow.log_params`` and the configuration fingerprint."""
        out: dict[str, Any] = {}
        for key, value in self.model_dump(exclude=set(_TRAINING_RUNTIME)).items():
            if isinstance(value, dict):
                out |= {f"{key}.{k}": v for k, v in value.items()}
            else:
                out[key] = value
        return out


class Settings(BaseSettings):
    """Where Smart Stack reads and writes, and how each component behaves, for one profile."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTSTACK_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    profile: Profile = Field(Profile.local)
    home: Path = Field(
        Path("var"),
        description="Root of every local artefact (data, DuckDB file, registries, logs).",
    )
    dataset: str = Field(
        DEFAULT_DATASET,
        description="Which data set the pipeline runs on (smartstack.datasets): `synthetic` or "
        "`starbucks`. Another data set gets its own default home, `var/<dataset>`.",
    )
    source_dir: Path | None = Field(
        None,
        description="The data set's own files, read in place by its ingestion adapter (the "
        "Starbucks JSON directory); `--data-dir` on the CLI.",
    )
    source_start_date: date | None = Field(
        None,
        description="The UTC day hour 0 of an hours-since-start data set maps to (the "
        "adapter's default when unset).",
    )
    feature_service: str | None = Field(
        None, description="Feature service of training and serving (unset: the data set's)."
    )

    # Data and warehouse (paths derived from `home` unless set)
    data_dir: Path = Field(description="Raw Parquet tables and marts (default: <home>/data).")
    warehouse: Warehouse
    duckdb_path: Path = Field(description="Default: <home>/warehouse.duckdb.")
    duckdb_memory_limit: str = Field(
        "2.5GB",
        description="DuckDB's memory limit in dbt builds (its `memory_limit`); past it DuckDB "
        "spills to <warehouse>.tmp. At 100,000 customers 2.5GB holds the build to 2.6 GiB "
        "(5.9 GiB without a limit) for 1.8 times the time (docs/benchmarks.md).",
    )
    quality_max_cells: int = Field(
        250_000_000,
        ge=1,
        description="Past this many cells (rows × columns) a quality gate validates a table a "
        "few columns at a time (smartstack.quality.batches): GX's pandas engine holds the "
        "table and its copies in memory, which at 1,000,000 customers passed 24 GiB.",
    )
    bigquery_project: str | None = Field(
        None, validation_alias=_alias("BIGQUERY_PROJECT", "GOOGLE_CLOUD_PROJECT")
    )
    bigquery_dataset: str = Field("smartstack")
    bigquery_keyfile: Path | None = Field(
        None, validation_alias=_alias("BIGQUERY_KEYFILE", "GOOGLE_APPLICATION_CREDENTIALS")
    )
    spark_master: str = Field(
        "local[2]",
        description="The Spark master of the spark warehouse: local[N] on one machine, "
        "spark://host:7077, yarn or k8s://… on a cluster.",
    )
    spark_driver_memory: str = Field(
        "4g",
        pattern=SPARK_MEMORY.pattern,
        description="The Spark driver's heap (spark.driver.memory): it collects each chunk of a "
        "training set for XGBoost and Feast; 1g, Spark's default, ran out at 10,000 customers.",
    )
    spark_shuffle_partitions: int = Field(
        4,
        ge=1,
        description="Partitions of each Spark shuffle (spark.sql.shuffle.partitions): about two "
        "per core of the executors. Spark's default, 200, suits a cluster; on local[2] each of "
        "dbt's queries then schedules 200 tasks per stage for a few megabytes.",
    )
    dbt_project_dir: Path = Field(DBT_PROJECT_DIR, description="The dbt project folder.")

    # Feature store
    online_store: OnlineStore
    sqlite_online_path: Path = Field(description="Default: <home>/feast/online.db.")
    redis_url: str = Field(validation_alias=_alias("REDIS_URL"))
    postgres_url: str | None = Field(
        validation_alias=_alias("POSTGRES_URL", "DATABASE_URL"),
        description="Feast's SQL registry; unset: a file registry under <home>/feast.",
    )
    materialization: Literal["bulk", "feast"] = Field(
        "bulk",
        description="How materialization writes the online store: `bulk` (Feast's plan, rows "
        "written a column at a time in Feast's layout: smartstack.featurestore.bulk) or `feast` "
        "(Feast's local engine unchanged).",
    )

    # Model registry
    mlflow_tracking_uri: str = Field(validation_alias=_alias("MLFLOW_TRACKING_URI"))
    mlflow_artifact_root: Path = Field(description="Default: <home>/mlflow/artifacts.")
    registered_model_name: str = Field("offer-ranker")

    # Events
    kafka_bootstrap_servers: str | None = Field(
        description="Kafka brokers (host:port,…); unset or empty: no broker (embedded mode).",
        validation_alias=_alias("KAFKA_BOOTSTRAP_SERVERS"),
    )

    # Orchestration
    airflow_venv: Path = Field(AIRFLOW_VENV, description="Airflow's own environment.")

    # Components
    serving: ServingSettings = ServingSettings()
    llm: LLMSettings = LLMSettings()
    engagement: EngagementSettings = EngagementSettings()
    experiments: ExperimentsSettings = ExperimentsSettings()
    auth: AuthSettings = AuthSettings()
    privacy: PrivacySettings = PrivacySettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    web: WebSettings = WebSettings()
    training: TrainingSettings = TrainingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _ConventionalNames(settings_cls),
            dotenv_settings,
            file_secret_settings,
            _TrainingParams(settings_cls),
        )

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        """Fill what the caller left unset: the profile's stores, then paths under ``home``."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        profile = Profile(merged.get("profile", Profile.local))
        for name, value in _PROFILE_DEFAULTS[profile].items():
            if not cls._is_set(name, merged):
                merged[name] = value
        for name, values in _PROFILE_SECTIONS.get(profile, {}).items():
            given = merged.get(name, {})
            if isinstance(given, dict):  # a section object passed whole is taken as it is
                merged[name] = {**values, **given}
        home = Path(merged.get("home", cls.model_fields["home"].default))
        dataset = merged.get("dataset", DEFAULT_DATASET)
        if not cls._is_set("home", data) and dataset != DEFAULT_DATASET:
            # Registries, quality references and marts of two data sets never mix.
            home = home / dataset
        home = home.resolve()
        merged["home"] = home
        derived = {
            "data_dir": home / "data",
            "duckdb_path": home / "warehouse.duckdb",
            "sqlite_online_path": home / "feast" / "online.db",
            "mlflow_artifact_root": home / "mlflow" / "artifacts",
            "mlflow_tracking_uri": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        }
        for name, value in derived.items():
            if not cls._is_set(name, merged):
                merged[name] = value
        return merged

    @classmethod
    def _is_set(cls, name: str, data: dict[str, Any]) -> bool:
        """Whether ``data`` holds a value for the field, under its name or an alias."""
        keys = {k.lower().removeprefix("smartstack_") for k in data}
        aliases = {
            a.lower().removeprefix("smartstack_")
            for a in _choices(cls.model_fields[name].validation_alias)
        }
        return bool(({name} | aliases) & keys)

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        """Feast resolves relative paths against its repository, dbt against its project, so a
        relative path would point somewhere else in each tool."""
        for name in ("data_dir", "duckdb_path", "sqlite_online_path", "mlflow_artifact_root"):
            object.__setattr__(self, name, getattr(self, name).resolve())
        if self.source_dir is not None:
            object.__setattr__(self, "source_dir", self.source_dir.resolve())
        return self

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def ranking_log_dir(self) -> Path:
        """The ranking service's log of served rankings (Parquet parts by date)."""
        return self.serving.snapshot_dir or self.home / "serving" / "snapshots"

    @property
    def shadow_log_dir(self) -> Path:
        return self.experiments.shadow_dir or self.home / "serving" / "shadow"

    @property
    def stream_state_path(self) -> Path:
        """The stream processor's window state and partition offsets."""
        return self.home / "events" / "stream_state.sqlite"

    @property
    def monitoring_dir(self) -> Path:
        return self.monitoring.directory or self.home / "monitoring"

    @property
    def privacy_dir(self) -> Path:
        return self.privacy.directory or self.home / "privacy"

    @property
    def spark_dir(self) -> Path:
        """The spark warehouse's metastore (Derby) and its tables' files that are not marts."""
        return self.home / "spark"

    @property
    def spark_driver_memory_gib(self) -> float:
        """``spark_driver_memory`` in GiB (Spark's units; a bare number is MiB)."""
        found = SPARK_MEMORY.fullmatch(self.spark_driver_memory)
        assert found is not None  # the field's pattern
        number, unit = found.groups()
        return int(number) * 1024.0 ** SPARK_MEMORY_UNITS.index((unit or "m").lower()) / 1024**3

    @property
    def features_dir(self) -> Path:
        """Where the local and spark warehouses write the feature marts as Parquet."""
        return self.data_dir / "features"

    @property
    def spark_tables_dir(self) -> Path:
        """Where Spark keeps the tables of dbt's schema that are not marts (one folder each, in
        its warehouse folder; the schema is profiles.yml's)."""
        return self.spark_dir / "warehouse" / "smartstack.db"

    def mart_path(self, mart: str) -> Path:
        """One feature mart's Parquet: a file from DuckDB, a folder of parts from Spark."""
        return self.features_dir / f"{mart}.parquet"

    def with_training_params(self, path: Path) -> Settings:
        """These settings with the training section read from another parameters file."""
        values = self.model_dump(exclude={"training"})
        return Settings(**values, training={"params": path})

    def environment(self) -> dict[str, str]:
        """These settings as environment variables, for a subprocess that must see exactly
        them (its own ``Settings()`` then equals this object). Secrets included: the
        environment of a child process is as private as this one's memory."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, _Section):
                for key in type(value).model_fields:
                    _put(env, f"SMARTSTACK_{name}_{key}", getattr(value, key))
            else:
                _put(env, f"SMARTSTACK_{name}", value)
        return env

    def redacted(self) -> dict[str, Any]:
        """Settings as plain values with secrets and passwords masked, for display and logs:
        every secret field (``SecretStr``, in any section) is ``***``, and every URL shows no
        password, token or key (:func:`mask_url`)."""
        return _redact(self)


def _put(env: dict[str, str], name: str, value: Any) -> None:
    """One variable as pydantic-settings reads it back: sections and lists as JSON."""
    if value is None:
        return
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    elif isinstance(value, BaseModel):
        value = value.model_dump_json()
    elif isinstance(value, dict | list):
        value = json.dumps(value)
    env[name.upper()] = str(value.value if isinstance(value, StrEnum) else value)


class _ConventionalNames(PydanticBaseSettingsSource):
    """The ecosystem's names for the LLM endpoint (``OPENAI_BASE_URL``, ``OPENAI_MODEL``,
    ``OPENAI_API_KEY``), below the ``SMARTSTACK_LLM_*`` ones."""

    NAMES = {"OPENAI_BASE_URL": "base_url", "OPENAI_MODEL": "model", "OPENAI_API_KEY": "api_key"}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {key: os.environ[name] for name, key in self.NAMES.items() if name in os.environ}
        return {"llm": found} if found else {}


class _TrainingParams(PydanticBaseSettingsSource):
    """``training/params.yaml`` (or the file ``training.params`` names) as the ``training``
    section, its ``datasets.<dataset>`` part applied over the rest, section by section."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        state = self.current_state
        given = state.get("training", {})
        if isinstance(given, BaseModel):  # a whole section passed in: nothing to read
            return {}
        path = Path(given.get("params", TRAINING_PARAMS))
        if not path.is_file():
            raise ValueError(f"the training parameters file {path} does not exist")
        raw = yaml.safe_load(path.read_text()) or {}
        dataset = state.get("dataset", DEFAULT_DATASET)
        for key, value in (raw.pop("datasets", None) or {}).get(dataset, {}).items():
            merge = isinstance(value, dict) and isinstance(raw.get(key), dict)
            raw[key] = {**raw[key], **value} if merge else value
        return {"training": {**raw, "params": str(path)}}


def _choices(alias: Any) -> list[str]:
    return [a for a in getattr(alias, "choices", []) if isinstance(a, str)]


MASK = "***"
# Query parameters that carry a credential (``?password=…``, ``?api_key=…``): masked in URLs.
_SECRET_PARAMS = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:pass|pwd|secret|token|key|auth|credential|signature|sig)"
    r"[a-z0-9_.-]*)=)[^&;#]*"
)


def mask_url(url: str | None) -> str | None:
    """``url`` fit to print or log: the password of its user info (``scheme://user:***@host``)
    and the values of credential-like query parameters masked; anything else as it is."""
    if not url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        credentials, host = authority.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        authority = f"{user}:{MASK}@{host}"
    tail = _SECRET_PARAMS.sub(lambda found: found.group(1) + MASK, tail)
    return f"{scheme}://{authority}{tail}"


def _redact(value: Any) -> Any:
    """``value`` as plain JSON values, secrets masked (see :meth:`Settings.redacted`)."""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else None
    if isinstance(value, BaseModel):
        return {name: _redact(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(item) for item in value]
    if isinstance(value, str):
        return mask_url(value) if "://" in value else value
    plain = json.loads(TypeAdapter(Any).dump_json(value))
    return mask_url(plain) if isinstance(plain, str) and "://" in plain else plain


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
