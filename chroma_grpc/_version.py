"""The two versions chroma-grpc reports, each defined once.

``__version__`` is this package's own version, read from the installed distribution's metadata
(``pyproject.toml`` is its only source). ``CHROMA_API_VERSION`` is the chromadb release whose
client API and semantics chroma-grpc follows; ``ClientAPI.get_version()`` and the
``GetVersion`` RPC answer it, as chromadb's own server does.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["CHROMA_API_VERSION", "__version__"]

CHROMA_API_VERSION = "0.4.24"

try:
    __version__ = version("chroma-grpc")
except PackageNotFoundError:  # a source tree used without `pip install -e .`
    __version__ = "0.0.0+unknown"
