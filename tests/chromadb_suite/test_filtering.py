"""chromadb 0.4.24's property.test_filtering, with our fixtures (conftest.py)."""

from chromadb.test.property.test_filtering import *  # noqa: F403
