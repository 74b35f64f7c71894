"""chromadb-style ``Settings`` -> gRPC channel credentials and call metadata.

One place for both, so ``HttpClient`` and ``StoreProxy(settings=...)`` agree:

* TLS when ``chroma_server_ssl_enabled``: the system roots, or the CA file named by a str
  ``chroma_server_ssl_verify``; ``chroma_client_tls_cert`` / ``chroma_client_tls_key`` add a
  client certificate for servers that require one (mTLS).
* ``chroma_server_headers`` become metadata (keys lower-cased, as gRPC requires).
* ``chroma_client_auth_credentials`` is sent as chromadb sends it: basic auth as
  ``authorization: Basic base64(user:password)`` when the provider is a basic one, otherwise
  as a token, ``authorization: Bearer <token>`` or, with
  ``chroma_client_auth_token_transport_header="X_CHROMA_TOKEN"``, ``x-chroma-token: <token>``.
  Unlike chromadb, credentials without a provider are sent as a token rather than ignored.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from chroma_grpc.config import Settings

# chromadb's TokenTransportHeader names (and the header spellings) -> gRPC metadata keys.
_TOKEN_HEADERS = {"AUTHORIZATION": "authorization", "X_CHROMA_TOKEN": "x-chroma-token"}
AUTH_METADATA_KEYS = frozenset(_TOKEN_HEADERS.values())


@dataclass(frozen=True)
class ProxyOptions:
    """What a proxy's calls carry, from its arguments and its ``settings``."""

    metadata: tuple[tuple[str, str], ...]
    credentials: grpc.ChannelCredentials | None
    progress: bool


def proxy_options(
    settings: Settings | None,
    metadata: Sequence[tuple[str, str]],
    credentials: grpc.ChannelCredentials | None,
    progress: bool | None,
) -> ProxyOptions:
    """A proxy's arguments with ``settings`` folded in: its headers and auth after
    ``metadata``, its TLS unless ``credentials`` are given, and ``chroma_grpc_progress``
    unless ``progress`` is (False without settings)."""
    if settings is not None:
        metadata = (*metadata, *call_metadata(settings))
        credentials = credentials or channel_credentials(settings)
        if progress is None:
            progress = settings.chroma_grpc_progress
    return ProxyOptions(tuple(metadata), credentials, bool(progress))


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials from ``settings``, or None for plaintext.

    Raises:
        ValueError: ``chroma_server_ssl_verify=False`` (grpc cannot skip verification; pass
            the server's CA file instead), or a client certificate without its key.
    """
    if not settings.chroma_server_ssl_enabled:
        return None
    verify = settings.chroma_server_ssl_verify
    if verify is False:
        raise ValueError(
            "chroma_server_ssl_verify=False is not supported over gRPC: set it to the path of "
            "the CA certificate that signed the server's certificate instead"
        )
    cert, key = settings.chroma_client_tls_cert, settings.chroma_client_tls_key
    if bool(cert) != bool(key):
        raise ValueError(
            "chroma_client_tls_cert and chroma_client_tls_key go together: set both for mTLS"
        )
    return grpc.ssl_channel_credentials(
        root_certificates=Path(verify).read_bytes() if isinstance(verify, str) else None,
        private_key=Path(key).read_bytes() if key else None,
        certificate_chain=Path(cert).read_bytes() if cert else None,
    )


def call_metadata(settings: Settings) -> list[tuple[str, str]]:
    """Headers plus client auth from ``settings``, as gRPC call metadata."""
    metadata = [
        (key.lower(), value) for key, value in (settings.chroma_server_headers or {}).items()
    ]
    credentials = settings.chroma_client_auth_credentials
    if not credentials:
        return metadata
    provider = (settings.chroma_client_auth_provider or "").lower()
    if "basic" in provider:
        encoded = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        metadata.append(("authorization", f"Basic {encoded}"))
        return metadata
    header = token_header(settings.chroma_client_auth_token_transport_header)
    metadata.append((header, f"Bearer {credentials}" if header == "authorization" else credentials))
    return metadata


def token_header(setting: str | None) -> str:
    """The metadata key for a token: chromadb's names, a header spelling, or a custom header."""
    if not setting:
        return "authorization"
    return _TOKEN_HEADERS.get(setting.strip().upper().replace("-", "_"), setting.strip().lower())
