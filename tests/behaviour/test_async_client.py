"""The asyncio client in its own right: one client shared by many coroutines, large streamed
writes and paged reads, and its errors (the rest of its behaviour is the suite's "async" run)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc import AsyncClientAPI
from chroma_grpc.errors import DuplicateIDError

from .support import split_address


async def connect(server_address: str) -> AsyncClientAPI:
    host, port = split_address(server_address)
    client = await chroma_grpc.AsyncHttpClient(host=host, port=port)
    await client.reset()
    return client


def test_fifty_coroutines_share_one_client(server_address: str) -> None:
    """Each coroutine creates its collection, writes, reads and queries it, all at once on one
    client (one channel); every answer is its own, none is lost or crossed."""

    async def worker(client: AsyncClientAPI, n: int) -> tuple[int, list[str], str, int]:
        collection = await client.create_collection(f"worker-{n}", embedding_function=None)
        vectors = np.full((20, 4), float(n), np.float32) + np.arange(20, dtype=np.float32)[:, None]
        await collection.add(
            ids=[f"{n}-{i:02d}" for i in range(20)],
            embeddings=vectors,
            metadatas=[{"worker": n, "i": i} for i in range(20)],
        )
        await collection.upsert(ids=[f"{n}-00"], embeddings=[[0.5] * 4], documents=[f"doc {n}"])
        got = await collection.get(where={"i": {"$lt": 3}})
        hits = await collection.query(query_embeddings=[[float(n) + 5.0] * 4], n_results=1)
        again = await client.get_collection(f"worker-{n}", embedding_function=None)
        return await again.count(), got["ids"], hits["ids"][0][0], n

    async def main() -> list[tuple[int, list[str], str, int]]:
        client = await connect(server_address)
        try:
            results = await asyncio.gather(*(worker(client, n) for n in range(50)))
            assert await client.count_collections() == 50
            return results
        finally:
            await client.reset()
            await client.close()

    for count, ids, nearest, n in asyncio.run(main()):
        assert count == 20
        assert ids == [f"{n}-00", f"{n}-01", f"{n}-02"]
        assert nearest == f"{n}-05"


def test_large_writes_stream_and_large_reads_page(server_address: str) -> None:
    """6,000 records of 384 floats (about 9 MB) travel as several committed chunks and come
    back through several pages; a failing write leaves nothing behind."""

    async def main() -> None:
        client = await connect(server_address)
        try:
            collection = await client.create_collection("big", embedding_function=None)
            vectors = np.random.default_rng(3).random((6000, 384), dtype=np.float32)
            ids = [f"r{i:05d}" for i in range(6000)]
            await collection.add(ids=ids, embeddings=vectors)
            got = await collection.get(include=["embeddings"])
            assert got["ids"] == ids
            np.testing.assert_array_equal(np.array(got["embeddings"], np.float32), vectors)
            with pytest.raises(DuplicateIDError):
                await collection.add(ids=["new", "new"], embeddings=vectors[:2])
            assert await collection.count() == 6000
        finally:
            await client.reset()
            await client.close()

    asyncio.run(main())


def test_errors_are_chromadbs_classes(server_address: str) -> None:
    async def main() -> None:
        client = await connect(server_address)
        try:
            collection = await client.create_collection("errs", embedding_function=None)
            await collection.add(ids=["a"], embeddings=[[1.0, 2.0]])
            with pytest.raises(TypeError) as caught:
                await collection.query(query_embeddings=[[1.0, 2.0]], n_results=0)
            assert caught.type is TypeError
            with pytest.raises(ValueError, match="Collection nope does not exist.") as missing:
                await client.get_collection("nope")
            assert missing.type is ValueError
            with pytest.raises(chroma_grpc.errors.InvalidDimensionException):
                await collection.add(ids=["b"], embeddings=[[1.0, 2.0, 3.0]])
            with pytest.raises(ValueError, match="Could not connect to tenant nobody"):
                await client.set_tenant("nobody")
        finally:
            await client.reset()
            await client.close()

    asyncio.run(main())
    host, port = split_address(server_address)
    with pytest.raises(ValueError, match="Could not connect to tenant nobody") as caught:
        asyncio.run(chroma_grpc.AsyncHttpClient(host=host, port=port, tenant="nobody"))
    assert caught.type is ValueError
    with pytest.raises(ValueError, match="Could not connect to a Chroma server") as unreachable:
        asyncio.run(chroma_grpc.AsyncHttpClient(host="127.0.0.1", port=1))
    assert unreachable.type is ValueError


def test_progress_line_reports_commit_and_failure(
    server_address: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """``chroma_grpc_progress`` works as in the sync client: a line per chunk sent, then the
    commit, or "failed" when the server refuses the write."""

    async def main() -> None:
        host, port = split_address(server_address)
        settings = chroma_grpc.Settings(chroma_grpc_progress=True)
        client = await chroma_grpc.AsyncHttpClient(host=host, port=port, settings=settings)
        try:
            await client.reset()
            collection = await client.create_collection("progress", embedding_function=None)
            await collection.add(ids=["a", "b"], embeddings=[[1.0, 2.0], [3.0, 4.0]])
            assert capfd.readouterr().err.splitlines()[-2:] == [
                "chroma-grpc add: 2/2 records sent (100%)",
                "chroma-grpc add: 2 records committed",
            ]
            with pytest.raises(chroma_grpc.errors.InvalidDimensionException):
                await collection.upsert(ids=["c"], embeddings=[[1.0, 2.0, 3.0]])
            err = capfd.readouterr().err.splitlines()
            assert err[-1] == "chroma-grpc upsert: failed (see the raised error)"
        finally:
            await client.reset()
            await client.close()

    asyncio.run(main())
