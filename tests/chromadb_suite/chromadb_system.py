"""chromadb's ``System``, as chromadb's persistence tests use it, on our PersistentClient.

``property/test_persist.py`` builds ``System(settings)``, takes ``system.instance(ServerAPI)``,
calls ``start()`` and ``stop()``, and opens the same folder again to check that everything
written came back. :class:`System` does that with our embedded store on
``settings.persist_directory``: each ``System`` opens the folder itself (chromadb's ``System``
bypasses the per-process client cache too) and ``stop()`` closes it. An example that fails
never calls ``stop()``; the next ``System`` on that folder closes the one left open, so the
next example meets the folder as chromadb's would, and conftest stops every ``System`` left
open when a test ends (``stop_all``; some examples return early without stopping theirs).

Its state machine also checks the folder from a second process, spawned while the first still
has it open. One data folder has one owner process (docs/compatibility.md), so there the second
process opens a consistent copy of the folder as it is on disk at that moment: what a restart
after a kill -9 of the owner would find. A spawned process does not run our conftest, so its
entry point is :func:`load_and_check`, which points chromadb's names at ours before running
chromadb's own ``load_and_check``.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from chroma_grpc import ClientAPI, Settings
from chroma_grpc.store import Store
from chroma_grpc.store._data_folder import copy_data_folder
from chroma_grpc.store.errors import FolderInUseError


class System:
    """chromadb's ``System(settings)``: ``instance(ServerAPI)`` is our client on the folder."""

    #: True in the process chromadb spawns to check a folder its parent still owns.
    opens_copy_when_in_use = False
    _open: list[System] = []  # started in this process and not stopped yet

    def __init__(self, settings: Settings) -> None:
        if not settings.is_persistent:
            raise ValueError("the chromadb suite's System serves persistent settings only")
        self.settings = settings
        self._store: Store | None = None
        self._client: ClientAPI | None = None
        self._copy: Path | None = None

    def instance(self, kind: type) -> ClientAPI:
        """Our client for the folder (whatever ``kind``: the tests ask for ``ServerAPI``)."""
        if self._client is None:
            folder = self.folder
            for left_open in [system for system in System._open if system.folder == folder]:
                left_open.stop()
            self._store = self._open_store(folder)
            self._client = ClientAPI(self._store, self.settings)
            System._open.append(self)
        return self._client

    @classmethod
    def stop_all(cls) -> None:
        """Stop every ``System`` of this process that was not stopped."""
        for system in list(cls._open):
            system.stop()

    @property
    def folder(self) -> Path:
        return Path(self.settings.persist_directory)

    def start(self) -> None:
        """The store opened in :meth:`instance`; nothing more to start."""

    def stop(self) -> None:
        """Close the store (and remove the copy, if the folder had another owner)."""
        if self._store is not None:
            self._store.close()
            self._store = self._client = None
            System._open.remove(self)
        if self._copy is not None:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None

    def _open_store(self, folder: Path) -> Store:
        try:
            return Store(folder, allow_reset=self.settings.allow_reset)
        except FolderInUseError:
            if not System.opens_copy_when_in_use:
                raise
            self._copy = Path(tempfile.mkdtemp(prefix="chromadb-suite-copy-"))
            copy_data_folder(folder, self._copy)
            return Store(self._copy, allow_reset=self.settings.allow_reset)


_chromadb_load_and_check: Callable[..., None] | None = None


def check_spawned_processes_with_our_names(test_persist: ModuleType) -> None:
    """Make chromadb's ``test_persist`` spawn its checking processes at :func:`load_and_check`."""
    global _chromadb_load_and_check
    if test_persist.load_and_check is not load_and_check:
        _chromadb_load_and_check = test_persist.load_and_check
        test_persist.load_and_check = load_and_check


def load_and_check(settings: Settings, collection_name: str, record_set: Any, conn: Any) -> None:
    """chromadb's ``load_and_check``, in a spawned process, with chromadb's names at ours.

    chromadb's test learns of a failure only from what the process sends on ``conn`` (not from
    its exit code), so a failure to set up is sent there too.
    """
    try:
        importlib.import_module("tests.chromadb_suite.chromadb_names")  # first: points the names
        test_persist = importlib.import_module("chromadb.test.property.test_persist")

        if test_persist.System is not System:
            raise RuntimeError("chromadb's test_persist was imported before its names were ours")
        check = _chromadb_load_and_check or test_persist.load_and_check
        System.opens_copy_when_in_use = True
    except BaseException as error:
        conn.send(error)
        raise
    try:
        check(settings, collection_name, record_set, conn)
    finally:  # a failed check never stops its System: remove the copy all the same
        System.stop_all()
