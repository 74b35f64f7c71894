"""An offline corpus of real English sentences for the recall benchmark.

Sentences are harvested from docstrings (and, if needed, ``#`` comments) of the Python sources
installed on this machine: the standard library and the project venv's site-packages. They are
split into sentences of 5-60 words, filtered to prose, deduplicated, sorted and shuffled with a
fixed seed, so the same machine always yields the same corpus. The harvested list is cached
under ``.bench_cache/`` keyed by a fingerprint of the source trees.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import re
import sysconfig
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".bench_cache"
CORPUS_VERSION = 1
MIN_WORDS, MAX_WORDS = 5, 60
MAX_FILE_BYTES = 2_000_000

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_CODEY = re.compile(r">>>|\.\.\.\s|::|[{}\[\]=<>|\\@$`]|\b(def|self|return|import)\b|_\w|\w_\b")


def source_roots() -> list[Path]:
    """Directories whose ``.py`` files are harvested: stdlib (with its site-packages), the
    project venv, the peer venv and the system's dist-packages, those that exist."""
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"]), Path(paths["purelib"]), Path(paths["platlib"])]
    roots += sorted((ROOT / ".venv-peer" / "lib").glob("python3*/site-packages"))
    roots.append(Path("/usr/lib/python3/dist-packages"))
    unique: list[Path] = []
    for root in roots:
        if root.is_dir() and root not in unique:
            unique.append(root)
    return unique


def _py_files(roots: Iterable[Path]) -> list[Path]:
    files: set[Path] = set()
    for root in roots:
        files.update(path for path in root.rglob("*.py") if path.is_file())
    return sorted(files)


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256(f"v{CORPUS_VERSION}".encode())
    for path in files:
        digest.update(f"{path}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def _docstrings(tree: ast.AST) -> Iterator[str]:
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, nodes):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield doc


def _comments(source: str) -> Iterator[str]:
    """Consecutive ``#`` comment lines joined into one paragraph each."""
    block: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not stripped.startswith("#!"):
            block.append(stripped.lstrip("#").strip())
        elif block:
            yield " ".join(block)
            block = []
    if block:
        yield " ".join(block)


def _paragraphs(text: str) -> Iterator[str]:
    """Prose paragraphs: blank-line separated, unindented, not a field list or doctest."""
    for para in re.split(r"\n\s*\n", text):
        lines = para.splitlines()
        if not lines or any(line.startswith((" ", "\t")) for line in lines):
            continue
        if lines[0].lstrip().startswith((":", "-", "*", ">>>", "..", "=")):
            continue
        yield " ".join(line.strip() for line in lines)


def is_prose(sentence: str) -> bool:
    """A capitalised, punctuated sentence of mostly words, without code-like tokens."""
    if not (sentence[:1].isupper() and sentence.endswith((".", "!", "?"))):
        return False
    if _CODEY.search(sentence):
        return False
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    wordy = sum(1 for w in words if _WORD.fullmatch(w.strip(".,;:!?()\"'")))
    return wordy >= 0.8 * len(words)


def sentences_of(paragraph: str) -> Iterator[str]:
    """Split a paragraph into sentences and keep the prose ones."""
    for sentence in _SENTENCE_END.split(re.sub(r"\s+", " ", paragraph).strip()):
        if is_prose(sentence):
            yield sentence


def harvest(files: Iterable[Path]) -> tuple[set[str], set[str]]:
    """Unique prose sentences of ``files``: (from docstrings, from ``#`` comments)."""
    docs: set[str] = set()
    comments: set[str] = set()
    for path in files:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            source = path.read_text(encoding="utf-8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
            continue
        for doc in _docstrings(tree):
            for para in _paragraphs(doc):
                docs.update(sentences_of(para))
        for para in _comments(source):
            comments.update(sentences_of(para))
    return docs, comments


def load_corpus(minimum: int, seed: int = 0) -> list[str]:
    """At least ``minimum`` unique sentences if the machine has them, shuffled with ``seed``.

    Docstring sentences come first; comment sentences are added only when those are too few.
    """
    files = _py_files(source_roots())
    cache = CACHE_DIR / f"recall_corpus_{_fingerprint(files)}_{seed}.json"
    if cache.exists():
        cached: list[str] = json.loads(cache.read_text(encoding="utf-8"))
        return cached
    docs, comments = harvest(files)
    found = docs | comments if len(docs) < minimum else docs
    # Deduplicate case- and whitespace-insensitively, keeping the first spelling in sort order.
    unique: dict[str, str] = {}
    for sentence in sorted(found):
        unique.setdefault(" ".join(sentence.lower().split()), sentence)
    corpus = sorted(unique.values())
    random.Random(seed).shuffle(corpus)
    CACHE_DIR.mkdir(exist_ok=True)
    cache.write_text(json.dumps(corpus), encoding="utf-8")
    return corpus


def corpus_hash(texts: list[str]) -> str:
    """A short content hash, the key of cached embeddings."""
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]


def embeddings_path(texts: list[str]) -> Path:
    """Where the default model's embeddings of ``texts`` are cached."""
    return CACHE_DIR / f"recall_embeddings_{corpus_hash(texts)}_{len(texts)}.npy"


def embed_corpus(texts: list[str], batch: int = 256, log: bool = True) -> Path:
    """Embed ``texts`` with the default model (once; cached as float32 ``.npy``)."""
    import time

    import numpy as np

    from chroma_grpc.embeddings import default_embedder

    path = embeddings_path(texts)
    if path.exists():
        return path
    embedder = default_embedder()
    out = np.zeros((len(texts), 384), dtype=np.float32)
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        out[i : i + batch] = embedder.embed(texts[i : i + batch])
        done = min(i + batch, len(texts))
        if log and (done // batch) % 40 == 0 or done == len(texts):
            rate = done / (time.perf_counter() - start)
            print(f"embedded {done}/{len(texts)} ({rate:.0f} texts/s)", flush=True)
    CACHE_DIR.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, out)
    partial.replace(path)
    return path


if __name__ == "__main__":
    sentences = load_corpus(110_000)
    print(len(sentences), corpus_hash(sentences), flush=True)
    print(embed_corpus(sentences[:110_000]))
