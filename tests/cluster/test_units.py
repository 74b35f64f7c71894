"""The cluster's pure parts: routing, the log's encoding, merging, settings, stubs."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from grpc_tools import protoc

from chroma_grpc.cluster import ops
from chroma_grpc.cluster.gateway import merge_neighbours, merge_records
from chroma_grpc.cluster.routing import placement, rendezvous, shard_of, split_by_shard
from chroma_grpc.cluster.settings import check_cluster_metadata
from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import Neighbours, RecordBatch, Records

ROOT = Path(__file__).resolve().parents[2]


def test_shards_are_stable_and_spread() -> None:
    ids = [f"id{i}" for i in range(4000)]
    shards = [shard_of(i, 4) for i in ids]
    assert shards == [shard_of(i, 4) for i in ids]
    assert all(800 < shards.count(s) < 1200 for s in range(4))
    assert all(shard_of(i, 1) == 0 for i in ids[:10])
    groups = split_by_shard(["b", "a", "c", "a2"], 2)
    assert sorted(p for positions in groups.values() for p in positions) == [0, 1, 2, 3]


def test_rendezvous_moves_only_what_a_worker_wins_or_held() -> None:
    keys = [f"c.{i}" for i in range(200)]
    before = {k: rendezvous(k, ["w1", "w2", "w3"])[:2] for k in keys}
    after = {k: rendezvous(k, ["w1", "w2", "w3", "w4"])[:2] for k in keys}
    for key in keys:
        kept = set(before[key]) & set(after[key])
        assert len(kept) >= 1 and (set(after[key]) - kept <= {"w4"})
    assert rendezvous("k", ["a", "b"]) == rendezvous("k", ["b", "a"])


def test_placement_spreads_one_collections_shards() -> None:
    """Plain rendezvous put 4 shards on 2 or fewer of 4 workers a third of the time."""
    rng = random.Random(5)
    for n in range(300):
        workers = [f"w{rng.getrandbits(48):012x}" for _ in range(4)]
        for shards, replicas in [(4, 1), (2, 2), (1, 4)]:
            owners = placement(f"c{n}", shards, workers, replicas)
            assert Counter(w for o in owners for w in o) == dict.fromkeys(workers, 1)


def test_placement_is_even_stable_and_agreed() -> None:
    rng = random.Random(7)
    moved = total = 0
    for n in range(2000):
        workers = [f"w{rng.getrandbits(48):012x}" for _ in range(rng.randint(1, 6))]
        shards, replicas = rng.randint(1, 8), rng.randint(1, 3)
        owners = placement(f"c{n}", shards, workers, replicas)
        # Every gateway and worker computes it from the same live set, in any order.
        assert owners == placement(f"c{n}", shards, workers[::-1], replicas)
        assert all(len(set(o)) == len(o) == min(replicas, len(workers)) for o in owners)
        load = Counter(w for o in owners for w in o)
        even = -(-shards * min(replicas, len(workers)) // len(workers))
        assert max(load.values()) <= even + 1
        joined = placement(f"c{n}", shards, [*workers, "w-new"], replicas)
        moved += sum(len(set(a) - set(b)) for a, b in zip(owners, joined, strict=True))
        total += sum(len(o) for o in owners)
    # A worker joining 1 to 6 others takes about its fair share, not a reshuffle.
    assert moved / total < 0.3


def test_log_ops_round_trip() -> None:
    batch = RecordBatch(
        ids=["a", "b"],
        embeddings=np.array([[1, 2], [3, 4]], np.float32),
        metadatas=[{"k": 1, "f": 0.5, "b": True}, None],
        documents=[None, "doc"],
        uris=None,
        set_columns=frozenset({"documents"}),
    )
    decoded = ops.decode(ops.encode(ops.WriteRecords("upsert", batch)))
    assert isinstance(decoded, ops.WriteRecords) and decoded.kind == "upsert"
    assert decoded.batch.ids == batch.ids and decoded.batch.documents == [None, "doc"]
    assert decoded.batch.set_columns == {"documents"}
    assert decoded.batch.metadatas == [{"k": 1, "f": 0.5, "b": True}, None]
    assert decoded.batch.embeddings is not None
    np.testing.assert_array_equal(decoded.batch.embeddings, batch.embeddings)
    delete = ops.decode(ops.encode(ops.DeleteRecords(None, {"k": {"$gt": 1}}, None)))
    assert delete == ops.DeleteRecords(None, {"k": {"$gt": 1}}, None)
    assert ops.decode(ops.encode(ops.DeleteRecords([], None, None))) == ops.DeleteRecords(
        [], None, None
    )


def test_merges_answer_as_one_store() -> None:
    parts = [
        Records(ids=["a", "c"], documents=["A", "C"]),
        Records(ids=["b", "d"], documents=["B", "D"]),
    ]
    merged = merge_records(parts, frozenset({"documents"}), offset=1, limit=2, dimension=0)
    assert merged.ids == ["b", "c"] and merged.documents == ["B", "C"]
    near = merge_neighbours(
        [
            Neighbours(ids=["x", "y"], distances=np.array([0.1, 0.5], np.float32)),
            Neighbours(ids=["z"], distances=np.array([0.2], np.float32)),
        ],
        2,
        frozenset({"distances"}),
        2,
    )
    assert near.ids == ["x", "z"] and near.distances is not None
    assert near.distances.tolist() == pytest.approx([0.1, 0.2])


def test_cluster_metadata_is_checked() -> None:
    check_cluster_metadata({"cluster:shards": 4, "topic": "x"})
    for bad in ({"cluster:shards": 0}, {"cluster:shards": True}, {"cluster:replicas": 2}):
        with pytest.raises(InvalidArgumentError, match="cluster parameter"):
            check_cluster_metadata(bad)


def test_committed_cluster_stubs_are_up_to_date(tmp_path: Path) -> None:
    """`make protos` output for the cluster's internal protos (tests/test_protos.py checks
    the public ones)."""
    protos = sorted(
        str(p.relative_to(ROOT / "protos"))
        for p in (ROOT / "protos" / "chroma_grpc" / "cluster").rglob("*.proto")
    )
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT / 'protos'}",
        f"-I{include}",
        f"--python_out={tmp_path}",
        f"--grpc_python_out={tmp_path}",
        *protos,
    ]
    assert protoc.main(args) == 0
    generated = tmp_path / "chroma_grpc" / "cluster" / "v1"
    committed = ROOT / "chroma_grpc" / "cluster" / "v1"
    for path in generated.glob("*.py"):
        assert path.read_text() == (committed / path.name).read_text(), "run `make protos`"


def test_stop_task_ends_a_task_that_swallows_a_cancellation() -> None:
    """nats-py turns some cancellations into errors; a retry loop around such a call must
    still stop (a replica dropped while its consumer waited once hung its worker)."""
    import asyncio

    from chroma_grpc.cluster.nats_io import stop_task

    swallowed = []

    async def retry_loop() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:  # what nats-py's fetch does with one
                swallowed.append(True)
                if len(swallowed) == 1:
                    continue
                raise

    async def scenario() -> bool:
        task = asyncio.get_running_loop().create_task(retry_loop())
        await asyncio.sleep(0)
        await asyncio.wait_for(stop_task(task, every_s=0.05), 5)
        return task.cancelled()

    assert asyncio.run(scenario()) and len(swallowed) == 2
