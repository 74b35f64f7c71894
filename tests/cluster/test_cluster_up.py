"""``chroma-grpc cluster up`` (and so ``make cluster``), as the README shows it: it starts 3
NATS servers, 2 workers and 2 gateways, prints how to connect, serves an ``HttpClient`` over
both gateways, and on Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc.cluster.local import HOST

pytest.importorskip("nats", reason="the cluster extra is not installed")

START_S = 120.0


def two_free_ports() -> int:
    """A port p with p + 1 free too (``cluster up --port p`` gives its gateways p, p + 1)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind((HOST, 0))
            port = int(first.getsockname()[1])
            try:
                second.bind((HOST, port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two adjacent free ports")


def processes_naming(*markers: str) -> list[int]:
    """Processes whose command line holds one of ``markers``: what ``cluster up`` started
    names its data folder (NATS servers, workers) or its NATS servers (workers, gateways)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker.encode() in command for marker in markers):
            found.append(int(entry.name))
    return found


def test_cluster_up_serves_both_gateways_and_stops_everything_on_ctrl_c(
    tmp_path: Path,
) -> None:
    data = tmp_path / "cluster-data"
    port = two_free_ports()
    command = [sys.executable, "-m", "chroma_grpc.server", "cluster", "up", "--data", str(data)]
    up = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed: list[str] = []
        deadline = time.monotonic() + START_S
        assert up.stdout is not None
        while not any("HttpClient(host=" in line for line in printed):
            assert time.monotonic() < deadline and up.poll() is None, "".join(printed)
            printed.append(up.stdout.readline())
        text = "".join(printed)
        assert text.count("NATS JetStream servers: nats://") == 1
        assert len(re.findall(r"^worker \d: ", text, re.M)) == 2
        nats_url = re.search(r"NATS JetStream servers: (nats://[0-9.:]+)", text)
        assert nats_url is not None
        markers = (str(data), nats_url.group(1))
        hosts = re.search(r'HttpClient\(host="([^"]+)"\)', text)
        assert hosts is not None and hosts.group(1) == f"{HOST}:{port},{HOST}:{port + 1}"

        client = chroma_grpc.HttpClient(host=hosts.group(1))
        collection = client.create_collection("readme")
        vectors = np.eye(4, dtype=np.float32)
        collection.add(ids=["a", "b", "c", "d"], embeddings=vectors, documents=["A", "B", "C", "D"])
        found = collection.query(query_embeddings=vectors[2:3], n_results=1)
        assert found["ids"] == [["c"]] and found["documents"] == [["C"]]
        assert collection.count() == 4
        started = set(processes_naming(*markers)) - {up.pid}
        assert len(started) == 7, started  # 3 NATS servers, 2 workers, 2 gateways

        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:  # a failed check: still stop what it started
            up.send_signal(signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
    deadline = time.monotonic() + 10
    while processes_naming(*markers):
        assert time.monotonic() < deadline, f"left running: {processes_naming(*markers)}"
        time.sleep(0.2)
