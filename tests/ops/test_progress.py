"""The opt-in progress line of large streamed writes, against a real server process."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc.config import Settings
from chroma_grpc.errors import InvalidDimensionException
from tests.helpers.servers import ServerProcess, start_server_process

ROWS, DIMENSION = 3000, 256  # 3 MB: about a dozen chunks under a 1 MiB receive limit


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("progress")
    args = ("--no-server-embedding", "--max-receive-message-bytes", str(1024 * 1024))
    with start_server_process(path, *args) as process:
        yield process


def big_add(server: ServerProcess, name: str, settings: Settings | None = None) -> None:
    api = chroma_grpc.HttpClient(host=server.host, port=server.port, settings=settings)
    collection = api.create_collection(name, embedding_function=None)
    vectors = np.random.default_rng(2).random((ROWS, DIMENSION), dtype=np.float32)
    collection.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=vectors.tolist())
    assert collection.count() == ROWS


def test_progress_setting_prints_a_line_per_chunk_then_commit(
    server: ServerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    big_add(server, "with-progress", Settings(chroma_grpc_progress=True))
    lines = capfd.readouterr().err.splitlines()
    sent = [line for line in lines if "records sent" in line]
    assert len(sent) >= 3
    assert sent[-1] == f"chroma-grpc add: {ROWS:,}/{ROWS:,} records sent (100%)"
    assert lines[-1] == f"chroma-grpc add: {ROWS:,} records committed"


def test_progress_env_variable_turns_it_on(
    server: ServerProcess, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHROMA_GRPC_PROGRESS", "1")
    big_add(server, "env-progress", Settings())
    assert "records committed" in capfd.readouterr().err


def test_no_progress_by_default(server: ServerProcess, capfd: pytest.CaptureFixture[str]) -> None:
    big_add(server, "quiet")
    assert "chroma-grpc add" not in capfd.readouterr().err


def test_a_failed_write_says_so(server: ServerProcess, capfd: pytest.CaptureFixture[str]) -> None:
    api = chroma_grpc.HttpClient(
        host=server.host, port=server.port, settings=Settings(chroma_grpc_progress=True)
    )
    collection = api.create_collection("fails", embedding_function=None)
    collection.add(ids=["dup"], embeddings=[[1.0, 2.0]])
    with pytest.raises(InvalidDimensionException):  # the server rejects it: 3 != 2
        collection.add(ids=["wide"], embeddings=[[1.0, 2.0, 3.0]])
    err = capfd.readouterr().err.splitlines()
    assert err[1] == "chroma-grpc add: 1 records committed"
    assert err[-1] == "chroma-grpc add: failed (see the raised error)"
