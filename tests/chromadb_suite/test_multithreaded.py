"""chromadb 0.4.24's test_multithreaded, with our fixtures (conftest.py)."""

from chromadb.test.test_multithreaded import *  # noqa: F403
