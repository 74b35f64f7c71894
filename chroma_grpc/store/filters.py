"""Chroma's ``where`` / ``where_document`` filters: validation and compilation to SQL.

The validators are Chroma's rules (messages are chromadb 0.4.24's) and belong with the other
rules of :mod:`chroma_grpc.store.validation`: the client API runs them before a request leaves,
the store runs them on every call, and the remote proxy runs only the shape walk. Compilation
produces a parameterised SQL boolean expression over the ``records`` table aliased ``r``; user
values are only ever bound as parameters. ``$and``/``$or`` children are joined as balanced
trees, so flat filters of thousands of children compile to SQL whose depth grows with the
logarithm of their number (see "compilation" below).

Semantics (docs/contract.md, "Filters"): every leaf means "the record has this key and its
value satisfies the operator"; equality-style operators look only at values of the operand's
own type (int, float, bool and str are distinct); ``$gt``/``$gte``/``$lt``/``$lte`` compare
numerically across int and float and never match bools; ``$contains`` is a case-sensitive
plain substring test; ``$not_contains`` only considers records that have a document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chroma_grpc.store._sqlite import integer_list, text_list
from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import Where, WhereDocument

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_FILTER_DEPTH",
    "check_where_document_shape",
    "check_where_document_values",
    "check_where_shape",
    "check_where_values",
    "compile_where",
    "compile_where_document",
    "filter_too_deep",
    "value_kind",
    "validate_where",
    "validate_where_document",
]

# How many levels of $and/$or a filter may nest. Far beyond what a person writes (any number of
# conditions fits in ONE $and/$or), and low enough that every layer (protobuf decoding, the
# validators, the SQL compiler) stays within its recursion limits.
MAX_FILTER_DEPTH = 32

_RANGE_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_LEAF_OPS = ("$gt", "$gte", "$lt", "$lte", "$ne", "$eq", "$in", "$nin")
_LIST_OPS = ("$in", "$nin")
_DOC_OPS = ("$contains", "$not_contains", "$and", "$or")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def value_kind(value: object) -> str | None:
    """The storage tag of a metadata value: 's', 'i', 'f', 'b', or None if not a scalar.

    bool is tested before int because ``isinstance(True, int)`` holds in Python.
    """
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    if isinstance(value, str):
        return "s"
    return None


def filter_too_deep(what: str, field: str) -> InvalidArgumentError:
    """The error for a filter nesting more than MAX_FILTER_DEPTH levels of $and / $or."""
    return InvalidArgumentError(
        f"Expected {what} to nest $and/$or at most {MAX_FILTER_DEPTH} levels deep; flatten it "
        "(one $and or $or takes any number of conditions)",
        field=field,
    )


def _check_int_range(value: object) -> None:
    """SQLite integers are 64-bit; reject larger operands instead of overflowing in sqlite3."""
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgumentError(
            f"Expected where operand value to fit in a 64-bit integer, got {value}", field="where"
        )


def _carried(operand: object) -> bool:
    """An operand a message can carry: a scalar, or a list of scalars."""
    if isinstance(operand, list):
        return all(value_kind(x) is not None for x in operand)
    return value_kind(operand) is not None


# -- where ----------------------------------------------------------------------------------
# Validation is split in two walks (see chroma_grpc.store.validation): the shape walk checks
# the grammar and everything a message cannot carry; the operand walk checks the rest. A
# single fault gets chromadb 0.4.24's message either way.


def validate_where(where: Where) -> None:
    """Raise InvalidArgumentError (a ValueError) with Chroma's message if ``where`` is malformed."""
    check_where_shape(where)
    check_where_values(where)


def check_where_shape(where: object, levels: int = 0) -> None:
    """The grammar of ``where``, at most MAX_FILTER_DEPTH levels of $and/$or deep."""
    if not isinstance(where, Mapping):
        raise InvalidArgumentError(f"Expected where to be a dict, got {where}", field="where")
    if len(where) != 1:
        raise InvalidArgumentError(
            f"Expected where to have exactly one operator, got {where}", field="where"
        )
    ((key, value),) = where.items()
    if not isinstance(key, str):
        raise InvalidArgumentError(f"Expected where key to be a str, got {key}", field="where")
    if key in ("$and", "$or"):
        if not isinstance(value, list):
            raise InvalidArgumentError(
                "Expected where value for $and or $or to be a list of where expressions, "
                f"got {value}",
                field="where",
            )
        if len(value) <= 1:
            raise InvalidArgumentError(
                "Expected where value for $and or $or to be a list with at least two where "
                f"expressions, got {value}",
                field="where",
            )
        if levels >= MAX_FILTER_DEPTH:
            raise filter_too_deep("where", "where")
        for child in value:
            check_where_shape(child, levels + 1)
    elif isinstance(value, Mapping):
        _check_operator_expression_shape(value)
    elif value_kind(value) is None:
        raise InvalidArgumentError(
            f"Expected where value to be a str, int, float, or operator expression, got {value}",
            field="where",
        )
    else:
        _check_int_range(value)


def _check_operator_expression_shape(expr: Mapping[Any, Any]) -> None:
    if len(expr) != 1:
        raise InvalidArgumentError(
            f"Expected operator expression to have exactly one operator, got {expr}", field="where"
        )
    ((operator, operand),) = expr.items()
    if operator in _RANGE_OPS and not _carried(operand):
        raise _range_operand(operator, operand)
    if operator in _LIST_OPS and not isinstance(operand, list):
        raise InvalidArgumentError(
            f"Expected operand value to be an list for operator {operator}, got {operand}",
            field="where",
        )
    if operator not in _LEAF_OPS:
        raise InvalidArgumentError(
            "Expected where operator to be one of $gt, $gte, $lt, $lte, $ne, $eq, $in, $nin, "
            f"got {operator}",
            field="where",
        )
    if isinstance(operand, list):
        if not _carried(operand):
            raise _bad_list_operand(operand)
        for x in operand:
            _check_int_range(x)
        return
    if value_kind(operand) is None:
        raise InvalidArgumentError(
            "Expected where operand value to be a str, int, float, or list of those type, "
            f"got {operand}",
            field="where",
        )
    _check_int_range(operand)


def check_where_values(where: Mapping[str, Any]) -> None:
    """The operand rules of a ``where`` whose shape passed."""
    ((key, value),) = where.items()
    if key in ("$and", "$or"):
        for child in value:
            check_where_values(child)
        return
    if not isinstance(value, Mapping):
        return
    ((operator, operand),) = value.items()
    if operator in _RANGE_OPS and value_kind(operand) not in ("i", "f"):
        raise _range_operand(operator, operand)
    if isinstance(operand, list):
        kinds = {value_kind(x) for x in operand}
        if not operand or len(kinds) != 1:
            raise _bad_list_operand(operand)
        if operator not in _LIST_OPS:
            raise InvalidArgumentError(
                f"Expected where operand value for operator {operator} to be a str, int, float "
                f"or bool, got {operand}; only $in and $nin take a list",
                field="where",
            )


def _range_operand(operator: str, operand: object) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Expected operand value to be an int or a float for operator {operator}, got {operand}",
        field="where",
    )


def _bad_list_operand(operand: object) -> InvalidArgumentError:
    return InvalidArgumentError(
        "Expected where operand value to be a non-empty list, and all values to be of the same "
        f"type got {operand}",
        field="where",
    )


# -- where_document -------------------------------------------------------------------------


def validate_where_document(where_document: WhereDocument) -> None:
    """Raise InvalidArgumentError with Chroma's message if ``where_document`` is malformed."""
    check_where_document_shape(where_document)
    check_where_document_values(where_document)


def check_where_document_shape(where_document: object, levels: int = 0) -> None:
    """The grammar of ``where_document``, at most MAX_FILTER_DEPTH levels deep."""
    field = "where_document"
    if not isinstance(where_document, Mapping):
        raise InvalidArgumentError(
            f"Expected where document to be a dictionary, got {where_document}", field=field
        )
    if len(where_document) != 1:
        raise InvalidArgumentError(
            f"Expected where document to have exactly one operator, got {where_document}",
            field=field,
        )
    ((operator, operand),) = where_document.items()
    if operator not in _DOC_OPS:
        raise InvalidArgumentError(
            f"Expected where document operator to be one of $contains, $and, $or, got {operator}",
            field=field,
        )
    if operator in ("$and", "$or"):
        if not isinstance(operand, list):
            raise InvalidArgumentError(
                "Expected document value for $and or $or to be a list of where document "
                f"expressions, got {operand}",
                field=field,
            )
        if len(operand) <= 1:
            raise InvalidArgumentError(
                "Expected document value for $and or $or to be a list with at least two where "
                f"document expressions, got {operand}",
                field=field,
            )
        if levels >= MAX_FILTER_DEPTH:
            raise filter_too_deep("where document", field)
        for child in operand:
            check_where_document_shape(child, levels + 1)
    elif not isinstance(operand, str):
        raise InvalidArgumentError(
            f"Expected where document operand value for operator {operator} to be a str, "
            f"got {operand}",
            field=field,
        )


def check_where_document_values(where_document: Mapping[str, Any]) -> None:
    """The operand rules of a ``where_document`` whose shape passed."""
    ((operator, operand),) = where_document.items()
    if operator in ("$and", "$or"):
        for child in operand:
            check_where_document_values(child)
    elif not operand:
        raise InvalidArgumentError(
            f"Expected where document operand value for operator {operator} to be a non-empty str",
            field="where_document",
        )


# -- compilation ------------------------------------------------------------------------------
# A record matches a metadata leaf when it has a ``record_metadata`` row for the key whose value
# satisfies the condition. ``(record_rowid, key)`` is the primary key, so a record has at most one
# row per key, which makes two rewrites exact: leaves of one ``$or`` can share a subquery (EXISTS
# distributes over OR), and leaves of one ``$and`` on the same key can share one (the same single
# row must satisfy them all). Equalities merge into one ``IN`` list per key and type under
# ``$or``, inequalities into one ``NOT IN`` under ``$and``: one parameter however many values.
#
# Under ``$and``, only the first part is a set (``r.rowid IN (SELECT ...)``, which SQLite can
# drive the search from); the other parts test each surviving record (``EXISTS`` on the primary
# key): materialising thousands of broad sets was three times slower.
#
# Wide filters stay cheap and legal: children are joined as balanced trees, so the SQL expression
# depth grows with log(width) (SQLite's limit is 1000); a subquery holds at most
# ``_CONDITIONS_PER_SUBQUERY`` conditions, because SQLite's planner time grows faster than
# linearly with the terms of one WHERE (5,000 range terms took 2 s to plan, 0.1 s in chunks of
# 64); and ``_reads`` checks the bound parameters against SQLite's limit.

_SUBQUERY = "r.rowid IN (SELECT record_rowid FROM record_metadata WHERE {cond})"
_PROBE = "EXISTS (SELECT 1 FROM record_metadata WHERE record_rowid = r.rowid AND {cond})"
_CONDITIONS_PER_SUBQUERY = 64
Compiled = tuple[str, list[Any]]


def compile_where(where: Where) -> Compiled:
    """Compile a validated ``where`` to ``(sql, params)`` over ``records r``."""
    return _compile(where, probe=False)


def _compile(where: Where, probe: bool) -> Compiled:
    ((key, value),) = where.items()
    if key == "$or":
        return _compile_or(value, probe)
    if key == "$and":
        return _compile_and(value, probe)
    operator, operand = _leaf(value)
    cond, params = _condition(operator, operand)
    template = _PROBE if probe else _SUBQUERY
    return template.format(cond=f"key = ? AND {cond}"), [key, *params]


def _leaf(value: Any) -> tuple[str, Any]:
    """``(operator, operand)`` of a leaf's value; a bare scalar means ``$eq``."""
    if isinstance(value, Mapping):
        ((operator, operand),) = value.items()
        return operator, operand
    return "$eq", value


def _is_leaf(where: Where) -> bool:
    return next(iter(where)) not in ("$and", "$or")


def _balanced(parts: list[Compiled], joiner: str) -> Compiled:
    """``parts`` joined by ``joiner`` as a balanced tree (depth log2 of their number)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    left, right = _balanced(parts[:middle], joiner), _balanced(parts[middle:], joiner)
    return f"({left[0]}{joiner}{right[0]})", left[1] + right[1]


def _subqueries(
    conditions: list[Compiled], joiner: str, probe: bool, key: str | None = None
) -> list[Compiled]:
    """``conditions`` on ``record_metadata`` rows joined by ``joiner``, as subqueries of at most
    ``_CONDITIONS_PER_SUBQUERY`` each (all on ``key`` when given)."""
    prefix, first = ("key = ? AND ", [key]) if key is not None else ("", [])
    template = _PROBE if probe else _SUBQUERY
    out = []
    for start in range(0, len(conditions), _CONDITIONS_PER_SUBQUERY):
        sql, params = _balanced(conditions[start : start + _CONDITIONS_PER_SUBQUERY], joiner)
        out.append((template.format(cond=prefix + sql), first + params))
    return out


def _compile_or(children: list[Where], probe: bool) -> Compiled:
    """The leaves in shared subqueries (equalities merged per key and type), then the rest."""
    equal: dict[tuple[str, str | None], list[Any]] = {}
    conditions: list[Compiled] = []
    for child in filter(_is_leaf, children):
        ((key, value),) = child.items()
        operator, operand = _leaf(value)
        if operator in ("$eq", "$in"):
            values = operand if operator == "$in" else [operand]
            equal.setdefault((key, value_kind(values[0])), []).extend(values)
        else:
            cond, params = _condition(operator, operand)
            conditions.append((f"(key = ? AND {cond})", [key, *params]))
    for (key, _kind), values in equal.items():
        cond, params = _condition("$eq", values[0]) if len(values) == 1 else _in("", values)
        conditions.append((f"(key = ? AND {cond})", [key, *params]))
    parts = _subqueries(conditions, " OR ", probe)
    parts += [_compile(child, probe) for child in children if not _is_leaf(child)]
    return _balanced(parts, " OR ")


def _compile_and(children: list[Where], probe: bool) -> Compiled:
    """Shared subqueries per key for the leaves (inequalities merged per type), then the rest;
    all of them probes, but the first part a set unless the whole ``$and`` is a probe."""
    by_key: dict[str, list[tuple[str, Any]]] = {}
    for child in filter(_is_leaf, children):
        ((key, value),) = child.items()
        by_key.setdefault(key, []).append(_leaf(value))
    groups: list[tuple[str, list[Compiled]]] = []
    for key, leaves in by_key.items():
        unequal: dict[str | None, list[Any]] = {}
        conditions: list[Compiled] = []
        for operator, operand in leaves:
            if operator in ("$ne", "$nin"):
                values = operand if operator == "$nin" else [operand]
                unequal.setdefault(value_kind(values[0]), []).extend(values)
            else:
                conditions.append(_condition(operator, operand))
        for values in unequal.values():
            single = len(values) == 1
            conditions.append(_condition("$ne", values[0]) if single else _in("NOT ", values))
        groups.append((key, conditions))
    nested = [child for child in children if not _is_leaf(child)]
    parts = [part for key, conds in groups for part in _subqueries(conds, " AND ", True, key)]
    parts += [_compile(child, True) for child in nested]
    if not probe:
        if groups:
            key, conditions = groups[0]
            first = conditions[:_CONDITIONS_PER_SUBQUERY]
            parts[0] = _subqueries(first, " AND ", False, key)[0]
        else:
            parts[0] = _compile(nested[0], False)
    return _balanced(parts, " AND ")


def _condition(operator: str, operand: Any) -> Compiled:
    """The test one ``record_metadata`` row must pass for a leaf (its key tested apart).

    The type tag is inlined (it is one of four fixed letters); user values are parameters.
    """
    if operator in _RANGE_OPS:
        return f"vtype IN ('i', 'f') AND value {_RANGE_OPS[operator]} ?", [operand]
    if operator in ("$eq", "$ne"):
        kind = value_kind(operand)
        return f"vtype = '{kind}' AND value {'=' if operator == '$eq' else '!='} ?", [operand]
    return _in("NOT " if operator == "$nin" else "", operand)


def _in(negate: str, values: list[Any]) -> Compiled:
    """``value [NOT] IN`` the list: one JSON parameter (strings exactly, NULs included), or one
    parameter per float, since JSON cannot carry inf and would round-trip through text."""
    kind = value_kind(values[0])
    if kind == "f":
        return f"vtype = 'f' AND value {negate}IN ({', '.join('?' * len(values))})", list(values)
    if kind == "s":
        subquery, param = text_list(values)
    else:
        subquery, param = integer_list(int(x) for x in values)  # bools are stored as 0 / 1
    return f"vtype = '{kind}' AND value {negate}IN ({subquery})", [param]


def compile_where_document(where_document: WhereDocument) -> Compiled:
    """Compile a validated ``where_document`` to ``(sql, params)`` over ``records r``.

    ``instr`` is a case-sensitive plain substring test, so ``%`` and ``_`` are literal, and it
    compares bytes with their lengths, so NUL characters match too. ``$and``/``$or`` children
    are joined as a balanced tree, like ``where``'s.
    """
    ((operator, operand),) = where_document.items()
    if operator in ("$and", "$or"):
        parts = [compile_where_document(child) for child in operand]
        return _balanced(parts, " AND " if operator == "$and" else " OR ")
    test = "> 0" if operator == "$contains" else "= 0"
    return f"(r.document IS NOT NULL AND instr(r.document, ?) {test})", [operand]
