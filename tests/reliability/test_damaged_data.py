"""Issue #7.4: a damaged or missing database is refused at start, and vector files are kept.

A SQLite file with garbage in the middle used to start SERVING (INTERNAL on reads, writes still
accepted); a zero-length file started empty and deleted every saved index file without a log
line. Now ``chroma-grpc run`` exits non-zero naming the file and the damage, and index files
the database does not explain are moved to ``indexes/orphaned/`` with a WARNING.
"""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc import Settings
from chroma_grpc.errors import DataLossError
from tests.helpers.servers import start_server_process

from .conftest import http_client, run_cli


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder written by a real server: 12,000 records (several MB), past the exact-search
    threshold, so a graph was built and saved under indexes/ (at the latest when the server
    stopped). Tests work on copies."""
    data = tmp_path_factory.mktemp("written") / "data"
    with start_server_process(data) as server:
        # A set search_ef makes the store keep a graph even where a scan would be as fast.
        collection = http_client(server).create_collection(
            "filled", metadata={"hnsw:search_ef": 100}, embedding_function=None
        )
        rng = np.random.default_rng(1)
        for start in range(0, 12_000, 4000):
            ids = [f"r{i:06d}" for i in range(start, start + 4000)]
            collection.add(
                ids=ids,
                embeddings=rng.random((len(ids), 16), dtype=np.float32),
                documents=[f"document {i} " * 8 for i in ids],
            )
        collection.query(query_embeddings=[[0.5] * 16], n_results=3)
        # The graph is built in the background and saved once the collection is quiet.
        deadline = time.monotonic() + 120
        while not list((data / "indexes").glob("*.graph")):
            assert time.monotonic() < deadline, "the server never saved the graph"
            time.sleep(0.2)
    return data


@pytest.fixture
def data(written: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(written, tmp_path / "data"))


def test_garbage_in_the_database_refuses_to_serve(data: Path) -> None:
    database = data / "chroma.sqlite3"
    size = database.stat().st_size
    with open(database, "r+b") as handle:
        handle.seek(size // 2 // 4096 * 4096)
        handle.write(random.Random(2).randbytes(3 * 4096))
    refused = run_cli("run", "--path", str(data), "--port", "0")
    assert refused.returncode != 0
    assert "listening" not in refused.stdout
    assert f"The database {database} is damaged" in refused.stderr
    assert "restore the folder from a backup" in refused.stderr
    with pytest.raises(DataLossError, match="is damaged"):
        chroma_grpc.PersistentClient(str(data))
    assert database.stat().st_size == size  # refusing changed nothing


@pytest.mark.parametrize("damage", ["zero-length", "missing"])
def test_an_emptied_database_beside_saved_graphs_is_damage_not_a_fresh_start(
    data: Path, damage: str
) -> None:
    saved = sorted(p.name for p in (data / "indexes").iterdir())
    assert any(name.endswith(".graph") for name in saved)
    database = data / "chroma.sqlite3"
    if damage == "zero-length":
        database.write_bytes(b"")
    else:
        database.unlink()
    refused = run_cli("run", "--path", str(data), "--port", "0")
    assert refused.returncode != 0 and "listening" not in refused.stdout
    state = "empty (0 bytes)" if damage == "zero-length" else "missing"
    assert f"The database {database} is {state}" in refused.stderr
    assert "saved index file" in refused.stderr and "not a fresh start" in refused.stderr
    assert sorted(p.name for p in (data / "indexes").iterdir()) == saved


def test_index_files_of_unknown_collections_are_set_aside_with_a_warning(data: Path) -> None:
    with start_server_process(data) as server:  # the folder of another deployment's graphs
        client = http_client(server)
        client.delete_collection("filled")
        client.create_collection("other", embedding_function=None)
    foreign = data / "indexes" / "0f7c0d6e-1111-4222-8333-444455556666.json"
    foreign.write_text('{"format": 1}')
    with start_server_process(data) as server:
        assert http_client(server).list_collections()[0].name == "other"
        server.stop(signal.SIGTERM)
        log = "".join(server.output)
    assert not foreign.exists()
    assert (data / "indexes" / "orphaned" / foreign.name).read_text() == '{"format": 1}'
    assert "WARNING" in log and foreign.name in log and "orphaned" in log
    client = chroma_grpc.PersistentClient(str(data), Settings(allow_reset=True))
    client.reset()  # even a reset leaves what it does not understand
    assert (data / "indexes" / "orphaned" / foreign.name).exists()
