"""Hand-made protobuf wire bytes, for requests no generated class would ever serialize."""

from __future__ import annotations


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint encoding of a non-negative int."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def deep_where(levels: int) -> bytes:
    """A ``Where`` nested ``levels`` $and levels deep (one child each), as wire bytes: deeper
    than protobuf decodes once ``levels`` passes about 50."""
    inner = b""
    for _ in range(levels):
        children = b"\x12" + varint(len(inner)) + inner  # WhereChildren.children = 2
        inner = b"\x12" + varint(len(children)) + children  # Where.children = 2
    return inner


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """One length-delimited field (a message, string or bytes) with its tag."""
    return varint((field_number << 3) | 2) + varint(len(payload)) + payload
