from chroma_grpc.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "batch")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    batch: _types_pb2.RecordBatch
    def __init__(self, collection_id: _Optional[str] = ..., batch: _Optional[_Union[_types_pb2.RecordBatch, _Mapping]] = ...) -> None: ...

class AddRecordsResponse(_message.Message):
    __slots__ = ("record_count",)
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    record_count: int
    def __init__(self, record_count: _Optional[int] = ...) -> None: ...

class UpsertRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "batch")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    batch: _types_pb2.RecordBatch
    def __init__(self, collection_id: _Optional[str] = ..., batch: _Optional[_Union[_types_pb2.RecordBatch, _Mapping]] = ...) -> None: ...

class UpsertRecordsResponse(_message.Message):
    __slots__ = ("record_count",)
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    record_count: int
    def __init__(self, record_count: _Optional[int] = ...) -> None: ...

class UpdateRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "batch")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    batch: _types_pb2.RecordBatch
    def __init__(self, collection_id: _Optional[str] = ..., batch: _Optional[_Union[_types_pb2.RecordBatch, _Mapping]] = ...) -> None: ...

class UpdateRecordsResponse(_message.Message):
    __slots__ = ("record_count",)
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    record_count: int
    def __init__(self, record_count: _Optional[int] = ...) -> None: ...

class GetRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "where", "where_document", "limit", "offset", "include", "page_size")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    WHERE_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    where: _types_pb2.Where
    where_document: _types_pb2.WhereDocument
    limit: int
    offset: int
    include: _types_pb2.Include
    page_size: int
    def __init__(self, collection_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., where: _Optional[_Union[_types_pb2.Where, _Mapping]] = ..., where_document: _Optional[_Union[_types_pb2.WhereDocument, _Mapping]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., include: _Optional[_Union[_types_pb2.Include, _Mapping]] = ..., page_size: _Optional[int] = ...) -> None: ...

class GetRecordsResponse(_message.Message):
    __slots__ = ("records", "embeddings")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_types_pb2.Record]
    embeddings: _types_pb2.Vectors
    def __init__(self, records: _Optional[_Iterable[_Union[_types_pb2.Record, _Mapping]]] = ..., embeddings: _Optional[_Union[_types_pb2.Vectors, _Mapping]] = ...) -> None: ...

class QueryRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "query_embeddings", "query_texts", "n_results", "where", "where_document", "include")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    QUERY_TEXTS_FIELD_NUMBER: _ClassVar[int]
    N_RESULTS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    WHERE_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    query_embeddings: _types_pb2.Vectors
    query_texts: _containers.RepeatedScalarFieldContainer[str]
    n_results: int
    where: _types_pb2.Where
    where_document: _types_pb2.WhereDocument
    include: _types_pb2.Include
    def __init__(self, collection_id: _Optional[str] = ..., query_embeddings: _Optional[_Union[_types_pb2.Vectors, _Mapping]] = ..., query_texts: _Optional[_Iterable[str]] = ..., n_results: _Optional[int] = ..., where: _Optional[_Union[_types_pb2.Where, _Mapping]] = ..., where_document: _Optional[_Union[_types_pb2.WhereDocument, _Mapping]] = ..., include: _Optional[_Union[_types_pb2.Include, _Mapping]] = ...) -> None: ...

class QueryRecordsResponse(_message.Message):
    __slots__ = ("query_index", "records", "embeddings", "distances")
    QUERY_INDEX_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    query_index: int
    records: _containers.RepeatedCompositeFieldContainer[_types_pb2.Record]
    embeddings: _types_pb2.Vectors
    distances: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, query_index: _Optional[int] = ..., records: _Optional[_Iterable[_Union[_types_pb2.Record, _Mapping]]] = ..., embeddings: _Optional[_Union[_types_pb2.Vectors, _Mapping]] = ..., distances: _Optional[_Iterable[float]] = ...) -> None: ...

class DeleteRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "where", "where_document")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    WHERE_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    where: _types_pb2.Where
    where_document: _types_pb2.WhereDocument
    def __init__(self, collection_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., where: _Optional[_Union[_types_pb2.Where, _Mapping]] = ..., where_document: _Optional[_Union[_types_pb2.WhereDocument, _Mapping]] = ...) -> None: ...

class DeleteRecordsResponse(_message.Message):
    __slots__ = ("deleted_count",)
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    def __init__(self, deleted_count: _Optional[int] = ...) -> None: ...

class CountRecordsRequest(_message.Message):
    __slots__ = ("collection_id",)
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    def __init__(self, collection_id: _Optional[str] = ...) -> None: ...

class CountRecordsResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class PeekRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "limit")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    limit: int
    def __init__(self, collection_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class PeekRecordsResponse(_message.Message):
    __slots__ = ("records", "embeddings")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_types_pb2.Record]
    embeddings: _types_pb2.Vectors
    def __init__(self, records: _Optional[_Iterable[_Union[_types_pb2.Record, _Mapping]]] = ..., embeddings: _Optional[_Union[_types_pb2.Vectors, _Mapping]] = ...) -> None: ...
