"""The hand-built ONNX graph against an independent float64 numpy BERT, on tiny random weights.

This pins the graph's maths (exact-erf GELU, LayerNorm epsilon from the config, the attention
mask, position embeddings) without the real model or torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from safetensors.numpy import load_file

from chroma_grpc.embeddings.model_files import ModelFiles
from chroma_grpc.embeddings.onnx_builder import BertConfig, build_model_bytes


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x)


def numpy_bert(
    w: dict[str, np.ndarray], cfg: BertConfig, ids: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Reference BERT forward pass in float64, written from the paper's equations."""
    w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in w.items()}
    eps, heads = cfg.layer_norm_eps, cfg.num_attention_heads
    size = cfg.hidden_size // heads
    batch, seq = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:seq][None]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e30)

    def lin(v: np.ndarray, p: str) -> np.ndarray:
        return v @ w[f"{p}.weight"].T + w[f"{p}.bias"]

    for layer in range(cfg.num_hidden_layers):
        p = f"encoder.layer.{layer}"

        def split(v: np.ndarray) -> np.ndarray:
            return v.reshape(batch, seq, heads, size).transpose(0, 2, 1, 3)

        q, k, v = (split(lin(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, cfg.hidden_size)
        ln = f"{p}.attention.output.LayerNorm"
        x = _layer_norm(
            lin(ctx, f"{p}.attention.output.dense") + x, w[f"{ln}.weight"], w[f"{ln}.bias"], eps
        )
        hidden = lin(x, f"{p}.intermediate.dense")
        gelu = 0.5 * hidden * (1 + _erf(hidden / math.sqrt(2)))
        ln = f"{p}.output.LayerNorm"
        x = _layer_norm(lin(gelu, f"{p}.output.dense") + x, w[f"{ln}.weight"], w[f"{ln}.bias"], eps)
    return x


@pytest.fixture
def tiny_session(tiny_model: ModelFiles) -> ort.InferenceSession:
    data = build_model_bytes(tiny_model.weights, tiny_model.config)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def test_graph_matches_numpy_reference(
    tiny_model: ModelFiles, tiny_session: ort.InferenceSession
) -> None:
    cfg = BertConfig.from_file(tiny_model.config)
    weights = load_file(str(tiny_model.weights))
    ids = np.array([[1, 5, 7, 9, 2, 0, 0], [1, 3, 4, 6, 8, 11, 2]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1, 1, 0, 0], [1] * 7], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    got = tiny_session.run(["last_hidden_state"], feeds)[0]
    want = numpy_bert(weights, cfg, ids, mask)
    assert got.dtype == np.float32 and got.shape == (2, 7, cfg.hidden_size)
    # Padded positions' outputs are never used; compare the real tokens only.
    assert np.abs(got[0, :5] - want[0, :5]).max() < 1e-5
    assert np.abs(got[1] - want[1]).max() < 1e-5


def test_padding_does_not_change_real_tokens(tiny_session: ort.InferenceSession) -> None:
    ids = np.array([[1, 5, 7, 2]], dtype=np.int64)
    padded = np.array([[1, 5, 7, 2, 0, 0, 0]], dtype=np.int64)

    def run(i: np.ndarray, m: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": i, "attention_mask": m, "token_type_ids": np.zeros_like(i)}
        return np.asarray(tiny_session.run(None, feeds)[0])

    short = run(ids, np.ones_like(ids))
    long = run(padded, np.array([[1, 1, 1, 1, 0, 0, 0]], dtype=np.int64))
    assert np.abs(short[0] - long[0, :4]).max() < 1e-6


def test_graph_contract_and_layer_norm_epsilon(
    make_tiny_model: Callable[[str, int], ModelFiles],
) -> None:
    """Inputs/outputs match chromadb's model.onnx; LayerNorm keeps BERT's 1e-12 epsilon."""
    files = make_tiny_model("contract", 3)
    model = onnx.load_from_string(build_model_bytes(files.weights, files.config))
    assert [i.name for i in model.graph.input] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    assert [o.name for o in model.graph.output] == ["last_hidden_state"]
    ops = {node.op_type for node in model.graph.node}
    assert "Erf" in ops and "LayerNormalization" in ops
    epsilons = [
        attr.f
        for node in model.graph.node
        if node.op_type == "LayerNormalization"
        for attr in node.attribute
        if attr.name == "epsilon"
    ]
    assert len(epsilons) == 5 and epsilons == pytest.approx([1e-12] * 5)


def test_rejects_non_gelu_activation(tiny_model: ModelFiles) -> None:
    tiny_model.config.write_text('{"hidden_act": "relu"}', encoding="utf-8")
    with pytest.raises(ValueError, match="gelu"):
        BertConfig.from_file(tiny_model.config)
