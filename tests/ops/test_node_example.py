"""examples/node/client.js against a live server: Node.js speaks the contract from ../../protos.

Needs node and npm on PATH (the test fails, never skips, without them); installs the example's
locked dependencies with `npm ci` when examples/node/node_modules is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import chroma_grpc
from tests.helpers.servers import ROOT, ServerProcess, start_server_process

EXAMPLE = ROOT / "examples" / "node"
RUN_TIMEOUT = 60.0
INSTALL_TIMEOUT = 600.0


def tool(name: str) -> str:
    """The path of ``name`` on PATH, or a test failure saying what to install."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` not found on PATH: install Node.js (>= 18, with npm) to test examples/node"
        )
    return found


@pytest.fixture(scope="module")
def node() -> str:
    """node, with the example's dependencies installed from package-lock.json if missing."""
    node = tool("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    assert major >= 18, f"examples/node needs Node.js >= 18, found {version.stdout.strip()}"
    if not (EXAMPLE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        done = subprocess.run(
            [tool("npm"), "ci", "--no-audit", "--no-fund"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed in {EXAMPLE}:\n{done.stdout}\n{done.stderr}"
    return node


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server_process(tmp_path_factory.mktemp("node")) as server:
        yield server


def run_example(node: str, *args: str) -> list[dict[str, Any]]:
    """Run client.js with ``args``; returns its JSON lines, one dict per line."""
    done = subprocess.run(
        [node, str(EXAMPLE / "client.js"), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"client.js failed:\n{done.stdout}\n{done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines()]


def by_event(lines: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    """The lines of one kind."""
    return [line for line in lines if line["event"] == event]


def test_node_example(node: str, server: ServerProcess) -> None:
    """Create, add packed vectors with typed metadata, query with a where filter."""
    lines = run_example(node, server.address, "from-node")
    assert [line["event"] for line in lines] == [
        "server",
        "collection",
        "added",
        "count",
        "query",
        "query",
    ]
    (info,) = by_event(lines, "server")
    assert info["server_version"] == chroma_grpc.__version__
    (collection,) = by_event(lines, "collection")
    assert collection["name"] == "from-node" and collection["created"] is True
    assert by_event(lines, "added") == [{"event": "added", "record_count": 3}]
    assert by_event(lines, "count") == [{"event": "count", "count": 3}]

    first, second = by_event(lines, "query")
    assert (first["query_index"], second["query_index"]) == (0, 1)
    assert first["ids"] == ["n2", "n3"] and second["ids"] == ["n3", "n2"]
    assert first["distances"] == pytest.approx([1.62, 1.82], abs=1e-5)
    assert second["distances"] == pytest.approx([0.02, 1.62], abs=1e-5)
    assert first["metadatas"] == [
        {"year": 2023, "topic": "dogs"},
        {"year": 2024, "topic": "birds", "score": 0.5},
    ]
    assert first["documents"] == ["the dog ran", "a bird sang"]
    assert first["embeddings"] == [[0, 1, 0], [0, 0, 1]]

    # What Node sent (packed little-endian float32, typed metadata) is what Python reads back.
    client = chroma_grpc.HttpClient(host=server.host, port=server.port)
    stored = client.get_collection("from-node", embedding_function=None)
    assert str(stored.id) == collection["id"]
    assert stored.metadata == {"source": "node"}
    got = stored.get(include=["embeddings", "metadatas", "documents"])
    assert got["ids"] == ["n1", "n2", "n3"]
    assert [list(vector) for vector in got["embeddings"] or []] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    metadatas = got["metadatas"]
    assert metadatas == [
        {"year": 2022, "topic": "cats"},
        {"year": 2023, "topic": "dogs"},
        {"year": 2024, "topic": "birds", "score": 0.5},
    ]
    assert [type(metadata["year"]) for metadata in metadatas or [] if metadata] == [int] * 3


def test_node_example_reruns(node: str, server: ServerProcess) -> None:
    """get_or_create returns the existing collection and the add skips existing ids."""
    run_example(node, server.address, "rerun")
    lines = run_example(node, server.address, "rerun")
    (collection,) = by_event(lines, "collection")
    assert collection["created"] is False
    assert by_event(lines, "count") == [{"event": "count", "count": 3}]
