"""Checkpoints of shard replicas: files in an object store, the latest one recorded in KV.

A checkpoint of a replica at log position ``seq`` is:

* ``records.sqlite3``: a consistent copy of its SQLite database, taken with SQLite's online
  backup API while the replica applies nothing (so it is the state at exactly ``seq``);
* ``indexes/*``: its saved HNSW index files, as the store wrote them (checksummed; the store
  adopts them on open only if they match the database, else it rebuilds the graph);
* ``MANIFEST.json``, written last: collection, shard, ``seq``, and each file's size and
  SHA-256.

They go under ``<collection>/<shard>/<seq>/`` in JetStream's Object Store (bucket
``chroma_checkpoint_files``, replicated like the log: a cluster needs no second service) or,
with ``--checkpoints s3://BUCKET[/PREFIX]``, in any S3-compatible store through boto3. The KV
bucket ``chroma_checkpoints`` then records ``<collection>.<shard>`` -> the manifest (updated
only forwards, by compare-and-set), and the shard's log is purged below the lowest position
any live replica of the shard still needs (the checkpoint's, or a lagging replica's applied
position, whichever is lower). A new or restarted replica whose folder is missing or older
than the checkpoint restores it, verifies every file, and replays the log from ``seq + 1``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from nats.js import JetStreamContext, api
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from chroma_grpc.cluster.nats_io import OBJECTS_BUCKET
from chroma_grpc.store._data_folder import copy_data_folder
from chroma_grpc.store._index_files import DIRECTORY as INDEX_DIRECTORY
from chroma_grpc.store._sqlite import DB_FILENAME
from chroma_grpc.store.errors import DataLossError

log = logging.getLogger(__name__)
MANIFEST = "MANIFEST.json"
SNAPSHOT = "records.sqlite3"
FORMAT = 1


class BlobStore(Protocol):
    """Where checkpoint files go. Names are ``/``-separated paths."""

    description: str

    async def put(self, name: str, path: Path) -> None: ...

    async def get(self, name: str, path: Path) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...


class ObjectStoreBlobs:
    """JetStream's Object Store: chunked objects in a replicated stream."""

    description = "NATS Object Store"

    def __init__(self, js: JetStreamContext, replicas: int) -> None:
        self._js = js
        self._replicas = replicas
        self._store: Any = None

    async def _bucket(self) -> Any:
        if self._store is None:
            try:
                self._store = await self._js.object_store(OBJECTS_BUCKET)
            except NotFoundError:
                try:
                    self._store = await self._js.create_object_store(
                        OBJECTS_BUCKET,
                        config=api.ObjectStoreConfig(
                            replicas=self._replicas, storage=api.StorageType.FILE
                        ),
                    )
                except Exception:
                    self._store = await self._js.object_store(OBJECTS_BUCKET)
        return self._store

    async def put(self, name: str, path: Path) -> None:
        bucket = await self._bucket()
        with open(path, "rb") as handle:
            await bucket.put(name, handle)

    async def get(self, name: str, path: Path) -> None:
        bucket = await self._bucket()
        with open(path, "wb") as handle:
            await bucket.get(name, writeinto=handle)

    async def delete_prefix(self, prefix: str) -> None:
        bucket = await self._bucket()
        try:
            listing = await bucket.list()
        except NotFoundError:
            return
        for info in listing:
            if info.name.startswith(prefix) and not info.deleted:
                await bucket.delete(info.name)


class S3Blobs:
    """An S3 bucket (any S3-compatible endpoint) through boto3, on worker threads."""

    def __init__(self, url: str, endpoint: str | None) -> None:
        import boto3  # the [cluster] extra

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"--checkpoints: expected s3://BUCKET[/PREFIX], got {url!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.description = f"S3 {url}" + (f" at {endpoint}" if endpoint else "")
        self._client = boto3.client("s3", endpoint_url=endpoint)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    async def ensure_bucket(self) -> None:
        def create() -> None:
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except Exception:
                self._client.create_bucket(Bucket=self.bucket)

        await asyncio.to_thread(create)

    async def put(self, name: str, path: Path) -> None:
        await asyncio.to_thread(self._client.upload_file, str(path), self.bucket, self._key(name))

    async def get(self, name: str, path: Path) -> None:
        await asyncio.to_thread(self._client.download_file, self.bucket, self._key(name), str(path))

    async def delete_prefix(self, prefix: str) -> None:
        def delete() -> None:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})

        await asyncio.to_thread(delete)


@dataclass(frozen=True)
class Manifest:
    collection_id: str
    shard: int
    seq: int
    files: dict[str, dict[str, Any]]  # name -> {"size", "sha256"}
    worker: str

    @property
    def prefix(self) -> str:
        return f"{self.collection_id}/{self.shard}/{self.seq}/"

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "collection_id": self.collection_id,
            "shard": self.shard,
            "seq": self.seq,
            "files": self.files,
            "worker": self.worker,
        }
        return json.dumps(body, sort_keys=True).encode("utf-8")

    @staticmethod
    def from_json(data: bytes) -> Manifest:
        body = json.loads(data)
        return Manifest(
            collection_id=body["collection_id"],
            shard=int(body["shard"]),
            seq=int(body["seq"]),
            files=body["files"],
            worker=body["worker"],
        )


def _digest(path: Path) -> dict[str, Any]:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return {"size": path.stat().st_size, "sha256": hasher.hexdigest()}


def snapshot(store_dir: Path, into: Path) -> dict[str, dict[str, Any]]:
    """Copy a store's state into ``into`` (``copy_data_folder``, the database as
    ``SNAPSHOT``); returns each file's digest."""
    return {name: _digest(into / name) for name in copy_data_folder(store_dir, into, SNAPSHOT)}


class Checkpoints:
    """Taking, recording and restoring checkpoints (module docstring). Event loop only."""

    def __init__(self, blobs: BlobStore, records: KeyValue, worker_id: str) -> None:
        self.blobs = blobs
        self._records = records
        self._worker_id = worker_id

    async def latest(self, collection_id: str, shard: int) -> tuple[Manifest, int] | None:
        """The shard's recorded checkpoint and the record's revision."""
        try:
            entry = await self._records.get(_record_key(collection_id, shard))
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return Manifest.from_json(entry.value), int(entry.revision or 0)

    async def take(
        self, collection_id: str, shard: int, seq: int, staged: Path, files: dict[str, Any]
    ) -> Manifest | None:
        """Upload a snapshot staged in ``staged`` as the checkpoint at ``seq`` and record it;
        None when a checkpoint at or past ``seq`` exists already."""
        current = await self.latest(collection_id, shard)
        if current is not None and current[0].seq >= seq:
            return None
        manifest = Manifest(collection_id, shard, seq, files, self._worker_id)
        for name in files:
            await self.blobs.put(manifest.prefix + name, staged / name)
        manifest_path = staged / MANIFEST
        manifest_path.write_bytes(manifest.to_json())
        await self.blobs.put(manifest.prefix + MANIFEST, manifest_path)
        key = _record_key(collection_id, shard)
        try:
            if current is None:
                await self._records.create(key, manifest.to_json())
            else:
                await self._records.update(key, manifest.to_json(), last=current[1])
        except KeyWrongLastSequenceError:  # another replica recorded one meanwhile
            await self.blobs.delete_prefix(manifest.prefix)
            return None
        if current is not None:
            await self.blobs.delete_prefix(current[0].prefix)
        return manifest

    async def restore(
        self, collection_id: str, shard: int, folder: Path, position: int
    ) -> int | None:
        """Replace the replica in ``folder`` with the latest checkpoint if it is newer than
        ``position`` (-1: there is no local store); its position, or None."""
        found = await self.latest(collection_id, shard)
        if found is None or found[0].seq <= position:
            return None
        manifest = found[0]
        incoming = folder / "incoming"
        shutil.rmtree(incoming, ignore_errors=True)
        (incoming / INDEX_DIRECTORY).mkdir(parents=True)
        for name, expected in manifest.files.items():
            target = incoming / name
            await self.blobs.get(manifest.prefix + name, target)
            if _digest(target) != expected:
                raise DataLossError(
                    f"Checkpoint {manifest.prefix}{name} in {self.blobs.description} does not "
                    "match its manifest; it cannot be restored"
                )
        store_dir = folder / "store"
        shutil.rmtree(store_dir, ignore_errors=True)
        store_dir.mkdir(parents=True)
        os.replace(incoming / SNAPSHOT, store_dir / DB_FILENAME)
        os.replace(incoming / INDEX_DIRECTORY, store_dir / INDEX_DIRECTORY)
        shutil.rmtree(incoming, ignore_errors=True)
        from chroma_grpc.cluster.replica import write_position

        write_position(folder, manifest.seq)
        log.info("restored %s.%d from checkpoint @%d", collection_id, shard, manifest.seq)
        return manifest.seq

    async def forget(self, collection_id: str, shard: int) -> None:
        """A deleted collection's checkpoint: its files and its record."""
        found = await self.latest(collection_id, shard)
        if found is not None:
            await self.blobs.delete_prefix(found[0].prefix)
        try:
            await self._records.purge(_record_key(collection_id, shard))
        except Exception as error:
            log.debug("checkpoint record of %s.%d: %s", collection_id, shard, error)

    async def recorded_shards(self) -> list[tuple[str, int]]:
        try:
            keys = await self._records.keys()
        except Exception:  # an empty bucket answers "no keys found"
            return []
        found = []
        for key in keys:
            collection_id, _, shard = key.rpartition(".")
            if collection_id and shard.isdigit():
                found.append((collection_id, int(shard)))
        return found


def _record_key(collection_id: str, shard: int) -> str:
    return f"{collection_id}.{shard}"


BlobFactory = Callable[[JetStreamContext, int], BlobStore]
