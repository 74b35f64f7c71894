"""Small helpers shared by the behaviour tests."""

from __future__ import annotations


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` (or ``"[::1]:port"``) -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)
