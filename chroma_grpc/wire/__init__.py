"""Conversions between the wire contract (``chroma_grpc.v1``) and the store's types.

Split by topic (vectors, metadata, filters, records, collections, errors) so each stays small.
Decoders take a ``field`` path and raise :class:`~chroma_grpc.store.errors.InvalidArgumentError`
naming it, so a malformed request is always INVALID_ARGUMENT and never INTERNAL.
"""
