"""Arrow columns as the bytes Feast's online stores hold, computed a column at a time.

Feast converts a column with ``python_values_to_proto_values`` (one ``Value`` proto per value)
and the store serializes each proto. Two facts make that cheap to do in bulk and still exact:

* a double (the bulk of the feature marts) is the proto's one-byte tag and its eight bytes, so
  a float64 column is packed with numpy; the tag comes from protobuf itself;
* every other column has few distinct values (categories, counts, flags, timestamps), so Feast's
  own converter runs once per distinct value, in first-seen order so that its type check sees
  the same first value, and the result is spread back by index. Distinct means distinct bits:
  ``-0.0`` and ``0.0`` (different protos) are never merged.

``tests/featurestore/test_bulk_materialization.py`` checks both against Feast's converter.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import python_values_to_proto_values
from feast.utils import _coerce_datetime
from feast.value_type import ValueType

SLICE = 10_000  # rows encoded at a time: the encoded values take ~100 bytes each
_DOUBLE_TAG = Value(double_val=1.0).SerializeToString()[:-8]
_DOUBLE = np.dtype([("tag", "u1"), ("value", "<f8")])  # packed: 9 bytes
_LENGTH = struct.Struct("<I")  # the length before each entity value


@dataclass(frozen=True)
class EncodedColumn:
    """One column as Feast stores it: the serialized ``Value`` of each row, and the text
    SQLite keeps beside it (``extract_text_and_num``; None for an empty value)."""

    blobs: list[bytes]
    texts: list[str | None]


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code and each code's first row, codes numbering the distinct values in
    first-seen order. Numbers and times are told apart by their bits; other values (strings,
    None) by equality."""
    keys = values.view(f"u{values.dtype.itemsize}") if _by_bits(values) else values
    codes, _ = pd.factorize(keys, use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)
    return codes, first


def per_distinct(values: np.ndarray, convert: Callable[[np.ndarray], Sequence[Any]]) -> list[Any]:
    """``convert(values)`` computed on the distinct values only, in first-seen order."""
    codes, first = distinct(values)
    converted = np.empty(len(first), dtype=object)
    converted[:] = list(convert(values[first]))
    return converted[codes].tolist()


def encode_column(column: pa.Array | pa.ChunkedArray, value_type: ValueType) -> EncodedColumn:
    """The bytes and texts Feast's conversion of ``column`` as ``value_type`` gives."""
    values = column.to_numpy(zero_copy_only=False)  # exactly what Feast converts
    if value_type == ValueType.DOUBLE and values.dtype in (np.float64, np.int64):
        return _doubles(values.astype(np.float64, copy=False))
    if _by_bits(values) or pa.types.is_string(column.type):
        pairs = per_distinct(values, lambda firsts: _feast_encoded(firsts, value_type))
    else:  # lists, maps, decimals…: Feast's converter on every value
        pairs = _feast_encoded(values, value_type)
    return EncodedColumn([blob for blob, _ in pairs], [text for _, text in pairs])


def _by_bits(values: np.ndarray) -> bool:
    """Numbers, booleans and times, whose bits tell their values apart."""
    return values.dtype.kind in "biufmM" and values.dtype.itemsize in (1, 2, 4, 8)


def _feast_encoded(values: np.ndarray, value_type: ValueType) -> list[tuple[bytes, str | None]]:
    protos = python_values_to_proto_values(values, value_type)
    return [(p.SerializeToString(), extract_text_and_num(p, False)[0]) for p in protos]


def column_blobs(column: pa.Array | pa.ChunkedArray, value_type: ValueType) -> pa.Array:
    """:func:`encode_column`'s bytes as one Arrow binary array: a column of doubles from its
    NumPy packing, one with few distinct values by Arrow's ``take`` of the distinct bytes, so
    neither makes a Python object per value."""
    values = column.to_numpy(zero_copy_only=False)
    if value_type == ValueType.DOUBLE and values.dtype in (np.float64, np.int64):
        values = values.astype(np.float64, copy=False)
        nulls = np.isnan(values)
        offsets = np.zeros(len(values) + 1, dtype=np.int32)
        np.cumsum(np.where(nulls, 0, _DOUBLE.itemsize), out=offsets[1:])
        packed = _packed_doubles(values[~nulls]).view(np.uint8)
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(packed)]
        return pa.Array.from_buffers(pa.binary(), len(values), buffers)
    if _by_bits(values) or pa.types.is_string(column.type):
        codes, first = distinct(values)
        return _serialized(values[first], value_type).take(codes)
    return _serialized(values, value_type)


def _serialized(values: np.ndarray, value_type: ValueType) -> pa.Array:
    protos = python_values_to_proto_values(values, value_type)
    return pa.array([proto.SerializeToString() for proto in protos], pa.binary())


def _packed_doubles(values: np.ndarray) -> np.ndarray:
    """Each value as the bytes of its ``Value(double_val=value)``."""
    packed = np.empty(len(values), dtype=_DOUBLE)
    packed["tag"] = _DOUBLE_TAG[0]
    packed["value"] = values
    return packed


def _doubles(values: np.ndarray) -> EncodedColumn:
    """Feast: NaN (a null) is an empty ``Value``; anything else ``double_val``, whose text is
    ``str`` of the float."""
    blobs = _packed_doubles(values).view(f"V{_DOUBLE.itemsize}").tolist()
    nulls = np.flatnonzero(np.isnan(values)).tolist()
    for i in nulls:
        blobs[i] = b""
    strings: list[str | None] = list(map(repr, values.tolist()))
    for i in nulls:
        strings[i] = None
    return EncodedColumn(blobs, strings)


def entity_keys(table: pa.Table, join_keys: dict[str, ValueType], version: int) -> list[bytes]:
    """Each row's ``serialize_entity_key``. For one string join key without nulls (every view
    here) that is Feast's serialization of the key with an empty string, less its length, then
    the value's length and UTF-8 bytes; any other key goes through Feast row by row."""
    if len(join_keys) == 1:
        [(name, value_type)] = join_keys.items()
        column = table.column(name)
        if value_type == ValueType.STRING and pa.types.is_string(column.type):
            if column.null_count == 0:
                empty = EntityKey(join_keys=[name], entity_values=[Value(string_val="")])
                prefix = serialize_entity_key(empty, version)[: -_LENGTH.size]
                encoded = [value.encode() for value in column.to_pylist()]
                return [prefix + _LENGTH.pack(len(value)) + value for value in encoded]
    protos = [
        python_values_to_proto_values(table.column(name).to_numpy(zero_copy_only=False), kind)
        for name, kind in join_keys.items()
    ]
    names = list(join_keys)
    return [
        serialize_entity_key(EntityKey(join_keys=names, entity_values=list(row)), version)
        for row in zip(*protos, strict=True)
    ]


def row_times(column: pa.Array | pa.ChunkedArray, convert: Callable[[Any], Any]) -> list[Any]:
    """``convert`` of each row's time as Feast hands it to the store, computed once per
    distinct time."""
    return per_distinct(
        column.to_numpy(zero_copy_only=False),
        lambda firsts: [convert(moment) for moment in feast_times(firsts)],
    )


def feast_times(values: np.ndarray) -> list[Any]:
    """Times as Feast hands them to a store: a ``datetime`` from ``pd.to_datetime`` and
    ``_coerce_datetime``."""
    return [_coerce_datetime(moment) for moment in pd.to_datetime(values)]
