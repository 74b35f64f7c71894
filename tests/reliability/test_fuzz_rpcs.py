"""Protobuf fuzzing of every RPC (issue #8, "Keep it fixed"): 0 INTERNAL, 0 crashes, and stored
data unchanged by every call the server refuses.

Hypothesis sends each method of every service the server has (ours, health, reflection, the
client streams and the server streams included) both well-formed requests, generated from the
messages' descriptors with values chosen to reach the store (existing collections and ids,
consistent vectors) and to break it (huge and negative numbers, unknown enum values, NUL and
odd unicode, wrong oneof members, empty and oversized fields), and malformed ones: garbage
bytes, truncated and bit-flipped encodings, messages nested deeper than protobuf decodes.

Every answer must be a status the contract allows (never INTERNAL, UNKNOWN or DATA_LOSS; never
UNAVAILABLE, which would mean the server died). After a refused call the stored data must be
exactly what it was; after an accepted one it is put back, so each example starts from the
same two collections. ``make test`` runs ``FUZZ_EXAMPLES`` examples per method (at least
2,000 in all); ``CHROMA_GRPC_FUZZ_EXAMPLES=N`` runs N per method (docs/operations.md).
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor as pb_descriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.store.types import RecordBatch
from chroma_grpc.v1 import collection_service_pb2, record_service_pb2, system_service_pb2
from tests.helpers.servers import ServerProcess, start_server_process
from tests.helpers.wire import deep_where, length_delimited

# Methods that may change stored data: checked after every example (the others once per test).
WRITERS = frozenset(
    {"AddRecords", "UpsertRecords", "UpdateRecords", "DeleteRecords", "CreateCollection",
     "UpdateCollection", "DeleteCollection", "Reset"}
)  # fmt: skip
# 96 per method: 2,016 for the 21 methods that answer at once, plus a few Watch streams.
FUZZ_EXAMPLES = int(os.environ.get("CHROMA_GRPC_FUZZ_EXAMPLES", "0") or 0) or 96
FORBIDDEN = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNAVAILABLE,
}
ALL_FIELDS = frozenset({"embeddings", "metadatas", "documents", "uris"})
DIM = 3
WATCH_S = 0.1  # a valid health Watch streams until its deadline
MAX_DEPTH = 4  # nesting of generated messages; deeper nesting comes as raw bytes


@dataclass(frozen=True)
class Method:
    path: str  # "/package.Service/Method"
    request: type[Message]
    client_streaming: bool
    server_streaming: bool


def _methods() -> list[Method]:
    files = (
        system_service_pb2,
        collection_service_pb2,
        record_service_pb2,
        health_pb2,
        reflection_pb2,
    )
    found = []
    for module in files:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append(
                    Method(
                        f"/{service.full_name}/{method.name}",
                        method.input_type._concrete_class,
                        method.client_streaming,
                        method.server_streaming,
                    )
                )
    return found


METHODS = _methods()
SENT: dict[str, int] = {}  # examples sent, by method


# -- the data every example starts from -------------------------------------------------------


@dataclass(eq=False)  # hashed by identity: strategies are cached per state
class State:
    """What the fuzzed requests aim at: the collections that exist, and their record ids."""

    collection_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=lambda: ["fuzz-a", "fuzz-b"])
    record_ids: list[str] = field(default_factory=lambda: [f"r{i}" for i in range(6)])


def _seed(proxy: StoreProxy, state: State) -> None:
    """(Re)create the two collections every example starts from, and nothing else."""
    proxy.reset()
    a, _ = proxy.create_collection("fuzz-a", {"topic": "fuzz", "n": 1})
    b, _ = proxy.create_collection("fuzz-b", {"hnsw:space": "cosine"})
    vectors = np.arange(6 * DIM, dtype=np.float32).reshape(6, DIM)
    proxy.add(
        a.id,
        RecordBatch(
            ids=state.record_ids,
            embeddings=vectors,
            metadatas=[{"k": i, "s": f"v{i}", "b": i % 2 == 0, "f": i / 3} for i in range(6)],
            documents=[f"document {i} \x00 é" for i in range(6)],
            uris=[None, "u1", None, "u3", None, None],
        ),
    )
    state.collection_ids[:] = [a.id, b.id]


def snapshot(proxy: StoreProxy) -> list[tuple[Any, ...]]:
    """Everything stored: each collection, its metadata and every field of every record."""
    shot = []
    for info in proxy.list_collections():
        records = proxy.get(info.id, include=ALL_FIELDS)
        embeddings = None if records.embeddings is None else np.asarray(records.embeddings).tolist()
        shot.append(
            (info.id, info.name, info.metadata, info.dimension, records.ids, embeddings,
             records.metadatas, records.documents, records.uris)
        )  # fmt: skip
    return shot


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path: Path = tmp_path_factory.mktemp("fuzz")
    args = ("--no-server-embedding", "--allow-reset", "--max-batch-size", "50")
    with start_server_process(path, *args) as process:
        yield process
    if len(SENT) == len(METHODS):  # the whole module ran: every RPC, 2,000 cases at least
        answering_at_once = len(METHODS) - 1  # all but health Watch, which gets a tenth
        assert sum(SENT.values()) >= min(2000, FUZZ_EXAMPLES * answering_at_once), SENT
    output = "".join(process.output)
    assert "Traceback" not in output and "Unexpected error" not in output


@pytest.fixture(scope="module")
def world(server: ServerProcess) -> Iterator[tuple[StoreProxy, State, list[Any]]]:
    proxy = StoreProxy(server.address, timeout=30)
    state = State()
    _seed(proxy, state)
    baseline = [snapshot(proxy)]
    yield proxy, state, baseline
    proxy.close()


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as opened:
        yield opened


# -- strategies ---------------------------------------------------------------------------------

FD = pb_descriptor.FieldDescriptor
INT_EDGES = [0, 1, -1, 2, 3, 10, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63)]
UINT64_EDGES = [0, 1, 2, 10, 2**31, 2**32, 2**63, 2**64 - 1]
TEXTS = st.one_of(
    st.sampled_from(["", "a", "r1", "k", "s", "$and", "%", "_", "\x00", "a\x00b", "é", "🙂"]),
    st.text(max_size=12),
)


def _bounded(kind: int) -> st.SearchStrategy[int]:
    bounds = {
        FD.TYPE_INT32: (-(2**31), 2**31 - 1),
        FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
        FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
        FD.TYPE_UINT32: (0, 2**32 - 1),
        FD.TYPE_FIXED32: (0, 2**32 - 1),
        FD.TYPE_INT64: (-(2**63), 2**63 - 1),
        FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
        FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
        FD.TYPE_UINT64: (0, 2**64 - 1),
        FD.TYPE_FIXED64: (0, 2**64 - 1),
    }
    low, high = bounds[kind]
    edges = [v for v in INT_EDGES + UINT64_EDGES if low <= v <= high]
    small = st.integers(max(low, -2), 20)
    return st.one_of(small, small, st.sampled_from(edges), st.integers(low, high))


@functools.cache
def _scalar(fd: FD, state: State, message_name: str) -> st.SearchStrategy[Any]:
    """Values for one scalar field; names that address stored things draw from ``state``."""
    if fd.type == FD.TYPE_STRING:
        if (message_name == "CollectionRef" and fd.name == "id") or fd.name == "collection_id":
            existing = st.integers(0, 9).map(lambda i: state.collection_ids[i % 2])
            return st.one_of(
                existing,
                existing,
                existing,
                st.sampled_from(["", "not-a-uuid", "00000000-0000-4000-8000-000000000000"]),
                TEXTS,
            )
        if fd.name in ("name", "new_name"):
            return st.one_of(st.sampled_from([*state.names, "fuzz-new", "ab", ""]), TEXTS)
        if fd.name in ("id", "ids"):
            return st.one_of(st.sampled_from(state.record_ids), TEXTS)
        if fd.name in ("tenant", "database"):
            return st.sampled_from(["", "", "", "", "", "", "default_tenant", "other"])
        return TEXTS
    if fd.type == FD.TYPE_BYTES:
        if fd.name == "packed_float32":
            return st.one_of(
                st.integers(0, 4).map(lambda n: struct.pack(f"<{n * DIM}f", *range(n * DIM))),
                st.binary(max_size=40),
                st.just(struct.pack("<3f", float("nan"), float("inf"), 1.0)),
            )
        return st.binary(max_size=40)
    if fd.type == FD.TYPE_BOOL:
        return st.booleans()
    if fd.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        width = 64 if fd.type == FD.TYPE_DOUBLE else 32
        return st.floats(width=width, allow_nan=True, allow_infinity=True)
    if fd.type == FD.TYPE_ENUM:
        known = [v.number for v in fd.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-3, 40))  # proto3 enums are open
    if fd.name == "dimension":
        return st.one_of(st.just(DIM), st.integers(0, 8), _bounded(fd.type))
    return _bounded(fd.type)


@functools.cache
def messages(cls: type[Message], state: State, depth: int = 0) -> st.SearchStrategy[Message]:
    """Well-formed messages of ``cls`` (any field may be set, any oneof member chosen)."""
    descriptor = cls.DESCRIPTOR

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        in_oneof = {fd.name for oneof in descriptor.oneofs for fd in oneof.fields}
        chosen = {  # a oneof is usually set: unset ones are few ways to fail
            draw(st.sampled_from([*[fd.name for fd in oneof.fields], None]))
            for oneof in descriptor.oneofs
        }
        for fd in descriptor.fields:
            if fd.name in in_oneof and fd.name not in chosen:
                continue
            if fd.name not in in_oneof and not draw(st.booleans()):
                continue
            _fill(draw, message, fd, state, depth)
        return message

    return build()


def _fill(draw: st.DrawFn, message: Message, fd: FD, state: State, depth: int) -> None:
    name = message.DESCRIPTOR.name
    if fd.type == FD.TYPE_MESSAGE:
        if depth >= MAX_DEPTH:
            return
        sub_class = fd.message_type._concrete_class
        if fd.message_type.GetOptions().map_entry:
            target = getattr(message, fd.name)
            value_fd = fd.message_type.fields_by_name["value"]
            for key in draw(st.lists(TEXTS, max_size=3)):
                if value_fd.type == FD.TYPE_MESSAGE:
                    target[key].CopyFrom(draw(messages(value_fd.message_type._concrete_class,
                                                       state, depth + 1)))  # fmt: skip
                else:
                    target[key] = draw(_scalar(value_fd, state, name))
            return
        if fd.is_repeated:
            count = draw(st.integers(0, 3 if fd.name != "records" else 4))
            target = getattr(message, fd.name)
            for _ in range(count):
                target.add().CopyFrom(draw(messages(sub_class, state, depth + 1)))
            if name == "RecordBatch" and fd.name == "records" and draw(st.booleans()):
                _consistent_vectors(message, count)
            return
        getattr(message, fd.name).CopyFrom(draw(messages(sub_class, state, depth + 1)))
        return
    values = _scalar(fd, state, name)
    if fd.is_repeated:
        getattr(message, fd.name).extend(draw(st.lists(values, max_size=4)))
    else:
        setattr(message, fd.name, draw(values))


def _consistent_vectors(batch: Message, count: int) -> None:
    """Embeddings that fit the batch's records (so writes can get all the way to the store)."""
    vectors = np.arange(count * DIM, dtype=np.float32).reshape(count, DIM) / 7
    batch.embeddings.dimension = DIM  # type: ignore[attr-defined]
    batch.embeddings.packed_float32 = vectors.astype("<f4").tobytes()  # type: ignore[attr-defined]


def _where_field(cls: type[Message]) -> int | None:
    fd = cls.DESCRIPTOR.fields_by_name.get("where")
    return None if fd is None else fd.number


@functools.cache
def payloads(cls: type[Message], state: State) -> st.SearchStrategy[bytes]:
    """One request message's bytes: mostly well-formed, often broken."""
    valid = messages(cls, state).map(lambda m: m.SerializeToString())
    broken: list[st.SearchStrategy[bytes]] = [
        st.binary(max_size=64),
        st.tuples(valid, st.integers(0, 1000)).map(lambda t: t[0][: t[1] % (len(t[0]) + 1)]),
        st.tuples(valid, st.integers(0, 1000), st.integers(1, 255)).map(_flipped),
        st.sampled_from([b"\x0a\xff\xff\xff\xff\x0f", b"\x08", b"\xff" * 12, b"\x0b\x0c"]),
    ]
    number = _where_field(cls)
    if number is not None:
        deep = st.integers(20, 120).map(lambda n: length_delimited(number, deep_where(n)))
        broken.append(deep)
    return st.one_of(valid, valid, valid, *broken)


def _flipped(parts: tuple[bytes, int, int]) -> bytes:
    data, where, mask = parts
    if not data:
        return bytes([mask])
    at = where % len(data)
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


@functools.cache
def stream_payloads(cls: type[Message], state: State) -> st.SearchStrategy[list[bytes]]:
    """A request stream: 0-4 messages; write streams usually name a collection first and
    often commit last, so some get all the way to the store."""

    @st.composite
    def build(draw: st.DrawFn) -> list[bytes]:
        messages_ = draw(st.lists(payloads(cls, state), min_size=0, max_size=4))
        if "commit" in cls.DESCRIPTOR.fields_by_name and messages_ and draw(st.booleans()):
            first = cls()  # a clean first message naming a collection
            first.collection.id = state.collection_ids[draw(st.integers(0, 1))]  # type: ignore[attr-defined]
            last = cls(commit=True)  # type: ignore[call-arg]
            messages_ = [first.SerializeToString(), *messages_, last.SerializeToString()]
        return messages_

    return build()


# -- the test -----------------------------------------------------------------------------------


def call(channel: grpc.Channel, method: Method, requests: list[bytes]) -> grpc.StatusCode:
    """Send raw request bytes; the status the call ended with."""
    timeout = WATCH_S if method.path.endswith("/Watch") else 20.0
    try:
        if method.client_streaming and method.server_streaming:
            list(channel.stream_stream(method.path)(iter(requests), timeout=timeout))
        elif method.client_streaming:
            channel.stream_unary(method.path)(iter(requests), timeout=timeout)
        elif method.server_streaming:
            list(channel.unary_stream(method.path)(requests[0], timeout=timeout))
        else:
            channel.unary_unary(method.path)(requests[0], timeout=timeout)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
        return code
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", METHODS, ids=[m.path.rpartition(".")[2] for m in METHODS])
def test_no_request_breaks_the_server_or_its_data(
    method: Method,
    server: ServerProcess,
    channel: grpc.Channel,
    world: tuple[StoreProxy, State, list[Any]],
) -> None:
    proxy, state, baseline = world

    @settings(
        max_examples=FUZZ_EXAMPLES // 10 if method.path.endswith("/Watch") else FUZZ_EXAMPLES,
        deadline=None,
        derandomize=not os.environ.get("CHROMA_GRPC_FUZZ_EXAMPLES"),
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        if method.client_streaming:
            requests = data.draw(stream_payloads(method.request, state), label="stream")
        else:
            requests = [data.draw(payloads(method.request, state), label="request")]
        code = call(channel, method, requests)
        SENT[method.path] = SENT.get(method.path, 0) + 1
        assert code not in FORBIDDEN, f"{method.path} answered {code.name}"
        assert server.process.poll() is None, "the server died"
        if method.path.rpartition("/")[2] not in WRITERS:
            return  # reads: the data is checked once, after all of this method's examples
        after = snapshot(proxy)
        if code != grpc.StatusCode.OK:
            assert after == baseline[0], f"{method.path} refused ({code.name}) yet changed data"
        elif after != baseline[0]:
            _seed(proxy, state)  # an accepted write: start the next example afresh
            baseline[0] = snapshot(proxy)

    fuzz()
    assert snapshot(proxy) == baseline[0], f"{method.path} changed the data"
