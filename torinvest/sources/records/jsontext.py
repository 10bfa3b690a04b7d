"""Parsed JSON values back to compact JSON text (:func:`json_bytes`), as ``orjson.dumps``
writes them, at any depth.

orjson writes at most 254 levels of nesting but reads up to 1,024: a record from a log file
whose requestParameters nest deeper (anyone who can call an API can send such a value) would
otherwise stop the load. Deeper values are written here without recursion, to the same text
orjson would write; that is what a source's copy of the record is compared by.

orjson writes no integer past 64 bits (it raises); :func:`torinvest.jsonread.parse` reads one
exactly, and it is written here as its digits (``123456789012345678901234567890``), as the
record has it — never as a float or a string.
"""

from __future__ import annotations

from torinvest.jsonread import dumps as json_bytes

__all__ = ["json_bytes"]
