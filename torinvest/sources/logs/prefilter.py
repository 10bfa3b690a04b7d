"""Filtering to access keys before parsing: in a compact ``{"Records":[...]}`` file whose end is
whole, only the records whose bytes hold a key are parsed (:func:`_records_of`).

A byte search finds a key or an address only as its bytes are written: JSON may write any of
its characters as a ``\\u`` escape (``AKIA…\\u0031X`` is ``AKIA…1X``). A file holding such an
escape of a character a key, an address or a field name is written with
(:func:`escapes_may_hide`) is parsed whole and filtered on the decoded values.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from torinvest.addresses import canonical_ip
from torinvest.errors import DataIssue
from torinvest.jsonread import parse as parse_json
from torinvest.sources.logs.model import ReadOptions
from torinvest.sources.records import is_record, parse_records

#: Possessive (``*+``): each run of whitespace is followed by a sign that is none, so giving
#: some back cannot make it match; a file of a head and megabytes of whitespace (a bomb
#: inflated under a raised limit) was matched back one byte at a time, a second per 8 MB.
_RECORDS_HEAD = re.compile(rb'\s*+\{\s*+"Records"\s*+:\s*+\[\s*+(?=\{"eventVersion":)')
_RECORD_START = b'{"eventVersion":'


def _records_of(
    data: bytes, name: str, options: ReadOptions
) -> tuple[list[dict[str, Any]], list[DataIssue], bool]:
    """The records of the keys (every record without keys), and the issues a full read gives.

    With keys, a compact log file (``{"Records":[{"eventVersion":…},…]}``) whose end is whole
    is not parsed: only the records around the key's bytes are (none when the bytes are not in
    it). Any other file — another shape, a damaged end, a cut that does not parse as whole
    records — is parsed whole and then filtered, so that its problems are reported as a full
    read reports them."""
    if not options.filtered and not options.ips:
        records, issues = parse_records(data, where=name)
        return records, issues, bool(records)
    if escapes_may_hide(data):  # the bytes may not spell a key the record holds: parse it all
        records, issues = parse_records(data, where=name)
        kept = options.keep(records)
        return kept, issues, bool(kept)
    needles = options.needles
    if options.ips and not options.keys:
        needles += _spellings(data, options.ips_v6 | _mapped_v4(data, options.ips_v4))
    hits = _key_hits(data, needles)
    head = _RECORDS_HEAD.match(data)
    if head is not None and _ends_whole(data):
        if not hits:
            return [], [], False
        records = _parse_chunks(_record_chunks(data, hits, head.end()))
        if records is not None:
            return options.keep(records), [], True
    records, issues = parse_records(data, where=name)
    return options.keep(records), issues, bool(hits)


_ARRAY_END = re.compile(rb"\]\s*\}\s*\Z")
#: A ``\\u`` escape of an ASCII letter or digit, ``.``, ``:`` (and a few signs beside them):
#: the characters of a key, an address and the field names that hold them. Others (``\\u003d``
#: for ``=``, non-ASCII text…) cannot hide a key or an address from a byte search.
_MASKING_ESCAPE = re.compile(rb"\\u00(?:2[eE]|3[0-9aA]|[4-7][0-9a-fA-F])")


def escapes_may_hide(data: bytes) -> bool:
    """Whether ``data`` holds a ``\\u`` escape that may spell a key, an address or a field name
    other than a byte search for it expects (``"AKIA…\\u0031X"``): then a byte prefilter may
    miss records that hold it. A plain byte search first (most files hold no ``\\u``)."""
    return b"\\u" in data and _MASKING_ESCAPE.search(data) is not None


def holds_nothing_else(data: bytes) -> bool:
    """Whether a file without a key's bytes can be left unparsed by a key-filtered read: a
    compact log file whose end is whole (it holds none of the key's records, and nothing a
    full read would report but damage in its middle), and holds no escape that may spell a
    key otherwise (:func:`escapes_may_hide`). Any other file is parsed whole."""
    return (
        _RECORDS_HEAD.match(data) is not None and not escapes_may_hide(data) and _ends_whole(data)
    )


def _ends_whole(data: bytes) -> bool:
    """Whether a compact log file ends as a whole one does: its last record parses, and the
    array and the document close after it (a file cut after a whole record does not pass: its
    last cut then ends inside that record's own brackets, or is not followed by ``]}``)."""
    tail = _ARRAY_END.search(data, max(0, len(data) - 64))
    if tail is None:
        return False
    last = data.rfind(_RECORD_START, 0, tail.start())
    return last != -1 and _parse_chunks([data[last : tail.start()].rstrip()]) is not None


_V6_SOURCE = re.compile(rb'"sourceIPAddress"\s*:\s*"([^"\\]*:[^"\\]*)"')
#: ``ffff:`` in any mix of cases (hex digits are case-insensitive: ``::FfFf:b9dc:6522``).
_MAPPED_MARK = re.compile(rb"[fF]{4}:")


def _mapped_v4(data: bytes, ips: frozenset[str]) -> frozenset[str]:
    """The IPv4 addresses ``ips`` when ``data`` may write one as an IPv4-mapped IPv6 address
    in hex (``::ffff:b9dc:6522``, which no byte search for ``185.220.101.34`` finds): when
    it holds ``ffff:`` in any case (``FfFf:`` too); else none (nothing more to search for)."""
    if ips and _MAPPED_MARK.search(data) is not None:
        return ips
    return frozenset()


def _spellings(data: bytes, ips: frozenset[str]) -> tuple[bytes, ...]:
    """The ways ``data`` writes the addresses ``ips`` in IPv6 form (``2001:0470:…``, upper
    case, an IPv4 address as ``::ffff:b9dc:6522``…) as JSON strings: every IPv6
    ``sourceIPAddress`` in the file, searched for in its bytes, each distinct spelling turned
    into an address once (not once per record)."""
    if not ips:
        return ()
    found = set(_V6_SOURCE.findall(data))
    return tuple(b'"' + v + b'"' for v in sorted(found) if canonical_ip(v) in ips)


def _key_hits(data: bytes, keys: tuple[bytes, ...]) -> list[int]:
    hits: list[int] = []
    for key in keys:
        pos = data.find(key)
        while pos != -1:
            hits.append(pos)
            pos = data.find(key, pos + len(key))
    hits.sort()
    return hits


def _record_chunks(data: bytes, hits: list[int], first: int) -> list[bytes]:
    end_of_array = data.rfind(b"]")
    chunks: list[bytes] = []
    last_end = -1
    for pos in hits:
        if pos < last_end:
            continue  # same record as the previous hit
        start = data.rfind(_RECORD_START, first, pos)
        if start == -1:
            start = first
        end = data.find(_RECORD_START, pos)
        if end == -1:
            end = end_of_array
        chunks.append(data[start:end].rstrip(b" \t\r\n,"))
        last_end = end
    return chunks


def _parse_chunks(chunks: list[bytes]) -> list[dict[str, Any]] | None:
    records = []
    for chunk in chunks:
        try:
            rec = parse_json(chunk)
        except orjson.JSONDecodeError:
            return None
        if not is_record(rec):
            return None
        records.append(rec)
    return records


def watched_records(data: bytes, options: ReadOptions) -> list[dict[str, Any]]:
    """The records of ``options.watch``'s event names in one file's content (decompressed,
    UTF-8) made with none of ``options.keys`` — anyone else's calls that impair logging, kept
    apart from the keys' activity. In a compact log file as CloudTrail writes it, whose end is
    whole, one search for ``"eventName":"NAME"`` (its literal head found by a fast search, the
    names checked once per record) and only the records around a hit are parsed; any other
    file — another shape, the field spaced otherwise, an escape that may spell a name — is
    searched for the names' bytes and parsed whole when one is there."""
    if not options.watch:
        return []
    masked = escapes_may_hide(data)
    head = _RECORDS_HEAD.match(data)
    records: list[dict[str, Any]] | None = None
    if head is not None and not masked and _ends_whole(data):
        hits = [m.start() for m in _watch_pattern(options.watch).finditer(data)]
        if hits:
            records = _parse_chunks(_record_chunks(data, hits, head.end()))
        elif _SPACED_NAME.search(data) is None:
            return []  # every record's eventName is written compact: none of the names
    elif not masked and not any(n.encode() in data for n in options.watch):
        return []
    if records is None:
        records, _ = parse_records(data, where="")  # its issues are the key's read's
    keys = options.keys or frozenset()
    out = []
    for r in records:
        if r.get("eventName") not in options.watch:
            continue
        ident = r.get("userIdentity")
        key = ident.get("accessKeyId") if isinstance(ident, dict) else None
        if key not in keys:
            out.append(r)
    return out


#: ``"eventName"`` followed by anything but ``:"`` (spaces, a line break): not the compact form.
_SPACED_NAME = re.compile(rb'"eventName"(?!:")')
_WATCH_PATTERNS: dict[frozenset[str], re.Pattern[bytes]] = {}


def _watch_pattern(names: frozenset[str]) -> re.Pattern[bytes]:
    """``"eventName":"NAME"`` as CloudTrail writes it, for one of ``names``, compiled once."""
    pattern = _WATCH_PATTERNS.get(names)
    if pattern is None:
        alts = b"|".join(re.escape(n.encode()) for n in sorted(names))
        pattern = re.compile(rb'"eventName":"(?:' + alts + rb')"')
        _WATCH_PATTERNS[names] = pattern
    return pattern
