"""Issues #7.6, #7.7 and "Also": every failure is one of our errors, on both transports.

* ``get_or_create_collection`` with another ``hnsw:space`` is refused as ``modify`` refuses it;
* inputs that used to leak raw ``KeyError`` / ``sqlite3.OperationalError`` / ``OverflowError``
  from the embedded client (or INTERNAL over gRPC) get our exception classes;
* deleted records and collections give their disk space back;
* a full disk is RESOURCE_EXHAUSTED saying so, and what was written before stays.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc import ClientAPI
from chroma_grpc.errors import ChromaError, InvalidArgumentError, ResourceExhaustedError
from chroma_grpc.store import Store
from tests.helpers.servers import LISTENING, ROOT, serve_in_process, start_server_process

from .conftest import TRANSPORTS, http_client


def test_get_or_create_refuses_a_space_change_exactly_as_modify(client: ClientAPI) -> None:
    collection = client.create_collection(
        "spaced", metadata={"hnsw:space": "l2"}, embedding_function=None
    )
    collection.add(ids=["x", "y"], embeddings=[[1.0, 0.0], [0.0, 2.0]])
    with pytest.raises(ValueError) as by_modify:
        collection.modify(metadata={"hnsw:space": "cosine"})
    with pytest.raises(ValueError) as by_get_or_create:
        client.get_or_create_collection(
            "spaced", metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
    assert type(by_get_or_create.value) is type(by_modify.value) is ValueError  # chromadb's
    assert type(by_get_or_create.value.__cause__) is InvalidArgumentError
    assert str(by_get_or_create.value) == str(by_modify.value)
    again = client.get_collection("spaced", embedding_function=None)
    assert again.metadata == {"hnsw:space": "l2"}
    hits = again.query(query_embeddings=[[2.0, 0.0]], n_results=2, include=["distances"])
    assert hits["distances"] == [[1.0, 8.0]]  # still squared l2, not cosine


def test_inputs_that_leaked_raw_exceptions_get_our_errors(client: ClientAPI) -> None:
    collection = client.create_collection("raw", embedding_function=None)
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]], metadatas=[{"k": 1}])
    failures = {
        "id with NUL (KeyError)": lambda: collection.add(ids=["a\x00zzz"], embeddings=[[3.0, 4.0]]),
        "limit 2**63 (OverflowError)": lambda: collection.get(limit=2**63),
        "1,000-child $or (sqlite3.OperationalError)": lambda: collection.get(
            where={"$or": [{"k": {"$gt": i}} for i in range(1000)]}
        ),
        "2,000-child $and": lambda: collection.delete(
            where={"$and": [{"k": {"$ne": -i}} for i in range(2000)]}
        ),
    }
    for name, call in failures.items():
        try:
            call()
        except ChromaError as error:
            assert not isinstance(error, chroma_grpc.errors.InternalError), (name, error)
        except Exception as error:  # noqa: BLE001 - only chromadb's exact built-ins may come
            # The client API re-raises some of our errors as the built-in chromadb raises
            # there (ValueError, TypeError), with our error as the cause: that is no leak.
            ours = error.__cause__
            if type(error) in (ValueError, TypeError) and isinstance(ours, ChromaError):
                assert not isinstance(ours, chroma_grpc.errors.InternalError), (name, ours)
                continue
            pytest.fail(f"{name}: raw {type(error).__name__}: {error}")
    assert collection.get(ids=["a\x00zzz"])["ids"] == ["a\x00zzz"]  # the NUL id was added
    assert collection.get()["ids"] == ["a\x00zzz"]  # the $and deleted "a" (k=1 is no -i)


def test_deleting_gives_the_disk_space_back(tmp_path: Path) -> None:
    data = tmp_path / "data"

    def on_disk() -> int:
        return sum(f.stat().st_size for f in data.glob("chroma.sqlite3*"))

    with start_server_process(data, "--no-server-embedding") as server:
        client = http_client(server)
        for name in ("first", "second"):
            collection = client.create_collection(name, embedding_function=None)
            collection.add(
                ids=[f"{name}{i}" for i in range(4000)],
                embeddings=np.random.default_rng(0).random((4000, 64), np.float32),
                documents=["some text " * 40] * 4000,
            )
        full = on_disk()
        assert full > 4_000_000
        client.delete_collection("first")
        half = on_disk()
        assert half < full * 0.7
        second = client.get_collection("second", embedding_function=None)
        second.delete(ids=second.get()["ids"])
        assert on_disk() < full * 0.1


# -- a full disk --------------------------------------------------------------------------------
@pytest.fixture
def nearly_full(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A store whose SQLite file may grow by a few pages only: SQLite then fails writes with
    SQLITE_FULL exactly as on a full disk; and a server on it."""
    store = Store(tmp_path / "data")
    with serve_in_process(store) as address:
        yield store, address
    store.close()


def _fill_until_full(collection: chroma_grpc.Collection) -> int:
    """Add 200-record batches until the disk is full; returns how many were acknowledged."""
    for batch in range(10_000):
        ids = [f"b{batch:05d}-{i:03d}" for i in range(200)]
        try:
            collection.add(
                ids=ids,
                embeddings=np.full((200, 8), batch, np.float32),
                documents=["x" * 400] * 200,
            )
        except ResourceExhaustedError as error:
            assert str(error).startswith("The disk is full: add could not write to ")
            assert "data written before is intact" in str(error)
            return batch
    raise AssertionError("the disk never filled up")


def _assert_whole_batches(collection: chroma_grpc.Collection, acknowledged: int) -> None:
    ids = collection.get()["ids"]
    assert len(ids) == acknowledged * 200
    assert {i.split("-")[0] for i in ids} == {f"b{b:05d}" for b in range(acknowledged)}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_full_disk_is_resource_exhausted_and_keeps_earlier_data(
    nearly_full: tuple[Store, str], transport: str
) -> None:
    store, address = nearly_full
    if transport == "embedded":  # the embedded client hands the store's errors through
        client = chroma_grpc.ClientAPI(store, chroma_grpc.Settings())
    else:
        host, port = address.rsplit(":", 1)
        client = chroma_grpc.HttpClient(host=host, port=int(port))
    collection = client.create_collection("filling", embedding_function=None)
    collection.add(ids=["first"], embeddings=[[0.0] * 8])
    with store._db.writer() as conn:  # the "disk" has 1 MiB left
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 256}")
    collection.delete(ids=["first"])
    acknowledged = _fill_until_full(collection)
    assert acknowledged > 0
    _assert_whole_batches(collection, acknowledged)
    with store._db.writer() as conn:  # space freed: writes go on
        conn.execute("PRAGMA max_page_count = 1073741823")
    collection.add(ids=["after"], embeddings=[[1.0] * 8])
    assert collection.count() == acknowledged * 200 + 1


def _userns_tmpfs_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || "
            "mount -t tmpfs -o size=1m tmpfs /tmp",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _userns_tmpfs_available(),
    reason="needs `unshare -rm` (unprivileged user namespaces) to mount a small tmpfs; the "
    "SQLITE_FULL test above covers the same path without it",
)
def test_a_really_full_filesystem_over_grpc(tmp_path: Path) -> None:
    """A real ENOSPC: ``chroma-grpc run`` on an 8 MiB tmpfs in its own mount namespace.

    SQLite logs every change before applying it, so on a full disk even a delete needs room
    (about the size of what it deletes): the operator frees space elsewhere (here a 5 MiB
    ballast file), then deletes, which give their space back, and writes go on.
    """
    mount = tmp_path / "small"
    mount.mkdir()
    script = (
        f"mount -t tmpfs -o size=8m tmpfs {mount} && "
        f"dd if=/dev/zero of={mount}/ballast bs=1k count=5120 2>/dev/null && "
        f"exec {sys.executable} -m chroma_grpc run --path {mount}/data --port 0 "
        "--no-server-embedding"
    )
    process = subprocess.Popen(
        ["unshare", "-rm", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            found = LISTENING.search(line)
            if found:
                break
        else:
            pytest.fail("the server did not start:\n" + "".join(output))
        threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True).start()
        client = chroma_grpc.HttpClient(host=found.group(1), port=int(found.group(2)))
        collection = client.create_collection("filling", embedding_function=None)
        acknowledged = _fill_until_full(collection)
        assert acknowledged > 0
        _assert_whole_batches(collection, acknowledged)
        # The operator frees space on the filesystem (seen through the server's namespace).
        Path(f"/proc/{process.pid}/root{mount}/ballast").unlink()
        client.delete_collection("filling")  # and deleting gives the space back ...
        refill = client.create_collection("refill", embedding_function=None)
        refilled = _fill_until_full(refill)
        assert refilled > acknowledged  # ... so more fits than before the ballast went
        _assert_whole_batches(refill, refilled)
    finally:
        process.kill()
        process.wait()
    assert "Traceback" not in "".join(output), "".join(output)
