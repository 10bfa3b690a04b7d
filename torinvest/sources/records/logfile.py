"""A log file's bytes → an Arrow piece without dicts (:func:`log_file_table`; runs in worker
processes): msgspec reads only the fields the frame uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from typing import Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from msgspec.structs import astuple

from torinvest.jsonread import parse as parse_json
from torinvest.outcome import OUTCOME_UNKNOWN_MARK
from torinvest.sources.records.columns import _STR, TABLE_SCHEMA
from torinvest.sources.records.jsontext import json_bytes
from torinvest.sources.records.table import _record_columns, _runs, event_id_hash

# --------------------------------------------------------------------------------------------
# a log file's bytes → Arrow table, without dicts (runs in worker processes)
# --------------------------------------------------------------------------------------------
# Typed views of a log file holding only the fields the frame uses; msgspec reads them straight
# from the bytes (unknown fields are skipped, requestParameters/responseElements kept as raw
# JSON). A file whose fields are not of these types fails to decode and is read by the general
# path instead. The field order is RECORD_TYPE's (``astuple`` gives the columns in it).
_ABSENT = msgspec.Raw()


class _Issuer(msgspec.Struct, gc=False):
    arn: str | None = None


class _Attributes(msgspec.Struct, gc=False):
    mfaAuthenticated: str | None = None


class _Context(msgspec.Struct, gc=False):
    sessionIssuer: _Issuer | None = None
    attributes: _Attributes | None = None


class _Identity(msgspec.Struct, gc=False):
    accessKeyId: str | None = None
    principalId: str | None = None
    type: str | None = None
    userName: str | None = None
    arn: str | None = None
    accountId: str | None = None
    sessionContext: _Context | None = None


class _Record(msgspec.Struct, gc=False, kw_only=True):
    eventTime: str | None = None
    timestamp: str | None = msgspec.field(name="@timestamp", default=None)
    eventID: str | None = None
    eventName: str | None = None
    eventSource: str | None = None
    awsRegion: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    readOnly: bool | None = None
    eventType: str | None = None
    recipientAccountId: str | None = None
    userIdentity: _Identity | None = None
    requestParameters: msgspec.Raw = _ABSENT
    responseElements: msgspec.Raw = _ABSENT
    outcomeUnknown: str | None = msgspec.field(name=OUTCOME_UNKNOWN_MARK, default=None)
    eventVersion: msgspec.Raw  # required: an entry without it is not a log record
    #: ``Data`` for a data event (counted per file: whether the trail records them; no column)
    eventCategory: str | None = None


class _LogFile(msgspec.Struct, gc=False):
    Records: list[_Record]


_LOG_FILE = msgspec.json.Decoder(_LogFile)
_NO_IDENTITY = _Identity()
#: Arrow types the fields are converted to: the text of category columns straight to
#: dictionary-encoded (the same array as encoding it after), the rest as text (readOnly bool).
_CODES = pa.dictionary(pa.int32(), _STR)
_FIELD_TYPES = (_STR, _STR, _STR, *[_CODES] * 6, _STR, pa.bool_(), _CODES, _CODES)
_IDENTITY_TYPES = (_CODES, _CODES, _STR, _STR, _STR, _CODES)
#: JSON text exactly as ``orjson.dumps`` writes it: no whitespace, orjson's escapes only, and
#: integers it reads back as integers. A raw value matching this is the text re-serializing it
#: gives; other raw values (floats, ``\/``, ``\u00e9``, spaces…) are re-serialized.
_ORJSON_TEXT = (
    r'^(?:"(?:[^"\\\x00-\x1f]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))*"'
    r"|[{}\[\],:]|true|false|null|(?:0|-?[1-9][0-9]{0,17})(?:[,\]}]|$))*$"
)


def log_file_table(data: bytes, *, source: str, origin: str) -> pa.Table | None:
    """The Arrow piece of one log file (``{"Records": [...]}``, decompressed), read from its
    bytes without building a dict per record: the table :func:`records_table` gives for the
    records :func:`parse_records` finds in it.

    Returns None when this path cannot vouch for that (not such a document, invalid JSON, a
    record without ``eventVersion``, a field of an unexpected type…): the caller then reads the
    file with those two functions, which also report its problems.
    """
    recs = log_file_records(data)
    if recs is None:
        return None
    return log_records_table(recs, source=source, origin=origin)


def log_file_records(data: bytes, *, valid_utf8: bool = False) -> list[_Record] | None:
    """The records of one log file as typed views (:func:`log_records_table` makes the piece),
    or None when :func:`log_file_table` would return None for the file's shape or types.
    ``valid_utf8``: the caller has checked that ``data`` is UTF-8 (``repair_utf8``)."""
    if not valid_utf8 and not data.isascii() and not is_utf8(data):
        return None  # orjson refuses invalid UTF-8 anywhere, msgspec only in what it reads
    try:  # an entry without eventVersion is not a log record: the general path tells them apart
        return _LOG_FILE.decode(data).Records
    except (msgspec.DecodeError, RecursionError):
        return None


def log_records_table(
    recs: Sequence[_Record], *, source: str, origin: str | Sequence[tuple[str, int]]
) -> pa.Table | None:
    """The Arrow piece of records from :func:`log_file_records` (of one or several files:
    ``origin`` as in :func:`records_table`), or None when a requestParameters/responseElements
    value does not parse again (the files then go through the general path)."""
    n = len(recs)
    if n == 0:
        return TABLE_SCHEMA.empty_table()
    *fields, identity, request, response, marks, _, _ = zip(*map(astuple, recs), strict=True)
    try:
        users = list(zip(*map(astuple, identity), strict=True))
    except TypeError:  # some records have "userIdentity": null
        users = list(zip(*map(astuple, [u or _NO_IDENTITY for u in identity]), strict=True))
    contexts = users.pop()
    issuer = [
        None if c is None or c.sessionIssuer is None else c.sessionIssuer.arn for c in contexts
    ]
    mfa = [
        None if c is None or c.attributes is None else c.attributes.mfaAuthenticated
        for c in contexts
    ]
    request_blob, response_blob = b"".join(request), b"".join(response)
    request_plain, response_plain = _are_orjson_texts(request_blob, response_blob)
    request_texts = _raw_json_texts(request, request_blob, plain=request_plain)
    response_texts = _raw_json_texts(response, response_blob, plain=response_plain)
    if request_texts is None or response_texts is None:
        return None
    arrays = _record_columns(
        [pa.array(f, type=_FIELD_TYPES[i]) for i, f in enumerate(fields)],
        [pa.array(u, type=_IDENTITY_TYPES[i]) for i, u in enumerate(users)],
        pa.array(issuer, type=_CODES),
        pa.array(mfa, type=_STR),
        request_texts,
        response_texts,
        None if marks.count(None) == n else pa.array(marks, type=_STR),
    )
    arrays += [_runs(source, n), _runs(origin, n), event_id_hash(arrays[1])]
    return pa.Table.from_arrays(arrays, schema=TABLE_SCHEMA)


def is_utf8(data: bytes) -> bool:
    text = pa.Array.from_buffers(
        _STR, 1, [None, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data)]
    )
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _raw_json_texts(raws: Sequence[msgspec.Raw], blob: bytes, *, plain: bool) -> pa.Array | None:
    """The column :func:`_json_texts` makes, from the raw JSON of each value (absent: empty);
    ``blob`` is the values joined, ``plain`` whether it is all as orjson writes it
    (:func:`_are_orjson_texts`).

    Raw texts already written as orjson writes them are kept as they are; the others are
    re-serialized. None when one of them does not parse (the general path reports the file).
    """
    n = len(raws)
    lengths = np.fromiter(map(len, raws), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # null (the only 4-byte JSON value starting with "n") and absent values are NA
    four = np.flatnonzero(lengths == 4)
    null = lengths == 0
    null[four[np.frombuffer(blob, dtype=np.uint8)[offsets[four]] == ord("n")]] = True
    items: Sequence[Any] = raws
    if not plain:  # some values are not: find them, re-serialize them
        text = pa.Array.from_buffers(_STR, n, [None, pa.py_buffer(offsets), pa.py_buffer(blob)])
        odd = ~pc.match_substring_regex(text, _ORJSON_TEXT).to_numpy(zero_copy_only=False)
        items = list(raws)
        for i in np.flatnonzero(odd).tolist():
            try:
                items[i] = json_bytes(parse_json(memoryview(items[i])))
            except orjson.JSONDecodeError:
                return None
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=n)
    elif not null.any():
        return pa.Array.from_buffers(_STR, n, [None, pa.py_buffer(offsets), pa.py_buffer(blob)])
    valid = ~null
    if null.any():
        lengths[null] = 0
        blob = b"".join(compress(items, valid.tolist()))
    else:
        blob = b"".join(items)
    np.cumsum(lengths, out=offsets[1:])
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if null.any() else None
    return pa.Array.from_buffers(
        _STR,
        n,
        [bitmap, pa.py_buffer(offsets), pa.py_buffer(blob)],
        null_count=int(null.sum()),
    )


def _are_orjson_texts(*blobs: bytes) -> list[bool]:
    """Whether the JSON values in each blob (written one after another) are all as orjson
    writes them. One pass over each whole blob: only two numbers can run together across
    values, and the pattern never accepts them together where it would reject one of them
    alone. One call for all the blobs: Arrow compiles the pattern at each call (40 µs)."""
    ends = np.cumsum([0, *map(len, blobs)], dtype=np.int64)
    whole = pa.Array.from_buffers(
        _STR, len(blobs), [None, pa.py_buffer(ends), pa.py_buffer(b"".join(blobs))]
    )
    return pc.match_substring_regex(whole, _ORJSON_TEXT).to_pylist()
