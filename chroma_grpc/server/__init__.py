"""The gRPC server: servicers over a StoreAPI, ``create_server`` and the ``chroma-grpc`` CLI."""

from chroma_grpc.server.app import ChromaServer, create_server

__all__ = ["ChromaServer", "create_server"]
