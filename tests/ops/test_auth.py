"""Token auth on a real ``chroma-grpc run`` process: every RPC but health needs the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import chroma_grpc
from chroma_grpc.config import Settings
from chroma_grpc.errors import AuthorizationError
from chroma_grpc.v1 import record_service_pb2, record_service_pb2_grpc, types_pb2
from chroma_grpc.v1 import system_service_pb2 as system_pb
from chroma_grpc.v1 import system_service_pb2_grpc as system_grpc
from chroma_grpc.wire.errors import error_info
from tests.helpers.servers import ROOT, ServerProcess, start_server_process

TOKEN = "s3cret-Token-4e1f"
TOKEN_PROVIDER = "chromadb.auth.token.TokenAuthClientProvider"
COLLECTION_ID = "00000000-0000-0000-0000-000000000001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Token from the environment, as the docs recommend (it stays out of ``ps``)."""
    path = tmp_path_factory.mktemp("auth")
    env = {"CHROMA_GRPC_AUTH_TOKEN": TOKEN}
    with start_server_process(path, "--no-server-embedding", env=env) as process:
        yield process


def client(server: ServerProcess, **kwargs: object) -> chroma_grpc.ClientAPI:
    return chroma_grpc.HttpClient(host=server.host, port=server.port, **kwargs)  # type: ignore[arg-type]


def unauthenticated(call: grpc.RpcError) -> str:
    """The failed call's message, after checking its code and ErrorInfo reason."""
    assert isinstance(call, grpc.Call)
    assert call.code() == grpc.StatusCode.UNAUTHENTICATED
    info = error_info(call)
    assert info is not None and info.reason == "UNAUTHENTICATED"
    return str(call.details())


def test_client_without_a_token_is_refused_with_instructions(server: ServerProcess) -> None:
    with pytest.raises(AuthorizationError, match="Missing credentials") as caught:
        client(server)
    assert "authorization: Bearer <token>" in str(caught.value)
    assert "x-chroma-token" in str(caught.value)


def test_wrong_token_is_refused_without_echoing_either_token(server: ServerProcess) -> None:
    with pytest.raises(AuthorizationError, match="Invalid credentials") as caught:
        client(server, headers={"Authorization": "Bearer not-the-token"})
    assert TOKEN not in str(caught.value) and "not-the-token" not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"Authorization": f"Bearer {TOKEN}"}},
        {"headers": {"X-Chroma-Token": TOKEN}},
        {
            "settings": Settings(
                chroma_client_auth_provider=TOKEN_PROVIDER, chroma_client_auth_credentials=TOKEN
            )
        },
        {
            "settings": Settings(
                chroma_client_auth_provider=TOKEN_PROVIDER,
                chroma_client_auth_credentials=TOKEN,
                chroma_client_auth_token_transport_header="X_CHROMA_TOKEN",
            )
        },
        {"settings": Settings(chroma_client_auth_credentials=TOKEN)},
    ],
    ids=["bearer-header", "x-chroma-token-header", "settings", "settings-x-chroma", "no-provider"],
)
def test_each_way_of_sending_the_token_works(
    server: ServerProcess, kwargs: dict[str, object], request: pytest.FixtureRequest
) -> None:
    api = client(server, **kwargs)
    name = f"auth-{request.node.callspec.id}"
    collection = api.create_collection(name, embedding_function=None)
    collection.add(ids=["a", "b"], embeddings=np.ones((2, 3)).tolist())
    assert collection.count() == 2
    assert collection.get(ids=["a"])["ids"] == ["a"]
    api.delete_collection(name)


def list_services(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> set[str]:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = reflection.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=10)
    return {service.name for service in reply.list_services_response.service}


def test_every_rpc_kind_is_protected_but_health_and_reflection_are_not(
    server: ServerProcess,
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert "chroma_grpc.v1.RecordService" in list_services(channel)  # the schema is public

        system = system_grpc.SystemServiceStub(channel)
        records = record_service_pb2_grpc.RecordServiceStub(channel)
        calls: dict[str, Callable[[], object]] = {
            "unary": lambda: system.GetServerInfo(system_pb.GetServerInfoRequest(), timeout=10),
            "client stream": lambda: records.AddRecords(
                iter(
                    [
                        record_service_pb2.AddRecordsRequest(
                            collection=types_pb2.CollectionRef(id=COLLECTION_ID),
                            batch=types_pb2.RecordBatch(records=[types_pb2.Record(id="x")]),
                            commit=True,
                        )
                    ]
                ),
                timeout=10,
            ),
            "server stream": lambda: list(
                records.GetRecords(
                    record_service_pb2.GetRecordsRequest(
                        collection=types_pb2.CollectionRef(id=COLLECTION_ID)
                    ),
                    timeout=10,
                )
            ),
        }
        for kind, call in calls.items():
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert "Missing credentials" in unauthenticated(caught.value), kind

        wrong = (("authorization", "Bearer nope"),)
        with pytest.raises(grpc.RpcError) as caught:
            system.Heartbeat(system_pb.HeartbeatRequest(), metadata=wrong, timeout=10)
        assert "Invalid credentials" in unauthenticated(caught.value)
        right = (("authorization", f"bearer {TOKEN}"),)  # the scheme is case-insensitive
        assert system.Heartbeat(system_pb.HeartbeatRequest(), metadata=right, timeout=10)


def test_reflection_requires_the_token_when_asked_to(tmp_path: Path) -> None:
    env = {"CHROMA_GRPC_AUTH_TOKEN": TOKEN}
    args = ("--no-server-embedding", "--reflection-requires-auth")
    with (
        start_server_process(tmp_path / "data", *args, env=env) as closed,
        grpc.insecure_channel(closed.address) as channel,
    ):
        with pytest.raises(grpc.RpcError) as caught:
            list_services(channel)
        assert "Missing credentials" in unauthenticated(caught.value)
        right = (("authorization", f"Bearer {TOKEN}"),)
        assert "chroma_grpc.v1.RecordService" in list_services(channel, right)
        health = health_pb2_grpc.HealthStub(channel)  # health stays open
        reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_flag_token_never_reaches_the_logs(tmp_path: Path) -> None:
    token = "flag-Token-9d7c0b"
    args = ("--no-server-embedding", "--auth-token", token, "--log-format", "json")
    with start_server_process(tmp_path / "data", *args) as server:
        with pytest.raises(AuthorizationError):
            client(server, headers={"Authorization": "Bearer wrong-guess"})
        api = client(server, headers={"Authorization": f"Bearer {token}"})
        api.heartbeat()
        assert api.list_collections() == []
    output = "".join(server.output)
    assert token not in output and "wrong-guess" not in output
    rpc_lines = [json.loads(line) for line in server.output if line.startswith("{")]
    codes = {(entry.get("method"), entry.get("code")) for entry in rpc_lines}
    assert ("/chroma_grpc.v1.SystemService/Heartbeat", "UNAUTHENTICATED") in codes
    assert ("/chroma_grpc.v1.CollectionService/ListCollections", "OK") in codes


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``chroma-grpc run ARGS`` expected to refuse to start (it would serve otherwise)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "chroma_grpc", "run", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--auth-token", ""), {}),
        (("--auth-token", "  \n"), {}),
        ((), {"CHROMA_GRPC_AUTH_TOKEN": ""}),  # set, but to an unset variable's expansion
    ],
    ids=["empty-flag", "whitespace-flag", "empty-env"],
)
def test_an_empty_token_refuses_to_start(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    done = cli("--path", str(tmp_path / "data"), *args, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "auth token is empty" in done.stderr
    assert "listening" not in done.stdout


def test_a_token_grpc_metadata_cannot_carry_refuses_to_start(tmp_path: Path) -> None:
    done = cli("--path", str(tmp_path / "data"), env={"CHROMA_GRPC_AUTH_TOKEN": "Zq9\x01Xv"})
    assert done.returncode == 2
    assert "printable ASCII" in done.stderr and "Zq9" not in done.stderr  # never echoed


def test_a_token_read_with_a_newline_is_stripped_with_a_warning(tmp_path: Path) -> None:
    env = {"CHROMA_GRPC_AUTH_TOKEN": f"{TOKEN}\n"}  # as $(cat token-file) or a secret file
    with start_server_process(tmp_path / "data", "--no-server-embedding", env=env) as server:
        api = client(server, headers={"Authorization": f"Bearer {TOKEN}"})
        assert api.heartbeat() > 0
    warned = [line for line in server.output if "WARNING" in line and "whitespace" in line]
    assert warned and TOKEN not in "".join(warned)


@pytest.mark.parametrize(
    "metadata",
    [
        (("authorization", "Bearer wrong"), ("authorization", f"Bearer {TOKEN}")),
        (("x-chroma-token", TOKEN), ("authorization", f"Bearer {TOKEN}")),
        tuple(("x-chroma-token", f"guess-{n}") for n in range(99)) + (("x-chroma-token", TOKEN),),
    ],
    ids=["two-bearers", "both-headers", "a-hundred-guesses"],
)
def test_a_call_carries_exactly_one_credential(
    server: ServerProcess, metadata: tuple[tuple[str, str], ...]
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        system = system_grpc.SystemServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            system.Heartbeat(system_pb.HeartbeatRequest(), metadata=metadata, timeout=10)
        message = unauthenticated(caught.value)
        assert f"carries {len(metadata)} 'authorization' / 'x-chroma-token' entries" in message
        assert "exactly one" in message and TOKEN not in message
