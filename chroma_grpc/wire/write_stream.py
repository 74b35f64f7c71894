"""The write-stream commit protocol of AddRecords / UpsertRecords / UpdateRecords.

A stream is applied only if its last message says ``commit: true``: the first message names the
collection (and may carry a ``request_id``), data chunks follow, and any message may carry data.
The commit flag is the one thing a cancelled, dead or timed-out client cannot send by accident:
grpcio ends the request stream normally when a client cancels (sync and asyncio servers alike),
so "the stream ended" alone proves nothing. A stream without a commit message writes nothing
(ABORTED); a message after the commit message is INVALID_ARGUMENT.

:class:`WriteStreamReader` is fed one message at a time, so a sync servicer (``for``) and an
asyncio one (``async for``) drive it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from chroma_grpc.store.errors import InvalidArgumentError, WriteNotCommittedError
from chroma_grpc.store.types import RecordBatch
from chroma_grpc.v1 import record_service_pb2, types_pb2
from chroma_grpc.wire.records import BatchDecoder

MAX_REQUEST_ID_LENGTH = 128
NOT_COMMITTED_MESSAGE = (
    "Nothing was written: the stream ended without a message setting commit to true "
    '({records} records received). Set "commit": true on the last message of the stream to '
    "apply it; a stream that is cancelled or broken before that is never applied."
)


# The three write requests share their fields (collection, request_id, batch, commit).
WriteRequest = Union[
    record_service_pb2.AddRecordsRequest,
    record_service_pb2.UpsertRecordsRequest,
    record_service_pb2.UpdateRecordsRequest,
]


@dataclass(frozen=True)
class CommittedWrite:
    """A complete, committed stream: where it goes and what it writes."""

    collection: types_pb2.CollectionRef
    request_id: str
    batch: RecordBatch


class WriteStreamReader:
    """Checks the protocol message by message and decodes the data as it arrives."""

    def __init__(self, *, max_batch_size: int) -> None:
        self._decoder = BatchDecoder(max_batch_size=max_batch_size)
        self._collection: types_pb2.CollectionRef | None = None
        self._request_id = ""
        self._committed = False

    def feed(self, request: WriteRequest) -> None:
        """Take the next message of the stream."""
        if self._committed:
            raise InvalidArgumentError(
                "commit: a message arrived after the message with commit set to true; commit "
                "on the last message only",
                field="commit",
            )
        if self._collection is None:
            if not request.HasField("collection"):
                raise InvalidArgumentError(
                    "collection: required in the first message of the stream; name the "
                    "collection by id or by name",
                    field="collection",
                )
            self._collection = request.collection
            self._request_id = request.request_id
            if len(self._request_id) > MAX_REQUEST_ID_LENGTH:
                raise InvalidArgumentError(
                    f"request_id: {len(self._request_id)} characters, more than the "
                    f"{MAX_REQUEST_ID_LENGTH} allowed",
                    field="request_id",
                )
        else:
            if request.HasField("collection") and request.collection != self._collection:
                raise InvalidArgumentError(
                    "collection: changed mid-stream; send one collection per stream (later "
                    "messages may leave it unset)",
                    field="collection",
                )
            if request.request_id not in ("", self._request_id):
                raise InvalidArgumentError(
                    "request_id: changed mid-stream; set it in the first message only",
                    field="request_id",
                )
        self._decoder.add(request.batch)
        self._committed = request.commit

    @property
    def committed(self) -> bool:
        """Whether the last message so far said commit."""
        return self._committed

    def finish(self) -> CommittedWrite:
        """The stream ended: what to apply, or WriteNotCommittedError when it must not be."""
        if not self._committed or self._collection is None:
            raise WriteNotCommittedError(
                NOT_COMMITTED_MESSAGE.format(records=len(self._decoder.ids)), field="commit"
            )
        return CommittedWrite(self._collection, self._request_id, self._decoder.batch())
