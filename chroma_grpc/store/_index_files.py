"""On-disk copies of HNSW graphs, so a reopened store need not rebuild them from SQLite.

Building a large graph takes tens of seconds; reading one back takes a fraction of one. The
vectors themselves are not saved (SQLite has them); a collection with a graph may have, under
``<store path>/indexes/``:

* ``<collection_id>.json``: the commit record: format version, the collection's
  ``applied_seq`` at save time, dimension, space, graph parameters, the calibration, and a
  manifest of the arrays in the data file (dtype, shape, offset, BLAKE2b checksum);
* ``<collection_id>.<token>.graph``: the arrays, back to back: the graph's links
  (``levels``, ``offsets``, ``neighbors``), position -> rowid (``-1`` = tombstone) and the
  vectors of tombstoned positions, which the graph still routes through.

Every file is written to a temporary name in the same directory, fsynced and renamed; the JSON
is written last and is the commit point, then the directory is fsynced and the previous
generation removed. A crash therefore leaves either the old or the new generation referenced,
plus at worst unreferenced files that the next save or open removes. Files of collections the
database does not know are never deleted at open (they may be the last copy of vectors whose
database was lost): they are moved to ``indexes/orphaned/`` with a WARNING. The files are a
cache and never trusted over SQLite: :meth:`IndexFiles.load` refuses them unless the saved
``applied_seq`` and parameters match exactly and every checksum verifies (a damaged file is
logged as a warning and the graph rebuilt); the store then checks the rowids against SQLite.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from chroma_grpc.store._vector_index import Calibration, GraphSnapshot, HnswParams
from chroma_grpc.store.types import DistanceSpace

FORMAT_VERSION = 2
DIRECTORY = "indexes"
ORPHANED = "orphaned"
_ALIGN = 64

log = logging.getLogger(__name__)


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


def _checksum(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _arrays_of(snapshot: GraphSnapshot) -> dict[str, npt.NDArray[np.generic]]:
    return {
        **snapshot.arrays,
        "rowids": snapshot.rowids,
        "dead_vectors": snapshot.dead_vectors,
    }


class IndexFiles:
    """The ``indexes`` directory of one persistent store."""

    def __init__(self, store_directory: Path) -> None:
        self.directory = store_directory / DIRECTORY
        self.directory.mkdir(parents=True, exist_ok=True)

    def _commit_record(self, collection_id: str) -> Path:
        return self.directory / f"{collection_id}.json"

    def _data_file(self, collection_id: str, token: str) -> Path:
        return self.directory / f"{collection_id}.{token}.graph"

    # -- save -------------------------------------------------------------------------------
    def write_data(self, collection_id: str, snapshot: GraphSnapshot) -> tuple[str, dict[str, Any]]:
        """Write a new generation's data file (not yet referenced); returns its token and
        manifest for :meth:`commit`. Slow for big graphs: call it without holding locks."""
        token = secrets.token_hex(8)
        manifest: dict[str, Any] = {}

        def write(handle: BinaryIO) -> None:
            offset = 0
            for name, array in _arrays_of(snapshot).items():
                data = np.ascontiguousarray(array).reshape(-1).view(np.uint8).data
                pad = -offset % _ALIGN
                handle.write(b"\0" * pad)
                offset += pad
                handle.write(data)
                manifest[name] = {
                    "dtype": array.dtype.str,
                    "shape": list(array.shape),
                    "offset": offset,
                    "nbytes": len(data),
                    "blake2b": _checksum(data),
                }
                offset += len(data)

        self._write_atomic(self._data_file(collection_id, token), write)
        return token, manifest

    def commit(
        self,
        collection_id: str,
        key: GraphKey,
        token: str,
        manifest: dict[str, Any],
        snapshot: GraphSnapshot,
    ) -> None:
        """Make the generation ``token`` the referenced one and remove older ones."""
        calibration = snapshot.calibration
        header = key.header() | {
            "token": token,
            "arrays": manifest,
            "entry_point": snapshot.entry_point,
            "max_level": snapshot.max_level,
            "calibration": None if calibration is None else calibration.__dict__,
        }
        body = json.dumps(header, sort_keys=True)
        encoded = json.dumps({"header": header, "blake2b": _checksum(body.encode())}).encode()
        self._write_atomic(self._commit_record(collection_id), lambda handle: handle.write(encoded))
        _fsync_directory(self.directory)
        self._remove_unreferenced(collection_id, keep=token)

    def discard(self, collection_id: str, token: str) -> None:
        """Remove a data file that was written but will not be committed."""
        self._data_file(collection_id, token).unlink(missing_ok=True)

    def save(self, collection_id: str, key: GraphKey, snapshot: GraphSnapshot) -> None:
        token, manifest = self.write_data(collection_id, snapshot)
        self.commit(collection_id, key, token, manifest, snapshot)

    def _write_atomic(self, target: Path, write: Callable[[BinaryIO], object]) -> None:
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=target.suffix)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # -- load -------------------------------------------------------------------------------
    def load(
        self, collection_id: str, keys: Sequence[GraphKey]
    ) -> tuple[GraphSnapshot, GraphKey] | None:
        """The saved graph and the key it matches exactly, if one does and it verifies;
        otherwise None, and why: at INFO when it is merely stale, at WARNING when damaged."""
        record = self._commit_record(collection_id)
        if not record.exists():
            return None
        try:
            outer = json.loads(record.read_bytes())
            header = outer["header"]
            if _checksum(json.dumps(header, sort_keys=True).encode()) != outer["blake2b"]:
                raise ValueError("commit record checksum mismatch")
        except Exception as exc:  # noqa: BLE001 - any damage means "rebuild"
            log.warning("index record of %s is damaged (%s); rebuilding", collection_id, exc)
            return None
        key = next((k for k in keys if _matches(header, k)), None)
        if key is None:
            expected = keys[0].header()
            details = ", ".join(
                f"{k}={header.get(k)!r} (want {v!r})"
                for k, v in expected.items()
                if header.get(k) != v
            )
            log.info("index file of %s is stale or incompatible: %s", collection_id, details)
            return None
        path = self._data_file(collection_id, str(header["token"]))
        try:
            arrays = _read_arrays(path, header["arrays"])
            calibration = header.get("calibration")
            snapshot = GraphSnapshot(
                arrays={k: arrays[k] for k in ("levels", "offsets", "neighbors")},
                entry_point=int(header["entry_point"]),
                max_level=int(header["max_level"]),
                rowids=arrays["rowids"].astype(np.int64, copy=False),
                dead_vectors=arrays["dead_vectors"].astype(np.float32, copy=False),
                calibration=None if calibration is None else Calibration(**calibration),
            )
            return snapshot, key
        except Exception as exc:  # noqa: BLE001 - a damaged cache must never fail a query
            log.warning("index file %s is damaged (%s); rebuilding", path.name, exc)
            return None

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


def _matches(header: dict[str, Any], key: GraphKey) -> bool:
    return all(header.get(k) == v for k, v in key.header().items())


def _read_arrays(path: Path, manifest: dict[str, Any]) -> dict[str, npt.NDArray[np.generic]]:
    """Every array of a data file, each checked against its manifest entry and checksum."""
    with open(path, "rb") as handle:
        data = handle.read()
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for name in ("levels", "offsets", "neighbors", "rowids", "dead_vectors"):
        entry = manifest[name]
        start, size = int(entry["offset"]), int(entry["nbytes"])
        chunk = memoryview(data)[start : start + size]
        if len(chunk) != size:
            raise ValueError(f"{name} is truncated")
        if _checksum(chunk) != entry["blake2b"]:
            raise ValueError(f"{name} checksum mismatch")
        dtype = np.dtype(entry["dtype"])
        array = np.frombuffer(chunk, dtype=dtype).reshape(entry["shape"])
        arrays[name] = array
    return arrays


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable (POSIX: a rename is only on disk once its directory is)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
