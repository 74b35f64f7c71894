"""Per-RPC log lines and Prometheus metrics of a real ``chroma-grpc run`` process."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

import chroma_grpc
from tests.helpers.servers import ServerProcess, start_server_process

PAYLOAD_MARKER = "payload-marker-7f3e"
ADD = "/chroma_grpc.v1.RecordService/AddRecords"


def exercise(server: ServerProcess) -> None:
    """A collection with 5 records, a query, and one failing call."""
    api = chroma_grpc.HttpClient(host=server.host, port=server.port)
    collection = api.create_collection("observed", embedding_function=None)
    collection.add(
        ids=[f"id{i}" for i in range(5)],
        embeddings=np.eye(5).tolist(),
        documents=[f"{PAYLOAD_MARKER} {i}" for i in range(5)],
    )
    collection.query(query_embeddings=[[1.0, 0, 0, 0, 0]], n_results=2)
    with pytest.raises(ValueError, match="Collection missing does not exist."):
        api.get_collection("missing", embedding_function=None)


def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_json_logs_have_one_line_per_rpc_without_payloads(tmp_path: Path) -> None:
    args = ("--no-server-embedding", "--log-format", "json")
    with start_server_process(tmp_path / "data", *args) as server:
        exercise(server)
    output = "".join(server.output)
    assert PAYLOAD_MARKER not in output
    entries = [json.loads(line) for line in server.output if line.startswith("{")]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    rpcs = [e for e in entries if e["logger"] == "chroma_grpc.rpc"]
    (add,) = [e for e in rpcs if e["method"] == ADD]
    assert add["code"] == "OK" and add["request_bytes"] > 100 and add["duration_ms"] >= 0
    missing = [e for e in rpcs if e["method"].endswith("/GetCollection")]
    assert [e["code"] for e in missing] == ["NOT_FOUND"]
    assert any(e["method"].endswith("/QueryRecords") and e["code"] == "OK" for e in rpcs)


def test_text_logs_are_the_default(tmp_path: Path) -> None:
    with start_server_process(tmp_path / "data", "--no-server-embedding") as server:
        exercise(server)
        with pytest.raises(LookupError):
            server.metrics_url  # noqa: B018  (no --metrics-port, no metrics endpoint)
    assert any(f"method={ADD} code=OK" in line for line in server.output)
    assert not any(line.startswith("{") for line in server.output)


def test_prometheus_metrics_count_rpcs_by_method_and_code(tmp_path: Path) -> None:
    env = {"CHROMA_GRPC_METRICS_PORT": "0"}  # a free port, read back from the startup line
    with start_server_process(tmp_path / "data", "--no-server-embedding", env=env) as server:
        before = scrape(server)
        assert before[("chroma_grpc_records", ())] == 0
        assert before[("chroma_grpc_collections", ())] == 0
        exercise(server)
        metrics = scrape(server)

    def rpc(name: str, method: str, code: str, service: str) -> float:
        labels = {"grpc_service": f"chroma_grpc.v1.{service}", "grpc_method": method}
        if code:
            labels["grpc_code"] = code
        return metrics[(name, tuple(sorted(labels.items())))]

    assert rpc("chroma_grpc_server_handled_total", "AddRecords", "OK", "RecordService") == 1
    assert rpc("chroma_grpc_server_handled_total", "GetCollection", "NOT_FOUND",
               "CollectionService") == 1  # fmt: skip
    assert rpc("chroma_grpc_server_handling_seconds_count", "QueryRecords", "OK",
               "RecordService") == 1  # fmt: skip
    assert rpc("chroma_grpc_server_received_bytes_total", "AddRecords", "", "RecordService") > 100
    assert metrics[("chroma_grpc_records", ())] == 5
    assert metrics[("chroma_grpc_collections", ())] == 1


def test_metrics_bind_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    """/metrics has no auth: it listens on 127.0.0.1 even when gRPC listens everywhere."""
    args = ("--no-server-embedding", "--host", "0.0.0.0", "--metrics-port", "0")
    with start_server_process(tmp_path / "data", *args) as server:
        assert server.metrics_url.startswith("http://127.0.0.1:")
        assert scrape(server)[("chroma_grpc_collections", ())] == 0
    args = ("--no-server-embedding", "--metrics-port", "0", "--metrics-host", "127.0.0.2")
    with start_server_process(tmp_path / "data", *args) as server:
        assert server.metrics_url.startswith("http://127.0.0.2:")
        assert scrape(server)[("chroma_grpc_collections", ())] == 0
