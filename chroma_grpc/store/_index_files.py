"""On-disk copies of HNSW graphs, so a reopened store need not rebuild them from SQLite.

Building a large graph takes tens of seconds; reading one back takes well under one. Each
collection in HNSW mode may have, under ``<store path>/indexes/``:

* ``<collection_id>.json``: the commit record (format version, the collection's
  ``applied_seq`` at save time, dimension, space, graph parameters, position count, file sizes
  and the generation token naming the two data files);
* ``<collection_id>.<token>.faiss``: the graph and its vectors (``faiss.write_index``);
* ``<collection_id>.<token>.rowids.npy``: position -> rowid, ``-1`` for a tombstone.

Every file is written to a temporary name in the same directory, fsynced and renamed; the JSON
is written last and is the commit point, then the directory is fsynced and the previous
generation removed. A crash therefore leaves either the old or the new generation referenced,
plus at worst unreferenced files that the next save or open removes. Files of collections the
database does not know are never deleted at open (they may be the last copy of vectors whose
database was lost): they are moved to ``indexes/orphaned/`` with a WARNING. The files are a
cache and never trusted over SQLite: :func:`load` refuses them unless the saved ``applied_seq``
and parameters match exactly (and the store then checks the rowids and vectors against SQLite).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from chroma_grpc.store._vector_index import HnswParams, RowIds
from chroma_grpc.store.types import DistanceSpace

FORMAT_VERSION = 1
DIRECTORY = "indexes"
ORPHANED = "orphaned"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedGraph:
    """A graph read back from disk with its position -> rowid map (tombstones are -1)."""

    graph: faiss.IndexHNSWFlat
    position_rowids: RowIds


@dataclass(frozen=True)
class GraphKey:
    """What a saved graph must match to be used: the collection's state and parameters."""

    applied_seq: int
    dimension: int
    space: DistanceSpace
    params: HnswParams

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "applied_seq": self.applied_seq,
            "dimension": self.dimension,
            "space": self.space,
            "m": self.params.m,
            "construction_ef": self.params.construction_ef,
        }


class IndexFiles:
    """The ``indexes`` directory of one persistent store."""

    def __init__(self, store_directory: Path) -> None:
        self.directory = store_directory / DIRECTORY
        self.directory.mkdir(parents=True, exist_ok=True)

    def _commit_record(self, collection_id: str) -> Path:
        return self.directory / f"{collection_id}.json"

    def _data_files(self, collection_id: str, token: str) -> tuple[Path, Path]:
        stem = f"{collection_id}.{token}"
        return self.directory / f"{stem}.faiss", self.directory / f"{stem}.rowids.npy"

    # -- save -------------------------------------------------------------------------------
    def save(
        self, collection_id: str, key: GraphKey, graph: faiss.IndexHNSWFlat, rowids: RowIds
    ) -> None:
        """Write a new generation for ``collection_id`` and make it the referenced one."""
        token = secrets.token_hex(8)
        graph_path, rowids_path = self._data_files(collection_id, token)
        self._write_atomic(graph_path, lambda tmp: faiss.write_index(graph, str(tmp)))
        self._write_atomic(rowids_path, lambda tmp: np.save(tmp, rowids, allow_pickle=False))
        header = key.header() | {
            "token": token,
            "positions": len(rowids),
            "graph_bytes": graph_path.stat().st_size,
            "rowids_bytes": rowids_path.stat().st_size,
        }
        encoded = json.dumps(header, sort_keys=True).encode()
        self._write_atomic(self._commit_record(collection_id), lambda tmp: tmp.write_bytes(encoded))
        _fsync_directory(self.directory)
        self._remove_unreferenced(collection_id, keep=token)

    def _write_atomic(self, target: Path, write: Callable[[Path], object]) -> None:
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=target.suffix)
        os.close(fd)
        tmp = Path(name)
        try:
            write(tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # -- load -------------------------------------------------------------------------------
    def load(self, collection_id: str, key: GraphKey) -> SavedGraph | None:
        """The saved graph if it matches ``key`` exactly; otherwise None, and why at INFO."""
        record = self._commit_record(collection_id)
        if not record.exists():
            return None
        try:
            header = json.loads(record.read_bytes())
            expected = key.header()
            mismatch = [k for k, v in expected.items() if header.get(k) != v]
            if mismatch:
                details = ", ".join(
                    f"{k}={header.get(k)!r} (want {expected[k]!r})" for k in mismatch
                )
                log.info("index file of %s is stale or incompatible: %s", collection_id, details)
                return None
            graph_path, rowids_path = self._data_files(collection_id, str(header["token"]))
            for path, size in (
                (graph_path, header["graph_bytes"]),
                (rowids_path, header["rowids_bytes"]),
            ):
                if not path.exists() or path.stat().st_size != size:
                    log.info("index file %s is missing or truncated; rebuilding", path.name)
                    return None
            graph = faiss.read_index(str(graph_path))  # returned already downcast
            rowids = np.load(rowids_path, allow_pickle=False)
        except Exception as exc:  # a damaged cache file must never fail a query
            log.info("index file of %s is unreadable (%s); rebuilding", collection_id, exc)
            return None
        if (
            not isinstance(graph, faiss.IndexHNSWFlat)
            or graph.d != key.dimension
            or rowids.dtype != np.int64
            or rowids.ndim != 1
            or graph.ntotal != len(rowids)
            or len(rowids) != header["positions"]
        ):
            log.info("index file of %s does not match its header; rebuilding", collection_id)
            return None
        return SavedGraph(graph, rowids)

    # -- removal ----------------------------------------------------------------------------
    def remove(self, collection_id: str) -> None:
        """Forget a collection's files (commit record first, so a crash leaves no valid set).

        Failures are logged only: the caller's SQLite change has committed, and leftovers are
        unreferenced or stale, so a later open removes or rejects them."""
        try:
            self._commit_record(collection_id).unlink(missing_ok=True)
            self._remove_unreferenced(collection_id, keep=None)
        except OSError as exc:
            log.warning("could not remove the index files of %s: %s", collection_id, exc)

    def remove_all_except(self, collection_ids: Iterable[str]) -> None:
        """Drop files of collections that no longer exist and leftovers of interrupted saves
        (``reset``); ``orphaned/`` is left alone."""
        keep = set(collection_ids)
        try:
            for path in self.directory.iterdir():
                owner = path.name.split(".", 1)[0]
                if path.is_file() and (path.name.startswith(".tmp-") or owner not in keep):
                    path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not clean %s: %s", self.directory, exc)

    def set_aside_unknown(self, collection_ids: Iterable[str]) -> None:
        """At open: move files of collections the database does not know to ``orphaned/``
        (logged at WARNING, never deleted) and drop leftovers of interrupted saves."""
        keep = set(collection_ids)
        aside = self.directory / ORPHANED
        try:
            strays = []
            for path in self.directory.iterdir():
                if path.is_file() and path.name.startswith(".tmp-"):
                    path.unlink(missing_ok=True)
                elif path.is_file() and path.name.split(".", 1)[0] not in keep:
                    strays.append(path)
            if strays:
                aside.mkdir(exist_ok=True)
                for path in strays:
                    os.replace(path, aside / path.name)
                log.warning(
                    "%d index file(s) belong to no collection in the database; moved to %s "
                    "instead of deleting them (remove them once you know they are not "
                    "needed): %s",
                    len(strays),
                    aside,
                    ", ".join(sorted(p.name for p in strays)),
                )
        except OSError as exc:
            log.warning("could not set aside unknown files of %s: %s", self.directory, exc)

    def _remove_unreferenced(self, collection_id: str, keep: str | None) -> None:
        for path in self.directory.glob(f"{collection_id}.*"):
            parts = path.name.split(".")
            if parts[-1] != "json" and (keep is None or parts[1] != keep):
                path.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable (POSIX: a rename is only on disk once its directory is)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
