"""``Settings``: chromadb 0.4.24's configuration object, without pydantic.

Every field can be given as a keyword argument, else read from an environment variable of the
same name (case-insensitive, e.g. ``ALLOW_RESET=TRUE``), else from a ``.env`` file in the
working directory, else it takes its default; the same precedence as pydantic's
``BaseSettings``. Values are coerced to the field's type (``"TRUE"``/``"1"``/``"no"`` for bools,
JSON for dicts and lists). Two ``Settings`` are equal when all their values are.

Differences from chromadb: ``chroma_server_http_port`` and ``chroma_server_grpc_port`` are
ints (chromadb kept strings), and chroma-grpc's own server listens on 50051, not 8000. Three
fields are chroma-grpc's own: ``chroma_client_tls_cert`` / ``chroma_client_tls_key`` (PEM paths
for mTLS) and ``chroma_grpc_progress`` (env ``CHROMA_GRPC_PROGRESS=1``: print write progress).
"""

from __future__ import annotations

import builtins
import json
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from chroma_grpc.store.types import DEFAULT_DATABASE, DEFAULT_TENANT

__all__ = ["DEFAULT_DATABASE", "DEFAULT_TENANT", "Settings"]

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_MISSING = object()


class Settings:
    """Client configuration; every field is also read from the environment variable of its name.

    Raises:
        ValueError: for an unknown field name or a value that cannot be coerced to its type.
    """

    environment: str = ""
    chroma_db_impl: str | None = None  # legacy (<0.4); any value is rejected by the clients
    chroma_api_impl: str = "chromadb.api.segment.SegmentAPI"
    chroma_product_telemetry_impl: str = "chromadb.telemetry.product.posthog.Posthog"
    chroma_telemetry_impl: str = "chromadb.telemetry.product.posthog.Posthog"
    chroma_sysdb_impl: str = "chromadb.db.impl.sqlite.SqliteDB"
    chroma_producer_impl: str = "chromadb.db.impl.sqlite.SqliteDB"
    chroma_consumer_impl: str = "chromadb.db.impl.sqlite.SqliteDB"
    chroma_segment_manager_impl: str = "chromadb.segment.impl.manager.local.LocalSegmentManager"
    chroma_quota_provider_impl: str | None = None
    tenant_id: str = "default"
    topic_namespace: str = "default"
    is_persistent: bool = False
    persist_directory: str = "./chroma"
    chroma_memory_limit_bytes: int = 0
    chroma_segment_cache_policy: str | None = None
    migrations: Literal["none", "validate", "apply"] = "apply"
    migrations_hash_algorithm: Literal["md5", "sha256"] = "md5"
    chroma_server_host: str | None = None
    chroma_server_headers: builtins.dict[str, str] | None = None
    chroma_server_http_port: int | None = None
    chroma_server_ssl_enabled: bool | None = False
    chroma_server_ssl_verify: Union[bool, str] | None = None
    chroma_server_api_default_path: str | None = "/api/v1"
    chroma_server_grpc_port: int | None = None
    chroma_server_cors_allow_origins: list[str] = []
    chroma_server_nofile: int | None = None
    chroma_server_auth_provider: str | None = None
    chroma_server_auth_configuration_provider: str | None = None
    chroma_server_auth_configuration_file: str | None = None
    chroma_server_auth_credentials_provider: str | None = None
    chroma_server_auth_credentials_file: str | None = None
    chroma_server_auth_credentials: str | None = None
    chroma_server_auth_token_transport_header: str | None = None
    chroma_client_auth_provider: str | None = None
    chroma_client_auth_credentials_provider: str | None = (
        "chromadb.auth.providers.ConfigurationClientAuthCredentialsProvider"
    )
    chroma_client_auth_protocol_adapter: str | None = (
        "chromadb.auth.providers.RequestsClientAuthProtocolAdapter"
    )
    chroma_client_auth_credentials_file: str | None = None
    chroma_client_auth_credentials: str | None = None
    chroma_client_auth_token_transport_header: str | None = None
    chroma_server_authz_provider: str | None = None
    chroma_server_authz_config_file: str | None = None
    chroma_server_authz_config_provider: str | None = None
    chroma_overwrite_singleton_tenant_database_access_from_auth: bool = False
    anonymized_telemetry: bool = True
    chroma_otel_collection_endpoint: str | None = ""
    chroma_otel_service_name: str | None = "chromadb"
    chroma_otel_collection_headers: builtins.dict[str, str] = {}
    chroma_otel_granularity: str | None = None
    allow_reset: bool = False
    # chroma-grpc's own fields (not in chromadb): PEM file paths of the client certificate and
    # its key, sent when the server requires client certificates (mTLS)...
    chroma_client_tls_cert: str | None = None
    chroma_client_tls_key: str | None = None
    # ...and a progress line on stderr per chunk while a large add/upsert/update streams.
    chroma_grpc_progress: bool = False

    def __init__(self, **values: Any) -> None:
        fields = _fields()
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"Unknown Settings field(s): {', '.join(unknown)}")
        environ = {key.lower(): value for key, value in os.environ.items()}
        dotenv = _read_dotenv(Path(".env"))
        for name, annotation in fields.items():
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = environ.get(name, dotenv.get(name, _MISSING))
            if value is _MISSING:
                value = _copy_default(getattr(Settings, name))
            else:
                value = _coerce(name, value, annotation)
            setattr(self, name, value)

    def require(self, key: str) -> Any:
        """The value of ``key``; ValueError("Missing required config value '<key>'") if None."""
        value = self[key]
        if value is None:
            raise ValueError(f"Missing required config value '{key}'")
        return value

    def __getitem__(self, key: str) -> Any:
        if key not in _fields():
            raise KeyError(key)
        return getattr(self, key)

    def dict(self) -> builtins.dict[str, Any]:
        """Every field and its value (pydantic v1's ``.dict()``)."""
        return {name: getattr(self, name) for name in _fields()}

    def copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = True) -> Settings:
        """A new ``Settings`` with ``update`` applied (pydantic v1's ``copy``; no env re-read).

        Containers are always copied, so ``deep`` is accepted for compatibility only.
        """
        clone = object.__new__(Settings)
        for name, value in self.dict().items():
            setattr(clone, name, _copy_default(value))
        for name, value in (update or {}).items():
            annotation = _fields().get(name)
            if annotation is None:
                raise ValueError(f"Unknown Settings field(s): {name}")
            setattr(clone, name, _coerce(name, value, annotation))
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self.dict() == other.dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value!r}" for name, value in self.dict().items())
        return f"Settings({values})"


_FIELD_CACHE: builtins.dict[str, Any] = {}


def _fields() -> builtins.dict[str, Any]:
    """Field name -> resolved annotation, in declaration order."""
    if not _FIELD_CACHE:
        _FIELD_CACHE.update(get_type_hints(Settings, globalns=globals(), localns={}))
    return _FIELD_CACHE


def _copy_default(value: Any) -> Any:
    return type(value)(value) if isinstance(value, (list, builtins.dict)) else value


def _read_dotenv(path: Path) -> builtins.dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file, keys lower-cased; missing file -> {}."""
    if not path.is_file():
        return {}
    entries: builtins.dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        entries[key.strip().lower()] = value.strip().strip("'\"")
    return entries


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """``value`` converted to ``annotation`` the way pydantic v1 would, else ValueError."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(annotation):
            return None
        errors = []
        for option in get_args(annotation):
            if option is type(None):
                continue
            try:
                return _coerce(name, value, option)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        if value not in get_args(annotation):
            raise ValueError(f"{name}: expected one of {get_args(annotation)}, got {value!r}")
        return value
    if annotation is bool:
        return _to_bool(name, value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"{name}: expected an int, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{name}: expected an int, got {value!r}") from None
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{name}: expected a str, got {value!r}")
    if origin in (list, builtins.dict):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"{name}: expected JSON, got {value!r}") from None
        if not isinstance(value, origin):
            raise ValueError(f"{name}: expected a {origin.__name__}, got {value!r}")
        return origin(value)
    raise ValueError(f"{name}: unsupported field type {annotation!r}")


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"{name}: value could not be parsed to a boolean, got {value!r}")
