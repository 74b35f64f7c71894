"""Collection settings of a cluster: the reserved metadata prefix ``cluster:``.

``cluster:shards`` (an int, 1 to :data:`MAX_SHARDS`) sets a collection's shard count when it
is created; without it the gateway's ``--default-shards`` applies. Like ``hnsw:space`` it is
fixed for the collection's life. Any other ``cluster:`` key is refused, as unknown ``hnsw:``
keys are, so a typo is never silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chroma_grpc.store.errors import InvalidArgumentError

CLUSTER_PREFIX = "cluster:"
SHARDS_KEY = "cluster:shards"
MAX_SHARDS = 64
CHANGE_SHARDS_MESSAGE = (
    "cluster:shards cannot change once a collection is created (its records are spread over "
    "that many shards); create a new collection with the shard count you want"
)


def check_cluster_metadata(metadata: Mapping[str, Any] | None) -> None:
    """The ``cluster:`` keys of collection metadata, at create / modify / get-or-create."""
    for key, value in (metadata or {}).items():
        if not key.startswith(CLUSTER_PREFIX):
            continue
        if key != SHARDS_KEY:
            raise InvalidArgumentError(
                f"Unknown cluster parameter: {key}; the only one is {SHARDS_KEY}",
                field="metadata",
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHARDS:
            raise InvalidArgumentError(
                f"Invalid value for cluster parameter: {key} = {value!r}; expected an int from "
                f"1 to {MAX_SHARDS}",
                field="metadata",
            )


def shards_of(metadata: Mapping[str, Any] | None, default: int) -> int:
    """The shard count a new collection gets (metadata already checked)."""
    value = (metadata or {}).get(SHARDS_KEY, default)
    return int(value)


def check_shards_unchanged(metadata: Mapping[str, Any] | None, shards: int) -> None:
    if metadata is not None and SHARDS_KEY in metadata and metadata[SHARDS_KEY] != shards:
        raise InvalidArgumentError(CHANGE_SHARDS_MESSAGE, field="metadata")
