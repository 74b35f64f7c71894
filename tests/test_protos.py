"""The committed stubs match the protos, and the protos follow the conventions we promise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor
from grpc_tools import protoc

from chroma_grpc.store.errors import CLIENT_SIDE_ERRORS, ERROR_CLASSES
from chroma_grpc.v1 import (
    collection_service_pb2,
    errors_pb2,
    record_service_pb2,
    system_service_pb2,
    types_pb2,
)

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
BUF = ROOT / "node_modules" / ".bin" / "buf"
TAGGED_CONTRACT = PROTO_DIR / "tagged-contract.binpb"
STUB_DIR = ROOT / "chroma_grpc" / "v1"
FILES = (types_pb2, errors_pb2, system_service_pb2, collection_service_pb2, record_service_pb2)


def _plugin(name: str) -> str:
    """A protoc plugin installed beside this Python (mypy-protobuf's, from the dev extras)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} not found: `pip install -e '.[dev]'` installs mypy-protobuf"
    return found


def test_committed_stubs_are_up_to_date(tmp_path: Path) -> None:
    """`make protos` output, typed .pyi stubs for messages and grpc stubs included."""
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={tmp_path}",
        f"--grpc_python_out={tmp_path}",
        f"--mypy_out={tmp_path}",
        f"--mypy_grpc_out={tmp_path}",
        *protos,
    ]
    assert protoc.main(args) == 0, "protoc failed"
    generated = {
        p.relative_to(tmp_path / "chroma_grpc" / "v1")
        for p in (tmp_path / "chroma_grpc" / "v1").glob("*")
    }
    committed = {p.relative_to(STUB_DIR) for p in STUB_DIR.glob("*_pb2*")}
    assert generated == committed, "run `make protos`"
    stale = [
        str(name)
        for name in sorted(generated)
        if (tmp_path / "chroma_grpc" / "v1" / name).read_text() != (STUB_DIR / name).read_text()
    ]
    assert not stale, f"stale generated stubs (run `make protos`): {stale}"


def test_package_is_versioned() -> None:
    for module in FILES:
        assert module.DESCRIPTOR.package == "chroma_grpc.v1"
        assert module.DESCRIPTOR.name.startswith("chroma_grpc/v1/")


def _enums(
    container: descriptor.FileDescriptor | descriptor.Descriptor,
) -> list[descriptor.EnumDescriptor]:
    found = list(container.enum_types_by_name.values())
    for message in (
        container.message_types_by_name.values()
        if isinstance(container, descriptor.FileDescriptor)
        else container.nested_types
    ):
        found.extend(_enums(message))
    return found


def test_every_enum_zero_value_is_unspecified_and_values_are_prefixed() -> None:
    for module in FILES:
        for enum in _enums(module.DESCRIPTOR):
            zero = enum.values_by_number[0].name
            assert zero.endswith("_UNSPECIFIED"), f"{enum.full_name}: {zero}"
            if enum.full_name == "chroma_grpc.v1.ErrorReason":
                continue  # its names are the ErrorInfo reason strings (buf.yaml says so too)
            prefix = zero.removesuffix("UNSPECIFIED")
            assert all(v.name.startswith(prefix) for v in enum.values), enum.full_name


def test_error_reason_enum_lists_every_reason_the_server_sends() -> None:
    """Other languages branch on the enum; it must name exactly the reasons we send."""
    sent = {cls.reason for cls in ERROR_CLASSES if cls not in CLIENT_SIDE_ERRORS}
    documented = {v.name for v in errors_pb2.ErrorReason.DESCRIPTOR.values if v.number}
    assert documented == sent
    docs = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for cls in ERROR_CLASSES:
        assert f"`{cls.reason}`" in docs and f"`{cls.__name__}`" in docs, cls


def test_every_rpc_has_its_own_request_and_response() -> None:
    seen: set[str] = set()
    for module in FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            assert service.name.endswith("Service")
            for method in service.methods:
                assert method.input_type.name == f"{method.name}Request", method.full_name
                assert method.output_type.name == f"{method.name}Response", method.full_name
                assert method.input_type.name not in seen
                seen.add(method.input_type.name)


def buf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the buf that `make test` installs from package-lock.json (npm @bufbuild/buf)."""
    if not BUF.exists():
        pytest.fail(f"{BUF} is missing: run `make test` (or `npm ci` in {ROOT}) to install buf")
    return subprocess.run(
        [str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_buf_lint() -> None:
    """buf's STANDARD rules (buf.yaml), which the conventions above only sample."""
    done = buf("lint")
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_breaking_change_since_the_tagged_contract() -> None:
    """Clients built against the last tagged contract keep working (buf's FILE rules)."""
    done = buf("breaking", "--against", str(TAGGED_CONTRACT.relative_to(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_breaking_check_would_see_a_break(tmp_path: Path) -> None:
    """The check is live: a copy of protos/ with one field's type changed fails it."""
    copy = tmp_path / "protos"
    shutil.copytree(PROTO_DIR, copy, ignore=shutil.ignore_patterns("*.binpb"))
    record_service = copy / "chroma_grpc" / "v1" / "record_service.proto"
    text = record_service.read_text(encoding="utf-8")
    assert "optional uint32 limit = 2;" in text
    record_service.write_text(text.replace("optional uint32 limit", "optional uint64 limit"))
    (tmp_path / "buf.yaml").write_text((ROOT / "buf.yaml").read_text(encoding="utf-8"))
    done = buf("breaking", "--against", str(TAGGED_CONTRACT), cwd=tmp_path)
    assert done.returncode != 0 and "changed type" in done.stdout, done.stdout + done.stderr
