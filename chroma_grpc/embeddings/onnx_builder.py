"""Build a BERT encoder as an ONNX graph straight from safetensors weights, without torch.

No PyPI package ships an fp32 ONNX export of all-MiniLM-L6-v2, and exporting needs torch, so
we write the graph ourselves with ``onnx.helper``. The contract matches chromadb's
``model.onnx``: int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape
``[batch, sequence]`` in, float32 ``last_hidden_state`` ``[batch, sequence, hidden]`` out.
Two details are load-bearing (each costs > 1e-4 if wrong): LayerNorm epsilon comes from the
config (1e-12, not ONNX's 1e-5) and GELU is the exact erf form, not the tanh approximation.
``onnx`` and ``safetensors`` are imported here only, so importing the package stays light.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import onnx

# Bumped whenever the graph changes, so stale cache files are never reused.
BUILDER_VERSION = 1
OPSET = 17  # the first ai.onnx opset with LayerNormalization
IR_VERSION = 8

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BertConfig:
    """The few config.json fields the graph depends on."""

    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    intermediate_size: int
    layer_norm_eps: float

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        act = raw.get("hidden_act", "gelu")
        if act != "gelu":
            raise ValueError(f"unsupported hidden_act {act!r}: only exact 'gelu' is built")
        return cls(
            hidden_size=int(raw["hidden_size"]),
            num_attention_heads=int(raw["num_attention_heads"]),
            num_hidden_layers=int(raw["num_hidden_layers"]),
            intermediate_size=int(raw["intermediate_size"]),
            layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
        )


def load_weights(path: Path) -> dict[str, FloatArray]:
    """Read safetensors float tensors, dropping an optional ``bert.`` key prefix."""
    from safetensors.numpy import load_file

    tensors = load_file(str(path))
    out: dict[str, FloatArray] = {}
    for key, value in tensors.items():
        name = key.removeprefix("bert.")
        # position_ids is an int64 arange buffer, not a weight; the pooler is unused.
        if name.endswith("position_ids") or name.startswith("pooler."):
            continue
        out[name] = np.ascontiguousarray(value, dtype=np.float32)
    return out


class _GraphWriter:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self, weights: Mapping[str, FloatArray]) -> None:
        import onnx

        self._onnx = onnx
        self._weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._count = 0

    def weight(self, key: str, transpose: bool = False) -> str:
        array = self._weights[key]
        if transpose:  # torch Linear stores [out, in]; MatMul wants [in, out]
            array = np.ascontiguousarray(array.T)
        return self.constant(array, key)

    def constant(self, array: npt.NDArray[Any], name: str) -> str:
        """Add an initializer once; later calls with the same name share it."""
        if name not in self._names:
            self._names.add(name)
            self.initializers.append(self._onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self._count += 1
        output = f"{op_type.lower()}_{self._count}"
        self.nodes.append(
            self._onnx.helper.make_node(op_type, inputs, [output], name=output, **attrs)
        )
        return output

    def linear(self, x: str, prefix: str) -> str:
        product = self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)])
        return self.op("Add", [product, self.weight(f"{prefix}.bias")])

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        scale, bias = self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)


def _embeddings(g: _GraphWriter, cfg: BertConfig) -> str:
    words = g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"])
    types = g.op("Gather", [g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"])
    # Position ids are 0..S-1 on every row, which is right because padding is on the right.
    seq_len = g.op("Shape", ["input_ids"], start=1, end=2)
    zero = g.constant(np.array([0], dtype=np.int64), "const_zero_1d")
    positions = g.op(
        "Slice", [g.weight("embeddings.position_embeddings.weight"), zero, seq_len, zero]
    )
    summed = g.op("Add", [g.op("Add", [words, types]), positions])
    return g.layer_norm(summed, "embeddings.LayerNorm", cfg.layer_norm_eps)


def _additive_mask(g: _GraphWriter) -> str:
    """[B,1,1,S] mask: 0 where attended, float32-min where padded (never -inf: NaN risk)."""
    mask = g.op("Cast", ["attention_mask"], to=1)  # 1 = FLOAT
    one = g.constant(np.array(1.0, dtype=np.float32), "const_one")
    big_negative = g.constant(np.array(np.finfo(np.float32).min, dtype=np.float32), "const_min")
    scaled = g.op("Mul", [g.op("Sub", [one, mask]), big_negative])
    axes = g.constant(np.array([1, 2], dtype=np.int64), "const_mask_axes")
    return g.op("Unsqueeze", [scaled, axes])


def _attention(g: _GraphWriter, x: str, mask: str, prefix: str, cfg: BertConfig) -> str:
    heads = cfg.num_attention_heads
    head_size = cfg.hidden_size // heads
    split_shape = g.constant(np.array([0, 0, heads, head_size], dtype=np.int64), "split_heads")
    merged_shape = g.constant(np.array([0, 0, cfg.hidden_size], dtype=np.int64), "merge_heads")

    def project(name: str, perm: list[int]) -> str:
        heads_view = g.op("Reshape", [g.linear(x, f"{prefix}.self.{name}"), split_shape])
        return g.op("Transpose", [heads_view], perm=perm)

    query = project("query", [0, 2, 1, 3])
    key = project("key", [0, 2, 3, 1])  # already transposed for Q @ K^T
    value = project("value", [0, 2, 1, 3])
    scale = g.constant(np.array(math.sqrt(head_size), dtype=np.float32), "attention_scale")
    scores = g.op("Add", [g.op("Div", [g.op("MatMul", [query, key]), scale]), mask])
    context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), value])
    context = g.op("Transpose", [context], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, merged_shape])
    residual = g.op("Add", [g.linear(context, f"{prefix}.output.dense"), x])
    return g.layer_norm(residual, f"{prefix}.output.LayerNorm", cfg.layer_norm_eps)


def _feed_forward(g: _GraphWriter, x: str, prefix: str, cfg: BertConfig) -> str:
    hidden = g.linear(x, f"{prefix}.intermediate.dense")
    # Exact GELU: 0.5 * h * (1 + erf(h / sqrt(2))).
    sqrt2 = g.constant(np.array(math.sqrt(2.0), dtype=np.float32), "const_sqrt2")
    half = g.constant(np.array(0.5, dtype=np.float32), "const_half")
    one = g.constant(np.array(1.0, dtype=np.float32), "const_one")
    erf = g.op("Erf", [g.op("Div", [hidden, sqrt2])])
    gelu = g.op("Mul", [g.op("Mul", [hidden, half]), g.op("Add", [erf, one])])
    residual = g.op("Add", [g.linear(gelu, f"{prefix}.output.dense"), x])
    return g.layer_norm(residual, f"{prefix}.output.LayerNorm", cfg.layer_norm_eps)


def build_bert_onnx(weights: Mapping[str, FloatArray], cfg: BertConfig) -> onnx.ModelProto:
    """Return a checked ONNX model computing BERT's last hidden state."""
    import onnx
    from onnx import TensorProto, helper

    g = _GraphWriter(weights)
    x = _embeddings(g, cfg)
    mask = _additive_mask(g)
    for layer in range(cfg.num_hidden_layers):
        prefix = f"encoder.layer.{layer}"
        x = _attention(g, x, mask, f"{prefix}.attention", cfg)
        x = _feed_forward(g, x, prefix, cfg)
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    dims: list[str | int | None] = ["batch", "sequence"]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, dims)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", cfg.hidden_size]
    )
    graph = helper.make_graph(g.nodes, "bert_encoder", inputs, [output], g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="chroma_grpc",
        producer_version=str(BUILDER_VERSION),
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def build_model_bytes(weights_path: Path, config_path: Path) -> bytes:
    """Build the serialized ONNX model for the weights at ``weights_path``."""
    cfg = BertConfig.from_file(config_path)
    return build_bert_onnx(load_weights(weights_path), cfg).SerializeToString()
