"""chromadb 0.4.24's exact exception classes, restored in one place: the client API boundary.

Below the client API every layer raises :mod:`chroma_grpc.store.errors` classes, and the wire
carries their ErrorInfo reason, so a ``StoreProxy`` raises the very class the server's store
raised. Where chromadb 0.4.24 raises a built-in (``ValueError``, ``TypeError``), code written
for it may test the class exactly (``exc.type == TypeError``), so the public methods of the
client API (``ClientAPI``, ``Collection``, ``AdminClient`` and their async twins) re-raise those
errors as exactly that built-in, message unchanged, the original attached as ``__cause__``.
chromadb's own classes (``DuplicateIDError``, ``InvalidDimensionException``,
``InvalidCollectionException``, ``UniqueConstraintError``, ...) and our errors without a
chromadb counterpart (``FailedPreconditionError``, ``DataLossError``, ...) pass unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from chroma_grpc.store.errors import (
    BatchSizeExceededError,
    ChromaError,
    CollectionNotFoundError,
    DatabaseNotFoundError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    ResetNotAllowedError,
    TenantNotFoundError,
)

__all__ = ["BUILTIN_CLASSES", "as_chromadb_exception", "raises_chromadb_exceptions"]

# Our class -> the built-in chromadb 0.4.24 raises in its place (matched exactly, not by
# subclass, so e.g. FolderInUseError, a ValueError with no chromadb counterpart, stays itself).
BUILTIN_CLASSES: dict[type[ChromaError], type[Exception]] = {
    InvalidArgumentError: ValueError,
    BatchSizeExceededError: ValueError,
    InvalidArgumentTypeError: TypeError,
    CollectionNotFoundError: ValueError,
    ResetNotAllowedError: ValueError,
    TenantNotFoundError: ValueError,
    DatabaseNotFoundError: ValueError,
}

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def as_chromadb_exception(error: ChromaError) -> Exception | None:
    """The built-in chromadb 0.4.24 raises in place of ``error``, or None to keep ``error``."""
    builtin = BUILTIN_CLASSES.get(type(error))
    return None if builtin is None else builtin(str(error))


def _translating(method: F) -> F:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except ChromaError as error:
                translated = as_chromadb_exception(error)
                if translated is None:
                    raise
                raise translated from error

        return wrapper_async  # type: ignore[return-value]

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ChromaError as error:
            translated = as_chromadb_exception(error)
            if translated is None:
                raise
            raise translated from error

    return wrapper  # type: ignore[return-value]


def raises_chromadb_exceptions(cls: C) -> C:
    """Class decorator: every public method (and ``__init__``) defined on ``cls`` raises
    chromadb's exact classes. Methods it inherits were wrapped where they were defined."""
    for name, member in list(vars(cls).items()):
        if name != "__init__" and name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            setattr(cls, name, type(member)(_translating(member.__func__)))
        elif isinstance(member, property):
            getter = None if member.fget is None else _translating(member.fget)
            setattr(cls, name, property(getter, member.fset, member.fdel, member.__doc__))
        elif inspect.isfunction(member):
            setattr(cls, name, _translating(member))
    return cls
