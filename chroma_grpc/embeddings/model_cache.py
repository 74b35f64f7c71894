"""On-disk cache of the built ONNX graph: lock-free, atomic, keyed by the weights' sha256.

Building takes about 1.5 s and 700 MB of peak memory, so it happens once per cache folder.
The file name carries the weights' hash and the builder version, so different weights or a
changed graph never reuse a stale file. Writers go through a temporary file and ``os.replace``,
so concurrent processes may both build but no reader ever sees a partial file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from chroma_grpc.embeddings.model_files import MODEL_NAME, ModelFiles
from chroma_grpc.embeddings.onnx_builder import BUILDER_VERSION, build_model_bytes

# Overrides the folder holding built models (default: $XDG_CACHE_HOME or ~/.cache).
CACHE_DIR_ENV = "CHROMA_GRPC_MODEL_CACHE"

_log = logging.getLogger(__name__)


def cache_directory() -> Path:
    """Return the cache folder: the env override if set, else the XDG cache folder."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chroma_grpc" / "onnx_models"


def cache_file_name(weights_sha256: str) -> str:
    return f"{MODEL_NAME}-{weights_sha256[:16]}-v{BUILDER_VERSION}.onnx"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def ensure_onnx_model(
    files: ModelFiles, directory: Path | None = None, rebuild: bool = False
) -> Path | bytes:
    """Return the cached model's path, building it first if absent (or if ``rebuild``).

    If the cache folder cannot be written, the freshly built bytes are returned instead, so a
    read-only home still works (at the price of building in every process).
    """
    path = (directory or cache_directory()) / cache_file_name(files.weights_sha256)
    if path.is_file() and not rebuild:
        return path
    data = build_model_bytes(files.weights, files.config)
    try:
        write_atomically(path, data)
    except OSError as error:
        _log.warning("cannot cache the ONNX model at %s (%s); using it from memory", path, error)
        return data
    return path
