"""A write that is cancelled, cut off or whose client dies before its commit message writes
nothing; every completed write is applied (issue #7, item 1).

grpcio's sync server ends a request iterator *normally* when the client cancels, so "the stream
ended" cannot mean "apply it": the contract makes the client say so, with ``commit: true`` on
the last message (wire/write_stream.py). Against one server process, this runs 100 cancels at
random points from @grpc/grpc-js (tests/reliability/cancel_writes.js, one Node process) and
100 from grpcio stubs (this process), plus streams ended without a commit, clients killed with
SIGKILL mid-stream, and completed streams in between, then checks the records one by one.

Fixtures are this file's own (the folder's conftest belongs to other tests).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pytest

from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.v1 import record_service_pb2 as rpb
from chroma_grpc.v1 import record_service_pb2_grpc, types_pb2
from chroma_grpc.wire.vectors import to_proto_vectors
from tests.helpers.servers import ROOT, ServerProcess, start_server_process

CANCELS_PER_CLIENT = 100
KILLED_CLIENTS = 5
NODE_SCRIPT = Path(__file__).with_name("cancel_writes.js")
NODE_MODULES = ROOT / "examples" / "node" / "node_modules"
SEED = int(os.environ.get("CHROMA_GRPC_CANCEL_SEED", "7"))


@dataclass
class Streams:
    """What a client did: streams cut off before committing, and committed ones."""

    cut_off: list[str] = field(default_factory=list)
    completed: dict[str, int] = field(default_factory=dict)  # name -> records written
    cancels: int = 0
    codes: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server_process(tmp_path_factory.mktemp("cancels"), "--no-server-embedding") as s:
        yield s


@pytest.fixture(scope="module")
def collection_id(server: ServerProcess) -> str:
    proxy = StoreProxy(server.address)
    info, _ = proxy.create_collection("cancels")
    proxy.close()
    return info.id


@pytest.fixture(scope="module")
def node() -> str:
    """node, with examples/node's locked dependencies (grpc-js, proto-loader) installed."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("`node` not found on PATH: install Node.js >= 18 (with npm)")
    if not (NODE_MODULES / "@grpc" / "grpc-js").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "`npm` not found on PATH"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_MODULES.parent,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return found


def node_env() -> dict[str, str]:
    return {**os.environ, "NODE_PATH": str(NODE_MODULES)}


def grpc_js_streams(node: str, address: str, collection_id: str) -> Streams:
    """100 cancels (and the rest) from one Node process."""
    done = subprocess.run(
        [node, str(NODE_SCRIPT), address, collection_id, str(CANCELS_PER_CLIENT), str(SEED)],
        capture_output=True,
        text=True,
        env=node_env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    streams = Streams(codes=outcome["codes"], cancels=len(outcome["cancelled"]))
    for stream in outcome["cancelled"]:
        assert stream["code"] == "CANCELLED", stream
        streams.cut_off.append(stream["name"])
    for stream in outcome["ended"]:
        assert stream["code"] == "ABORTED", stream  # ended without commit: nothing written
        streams.cut_off.append(stream["name"])
    for stream in outcome["completed"]:
        assert stream["code"] == "OK", stream
        streams.completed[stream["name"]] = stream["records"]
    return streams


def message(name: str, first: int, count: int) -> rpb.AddRecordsRequest:
    batch = types_pb2.RecordBatch(
        records=[types_pb2.Record(id=f"{name}-{first + k}") for k in range(count)]
    )
    batch.embeddings.CopyFrom(to_proto_vectors(np.ones((count, 2), np.float32)))
    return rpb.AddRecordsRequest(batch=batch)


def grpcio_streams(address: str, collection_id: str) -> Streams:
    """100 cancels (and the rest) from grpcio stubs in this process."""
    rng = random.Random(SEED)
    streams = Streams()
    with grpc.insecure_channel(address) as channel:
        stub = record_service_pb2_grpc.RecordServiceStub(channel)
        index = 0
        while streams.cancels < CANCELS_PER_CLIENT:
            name = f"py{index}"
            sizes = [rng.randint(1, 3) for _ in range(rng.randint(1, 4))]
            messages = [message(name, sum(sizes[:i]), size) for i, size in enumerate(sizes)]
            messages[0].collection.id = collection_id
            messages[0].request_id = name
            if index % 4 == 3:
                messages[-1].commit = True
                stub.AddRecords(iter(messages), timeout=30)
                streams.completed[name] = sum(sizes)
            else:
                cancel = rng.random() < 0.85
                code = _cut_off(stub, messages[: rng.randint(0, len(messages))], cancel, rng)
                streams.codes[code] = streams.codes.get(code, 0) + 1
                assert code == ("CANCELLED" if cancel else "ABORTED"), (name, code)
                streams.cut_off.append(name)
                streams.cancels += cancel
            index += 1
    return streams


def _cut_off(
    stub: record_service_pb2_grpc.RecordServiceStub,
    sent: list[rpb.AddRecordsRequest],
    cancel: bool,
    rng: random.Random,
) -> str:
    """Send ``sent`` (never a commit), then cancel the call or end the stream; the status."""
    pauses = [rng.uniform(0, 0.01) for _ in sent]
    held = threading.Event()

    def requests() -> Iterator[rpb.AddRecordsRequest]:
        for request, pause in zip(sent, pauses, strict=True):
            yield request
            time.sleep(pause)
        if cancel:
            held.wait(10)  # keep the stream open until the client cancels it

    future = stub.AddRecords.future(requests(), timeout=30)
    if cancel:
        time.sleep(rng.uniform(0, 0.03))
        future.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves it untyped
        held.set()
    try:
        future.result()
    except grpc.FutureCancelledError:
        return "CANCELLED"
    except grpc.RpcError as error:
        return str(error.code().name)
    return "OK"


def killed_clients(node: str, address: str, collection_id: str) -> list[str]:
    """Node processes killed with SIGKILL after sending an uncommitted message."""
    names = []
    for index in range(KILLED_CLIENTS):
        name = f"killed{index}"
        process = subprocess.Popen(
            [node, str(NODE_SCRIPT), address, collection_id, "hang", name],
            stdout=subprocess.PIPE,
            text=True,
            env=node_env(),
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "sent"
        time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        names.append(name)
    return names


def test_cancelled_writes_are_never_applied_and_completed_ones_always_are(
    node: str, server: ServerProcess, collection_id: str
) -> None:
    from_node = grpc_js_streams(node, server.address, collection_id)
    from_grpcio = grpcio_streams(server.address, collection_id)
    killed = killed_clients(node, server.address, collection_id)
    assert from_node.cancels == from_grpcio.cancels == CANCELS_PER_CLIENT
    time.sleep(0.5)  # nothing is pending; a late write would show up by now

    proxy = StoreProxy(server.address)
    stored = proxy.get(collection_id, include=frozenset()).ids
    proxy.close()
    per_stream: dict[str, int] = {}
    for record_id in stored:
        stream = record_id.rpartition("-")[0]
        per_stream[stream] = per_stream.get(stream, 0) + 1

    cut_off = [*from_node.cut_off, *from_grpcio.cut_off, *killed]
    applied = sorted(name for name in cut_off if name in per_stream)
    assert applied == [], f"{len(applied)} cut-off streams were applied: {applied[:10]}"
    completed = {**from_node.completed, **from_grpcio.completed}
    assert len(completed) >= 60
    assert {name: per_stream.get(name, 0) for name in completed} == completed
    assert len(stored) == sum(completed.values())

    log = "".join(server.output)
    assert "Traceback" not in log and "code=INTERNAL" not in log
    applied_writes = re.findall(r"RecordService/(?:Add|Upsert)Records code=OK", log)
    assert len(applied_writes) == len(completed)
