"""Issue #7.3: one data folder, one owner process; a crashed owner never blocks a restart.

A second ``chroma-grpc run`` on a folder, or a ``PersistentClient`` on a server's folder, used to
start silently and answer from its own vector index (distance-0 hits far from the query, INTERNAL
after the other deleted). Now the second opener fails at once, naming the folder and the holder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import chroma_grpc
from chroma_grpc import Settings
from chroma_grpc.errors import FolderInUseError
from tests.helpers.servers import ROOT, start_server_process

from .conftest import http_client, run_cli

HOLDER = textwrap.dedent(
    """
    import sys, time
    import chroma_grpc
    client = chroma_grpc.PersistentClient(sys.argv[1])
    client.get_or_create_collection("held", embedding_function=None).add(
        ids=["h"], embeddings=[[1.0, 2.0]]
    )
    print("holding", flush=True)
    time.sleep(600)
    """
)


def test_a_second_server_on_the_folder_exits_at_once_naming_the_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_server_process(data) as first:
        started = time.monotonic()
        second = run_cli("run", "--path", str(data), "--port", "0")
        elapsed = time.monotonic() - started
        assert second.returncode != 0
        assert "listening" not in second.stdout
        assert f"The data folder {data} is in use by process {first.process.pid}" in second.stderr
        assert "chroma_grpc run" in second.stderr  # the holder's command line
        assert elapsed < 30, "the second opener must fail at once, not wait for the lock"
        with pytest.raises(FolderInUseError, match=f"in use by process {first.process.pid}"):
            chroma_grpc.PersistentClient(str(data))
        remote = http_client(first)  # the first keeps serving, unaffected
        assert remote.heartbeat() > 0


def test_a_killed_server_releases_the_folder_for_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server_process(data)
    collection = http_client(first).create_collection("kept", embedding_function=None)
    collection.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    with start_server_process(data) as again:  # no stale lock: the kernel dropped it
        kept = http_client(again).get_collection("kept", embedding_function=None)
        assert kept.get()["ids"] == ["a", "b"]


def test_a_killed_persistent_client_releases_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(FolderInUseError) as refused:
            chroma_grpc.PersistentClient(str(data))
        assert str(data) in refused.value.message
        assert f"process {holder.pid}" in refused.value.message
        refusal = run_cli("run", "--path", str(data), "--port", "0")
        assert refusal.returncode != 0 and f"process {holder.pid}" in refusal.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    client = chroma_grpc.PersistentClient(str(data))
    assert client.get_collection("held", embedding_function=None).get()["ids"] == ["h"]


def test_persistent_clients_in_one_process_share_one_store(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    one = chroma_grpc.PersistentClient(data, Settings(allow_reset=True))
    two = chroma_grpc.PersistentClient(data, Settings(allow_reset=True))
    one.create_collection("shared", embedding_function=None).add(ids=["x"], embeddings=[[0.5, 0.5]])
    seen = two.get_collection("shared", embedding_function=None)
    assert seen.get()["ids"] == ["x"]
    hits = seen.query(query_embeddings=[[0.5, 0.5]], n_results=1, include=["distances"])
    assert hits["ids"] == [["x"]] and hits["distances"] == [[0.0]]
