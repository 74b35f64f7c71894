"""Record batches and read results <-> their messages, chunked by bytes.

Writes travel as a stream of ``RecordBatch`` chunks of at most ``DEFAULT_CHUNK_BYTES`` each and
are merged back into one :class:`RecordBatch` (so the store applies them atomically). Reads
travel as pages of the same size, far below grpcio's default 4 MiB receive limit. Encoders
expect batches whose shape was checked (``check_batch_shape``); decoders check only how the
chunks fit together and leave Chroma's rules to the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Union, cast

import numpy as np

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import (
    INCLUDE_FIELDS,
    Metadata,
    MetadataValue,
    Neighbours,
    RecordBatch,
    Records,
    ResultField,
    ResultFields,
    Vectors,
)
from chroma_grpc.store.validation import batch_size_exceeded
from chroma_grpc.v1 import record_service_pb2, types_pb2
from chroma_grpc.wire.metadata import from_proto_metadata, to_proto_metadata
from chroma_grpc.wire.vectors import FLOAT32_BYTES, from_proto_vectors, to_proto_vectors

DEFAULT_CHUNK_BYTES = 2 * 1024 * 1024
DEFAULT_PAGE_BYTES = 2 * 1024 * 1024
# Room for the enclosing message's own tags and lengths, per record and per message.
_RECORD_OVERHEAD = 8
PageMessage = Union[record_service_pb2.GetRecordsResponse, record_service_pb2.PeekRecordsResponse]

_INCLUDE_TO_PROTO: dict[ResultField, types_pb2.IncludeField.ValueType] = {
    "embeddings": types_pb2.INCLUDE_FIELD_EMBEDDINGS,
    "documents": types_pb2.INCLUDE_FIELD_DOCUMENTS,
    "metadatas": types_pb2.INCLUDE_FIELD_METADATAS,
    "distances": types_pb2.INCLUDE_FIELD_DISTANCES,
    "uris": types_pb2.INCLUDE_FIELD_URIS,
}
_INCLUDE_FROM_PROTO: dict[int, ResultField] = {
    value: key for key, value in _INCLUDE_TO_PROTO.items()
}
assert set(_INCLUDE_TO_PROTO) == set(INCLUDE_FIELDS)


# -- include ---------------------------------------------------------------------------------


def to_proto_include(include: Iterable[str]) -> types_pb2.Include:
    """An explicit include list in a fixed order (equal sets give equal messages); "data" is
    the client API's (loaded from uris) and is not sent."""
    wanted = set(include)
    return types_pb2.Include(
        fields=[_INCLUDE_TO_PROTO[name] for name in INCLUDE_FIELDS if name in wanted]
    )


def from_proto_include(message: types_pb2.Include, *, field: str = "include") -> ResultFields:
    """The include set; UNSPECIFIED and unknown enum values are rejected."""
    names: set[ResultField] = set()
    for i, value in enumerate(message.fields):
        name = _INCLUDE_FROM_PROTO.get(value)
        if name is None:
            raise InvalidArgumentError(
                f"{field}.fields[{i}]: unsupported value {value}; use INCLUDE_FIELD_EMBEDDINGS, "
                "_DOCUMENTS, _METADATAS, _DISTANCES or _URIS",
                field=f"{field}.fields[{i}]",
            )
        names.add(name)
    return frozenset(names)


# -- single records --------------------------------------------------------------------------


def to_proto_record(
    record_id: str,
    metadata: Mapping[str, MetadataValue | None] | None = None,
    document: str | None = None,
    uri: str | None = None,
) -> types_pb2.Record:
    """One record's scalar fields; None leaves the optional field absent."""
    record = types_pb2.Record(id=record_id)
    if metadata is not None:
        record.metadata.CopyFrom(to_proto_metadata(metadata))
    if document is not None:
        record.document = document
    if uri is not None:
        record.uri = uri
    return record


def _chunk_bounds(
    records: Sequence[types_pb2.Record], vector_bytes: int, max_bytes: int, max_count: int
) -> Iterator[tuple[int, int]]:
    """(start, end) slices whose encoded size stays under ``max_bytes`` (at least one record)."""
    start, size = 0, 0
    for i, record in enumerate(records):
        record_size = record.ByteSize() + vector_bytes + _RECORD_OVERHEAD
        if i > start and (size + record_size > max_bytes or i - start >= max_count):
            yield start, i
            start, size = i, 0
        size += record_size
    yield start, len(records)


# -- write batches ---------------------------------------------------------------------------


def iter_batch_chunks(
    batch: RecordBatch, max_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[types_pb2.RecordBatch]:
    """Split a batch into chunks of at most ``max_bytes`` each; an empty batch gives one chunk."""
    count = len(batch.ids)
    metadatas = batch.metadatas or [None] * count
    documents = batch.documents or [None] * count
    uris = batch.uris or [None] * count
    records = [
        to_proto_record(record_id, metadata, document, uri)
        for record_id, metadata, document, uri in zip(
            batch.ids, metadatas, documents, uris, strict=True
        )
    ]
    set_fields = [
        field
        for field, column in (
            (types_pb2.RECORD_FIELD_DOCUMENT, "documents"),
            (types_pb2.RECORD_FIELD_URI, "uris"),
        )
        if column in batch.set_columns
    ]
    embeddings = batch.embeddings
    vector_bytes = 0 if embeddings is None else FLOAT32_BYTES * int(np.shape(embeddings)[1])
    for start, end in _chunk_bounds(records, vector_bytes, max_bytes, max_count=count or 1):
        chunk = types_pb2.RecordBatch(records=records[start:end], set_fields=set_fields)
        if embeddings is not None:
            chunk.embeddings.CopyFrom(to_proto_vectors(embeddings[start:end]))
        yield chunk


class BatchDecoder:
    """Joins the chunks of one write stream into one batch, decoding each as it arrives.

    A column is None when no record in any chunk sets it and no chunk lists it in
    ``set_fields``; a listed column is the batch's ``set_columns`` (its Nones remove stored
    documents / uris in updates), an unlisted one leaves them where a record has no value.
    Embeddings must come with every non-empty chunk or with none, in one dimension.
    Past ``max_batch_size`` records it fails at once (nothing more is buffered).
    """

    def __init__(self, *, max_batch_size: int, field: str = "batch") -> None:
        self._max_batch_size = max_batch_size
        self._field = field
        self.ids: list[str] = []
        self._metadatas: list[Metadata | None] = []
        self._documents: list[str | None] = []
        self._uris: list[str | None] = []
        self._vectors: list[Vectors] = []
        self._with_embeddings: bool | None = None
        self._set_fields: set[int] = set()

    def add(self, chunk: types_pb2.RecordBatch) -> None:
        """Decode one chunk into the batch."""
        field = self._field
        self._set_fields.update(chunk.set_fields)
        if not chunk.records:
            return
        count = len(self.ids) + len(chunk.records)
        if count > self._max_batch_size:
            raise batch_size_exceeded(count, self._max_batch_size, field=f"{field}.records")
        has_embeddings = chunk.HasField("embeddings")
        if self._with_embeddings is None:
            self._with_embeddings = has_embeddings
        elif has_embeddings != self._with_embeddings:
            raise InvalidArgumentError(
                f"{field}.embeddings: set in some chunks but not others; send embeddings for "
                "every record or for none",
                field=f"{field}.embeddings",
            )
        if has_embeddings:
            array = from_proto_vectors(
                chunk.embeddings, field=f"{field}.embeddings", expected_count=len(chunk.records)
            )
            if self._vectors and array.shape[1] != self._vectors[0].shape[1]:
                raise InvalidArgumentError(
                    f"{field}.embeddings.dimension: {array.shape[1]} differs from the "
                    f"{self._vectors[0].shape[1]} of earlier chunks",
                    field=f"{field}.embeddings.dimension",
                )
            self._vectors.append(array)
        for record in chunk.records:
            path = f"{field}.records[{len(self.ids)}]"
            self.ids.append(record.id)
            self._metadatas.append(
                cast(Metadata, from_proto_metadata(record.metadata, field=f"{path}.metadata"))
                if record.HasField("metadata")
                else None
            )
            self._documents.append(record.document if record.HasField("document") else None)
            self._uris.append(record.uri if record.HasField("uri") else None)

    def batch(self) -> RecordBatch:
        """Everything decoded so far as one batch (one chunk's vectors are not copied)."""
        vectors = self._vectors
        return RecordBatch(
            ids=self.ids,
            embeddings=(vectors[0] if len(vectors) == 1 else np.concatenate(vectors))
            if vectors
            else None,
            metadatas=self._metadatas if any(m is not None for m in self._metadatas) else None,
            documents=self._column(self._documents, types_pb2.RECORD_FIELD_DOCUMENT),
            uris=self._column(self._uris, types_pb2.RECORD_FIELD_URI),
            set_columns=frozenset(
                name
                for field, name in (
                    (types_pb2.RECORD_FIELD_DOCUMENT, "documents"),
                    (types_pb2.RECORD_FIELD_URI, "uris"),
                )
                if field in self._set_fields
            ),
        )

    def _column(self, values: list[str | None], field: int) -> list[str | None] | None:
        """A string column: given when listed in set_fields or when any record carries it."""
        if field in self._set_fields or any(v is not None for v in values):
            return values
        return None


def merge_batch_chunks(
    chunks: Iterable[types_pb2.RecordBatch], *, max_batch_size: int, field: str = "batch"
) -> RecordBatch:
    """Decode and join chunks into one batch (see :class:`BatchDecoder`)."""
    decoder = BatchDecoder(max_batch_size=max_batch_size, field=field)
    for chunk in chunks:
        decoder.add(chunk)
    return decoder.batch()


# -- read results ----------------------------------------------------------------------------


def _result_records(result: Records | Neighbours) -> list[types_pb2.Record]:
    count = len(result.ids)
    metadatas = result.metadatas or [None] * count
    documents = result.documents or [None] * count
    uris = result.uris or [None] * count
    return [
        to_proto_record(record_id, metadata, document, uri)
        for record_id, metadata, document, uri in zip(
            result.ids, metadatas, documents, uris, strict=True
        )
    ]


def iter_get_pages(
    result: Records, *, page_size: int = 0, max_bytes: int = DEFAULT_PAGE_BYTES
) -> Iterator[record_service_pb2.GetRecordsResponse]:
    """Pages of at most ``page_size`` records (0: any) and about ``max_bytes``; at least one."""
    records = _result_records(result)
    embeddings = result.embeddings
    vector_bytes = 0 if embeddings is None else FLOAT32_BYTES * int(np.shape(embeddings)[1])
    max_count = page_size or len(records) or 1
    for start, end in _chunk_bounds(records, vector_bytes, max_bytes, max_count):
        page = record_service_pb2.GetRecordsResponse(records=records[start:end])
        if embeddings is not None:
            page.embeddings.CopyFrom(to_proto_vectors(embeddings[start:end]))
        yield page


def to_proto_peek(result: Records) -> record_service_pb2.PeekRecordsResponse:
    """A peek result as one message (peeks are small)."""
    response = record_service_pb2.PeekRecordsResponse(records=_result_records(result))
    if result.embeddings is not None:
        response.embeddings.CopyFrom(to_proto_vectors(result.embeddings))
    return response


def _decode_records(
    records: Sequence[types_pb2.Record], include: ResultFields, field: str
) -> tuple[
    list[str],
    list[dict[str, MetadataValue] | None] | None,
    list[str | None] | None,
    list[str | None] | None,
]:
    ids = [record.id for record in records]
    metadatas = (
        [
            cast(dict[str, MetadataValue], from_proto_metadata(r.metadata, field="metadata"))
            if r.HasField("metadata")
            else None
            for r in records
        ]
        if "metadatas" in include
        else None
    )
    documents = (
        [r.document if r.HasField("document") else None for r in records]
        if "documents" in include
        else None
    )
    uris = [r.uri if r.HasField("uri") else None for r in records] if "uris" in include else None
    return ids, metadatas, documents, uris


def merge_get_pages(pages: Iterable[PageMessage], include: ResultFields) -> Records:
    """Join pages (or one peek reply) into Records; fields not included stay None."""
    result = Records(
        ids=[],
        metadatas=[] if "metadatas" in include else None,
        documents=[] if "documents" in include else None,
        uris=[] if "uris" in include else None,
    )
    vectors: list[Vectors] = []
    dimension = 0
    for page in pages:
        ids, metadatas, documents, uris = _decode_records(page.records, include, "records")
        result.ids.extend(ids)
        for column, values in (
            (result.metadatas, metadatas),
            (result.documents, documents),
            (result.uris, uris),
        ):
            if column is not None and values is not None:
                column.extend(values)  # type: ignore[arg-type]  # same element type per pair
        if "embeddings" in include:
            array = from_proto_vectors(page.embeddings, field="embeddings", expected_count=len(ids))
            dimension = dimension or array.shape[1]
            if len(array):
                vectors.append(array)
    if "embeddings" in include:
        if len(vectors) == 1:
            result.embeddings = vectors[0]
        else:
            result.embeddings = (
                np.concatenate(vectors) if vectors else np.empty((0, dimension), np.float32)
            )
    return result


def to_proto_query_response(
    query_index: int, result: Neighbours
) -> record_service_pb2.QueryRecordsResponse:
    """The neighbours of one query vector as one stream message."""
    response = record_service_pb2.QueryRecordsResponse(
        query_index=query_index, records=_result_records(result)
    )
    if result.embeddings is not None:
        response.embeddings.CopyFrom(to_proto_vectors(result.embeddings))
    if result.distances is not None:
        response.distances.extend(np.asarray(result.distances, dtype=np.float32).tolist())
    return response


def from_proto_query_response(
    message: record_service_pb2.QueryRecordsResponse, include: ResultFields
) -> Neighbours:
    """One query's Neighbours; fields not included stay None."""
    ids, metadatas, documents, uris = _decode_records(message.records, include, "records")
    embeddings = None
    if "embeddings" in include:
        embeddings = from_proto_vectors(
            message.embeddings, field="embeddings", expected_count=len(ids)
        )
    distances = None
    if "distances" in include:
        distances = np.asarray(message.distances, dtype=np.float32)
    return Neighbours(
        ids=ids,
        distances=distances,
        embeddings=embeddings,
        metadatas=metadatas,
        documents=documents,
        uris=uris,
    )
