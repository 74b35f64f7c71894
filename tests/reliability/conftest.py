"""The reliability suite: hostile and unlucky conditions, through public entry points only.

Tests here talk to chroma-grpc the way users do: the Python client (``PersistentClient``,
``HttpClient``) and the ``chroma-grpc run`` command in a real subprocess. ``CHROMA_GRPC_SOAK=1``
turns the short loops into long ones (see docs/operations.md, "Reliability suite").
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import chroma_grpc
from chroma_grpc import ClientAPI, Settings
from tests.helpers.servers import ROOT, ServerProcess, start_server_process

SOAK = os.environ.get("CHROMA_GRPC_SOAK", "").strip().lower() in ("1", "true", "yes", "on")
TRANSPORTS = ["embedded", "grpc"]


def soak(short: int, long: int) -> int:
    """``long`` under CHROMA_GRPC_SOAK=1, else ``short``."""
    return long if SOAK else short


def http_client(server: ServerProcess) -> ClientAPI:
    return chroma_grpc.HttpClient(host=server.host, port=server.port)


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m chroma_grpc ARGS`` to completion (for runs expected to refuse to start)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "chroma_grpc", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


@pytest.fixture(autouse=True)
def _fresh_system_cache() -> Iterator[None]:
    """Embedded stores opened by a test are closed after it (releasing their folders)."""
    ClientAPI.clear_system_cache()
    yield
    ClientAPI.clear_system_cache()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``chroma-grpc run`` on a fresh folder for the session (reset allowed)."""
    with start_server_process(tmp_path_factory.mktemp("server"), "--allow-reset") as process:
        yield process


@pytest.fixture(params=TRANSPORTS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClientAPI]:
    """An empty database, as a ``PersistentClient`` or an ``HttpClient`` to ``server``."""
    if request.param == "embedded":
        yield chroma_grpc.PersistentClient(str(tmp_path / "data"), Settings(allow_reset=True))
        return
    remote = http_client(request.getfixturevalue("server"))
    remote.reset()
    yield remote
    remote.reset()
