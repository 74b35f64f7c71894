"""chromadb 0.4.24's own test suite, run against chroma-grpc's clients.

Each ``test_*.py`` here star-imports one of chromadb's test modules (from the chromadb 0.4.24
wheel installed in ``.venv-chromadb``), so pytest collects chromadb's tests unchanged but with
the fixtures of this file instead of chromadb's conftest: ``api`` and ``client`` are our
``EphemeralClient`` and our ``HttpClient`` (a real chroma-grpc server on loopback), each on an
empty database. chromadb's public names are pointed at ours before its modules are imported
(``chromadb.Client``, ``chromadb.errors.*``, ``Settings`` ...), so its tests build and catch our
clients and classes. docs/compatibility.md lists the modules left out (chromadb internals) and
every difference we keep on purpose; tests that meet one are listed in DIFFERENCES below with
the reason, and must fail (strict xfail), so a difference that disappears is noticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import chromadb
import chromadb.api.client
import chromadb.api.fastapi  # chromadb's own classes, built before its names point at ours
import chromadb.api.segment
import chromadb.config
import chromadb.db.base
import chromadb.errors
import hypothesis
import pytest

import chroma_grpc
import chroma_grpc.errors
from chroma_grpc.store import Store
from tests.helpers.servers import serve_in_process

# -- chromadb's public names -> ours ---------------------------------------------------------


class AdminClient(chroma_grpc.AdminClient):
    """Ours, plus chromadb's ``AdminClient.from_system(client._system)`` its tests use."""

    @classmethod
    def from_system(cls, system: Any) -> AdminClient:
        return cls(system.settings)


class _System:
    """What chromadb's tests read from ``client._system``: the settings."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings


chroma_grpc.ClientAPI._system = property(lambda self: _System(self.get_settings()))  # type: ignore[attr-defined]

for _name in ("Client", "EphemeralClient", "PersistentClient", "HttpClient", "Settings"):
    setattr(chromadb, _name, getattr(chroma_grpc, _name))
chromadb.AdminClient = AdminClient  # type: ignore[attr-defined]
chromadb.config.Settings = chroma_grpc.Settings  # type: ignore[misc]
chromadb.api.client.AdminClient = AdminClient  # type: ignore[misc]
chromadb.api.client.Client = chroma_grpc.Client  # type: ignore[misc,assignment]
for _name in (
    "ChromaError",
    "InvalidDimensionException",
    "InvalidCollectionException",
    "IDAlreadyExistsError",
    "DuplicateIDError",
    "InvalidUUIDError",
    "AuthorizationError",
):
    setattr(chromadb.errors, _name, getattr(chroma_grpc.errors, _name))
chromadb.db.base.UniqueConstraintError = chroma_grpc.errors.UniqueConstraintError  # type: ignore[misc]

# Fewer examples in `make test`; CHROMADB_SUITE_FULL=1 runs chromadb's own numbers.
hypothesis.settings.register_profile(
    "chroma-grpc-quick",
    max_examples=int(os.environ.get("CHROMADB_SUITE_EXAMPLES", "10")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
hypothesis.settings.register_profile(
    "chroma-grpc-full", deadline=None, suppress_health_check=list(hypothesis.HealthCheck)
)
hypothesis.settings.load_profile(
    "chroma-grpc-full" if os.environ.get("CHROMADB_SUITE_FULL") == "1" else "chroma-grpc-quick"
)


# -- fixtures in place of chromadb's conftest ------------------------------------------------


@pytest.fixture(scope="session")
def server_address() -> Iterator[str]:
    store = Store(None, allow_reset=True)
    with serve_in_process(store) as address:
        yield address
    store.close()


@pytest.fixture(params=["ephemeral", "http"])
def client(request: pytest.FixtureRequest) -> Iterator[chroma_grpc.ClientAPI]:
    chroma_grpc.ClientAPI.clear_system_cache()
    if request.param == "ephemeral":
        made = chroma_grpc.EphemeralClient(chroma_grpc.Settings(allow_reset=True))
    else:
        host, _, port = request.getfixturevalue("server_address").rpartition(":")
        made = chroma_grpc.HttpClient(
            host, int(port), settings=chroma_grpc.Settings(allow_reset=True)
        )
    made.reset()
    yield made
    if request.param == "http":  # the server outlives the test; an in-memory store does not
        made.reset()
    chroma_grpc.ClientAPI.clear_system_cache()


@pytest.fixture
def api(client: chroma_grpc.ClientAPI) -> chroma_grpc.ClientAPI:
    return client


# -- what is left out, and differences kept on purpose (docs/compatibility.md) ---------------

# Tests of selected modules that exercise something other than our client API: deselected.
EXCLUDED: dict[str, str] = {
    "test_default_embedding": "chromadb's ONNX model is downloaded from the network at run time",
    "test_ssl_self_signed": "chromadb's own TLS server fixture (ours: tests/ops/test_tls.py)",
    "test_ssl_self_signed_without_ssl_verify": "chromadb's own TLS server fixture",
    "test_ssl_self_signed_with_verify_false": "chromadb's own TLS server fixture",
    "test_http_client": "patches chromadb's private Client._validate_tenant_database and expects "
    "HttpClient() to construct with no server on port 8000",
}
# Tests that meet a difference kept on purpose: they must fail (strict xfail).
DIFFERENCES: dict[str, str] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        name = getattr(item, "originalname", item.name)
        if name in EXCLUDED:
            dropped.append(item)
            continue
        if name in DIFFERENCES:
            item.add_marker(pytest.mark.xfail(reason=DIFFERENCES[name], strict=True))
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
