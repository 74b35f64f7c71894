"""chromadb 0.4.24's ef.test_multimodal_ef, with our fixtures (conftest.py)."""

from chromadb.test.ef.test_multimodal_ef import *  # noqa: F403
