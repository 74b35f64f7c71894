"""Where records and shards go: a stable hash of a record id picks its shard, and rendezvous
hashing over live workers picks each shard's replicas.

Both are pure functions of their inputs, so every gateway and worker computes the same answer
from the same catalog and membership, with nothing to agree on at run time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def _hash64(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(record_id: str, shards: int) -> int:
    """The shard a record lives in, for a collection of ``shards`` shards (stable forever:
    the shard count of a collection never changes)."""
    return 0 if shards == 1 else _hash64(record_id) % shards


def split_by_shard(ids: Sequence[str], shards: int) -> dict[int, list[int]]:
    """Positions of ``ids`` grouped by shard, in their original order within each shard."""
    groups: dict[int, list[int]] = {}
    for position, record_id in enumerate(ids):
        groups.setdefault(shard_of(record_id, shards), []).append(position)
    return groups


def shard_key(collection_id: str, shard: int) -> str:
    """A shard's name in placement, membership and checkpoint records."""
    return f"{collection_id}.{shard}"


def rendezvous(key: str, workers: Iterable[str]) -> list[str]:
    """``workers`` ranked for ``key`` by highest random weight (rendezvous hashing): the first
    R are the key's replicas. Adding or removing a worker moves only the keys it wins or held.
    """
    return sorted(workers, key=lambda worker: (_hash64(f"{worker}/{key}"), worker), reverse=True)


def placement(
    collection_id: str, shards: int, workers: Iterable[str], replicas: int
) -> list[list[str]]:
    """The workers that should host each shard of a collection: rendezvous hashing with
    bounded loads. Round by round (every shard's first replica, then every shard's second,
    ...), each shard takes its highest-ranked worker among those holding fewer than
    ``ceil(shards * replicas / workers)`` of the collection's replicas. One collection's shards
    then spread over the workers instead of landing on them by chance (with plain rendezvous,
    4 shards on 4 workers share 2 or fewer a third of the time, and ingest goes at the busiest
    worker's pace), while a worker joining or leaving still moves about its share: a shard
    keeps its ranked workers while they have room. Where room runs out on workers that already
    hold a shard, that shard takes its best-ranked other worker (one over even, rarely).
    """
    pool = sorted(set(workers))
    if not pool:
        return [[] for _ in range(shards)]
    replicas = min(replicas, len(pool))
    cap = -(-shards * replicas // len(pool))
    load = dict.fromkeys(pool, 0)
    ranked = [rendezvous(shard_key(collection_id, shard), pool) for shard in range(shards)]
    chosen: list[list[str]] = [[] for _ in range(shards)]
    for _ in range(replicas):  # every shard's first replica, then every shard's second, ...
        for shard, owners in enumerate(chosen):
            free = [w for w in ranked[shard] if w not in owners]
            # Room can run out on workers that already hold this shard: then the best-ranked.
            owner = next((w for w in free if load[w] < cap), free[0])
            owners.append(owner)
            load[owner] += 1
    return chosen
