"""TLS and mTLS on a real ``chroma-grpc run`` process, with throwaway CAs made per test module."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc.config import Settings
from tests.helpers.certs import CertificateAuthority, make_ca
from tests.helpers.servers import ROOT, ServerProcess, start_server_process

TOKEN = "tls-Token-51aa"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, ...]:
    """The trusted CA and an unrelated one (for certificates the server must refuse)."""
    folder = tmp_path_factory.mktemp("certs")
    return make_ca(folder, "trusted-ca"), make_ca(folder, "other-ca")


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, certs: tuple[CertificateAuthority, ...]
) -> Iterator[ServerProcess]:
    ca = certs[0]
    leaf = ca.issue("tls-server", server=True)
    args = ("--no-server-embedding", "--tls-cert", str(leaf.cert), "--tls-key", str(leaf.key))
    env = {"CHROMA_GRPC_AUTH_TOKEN": TOKEN}
    with start_server_process(tmp_path_factory.mktemp("tls"), *args, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(
    tmp_path_factory: pytest.TempPathFactory, certs: tuple[CertificateAuthority, ...]
) -> Iterator[ServerProcess]:
    ca = certs[0]
    leaf = ca.issue("mtls-server", server=True)
    env = {  # all three from the environment this time
        "CHROMA_GRPC_TLS_CERT": str(leaf.cert),
        "CHROMA_GRPC_TLS_KEY": str(leaf.key),
        "CHROMA_GRPC_TLS_CLIENT_CA": str(ca.cert),
    }
    path = tmp_path_factory.mktemp("mtls")
    with start_server_process(path, "--no-server-embedding", env=env) as server:
        yield server


def connect(server: ServerProcess, **settings: object) -> chroma_grpc.ClientAPI:
    """An ``HttpClient(ssl=True)`` to ``localhost`` (the name the server certificate carries)."""
    return chroma_grpc.HttpClient(
        host="localhost", port=server.port, ssl=True, settings=Settings(**settings)
    )


def round_trip(api: chroma_grpc.ClientAPI, name: str) -> None:
    collection = api.get_or_create_collection(name, embedding_function=None)
    collection.upsert(ids=["a", "b", "c"], embeddings=np.eye(3).tolist())
    assert collection.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1)["ids"] == [["a"]]


def test_tls_client_with_the_ca_and_token_works_without_a_plaintext_warning(
    tls_server: ServerProcess, certs: tuple[CertificateAuthority, ...]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plaintext-credentials warning would fail the test
        api = connect(
            tls_server,
            chroma_server_ssl_verify=str(certs[0].cert),
            chroma_client_auth_credentials=TOKEN,
        )
    round_trip(api, "over-tls")


def test_tls_server_refuses_plaintext_and_untrusted_clients(
    tls_server: ServerProcess, certs: tuple[CertificateAuthority, ...]
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with pytest.raises(ValueError, match="Could not connect"):
        chroma_grpc.HttpClient(host="localhost", port=tls_server.port, headers=headers)
    with pytest.raises(ValueError, match="Could not connect"):  # system roots: not our CA
        chroma_grpc.HttpClient(host="localhost", port=tls_server.port, ssl=True, headers=headers)
    with pytest.raises(ValueError, match="Could not connect"):
        connect(tls_server, chroma_server_ssl_verify=str(certs[1].cert))


def test_mtls_accepts_a_client_certificate_from_the_ca(
    mtls_server: ServerProcess, certs: tuple[CertificateAuthority, ...]
) -> None:
    ca = certs[0]
    leaf = ca.issue("good-client", server=False)
    api = connect(
        mtls_server,
        chroma_server_ssl_verify=str(ca.cert),
        chroma_client_tls_cert=str(leaf.cert),
        chroma_client_tls_key=str(leaf.key),
    )
    round_trip(api, "over-mtls")


def test_mtls_refuses_no_certificate_and_a_foreign_certificate(
    mtls_server: ServerProcess, certs: tuple[CertificateAuthority, ...]
) -> None:
    ca, other = certs
    with pytest.raises(ValueError, match="Could not connect"):
        connect(mtls_server, chroma_server_ssl_verify=str(ca.cert))
    stranger = other.issue("stranger", server=False)
    with pytest.raises(ValueError, match="Could not connect"):
        connect(
            mtls_server,
            chroma_server_ssl_verify=str(ca.cert),
            chroma_client_tls_cert=str(stranger.cert),
            chroma_client_tls_key=str(stranger.key),
        )


def test_client_settings_that_cannot_work_fail_early(tls_server: ServerProcess) -> None:
    with pytest.raises(ValueError, match="chroma_server_ssl_verify=False is not supported"):
        connect(tls_server, chroma_server_ssl_verify=False)
    with pytest.raises(ValueError, match="go together"):
        connect(tls_server, chroma_client_tls_cert="client.pem")


def test_plaintext_credentials_to_a_remote_host_warn() -> None:
    from chroma_grpc.client.proxy import StoreProxy

    with pytest.warns(UserWarning, match="without TLS"):
        StoreProxy("203.0.113.7:50051", metadata=[("authorization", "Bearer x")]).close()


@pytest.mark.parametrize(
    ("target", "warns"),
    [
        ("ipv4:127.0.0.1:50051,127.0.0.2:50052", False),  # several loopback gateways
        ("ipv6:[::1]:50051,[::1]:50052", False),
        ("localhost:50051", False),
        ("ipv4:127.0.0.1:50051,203.0.113.7:50051", True),  # one remote gateway is enough
    ],
)
def test_the_plaintext_warning_reads_every_gateway_of_a_target(target: str, warns: bool) -> None:
    from chroma_grpc.client.proxy import StoreProxy

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StoreProxy(target, metadata=[("authorization", "Bearer x")]).close()
    assert any("without TLS" in str(w.message) for w in caught) == warns, caught


def test_cli_rejects_half_a_tls_configuration(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chroma_grpc", "run", "--path", str(tmp_path)]
    done = subprocess.run(
        [*command, "--tls-cert", str(tmp_path / "server.pem")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--tls-cert and --tls-key go together" in done.stderr


def _refused(tmp_path: Path, *args: str) -> str:
    """stderr of a ``chroma-grpc run`` that must refuse to start with these TLS flags."""
    command = [sys.executable, "-m", "chroma_grpc", "run", "--path", str(tmp_path / "data")]
    done = subprocess.run(
        [*command, "--port", "0", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Failed to bind" not in done.stderr and "listening" not in done.stdout
    return done.stderr


def test_tls_files_that_cannot_work_are_named_at_start(
    tmp_path: Path, certs: tuple[CertificateAuthority, ...]
) -> None:
    ca, other = certs
    mine, theirs = ca.issue("mine", server=True), other.issue("theirs", server=True)
    not_pem = tmp_path / "cert.der"
    not_pem.write_bytes(bytes(range(256)) * 4)

    stderr = _refused(tmp_path, "--tls-cert", str(mine.cert), "--tls-key", str(theirs.key))
    assert f"the private key {theirs.key} does not belong to the certificate {mine.cert}" in stderr

    stderr = _refused(tmp_path, "--tls-cert", str(not_pem), "--tls-key", str(mine.key))
    assert f"{not_pem} is not a PEM certificate" in stderr

    stderr = _refused(tmp_path, "--tls-cert", str(mine.cert), "--tls-key", str(mine.cert))
    assert f"{mine.cert} is not a PEM private key" in stderr

    missing = tmp_path / "nowhere.pem"
    stderr = _refused(tmp_path, "--tls-cert", str(missing), "--tls-key", str(mine.key))
    assert f"cannot read the certificate file {missing}" in stderr

    stderr = _refused(
        tmp_path, "--tls-cert", str(mine.cert), "--tls-key", str(mine.key),
        "--tls-client-ca", str(mine.key),
    )  # fmt: skip
    assert f"{mine.key} is not a PEM CA certificate" in stderr
