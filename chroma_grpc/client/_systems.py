"""The per-process cache of embedded stores, keyed as chromadb keys its shared systems.

Every ``EphemeralClient`` in a process shares one in-memory store (identifier
``"ephemeral"``), and every ``PersistentClient`` on one directory shares one store (identifier:
the resolved path). Asking for a cached identifier with different settings is an error, as in
chromadb. Remote clients are not cached: each owns its connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from chroma_grpc.config import Settings
from chroma_grpc.store.api import StoreAPI

__all__ = ["clear_system_cache", "is_shared", "shared_store"]


@dataclass
class _System:
    settings: Settings
    store: StoreAPI


_systems: dict[str, _System] = {}
_lock = threading.Lock()


def shared_store(
    identifier: str, settings: Settings, open_store: Callable[[], StoreAPI]
) -> StoreAPI:
    """The cached store for ``identifier``, opened with ``open_store`` on first use.

    Raises:
        ValueError: the identifier is cached with different settings.
    """
    with _lock:
        system = _systems.get(identifier)
        if system is None:
            system = _System(settings.copy(), open_store())
            _systems[identifier] = system
        elif system.settings != settings:
            raise ValueError(
                f"An instance of Chroma already exists for {identifier} with different settings"
            )
        return system.store


def is_shared(store: StoreAPI) -> bool:
    """Whether ``store`` is one of the cached embedded stores (which clients must not close)."""
    with _lock:
        return any(system.store is store for system in _systems.values())


def clear_system_cache() -> None:
    """Close and forget every cached store (clients created before must not be used again)."""
    with _lock:
        systems = list(_systems.values())
        _systems.clear()
    for system in systems:
        system.store.close()
