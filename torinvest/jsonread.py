"""Reading JSON text someone else wrote: the one function every reader of attacker-influenced
JSON uses (:func:`loads`) — log files and JSON lines, LookupEvents' ``CloudTrailEvent`` (live,
cached, or in a case folder's ``lookup-events`` output), findings files and fetched findings,
the verdict ledger.

orjson, the fast reader, refuses two kinds of text that Python's ``json`` writes and reads, and
that an export script, a SIEM or an attacker's value can put in a file:

- an escape of a lone UTF-16 surrogate (``"\\ud800x"``: legal JSON text, which no Unicode text
  can hold): replaced by ``\\ufffd`` (U+FFFD); a pair (``\\ud83d\\ude00``) is kept;
- a number JSON has no word for: ``NaN``, ``Infinity``, ``-Infinity`` (what ``json.dumps``
  writes for a float that is not finite) and a number past a double's range (``1e400``): kept
  as its text, a JSON string (``"NaN"``, ``"1e400"``).

Either way the value is kept and the rest of the text is read as written; what was changed is
returned (:class:`JsonRepairs`), and the caller says so (:meth:`JsonRepairs.describe`). The
repairs are looked for only in text orjson refused: off the hot path.

orjson also reads an integer past 64 bits (``123456789012345678901234567890``: anyone who can
call an API can send one in ``maxResults`` or a tag value, and CloudTrail records it) as a float,
``1.2345678901234568e+29``: a value no record holds. :func:`parse` — every reader of CloudTrail
records and of what the loaders and :func:`loads` read — gives every integer exactly (a Python
``int`` of any size), and :func:`torinvest.sources.records.jsontext.json_bytes` writes it back
as the same digits. A number with a fraction or an exponent is a float, as JSON readers read it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson


@dataclass(frozen=True, slots=True)
class JsonRepairs:
    """What :func:`repair_json` changed: the byte offsets of the lone surrogate escapes replaced
    by U+FFFD, and the (byte offset, text) of the numbers kept as text."""

    surrogates: tuple[int, ...] = ()
    numbers: tuple[tuple[int, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.surrogates or self.numbers)

    def marks(self) -> tuple[bytes, ...]:
        """What a repaired value holds, as compact JSON (``orjson.dumps``) writes it: U+FFFD,
        the numbers' texts as JSON strings."""
        out = [REPLACEMENT.encode()] if self.surrogates else []
        out += [orjson.dumps(text) for text in dict.fromkeys(t for _, t in self.numbers)]
        return tuple(out)

    def describe(self) -> str:
        """What was changed, in words (the caller adds which records hold it)."""
        parts = []
        if self.surrogates:
            parts.append(
                f"{len(self.surrogates)} escape(s) of a lone UTF-16 surrogate (\\ud800-\\udfff "
                "without its other half: not text; the first at byte "
                f"{self.surrogates[0]:,}) were replaced with U+FFFD"
            )
        if self.numbers:
            at, text = self.numbers[0]
            parts.append(
                f"{len(self.numbers)} number(s) JSON has no word for (NaN, Infinity, or past a "
                f"double's range; the first {text[:40]} at byte {at:,}) were kept as text "
                f'("{text[:40]}")'
            )
        return " and ".join(parts)

    def issue_text(self, values: Sequence[Any], names: Sequence[str]) -> str:
        """:meth:`describe`, then which of ``values`` (parsed from the repaired text, each
        named by ``names``) hold what was put in, and that the rest is as written."""
        marks = self.marks()
        held = [
            n for v, n in zip(values, names, strict=True) if any(m in _dumped(v) for m in marks)
        ]
        if held:
            shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
            altered = f"{shown} hold(s) it and were read so"
        else:
            altered = "nothing read from it holds it"
        return f"{self.describe()}: {altered}; every other character is as written"


def _dumped(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):  # nested past orjson's 254 levels
        return str(value).encode("utf-8", "replace")


#: What :func:`repair_json` puts in place of a lone surrogate escape.
REPLACEMENT = "\ufffd"

#: A ``\\u`` escape of a UTF-16 surrogate (U+D800–DFFF): text only as half of a pair.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: Every JSON escape, in order (a backslash always starts one: ``\\\\`` is one escape).
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
#: Text that may hold a number orjson refuses (a quick look before the walk).
_MAYBE_NUMBER = re.compile(rb"NaN|Infinity|\d[eE]\+?\d{3}")
#: A JSON string (on one line: JSON strings hold no raw line break), or a number-like token.
_STRING_OR_NUMBER = re.compile(
    rb'"[^"\\\n]*(?:\\[^\n][^"\\\n]*)*"'
    rb"|(-?(?:NaN|Infinity)|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
)


#: 19 digits in a row, where an integer orjson reads as a float may be (it reads integers
#: exactly from -2**63 to 2**64 - 1, which have at most 20 digits): such a run that starts a
#: number (after ``:``, ``[``, ``,``, whitespace or a ``-``) makes :func:`parse` read the text
#: again with a reader that keeps every integer. Runs inside strings (a Go SDK's session name
#: ``aws-go-sdk-1688990797103471741``) are passed over; one after ``": "`` in a string is read
#: again, to the same value. Found in a copy with every digit ``0`` and every other byte a space
#: (``bytes.find``: a few times faster than parsing the text; a regular expression is slower).
_DIGIT_MAP = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19
_BEFORE_NUMBER = frozenset(b":[, \t\r\n")
#: The reader that keeps integers of any size (msgspec: the same floats, strings and objects).
_EXACT = msgspec.json.Decoder()
#: The nesting orjson reads (its limit), which the exact reader must reach too.
_DEPTH = 1_024


def parse(data: bytes | bytearray | memoryview | str) -> Any:
    """``data`` parsed as ``orjson.loads`` parses it, but every integer exact: one past 64 bits
    is the ``int`` written, never the float orjson makes of it. Raises
    ``orjson.JSONDecodeError`` as ``orjson.loads`` does. The usual text, without an integer of
    19 digits, is orjson's alone (one search of the text more)."""
    value = orjson.loads(data)
    if not _holds_long_integer(data):
        return value
    try:
        return _EXACT.decode(data)
    except RecursionError:  # nested deeper than Python's limit lets msgspec go: raised a while
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + _DEPTH + 64)
        try:
            return _EXACT.decode(data)
        except (RecursionError, msgspec.DecodeError):
            return value
        finally:
            sys.setrecursionlimit(limit)
    except msgspec.DecodeError:  # text orjson reads and msgspec does not: none is known
        return value


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """``value`` (parsed JSON: dict, list, str, int, float, bool, None) as compact JSON text,
    the bytes ``orjson.dumps`` gives, whatever its depth (orjson writes 254 levels, reads
    1,024) and however large its integers (orjson writes none past 64 bits: here their digits,
    as :func:`parse` read them). Other types are written as their text (``str``).
    ``sort_keys``: objects' keys in order (``orjson.OPT_SORT_KEYS``)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except orjson.JSONEncodeError:
        return _deep_bytes(value, sort_keys)


def _deep_bytes(value: Any, sort_keys: bool) -> bytes:
    """:func:`dumps` without recursion: containers are walked with an explicit stack; each
    scalar is written by orjson (its escapes and number forms)."""
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
            pairs = [(str(k), v) for k, v in item.items()]
            if sort_keys:
                pairs.sort(key=lambda kv: kv[0])
            for i in range(len(pairs) - 1, -1, -1):
                key, v = pairs[i]
                stack.append(v)
                stack.append((b"," if i else b"") + _scalar(key) + b":")
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
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        if isinstance(value, int) and not isinstance(value, bool):  # past 64 bits: its digits
            return str(value).encode("ascii")
        return orjson.dumps(str(value))  # a type JSON has no word for: its text


def _holds_long_integer(data: bytes | bytearray | memoryview | str) -> bool:
    """Whether ``data`` (valid JSON) may hold an integer of 19 digits or more."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    digits = raw.translate(_DIGIT_MAP)
    at = digits.find(_LONG_RUN)
    while at != -1:
        i = at - 1
        if i >= 0 and raw[i] == 0x2D:  # a minus sign
            i -= 1
        if i < 0 or raw[i] in _BEFORE_NUMBER:
            return True
        end = digits.find(b" ", at)  # past this run
        if end == -1:
            return False
        at = digits.find(_LONG_RUN, end)
    return False


def loads(data: bytes | str) -> tuple[Any, JsonRepairs]:
    """``data`` parsed (:func:`parse`: orjson, integers exact), and what had to be repaired for
    it to parse (nothing, the usual case). Raises ``orjson.JSONDecodeError`` — the error of the
    text as written — when it is not JSON even so."""
    try:
        return parse(data), JsonRepairs()
    except orjson.JSONDecodeError as e:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
        fixed, repairs = repair_json(raw)
        if not repairs:
            raise
        try:
            return parse(fixed), repairs
        except orjson.JSONDecodeError:
            raise e from None


def repair_json(data: bytes) -> tuple[bytes, JsonRepairs]:
    """``data`` with each lone surrogate escape replaced by ``\\ufffd`` and each number JSON has
    no word for written as a JSON string of its text, and what was changed; ``data`` itself
    when there is nothing to change. Offsets are in ``data``."""
    fixed, surrogates = _repair_surrogates(data)
    fixed, numbers = _repair_numbers(fixed)  # the surrogates' repair keeps every offset
    return fixed, JsonRepairs(tuple(surrogates), tuple(numbers))


def repair_surrogates(data: bytes) -> tuple[bytes, JsonRepairs]:
    """``data`` (JSON text) with each lone surrogate escape replaced by ``\\ufffd`` — as long
    as the escape: every offset stays —, and what was changed; ``data`` itself when there is
    nothing to change (the usual case, found with one search). Numbers are left as written:
    for a reader that takes NaN (Python's ``json``, botocore) and text no Unicode writer can
    write (:func:`torinvest.aws.answers.repair_answer`)."""
    fixed, surrogates = _repair_surrogates(data)
    return fixed, JsonRepairs(tuple(surrogates))


def _repair_surrogates(data: bytes) -> tuple[bytes, list[int]]:
    if _SURROGATE_ESCAPE.search(data) is None:
        return data, []
    lone: list[tuple[int, int]] = []
    high: tuple[int, int] | None = None  # a high surrogate's escape waiting for its low half
    for m in _ESCAPE.finditer(data):
        unit = int(m.group(1), 16) if m.group(1) is not None else -1
        if high is not None:
            paired = m.start() == high[1] and 0xDC00 <= unit <= 0xDFFF
            if not paired:
                lone.append(high)
            high = None
            if paired:
                continue
        if 0xD800 <= unit <= 0xDBFF:
            high = m.span()
        elif 0xDC00 <= unit <= 0xDFFF:
            lone.append(m.span())
    if high is not None:
        lone.append(high)
    if not lone:
        return data, []
    out: list[bytes] = []
    last = 0
    for start, end in lone:
        out += [data[last:start], b"\\ufffd"]  # as long as the escape: offsets stay
        last = end
    out.append(data[last:])
    return b"".join(out), [start for start, _ in lone]


def _repair_numbers(data: bytes) -> tuple[bytes, list[tuple[int, str]]]:
    if _MAYBE_NUMBER.search(data) is None:
        return data, []
    found: list[tuple[int, int]] = []
    for m in _STRING_OR_NUMBER.finditer(data):
        token = m.group(1)
        if token is None:
            continue  # a string: its text is the attacker's, never a number
        if token[-1:] in (b"N", b"y") or float(token) in (float("inf"), float("-inf")):
            found.append(m.span(1))
    if not found:
        return data, []
    out: list[bytes] = []
    last = 0
    for start, end in found:
        out += [data[last:start], b'"', data[start:end], b'"']
        last = end
    out.append(data[last:])
    return b"".join(out), [(s, data[s:e].decode("ascii")) for s, e in found]
