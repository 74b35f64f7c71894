"""AIP-158 page tokens: opaque to callers, bound to the request they continue.

A token is URL-safe base64 of a small JSON object: a format version, a fingerprint of the
request (every field but ``page_token`` and ``page_size``, deterministically serialised) and
the position to continue from. A token sent with a different request, or one that does not
decode, is INVALID_ARGUMENT; tokens do not expire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, Protocol

from chroma_grpc.store.errors import InvalidArgumentError

_VERSION = 1


class Pageable(Protocol):
    """A request message with AIP-158 ``page_token`` and ``page_size`` fields."""

    page_token: str
    page_size: int

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...  # noqa: N802

    def CopyFrom(self, other_msg: Any) -> None: ...  # noqa: N802


def request_fingerprint(request: Pageable) -> str:
    """What must stay the same between the pages of one listing."""
    stripped = type(request)()
    stripped.CopyFrom(request)
    stripped.page_token = ""
    stripped.page_size = 0
    digest = hashlib.sha256(stripped.SerializeToString(deterministic=True)).hexdigest()
    return digest[:24]


def encode_page_token(request: Pageable, **position: Any) -> str:
    """A token continuing ``request`` at ``position`` (JSON-serialisable values)."""
    payload = {"v": _VERSION, "f": request_fingerprint(request), **position}
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(request: Pageable) -> dict[str, Any] | None:
    """The position in ``request.page_token`` (None when there is no token).

    Raises:
        InvalidArgumentError: a token that does not decode or belongs to another request.
    """
    token = request.page_token
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        payload = None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise InvalidArgumentError(
            "page_token: not a token this server issued; send a next_page_token from a reply, "
            "or no token for the first page",
            field="page_token",
        )
    if payload.get("f") != request_fingerprint(request):
        raise InvalidArgumentError(
            "page_token: issued for a different request; send the same fields as the request "
            "that returned it (only page_size may change)",
            field="page_token",
        )
    return payload
