"""Conversions between the wire contract (``chroma_grpc.v1``) and the store's types.

Split by topic (vectors, metadata, filters, records, collections, errors, the write-stream
protocol, page tokens) so each stays small. Encoders expect arguments whose shape the rules of
:mod:`chroma_grpc.store.validation` checked; decoders check only what turns a message into the
store's types (and raise :class:`~chroma_grpc.store.errors.InvalidArgumentError` naming the
field's path, so a malformed request is INVALID_ARGUMENT, never INTERNAL), leaving Chroma's rules
to the store.
"""
