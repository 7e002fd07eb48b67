"""Materialization that writes Feast's online layout a column at a time.

Feast 0.67's local engine turns every value into a ``Value`` proto one at a time and hands
them to the online store's ``online_write_batch``, which serializes them again one by one
(a murmur hash per Redis field, one ``execute`` per SQLite row). ``engine`` keeps Feast's
plan (read, deduplicate, validate) and replaces only its last step with ``sqlite_writer`` or
``redis_writer``, which write the same bytes from whole columns (``values``).

Writing Feast's layout means using its private names (the stores' ``_get_conn`` and
``_get_client``, ``_table_id``, ``_mmh3``, ``_versioned_fv_name``), as
:mod:`smartstack.featurestore.rows` does to read it; feast is pinned to 0.67, and
``tests/featurestore/test_bulk_materialization.py``, which compares every row and hash field
with Feast's own engine, is what catches an upgrade that changes them.
"""
