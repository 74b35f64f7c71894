"""chromadb 0.4.24's ef.test_default_ef, on our ``ONNXMiniLM_L6_V2`` (chromadb_names.py)."""

from chromadb.test.ef.test_default_ef import *  # noqa: F403
