"""Small helpers shared by the behaviour tests."""

from __future__ import annotations

from typing import Any


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` (or ``"[::1]:port"``) -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def remote_host_port(transport: str, request: Any) -> tuple[str, int]:
    """What ``HttpClient(host, port)`` takes for a remote transport's server: the single
    server's address, or (cluster) every gateway as "host:port,host:port"."""
    if transport == "cluster":
        return str(request.getfixturevalue("cluster_gateways")), 0
    return split_address(request.getfixturevalue("server_address"))
