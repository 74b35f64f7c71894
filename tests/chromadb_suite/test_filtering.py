"""chromadb 0.4.24's property.test_filtering, with our fixtures (conftest.py).

Its oracle (``_filter_where_doc_clause``) treats ``%`` and ``_`` in a ``$contains`` /
``$not_contains`` operand as wildcards, as chromadb 0.4.24's SQL ``LIKE`` did; we match them
literally, a difference kept on purpose (docs/compatibility.md). Here the oracle answers such
operands literally and leaves every other case to chromadb's own code, so every example is
still checked.
"""

from typing import Any

import chromadb.test.property.test_filtering as chromadb_test_filtering
from chromadb.test.property.test_filtering import *  # noqa: F403

_chromadb_oracle = chromadb_test_filtering._filter_where_doc_clause


def where_document_matches(clause: Any, document: Any) -> bool:
    """chromadb's oracle, but ``%`` and ``_`` in a (not-)contains operand are literal."""
    ((key, operand),) = clause.items()
    wildcards = isinstance(operand, str) and ("%" in operand or "_" in operand)
    if key in ("$contains", "$not_contains") and wildcards:
        if not document:
            return False  # chromadb's answer for a record without a document, either way
        return (operand in document) == (key == "$contains")
    return bool(_chromadb_oracle(clause, document))  # its $and / $or recurse through us


chromadb_test_filtering._filter_where_doc_clause = where_document_matches
