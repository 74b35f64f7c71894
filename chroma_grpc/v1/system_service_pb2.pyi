from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class HeartbeatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("nanosecond_heartbeat",)
    NANOSECOND_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    nanosecond_heartbeat: int
    def __init__(self, nanosecond_heartbeat: _Optional[int] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ("version", "server_version", "max_receive_message_bytes", "max_send_message_bytes", "max_batch_size", "max_dimension", "max_n_results", "server_side_embedding", "allow_reset", "max_concurrent_rpcs")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_RECEIVE_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_SEND_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    MAX_N_RESULTS_FIELD_NUMBER: _ClassVar[int]
    SERVER_SIDE_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    ALLOW_RESET_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_RPCS_FIELD_NUMBER: _ClassVar[int]
    version: str
    server_version: str
    max_receive_message_bytes: int
    max_send_message_bytes: int
    max_batch_size: int
    max_dimension: int
    max_n_results: int
    server_side_embedding: bool
    allow_reset: bool
    max_concurrent_rpcs: int
    def __init__(self, version: _Optional[str] = ..., server_version: _Optional[str] = ..., max_receive_message_bytes: _Optional[int] = ..., max_send_message_bytes: _Optional[int] = ..., max_batch_size: _Optional[int] = ..., max_dimension: _Optional[int] = ..., max_n_results: _Optional[int] = ..., server_side_embedding: _Optional[bool] = ..., allow_reset: _Optional[bool] = ..., max_concurrent_rpcs: _Optional[int] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
