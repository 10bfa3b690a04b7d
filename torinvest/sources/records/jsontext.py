"""Parsed JSON values back to compact JSON text (:func:`json_bytes`), as ``orjson.dumps``
writes them, at any depth.

orjson writes at most 254 levels of nesting but reads up to 1,024: a record from a log file
whose requestParameters nest deeper (anyone who can call an API can send such a value) would
otherwise stop the load. Deeper values are written here without recursion, to the same text
orjson would write; that is what a source's copy of the record is compared by.
"""

from __future__ import annotations

from typing import Any

import orjson

_dumps = orjson.dumps


def json_bytes(value: Any) -> bytes:
    """``value`` (parsed JSON: dict, list, str, int, float, bool, None) as compact JSON text,
    the bytes ``orjson.dumps`` gives, whatever its depth. Other types are written as their
    text (``str``)."""
    try:
        return _dumps(value)
    except orjson.JSONEncodeError:
        return _deep_bytes(value)


def _deep_bytes(value: Any) -> bytes:
    """:func:`json_bytes` without recursion: containers are walked with an explicit stack;
    each scalar is written by orjson (its escapes and number forms)."""
    out: list[bytes] = []
    # the stack holds what is still to write: values, and closing brackets as bytes
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, dict):
            out.append(b"{")
            stack.append(b"}")
            pairs = list(item.items())
            for i in range(len(pairs) - 1, -1, -1):
                key, v = pairs[i]
                stack.append(v)
                stack.append((b"," if i else b"") + _scalar(str(key)) + b":")
        elif isinstance(item, list | tuple):
            out.append(b"[")
            stack.append(b"]")
            for i in range(len(item) - 1, -1, -1):
                stack.append(item[i])
                if i:
                    stack.append(b",")
        else:
            out.append(_scalar(item))
    return b"".join(out)


def _scalar(value: Any) -> bytes:
    try:
        return _dumps(value)
    except orjson.JSONEncodeError:  # a type JSON has no word for: its text
        return _dumps(str(value))
