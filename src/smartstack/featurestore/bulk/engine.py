"""Feast's local materialization engine with a bulk write of the online rows.

Configured as Feast's ``batch_engine`` (:mod:`smartstack.featurestore.config`, the
``materialization`` setting), so ``FeatureStore.materialize`` and ``materialize_incremental``
run unchanged: Feast plans each view's interval, reads it from the offline store, keeps each
entity's latest row, validates it, and records the interval in the registry. Only the plan's
last node differs: where :func:`bulk_writer` has a writer for the online store (Feast's SQLite
store, or a single Redis server), the deduplicated table goes to it whole; anything else
(another store, vectors, a Redis cluster) takes Feast's own node. The online store object is
Feast's own, so every read, update and teardown stays Feast's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pyarrow as pa
from feast import FeatureView
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.dag.context import ExecutionContext
from feast.infra.compute_engines.local.arrow_table_value import ArrowTableValue
from feast.infra.compute_engines.local.compute import LocalComputeEngine
from feast.infra.compute_engines.local.feature_builder import LocalFeatureBuilder
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.compute_engines.local.nodes import LocalOutputNode
from feast.infra.online_stores.online_store import OnlineStore
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.infra.registry.base_registry import BaseRegistry
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from feast.utils import _validate_vector_field_lengths

from smartstack.featurestore.bulk import redis_writer, sqlite_writer
from smartstack.memory import heap_frozen

ENGINE = "smartstack.featurestore.bulk.engine.BulkComputeEngine"

Writer = Callable[[Any, RepoConfig, FeatureView, pa.Table], None]


class BulkComputeEngineConfig(FeastConfigBaseModel):
    """The engine's block in Feast's configuration (Feast looks it up by the class name)."""

    type: Literal["smartstack.featurestore.bulk.engine.BulkComputeEngine"] = ENGINE
    backend: str | None = None


def bulk_writer(store: OnlineStore, config: RepoConfig, view: FeatureView) -> Writer | None:
    """The bulk write for this store and view, or None where Feast's own write must run."""
    if isinstance(store, SqliteOnlineStore) and sqlite_writer.supports(store, config, view):
        return sqlite_writer.write
    if isinstance(store, RedisOnlineStore) and redis_writer.supports(config):
        return redis_writer.write
    return None


class BulkOutputNode(LocalOutputNode):
    """Feast's output node, writing the online rows through :func:`bulk_writer`."""

    def execute(self, context: ExecutionContext) -> ArrowTableValue:
        view = self.feature_view
        store, config = context.online_store, context.repo_config
        writer = bulk_writer(store, config, view) if view.online else None
        if writer is None:
            return super().execute(context)
        table = self.get_single_table(context).data
        output = ArrowTableValue(data=table)
        context.node_outputs[self.name] = output
        if table.num_rows == 0:
            return output
        _validate_vector_field_lengths(table, view)
        writer(store, config, view, table)
        if view.offline:  # as Feast's node does
            context.offline_store.offline_write_batch(
                config=config, feature_view=view, table=table, progress=lambda _: None
            )
        return output


class BulkFeatureBuilder(LocalFeatureBuilder):
    """Feast's plan for one view, ending in :class:`BulkOutputNode`."""

    def build_output_nodes(self, view: Any, input_node: Any) -> BulkOutputNode:
        node = BulkOutputNode("output", self.dag_root.view, inputs=[input_node])
        self.nodes.append(node)
        return node


class BulkComputeEngine(LocalComputeEngine):
    """Feast's local engine, building its plans with :class:`BulkFeatureBuilder`."""

    def _materialize_one(
        self, registry: BaseRegistry, task: MaterializationTask, **kwargs: Any
    ) -> LocalMaterializationJob:
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        context = self.get_execution_context(registry, task)
        backend = self._get_backend(context)
        try:  # as LocalComputeEngine._materialize_one: the provider raises a failed job's error
            with heap_frozen():  # the write's millions of objects would make the collector
                # walk Feast's, ibis' and pandas' heap again and again (a tenth of the time)
                BulkFeatureBuilder(registry, task, backend=backend).build().execute(context)
        except Exception as error:
            return LocalMaterializationJob(
                job_id=job_id, status=MaterializationJobStatus.ERROR, error=error
            )
        return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.SUCCEEDED)
