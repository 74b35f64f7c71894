from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BooleanOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOOLEAN_OPERATOR_UNSPECIFIED: _ClassVar[BooleanOperator]
    BOOLEAN_OPERATOR_AND: _ClassVar[BooleanOperator]
    BOOLEAN_OPERATOR_OR: _ClassVar[BooleanOperator]

class ComparisonOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARISON_OPERATOR_UNSPECIFIED: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_EQ: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_NE: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_GT: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_GTE: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_LT: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_LTE: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_IN: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_NIN: _ClassVar[ComparisonOperator]

class DocumentOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_OPERATOR_UNSPECIFIED: _ClassVar[DocumentOperator]
    DOCUMENT_OPERATOR_CONTAINS: _ClassVar[DocumentOperator]
    DOCUMENT_OPERATOR_NOT_CONTAINS: _ClassVar[DocumentOperator]

class IncludeField(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INCLUDE_FIELD_UNSPECIFIED: _ClassVar[IncludeField]
    INCLUDE_FIELD_EMBEDDINGS: _ClassVar[IncludeField]
    INCLUDE_FIELD_DOCUMENTS: _ClassVar[IncludeField]
    INCLUDE_FIELD_METADATAS: _ClassVar[IncludeField]
    INCLUDE_FIELD_DISTANCES: _ClassVar[IncludeField]
    INCLUDE_FIELD_URIS: _ClassVar[IncludeField]
BOOLEAN_OPERATOR_UNSPECIFIED: BooleanOperator
BOOLEAN_OPERATOR_AND: BooleanOperator
BOOLEAN_OPERATOR_OR: BooleanOperator
COMPARISON_OPERATOR_UNSPECIFIED: ComparisonOperator
COMPARISON_OPERATOR_EQ: ComparisonOperator
COMPARISON_OPERATOR_NE: ComparisonOperator
COMPARISON_OPERATOR_GT: ComparisonOperator
COMPARISON_OPERATOR_GTE: ComparisonOperator
COMPARISON_OPERATOR_LT: ComparisonOperator
COMPARISON_OPERATOR_LTE: ComparisonOperator
COMPARISON_OPERATOR_IN: ComparisonOperator
COMPARISON_OPERATOR_NIN: ComparisonOperator
DOCUMENT_OPERATOR_UNSPECIFIED: DocumentOperator
DOCUMENT_OPERATOR_CONTAINS: DocumentOperator
DOCUMENT_OPERATOR_NOT_CONTAINS: DocumentOperator
INCLUDE_FIELD_UNSPECIFIED: IncludeField
INCLUDE_FIELD_EMBEDDINGS: IncludeField
INCLUDE_FIELD_DOCUMENTS: IncludeField
INCLUDE_FIELD_METADATAS: IncludeField
INCLUDE_FIELD_DISTANCES: IncludeField
INCLUDE_FIELD_URIS: IncludeField

class Vectors(_message.Message):
    __slots__ = ("dimension", "packed_float32", "values")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    PACKED_FLOAT32_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dimension: int
    packed_float32: bytes
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, dimension: _Optional[int] = ..., packed_float32: _Optional[bytes] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class MetadataValue(_message.Message):
    __slots__ = ("string_value", "int_value", "float_value", "bool_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    int_value: int
    float_value: float
    bool_value: bool
    def __init__(self, string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., float_value: _Optional[float] = ..., bool_value: _Optional[bool] = ...) -> None: ...

class Metadata(_message.Message):
    __slots__ = ("fields",)
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetadataValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetadataValue, _Mapping]] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.MessageMap[str, MetadataValue]
    def __init__(self, fields: _Optional[_Mapping[str, MetadataValue]] = ...) -> None: ...

class Where(_message.Message):
    __slots__ = ("condition", "children")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    condition: FieldCondition
    children: WhereChildren
    def __init__(self, condition: _Optional[_Union[FieldCondition, _Mapping]] = ..., children: _Optional[_Union[WhereChildren, _Mapping]] = ...) -> None: ...

class WhereChildren(_message.Message):
    __slots__ = ("operator", "children")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    operator: BooleanOperator
    children: _containers.RepeatedCompositeFieldContainer[Where]
    def __init__(self, operator: _Optional[_Union[BooleanOperator, str]] = ..., children: _Optional[_Iterable[_Union[Where, _Mapping]]] = ...) -> None: ...

class FieldCondition(_message.Message):
    __slots__ = ("key", "operator", "value", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    operator: ComparisonOperator
    value: MetadataValue
    values: _containers.RepeatedCompositeFieldContainer[MetadataValue]
    def __init__(self, key: _Optional[str] = ..., operator: _Optional[_Union[ComparisonOperator, str]] = ..., value: _Optional[_Union[MetadataValue, _Mapping]] = ..., values: _Optional[_Iterable[_Union[MetadataValue, _Mapping]]] = ...) -> None: ...

class WhereDocument(_message.Message):
    __slots__ = ("condition", "children")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    condition: DocumentCondition
    children: WhereDocumentChildren
    def __init__(self, condition: _Optional[_Union[DocumentCondition, _Mapping]] = ..., children: _Optional[_Union[WhereDocumentChildren, _Mapping]] = ...) -> None: ...

class DocumentCondition(_message.Message):
    __slots__ = ("operator", "text")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    operator: DocumentOperator
    text: str
    def __init__(self, operator: _Optional[_Union[DocumentOperator, str]] = ..., text: _Optional[str] = ...) -> None: ...

class WhereDocumentChildren(_message.Message):
    __slots__ = ("operator", "children")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    operator: BooleanOperator
    children: _containers.RepeatedCompositeFieldContainer[WhereDocument]
    def __init__(self, operator: _Optional[_Union[BooleanOperator, str]] = ..., children: _Optional[_Iterable[_Union[WhereDocument, _Mapping]]] = ...) -> None: ...

class Include(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[IncludeField]
    def __init__(self, fields: _Optional[_Iterable[_Union[IncludeField, str]]] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("id", "metadata", "document", "uri")
    ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    id: str
    metadata: Metadata
    document: str
    uri: str
    def __init__(self, id: _Optional[str] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ..., document: _Optional[str] = ..., uri: _Optional[str] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("records", "embeddings")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    embeddings: Vectors
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., embeddings: _Optional[_Union[Vectors, _Mapping]] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("id", "name", "metadata", "dimension", "tenant", "database")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    metadata: Metadata
    dimension: int
    tenant: str
    database: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ..., dimension: _Optional[int] = ..., tenant: _Optional[str] = ..., database: _Optional[str] = ...) -> None: ...
