"""Factories, Settings and shared systems, as chromadb 0.4.24 has them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import chroma_grpc
from chroma_grpc import ClientAPI, Settings

from .support import split_address

REPO = Path(__file__).resolve().parents[2]
RESET_REFUSED = "Resetting is not allowed by this configuration"


def test_settings_read_the_environment_case_insensitively(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLOW_RESET", "TRUE")
    monkeypatch.setenv("Anonymized_Telemetry", "false")
    monkeypatch.setenv("IS_PERSISTENT", "1")
    monkeypatch.setenv("CHROMA_SERVER_HTTP_PORT", "50051")
    monkeypatch.setenv("CHROMA_SERVER_HEADERS", '{"x-key": "v"}')
    settings = Settings()
    assert settings.allow_reset is True and settings.anonymized_telemetry is False
    assert settings.is_persistent is True and settings.chroma_server_http_port == 50051
    assert settings.chroma_server_headers == {"x-key": "v"}
    assert Settings(allow_reset=False).allow_reset is False  # arguments beat the environment


def test_settings_defaults_equality_and_require() -> None:
    settings = Settings()
    assert (settings.is_persistent, settings.persist_directory) == (False, "./chroma")
    assert settings.allow_reset is False and settings.anonymized_telemetry is True
    assert settings.chroma_api_impl == "chromadb.api.segment.SegmentAPI"
    assert settings == Settings() and settings != Settings(allow_reset=True)
    assert Settings(allow_reset="yes") == Settings(allow_reset=True)
    assert settings.require("persist_directory") == "./chroma"
    with pytest.raises(ValueError, match="Missing required config value 'chroma_server_host'"):
        settings.require("chroma_server_host")


@pytest.mark.parametrize(
    "kwargs", [{"allow_reset": "maybe"}, {"no_such_field": 1}, {"migrations": "sometimes"}]
)
def test_settings_reject_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Settings(**kwargs)


def test_allow_reset_from_the_environment_enables_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=RESET_REFUSED):
        chroma_grpc.EphemeralClient().reset()
    ClientAPI.clear_system_cache()
    monkeypatch.setenv("ALLOW_RESET", "TRUE")
    client = chroma_grpc.EphemeralClient()
    client.create_collection("docs")
    assert client.reset() is True and client.count_collections() == 0


def test_ephemeral_clients_share_one_store() -> None:
    first = chroma_grpc.EphemeralClient()
    first.create_collection("shared").add(ids="a", embeddings=[1.0])
    second = chroma_grpc.EphemeralClient()
    assert second.get_collection("shared").count() == 1
    assert first.get_settings() == second.get_settings()
    with pytest.raises(ValueError, match="An instance of Chroma already exists for ephemeral"):
        chroma_grpc.EphemeralClient(Settings(allow_reset=True))
    ClientAPI.clear_system_cache()
    assert chroma_grpc.EphemeralClient().count_collections() == 0


def test_factories_do_not_mutate_the_given_settings(tmp_path: Path) -> None:
    settings = Settings()
    client = chroma_grpc.PersistentClient(tmp_path, settings=settings)
    assert settings.is_persistent is False
    assert client.get_settings().is_persistent is True
    assert client.get_settings().persist_directory == str(tmp_path)


def test_unknown_tenant_database_and_legacy_config_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Could not connect to tenant acme"):
        chroma_grpc.EphemeralClient(tenant="acme")
    with pytest.raises(ValueError, match="Could not connect to database db for tenant"):
        chroma_grpc.PersistentClient(tmp_path, database="db")
    with pytest.raises(ValueError, match="deprecated configuration"):
        chroma_grpc.Client(Settings(chroma_db_impl="duckdb+parquet"))


def _run_in_new_process(script: str, path: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_persistent_data_survives_reopening_in_a_new_process(tmp_path: Path) -> None:
    client = chroma_grpc.PersistentClient(path=tmp_path)
    collection = client.create_collection("kept", metadata={"hnsw:space": "cosine", "v": 1})
    collection.add(
        ids=["a", "b", "c"],
        embeddings=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        metadatas=[{"i": 1}, {"f": 2.5}, {"b": True}],
        documents=["alpha", "beta", None],
    )
    collection.update(ids="a", metadatas={"j": "x"})
    collection.delete(ids="c")
    assert chroma_grpc.PersistentClient(path=tmp_path).get_collection("kept").count() == 2
    ClientAPI.clear_system_cache()  # closes the store

    output = _run_in_new_process(
        """
        import json, sys
        import chroma_grpc
        client = chroma_grpc.PersistentClient(path=sys.argv[1])
        kept = client.get_collection("kept")
        got = kept.get(include=["metadatas", "documents", "embeddings"])
        near = kept.query(query_embeddings=[[0.1, 1.0]], n_results=5)
        kept.add(ids="d", embeddings=[0.5, 0.5], documents="from child")
        print(json.dumps({"meta": kept.metadata, "got": got, "near": near["ids"]}))
        """,
        tmp_path,
    )
    seen = json.loads(output)
    assert seen["meta"] == {"hnsw:space": "cosine", "v": 1}
    assert seen["got"]["ids"] == ["a", "b"]
    assert seen["got"]["metadatas"] == [{"i": 1, "j": "x"}, {"f": 2.5}]
    assert seen["got"]["documents"] == ["alpha", "beta"]
    assert seen["got"]["embeddings"] == [[1.0, 0.0], [0.0, 1.0]]
    assert seen["near"] == [["b", "a"]]
    reopened = chroma_grpc.PersistentClient(path=tmp_path).get_collection("kept")
    assert reopened.get(ids="d")["documents"] == ["from child"]


def test_client_picks_the_store_from_settings(tmp_path: Path, server_address: str) -> None:
    assert chroma_grpc.Client().get_settings().is_persistent is False
    persistent = chroma_grpc.Client(Settings(is_persistent=True, persist_directory=str(tmp_path)))
    persistent.create_collection("on-disk")
    assert (tmp_path / "chroma.sqlite3").exists() or any(tmp_path.iterdir())
    host, port = split_address(server_address)
    remote = chroma_grpc.Client(Settings(chroma_server_host=host, chroma_server_http_port=port))
    assert isinstance(remote.heartbeat(), int)
    ClientAPI.clear_system_cache()
    chroma_grpc.configure(allow_reset=True)
    try:
        assert chroma_grpc.get_settings().allow_reset is True
        assert chroma_grpc.Client().get_settings().allow_reset is True
    finally:
        chroma_grpc.configure()


def test_http_client_settings_conflicts() -> None:
    with pytest.raises(ValueError, match=r"Chroma server host provided in settings\[other\]"):
        chroma_grpc.HttpClient(host="localhost", settings=Settings(chroma_server_host="other"))
    with pytest.raises(ValueError, match=r"Chroma server http port provided in settings\[1\]"):
        chroma_grpc.HttpClient(port=2, settings=Settings(chroma_server_http_port=1))


def test_http_client_without_a_server_is_a_value_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(ValueError, match="Could not connect to a Chroma server. Are you sure"):
        chroma_grpc.HttpClient(host="127.0.0.1", port=free_port)


def test_http_client_records_its_settings(server_address: str) -> None:
    host, port = split_address(server_address)
    client = chroma_grpc.HttpClient(host=host, port=str(port), headers={"X-Trace": "1"})  # type: ignore[arg-type]
    settings = client.get_settings()
    assert settings.chroma_server_host == host and settings.chroma_server_http_port == port
    assert settings.chroma_server_headers == {"X-Trace": "1"}
    assert settings.chroma_api_impl == "chromadb.api.fastapi.FastAPI"
    assert client.get_version() == "0.4.24"


def test_settings_read_a_dotenv_file_below_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("ALLOW_RESET=true\nexport PERSIST_DIRECTORY='/data'\n# c\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALLOW_RESET", raising=False)
    monkeypatch.setenv("PERSIST_DIRECTORY", "/from-env")
    settings = Settings()
    assert settings.allow_reset is True
    assert settings.persist_directory == "/from-env"
