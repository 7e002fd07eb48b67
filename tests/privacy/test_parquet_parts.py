"""Erasing from folders of Parquet parts as Spark writes them: a table is a folder named
``<table>.parquet`` of ``part-*.parquet`` files, each with a Hadoop checksum file beside it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.privacy.parquet import drop_customers, parts


def _spark_table(folder: Path, customers: list[str]) -> Path:
    folder.mkdir(parents=True)
    part = folder / "part-00000-c000.snappy.parquet"
    pq.write_table(pa.table({"customer_id": customers, "spend": [1.0] * len(customers)}), part)
    (folder / f".{part.name}.crc").write_bytes(b"crc of the part as written")
    (folder / "_SUCCESS").touch()
    return part


def test_a_folder_named_like_a_part_is_searched_not_read(tmp_path: Path) -> None:
    part = _spark_table(tmp_path / "features" / "offer_features.parquet", ["C1"])
    assert list(parts(tmp_path / "features")) == [part]


def test_a_rewritten_part_loses_its_checksum_file_and_the_customers_rows(tmp_path: Path) -> None:
    """Spark checks a part against its ``.crc`` when there is one: left beside the rewritten
    part it would fail every later read of the table."""
    erased = _spark_table(tmp_path / "marts" / "customer_spend.parquet", ["C1", "C2", "C1"])
    untouched = _spark_table(tmp_path / "marts" / "others.parquet", ["C3"])
    assert drop_customers(tmp_path / "marts", ["C1"]) == 2
    assert pq.read_table(erased).column("customer_id").to_pylist() == ["C2"]
    assert not (erased.parent / f".{erased.name}.crc").exists()
    assert (untouched.parent / f".{untouched.name}.crc").exists()
