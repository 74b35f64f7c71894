"""SystemService: heartbeat, version, advertised limits and reset."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from chroma_grpc._version import CHROMA_API_VERSION, __version__
from chroma_grpc.server._write_streams import StreamLimits
from chroma_grpc.server.errors import unary_errors
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import ResetNotAllowedError
from chroma_grpc.store.validation import RESET_NOT_ALLOWED_MESSAGE
from chroma_grpc.v1 import system_service_pb2 as pb
from chroma_grpc.v1 import system_service_pb2_grpc


@dataclass(frozen=True)
class ServerSettings:
    """What the server adds to the store's own limits: message sizes, the concurrency cap,
    write-stream bounds and the reset switch."""

    max_receive_message_bytes: int
    max_send_message_bytes: int
    allow_reset: bool
    server_side_embedding: bool = False
    max_concurrent_rpcs: int = 0  # 0: no cap
    streams: StreamLimits = StreamLimits()


class SystemServicer(system_service_pb2_grpc.SystemServiceServicer):
    def __init__(self, store: StoreAPI, settings: ServerSettings) -> None:
        self._store = store
        self._settings = settings

    @unary_errors
    def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.ServicerContext
    ) -> pb.HeartbeatResponse:
        return pb.HeartbeatResponse(nanosecond_heartbeat=self._store.heartbeat())

    @unary_errors
    def GetVersion(
        self, request: pb.GetVersionRequest, context: grpc.ServicerContext
    ) -> pb.GetVersionResponse:
        return pb.GetVersionResponse(version=CHROMA_API_VERSION)

    @unary_errors
    def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetServerInfoResponse:
        limits = self._store.limits
        return pb.GetServerInfoResponse(
            version=CHROMA_API_VERSION,
            server_version=__version__,
            max_receive_message_bytes=self._settings.max_receive_message_bytes,
            max_send_message_bytes=self._settings.max_send_message_bytes,
            max_batch_size=limits.max_batch_size,
            max_dimension=limits.max_dimension,
            max_n_results=limits.max_n_results,
            server_side_embedding=self._settings.server_side_embedding,
            allow_reset=self._settings.allow_reset,
            max_concurrent_rpcs=self._settings.max_concurrent_rpcs,
            max_stream_bytes=self._settings.streams.max_stream_bytes,
            max_total_stream_bytes=self._settings.streams.max_total_stream_bytes,
            stream_idle_timeout_seconds=self._settings.streams.idle_timeout_s,
        )

    @unary_errors
    def Reset(self, request: pb.ResetRequest, context: grpc.ServicerContext) -> pb.ResetResponse:
        if not self._settings.allow_reset:
            raise ResetNotAllowedError(RESET_NOT_ALLOWED_MESSAGE)
        self._store.reset()
        return pb.ResetResponse()
