# Entry points. Each target bootstraps what it needs into ./.venv, so a fresh clone works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_DIR := protos
PROTOS := $(wildcard $(PROTO_DIR)/chroma_grpc/v1/*.proto)
DATA ?= ./chroma_data
HOST ?= 127.0.0.1
PORT ?= 50051

.PHONY: install run test lint typecheck protos bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chroma-grpc run --path $(DATA) --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check chroma_grpc tests benchmarks
	$(BIN)/ruff format --check chroma_grpc tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

# Regenerate the committed stubs from protos/ (tests fail when they are stale).
protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I$(PROTO_DIR) --python_out=. --pyi_out=. \
		--grpc_python_out=. $(PROTOS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
