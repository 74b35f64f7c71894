"""Several servers behind one client: the gateways of a cluster (docs/cluster.md).

``HttpClient(host="h1:p1,h2:p2")`` (or a list of ``host[:port]``) connects to every gateway
through one gRPC channel that balances calls over them (grpc's ``round_robin``) and retries a
call that failed with UNAVAILABLE on the next one (grpc's retry policy, up to 5 attempts with
backoff). A retried write is applied once: its stream carries the same request id, which the
cluster's log deduplicates. A write larger than the retry buffer (``RETRY_BUFFER_BYTES``) is
not retried by grpc; its UNAVAILABLE reaches the caller, who may send it again.

A single host is used exactly as before (one server, no policy): nothing changes for a
single-node server.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Sequence
from typing import Any

MAX_ATTEMPTS = 5
# What grpc keeps of a call's request messages to replay it elsewhere (per call / in all).
RETRY_BUFFER_BYTES = 64 * 1024 * 1024
TOTAL_RETRY_BUFFER_BYTES = 256 * 1024 * 1024
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": MAX_ATTEMPTS,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}


def host_list(host: str | Sequence[str]) -> str:
    """``HttpClient``'s host argument as one string (a list is joined with commas)."""
    return host if isinstance(host, str) else ",".join(str(h) for h in host)


def is_several(host: str) -> bool:
    return "," in host


def _split(entry: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` or ``[v6]:port`` -> (host, port)."""
    entry = entry.strip()
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") else default_port
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port)
    return entry, default_port


def gateways_target(host: str, default_port: int) -> tuple[str, list[tuple[str, Any]]]:
    """One grpc target naming every gateway, and the channel options that balance and retry.

    Host names are resolved here (grpc's multi-address targets take addresses); all must be
    of one family. With TLS, certificates are checked against the first host's name.

    Raises:
        ValueError: an empty entry, a name that does not resolve, or mixed IPv4 / IPv6.
    """
    addresses: list[tuple[str, int]] = []
    names: list[str] = []
    for entry in host.split(","):
        if not entry.strip():
            raise ValueError(f"host: an empty entry in {host!r}; use 'host1:port1,host2:port2'")
        name, port = _split(entry, default_port)
        names.append(name)
        try:
            resolved = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)[0][4][0]
        except socket.gaierror as error:
            raise ValueError(f"host: cannot resolve {name!r}: {error}") from error
        addresses.append((str(resolved), port))
    versions = {ipaddress.ip_address(address).version for address, _ in addresses}
    if len(versions) > 1:
        raise ValueError(f"host: {host!r} mixes IPv4 and IPv6 addresses; use one family")
    if versions == {6}:
        target = "ipv6:" + ",".join(f"[{a}]:{p}" for a, p in addresses)
    else:
        target = "ipv4:" + ",".join(f"{a}:{p}" for a, p in addresses)
    options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ("grpc.per_rpc_retry_buffer_size", RETRY_BUFFER_BYTES),
        ("grpc.retry_buffer_size", TOTAL_RETRY_BUFFER_BYTES),
    ]
    try:
        ipaddress.ip_address(names[0])
    except ValueError:
        options.append(("grpc.ssl_target_name_override", names[0]))
    return target, options


def channel_target(host: str, port: int) -> tuple[str, list[tuple[str, Any]]]:
    """The grpc target and extra options for ``host`` (one server or several gateways)."""
    if is_several(host):
        return gateways_target(host, port)
    if host.count(":") == 1 or (host.startswith("[") and "]:" in host):
        name, explicit = _split(host, port)  # one gateway named with its port
        return (f"[{name}]" if ":" in name else name) + f":{explicit}", []
    return f"{host}:{port}", []
