"""One customer out of Feast's online store, which has no per-entity delete of its own.

SQLite keeps a table per view with the serialized entity key in each row; Redis keeps one hash
per entity (every view's fields) under the serialized key plus the project name. Both keys are
built with Feast's own encoding (:mod:`smartstack.featurestore.rows`); the tests that compare
the warm reader with Feast's reads are what catch an upgrade changing it.
"""

from __future__ import annotations

import sqlite3

import redis
from feast import FeatureStore
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore

from smartstack.featurestore.online import CUSTOMER_KEY
from smartstack.featurestore.rows import entity_key, versioned


def forget_customer(feature_store: FeatureStore, customer_id: str) -> int:
    """Delete every online row of the customer; returns how many rows (SQLite) or hashes
    (Redis) were removed."""
    config = feature_store.config
    key = serialize_entity_key(
        entity_key(CUSTOMER_KEY, customer_id), config.entity_key_serialization_version
    )
    online = config.online_store
    if online.type == "sqlite":
        views = [
            v
            for v in feature_store.list_all_feature_views()
            if any(e.name == CUSTOMER_KEY for e in v.entity_columns)
        ]
        db = sqlite3.connect(SqliteOnlineStore._get_db_path(config), timeout=30)
        try:
            removed = 0
            with db:
                for view in views:
                    table = compute_table_id(config.project, view, versioned(config))
                    removed += db.execute(
                        f'delete from "{table}" where entity_key = ?', (key,)
                    ).rowcount
            db.execute("pragma wal_checkpoint(truncate)")
            db.execute("vacuum")
        finally:
            db.close()
        return removed
    nodes, options = RedisOnlineStore._parse_connection_string(online.connection_string)
    client = redis.Redis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **options)
    try:
        return int(client.delete(key + config.project.encode()))
    finally:
        client.close()
