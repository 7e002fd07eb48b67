"""Redis commands in the protocol's wire format (RESP), packed a column at a time with Arrow.

redis-py packs each command argument by argument (hiredis' ``pack_command``); for a
materialization that is every hash field of every entity, the largest part of the bulk Redis
write. Here each argument is either an Arrow binary column (one value per command) or bytes
that every command repeats. Arrow's kernels wrap each column's values as RESP bulk strings
(``$<length>\\r\\n<bytes>\\r\\n``) and join them row by row, so a batch of commands is one
contiguous buffer, written to the socket as it is. ``test_bulk_materialization.py`` holds the
bytes equal to redis-py's packing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Argument = pa.Array | bytes


def bulk_string(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def bulk_strings(values: pa.Array) -> pa.Array:
    """Each value as a RESP bulk string."""
    lengths = pc.binary_length(values).cast(pa.string()).cast(pa.binary())
    return pc.binary_join_element_wise(b"$", lengths, b"\r\n", values, b"\r\n", b"")


def commands(name: bytes, arguments: Sequence[Argument]) -> pa.Array:
    """One command per row: ``name`` and the arguments, a column's value or the same bytes."""
    parts = [b"*%d\r\n" % (len(arguments) + 1) + bulk_string(name)]
    parts += [bulk_string(a) if isinstance(a, bytes) else bulk_strings(a) for a in arguments]
    return concatenated(parts)


def concatenated(parts: Sequence[pa.Array | bytes]) -> pa.Array:
    """Each row's parts joined; a null anywhere (Arrow joins it to a null) raises."""
    joined = pc.binary_join_element_wise(*parts, b"")
    if joined.null_count:
        raise ValueError("a command argument is null: Redis has no null argument")
    return joined


def wire(packed: pa.Array) -> memoryview:
    """The packed commands' bytes, one after the other, as one buffer (no copy)."""
    _, offsets, data = packed.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[[packed.offset, packed.offset + len(packed)]]
    return memoryview(data)[bounds[0] : bounds[1]]
