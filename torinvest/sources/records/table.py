"""CloudTrail records → one Arrow piece (:func:`records_table`; runs in worker processes), and
the filters and issues over pieces (keys, window, records without a time).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from torinvest.errors import DataIssue
from torinvest.outcome import OUTCOME_UNKNOWN_MARK
from torinvest.safety import prose_safe
from torinvest.schema import utc_times
from torinvest.sources.records.columns import (
    _BOOL_TEXT,
    _EMPTY,
    _STR,
    _TIME,
    MINTING_EVENTS,
    SESSION_TYPES,
    TABLE_SCHEMA,
    USABLE_TIME,
)
from torinvest.sources.records.jsontext import json_bytes
from torinvest.sources.records.passwords import console_call, signs_in


# --------------------------------------------------------------------------------------------
# records → Arrow table (runs in worker processes)
# --------------------------------------------------------------------------------------------
def _text(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, dict | list):
        return json_bytes(v).decode()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        return _BOOL_TEXT.get(v.strip().lower())
    return None


def _strings(values: Sequence[Any]) -> pa.Array:
    """Text values as an Arrow string array; "" becomes null, other types become text."""
    try:
        arr = pa.array(values, type=_STR)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_text(v) for v in values], type=_STR)
    if pc.min_max(pc.binary_length(arr))["min"].as_py() == 0:
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, _STR), arr)
    return arr


def _category(values: Sequence[Any]) -> pa.DictionaryArray:
    """Text values dictionary-encoded; "" becomes null, other types become text."""
    try:
        arr = pa.array(values, type=_STR).dictionary_encode()
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_text(v) for v in values], type=_STR).dictionary_encode()
    empty = pc.index(arr.dictionary, "").as_py()
    if empty >= 0:
        indices = pc.if_else(pc.equal(arr.indices, empty), pa.scalar(None, pa.int32()), arr.indices)
        arr = pa.DictionaryArray.from_arrays(indices, arr.dictionary)
    return arr


def _booleans(values: Sequence[Any]) -> pa.Array:
    """bool values; the text "true"/"false" (how CloudTrail writes mfaAuthenticated) too."""
    try:
        return pa.array(values, type=pa.bool_())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    try:
        text = pa.array(values, type=_STR)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_bool(v) for v in values], type=pa.bool_())
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    known = pc.is_in(lowered, value_set=pa.array(list(_BOOL_TEXT), type=_STR))
    truth = pc.is_in(lowered, value_set=pa.array(["true", "1", "yes"], type=_STR))
    return pc.if_else(known, truth, pa.scalar(None, pa.bool_()))


def _json_texts(values: Sequence[Any]) -> pa.Array:
    dumps = orjson.dumps
    try:
        blobs = [None if v is None else dumps(v) for v in values]
    except orjson.JSONEncodeError:  # nested past orjson's 254 levels (or not JSON)
        blobs = [None if v is None else json_bytes(v) for v in values]
    return pa.array(blobs, type=pa.large_binary()).cast(_STR)


def _times(values: Sequence[Any]) -> pa.Array:
    return _as_time(_strings(values))


def _runs(value: str | Sequence[tuple[str, int]], n: int) -> pa.Array:
    """A dictionary column from runs of one value: ``"x"`` or ``[("a", 3), ("b", 2)]``."""
    runs = [(value, n)] if isinstance(value, str) else list(value)
    counts = np.fromiter((c for _, c in runs), dtype=np.int64, count=len(runs))
    if counts.sum() != n:
        raise ValueError(f"origin runs cover {counts.sum()} rows, not {n}")
    codes = np.repeat(np.arange(len(runs), dtype=np.int32), counts)
    return pa.DictionaryArray.from_arrays(codes, pa.array([v for v, _ in runs], type=_STR))


def _session_name(u: Mapping[str, Any]) -> str | None:
    arn = u.get("arn")
    if isinstance(arn, str) and "/" in arn:
        return arn.rsplit("/", 1)[1] or None
    return None


def _clean(r: Mapping[str, Any]) -> Mapping[str, Any]:
    """A record whose userIdentity/sessionContext parts that are not objects are dropped."""
    u = r.get("userIdentity")
    if not isinstance(u, dict):
        return {**r, "userIdentity": None}
    c = u.get("sessionContext")
    if c is not None and not isinstance(c, dict):
        u = {**u, "sessionContext": None}
    elif isinstance(c, dict):
        parts = {k: v for k, v in c.items() if k in ("sessionIssuer", "attributes")}
        if any(v is not None and not isinstance(v, dict) for v in parts.values()):
            u = {**u, "sessionContext": {k: v for k, v in c.items() if isinstance(v, dict)}}
    return {**r, "userIdentity": u}


def records_table(
    records: Sequence[Mapping[str, Any]],
    *,
    source: str,
    origin: str | Sequence[tuple[str, int]],
) -> pa.Table:
    """One Arrow piece of the events frame (:data:`TABLE_SCHEMA`) from CloudTrail records.

    ``origin`` names where the records came from: one name, or runs ``[(name, count), …]`` in
    record order (a batch of files). Low-cardinality columns are dictionary-encoded; values of
    an unexpected type become text rather than being dropped. No deduplication or sorting here.

    The fields are read by Arrow's converter in one pass over the dicts (:data:`RECORD_TYPE`);
    records it cannot convert (a field of an unexpected type) go through a Python path that
    gives the same columns.
    """
    n = len(records)
    if n == 0:
        return TABLE_SCHEMA.empty_table()
    try:
        arrays = _arrays_arrow(records)
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError, ValueError):
        arrays = _arrays_python(records)
    arrays += [_runs(source, n), _runs(origin, n), event_id_hash(arrays[1])]
    return pa.Table.from_arrays(arrays, schema=TABLE_SCHEMA)


#: The record fields the frame uses, as Arrow converts them from the parsed dicts.
RECORD_TYPE = pa.struct(
    [
        ("eventTime", _STR),
        ("@timestamp", _STR),
        ("eventID", _STR),
        ("eventName", _STR),
        ("eventSource", _STR),
        ("awsRegion", _STR),
        ("sourceIPAddress", _STR),
        ("userAgent", _STR),
        ("errorCode", _STR),
        ("errorMessage", _STR),
        ("readOnly", pa.bool_()),
        ("eventType", _STR),
        ("recipientAccountId", _STR),
        (
            "userIdentity",
            pa.struct(
                [
                    ("accessKeyId", _STR),
                    ("principalId", _STR),
                    ("type", _STR),
                    ("userName", _STR),
                    ("arn", _STR),
                    ("accountId", _STR),
                    (
                        "sessionContext",
                        pa.struct(
                            [
                                ("sessionIssuer", pa.struct([("arn", _STR)])),
                                ("attributes", pa.struct([("mfaAuthenticated", _STR)])),
                            ]
                        ),
                    ),
                ]
            ),
        ),
        (OUTCOME_UNKNOWN_MARK, _STR),
    ]
)


def _arrays_arrow(recs: Sequence[Mapping[str, Any]]) -> list[pa.Array]:
    """The columns of :data:`TABLE_SCHEMA` up to response_elements, through Arrow's converter."""
    fields = pa.array(recs, type=RECORD_TYPE).flatten()
    identity = fields[13].flatten()
    issuer, attributes = identity[6].flatten()
    return _record_columns(
        fields[:13],
        identity[:6],
        issuer.flatten()[0],
        attributes.flatten()[0],
        _json_texts([r.get("requestParameters") for r in recs]),
        _json_texts([r.get("responseElements") for r in recs]),
        fields[14],
    )


def _record_columns(
    fields: Sequence[pa.Array],
    identity: Sequence[pa.Array],
    issuer_arn: pa.Array,
    mfa: pa.Array,
    request: pa.Array,
    response: pa.Array,
    marks: pa.Array | None,
) -> list[pa.Array]:
    """The columns up to response_elements from the fields as read (:data:`RECORD_TYPE` order;
    text fields as strings, those of category columns possibly dictionary-encoded already,
    readOnly as bool, the JSON texts already made; ``marks``: each record's
    :data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK`, None when no record has one)."""
    (when, stamp, event_id, name, service, region, ip, agent, error, message) = fields[:10]
    read_only, kind, recipient = fields[10:13]
    key, principal, user_type, user_name, arn, account = identity
    arns = _encode(arn)
    errors = _encode(error)
    return [
        _as_time(pc.coalesce(_no_empty(when), _no_empty(stamp))),
        _no_empty(event_id),
        _encode(name),
        _encode(service),
        _encode(region),
        _encode(ip),
        _encode(agent),
        errors,
        _outcome_unknown(marks, errors),
        _no_empty(message),
        read_only,
        _encode(kind),
        _encode(key),
        _encode(principal),
        _encode(user_type),
        _encode(_with_session_names(_no_empty(user_name), user_type, arns)),
        arns,
        _encode(account),
        _encode(recipient),
        _encode(issuer_arn),
        _text_booleans(mfa),
        request,
        response,
    ]


def _arrays_python(recs: Sequence[Mapping[str, Any]]) -> list[pa.Array]:
    """The same columns as :func:`_arrays_arrow`, reading the dicts in Python (any types)."""
    try:
        return _python_columns(recs)
    except AttributeError:  # a userIdentity, sessionContext… that is not a JSON object
        return _python_columns([_clean(r) for r in recs])


def _python_columns(recs: Sequence[Mapping[str, Any]]) -> list[pa.Array]:
    rows = [
        (
            r.get("eventTime") or r.get("@timestamp"),
            r.get("eventID"),
            r.get("eventName"),
            r.get("eventSource"),
            r.get("awsRegion"),
            r.get("sourceIPAddress"),
            r.get("userAgent"),
            r.get("errorCode"),
            r.get("errorMessage"),
            r.get("readOnly"),
            r.get("eventType"),
            r.get("recipientAccountId"),
            r.get("requestParameters"),
            r.get("responseElements"),
            r.get("userIdentity") or _EMPTY,
            r.get(OUTCOME_UNKNOWN_MARK),
        )
        for r in recs
    ]
    cols = list(zip(*rows, strict=True))
    (when, event_id, name, service, region, ip, agent, error, message) = cols[:9]
    read_only, kind, recipient, request, response, identity, marks = cols[9:]
    users = [
        (
            u.get("accessKeyId"),
            u.get("principalId"),
            u.get("type"),
            u.get("userName") or (_session_name(u) if u.get("type") in SESSION_TYPES else None),
            u.get("arn"),
            u.get("accountId"),
            (u.get("sessionContext") or _EMPTY).get("sessionIssuer") or _EMPTY,
            (u.get("sessionContext") or _EMPTY).get("attributes") or _EMPTY,
        )
        for u in identity
    ]
    key, principal, user_type, user_name, arn, account, issuer, attributes = zip(
        *users, strict=True
    )
    return [
        _times(when),
        _strings(event_id),
        _category(name),
        _category(service),
        _category(region),
        _category(ip),
        _category(agent),
        errors := _category(error),
        _outcome_unknown(pa.array([_text(m) for m in marks], type=_STR), errors),
        _strings(message),
        _booleans(read_only),
        _category(kind),
        _category(key),
        _category(principal),
        _category(user_type),
        _category(user_name),
        _category(arn),
        _category(account),
        _category(recipient),
        _category([i.get("arn") for i in issuer]),
        _booleans([a.get("mfaAuthenticated") for a in attributes]),
        _json_texts(request),
        _json_texts(response),
    ]


def _outcome_unknown(marks: pa.Array | None, errors: pa.Array) -> pa.Array:
    """The ``outcome_unknown`` column: a record marked not whole
    (:data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK`, any text but "") without an error code
    (one with an error code failed, whole or not). False, never null, elsewhere."""
    n = len(errors)
    if marks is None or marks.null_count == len(marks):
        return pa.array(np.zeros(n, dtype=bool), type=pa.bool_())
    marked = pc.fill_null(pc.greater(pc.binary_length(marks.cast(_STR)), 0), False)
    return pc.and_(marked, pc.is_null(errors))


def _no_empty(arr: pa.Array) -> pa.Array:
    """ "" → null (CloudTrail writes "" for some absent values, e.g. accessKeyId)."""
    nulls = arr.null_count
    if nulls == len(arr):
        return arr
    if not nulls and arr.type == _STR:  # no nulls: the lengths from the offsets
        offsets = np.frombuffer(arr.buffers()[1], np.int64, len(arr) + 1, arr.offset * 8)
        if int((offsets[1:] - offsets[:-1]).min()):
            return arr
    elif pc.min(pc.binary_length(arr)).as_py() != 0:
        return arr
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _encode(arr: pa.Array) -> pa.DictionaryArray:
    """Dictionary-encoded (unless it is already), "" as null."""
    encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    empty = _empty_at(encoded.dictionary)
    if empty < 0:
        return encoded
    indices = pc.if_else(
        pc.equal(encoded.indices, empty), pa.scalar(None, pa.int32()), encoded.indices
    )
    return pa.DictionaryArray.from_arrays(indices, encoded.dictionary)


def _empty_at(words: pa.Array) -> int:
    """Where "" is in a dictionary of text (-1: nowhere), read from its offsets."""
    if words.type != _STR or words.null_count:
        return pc.index(words, "").as_py()
    n = len(words)
    if not n:
        return -1
    offsets = np.frombuffer(words.buffers()[1], np.int64, n + 1, words.offset * 8)
    lengths = offsets[1:] - offsets[:-1]
    first = int(lengths.argmin())
    return first if lengths[first] == 0 else -1


def _as_time(arr: pa.Array) -> pa.Array:
    """Times of the eventTime texts in :data:`USABLE_TIME`'s forms (others: null). Arrow's cast
    when it reads them all and none is an hour without minutes (``…T12Z``, the one form outside
    :data:`USABLE_TIME` it reads: a ``:`` at index 13 tells), else the forms kept and parsed."""
    try:
        times = arr.cast(_TIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a batch with a bad time: slow path
        pass
    else:
        if _colon_at_13(arr):
            return times
    usable = pc.fill_null(pc.match_substring_regex(arr, USABLE_TIME), False)
    kept = pc.if_else(usable, arr, pa.scalar(None, arr.type))
    return pa.array(utc_times(kept.to_pylist()), type=_TIME)


def _colon_at_13(arr: pa.Array) -> bool:
    """Whether no text of ``arr`` (times Arrow's cast read: ASCII) lacks a ``:`` at index 13,
    nulls aside; read from the offsets and bytes when there are no nulls (one pass, no
    compute calls)."""
    n = len(arr)
    if arr.null_count or arr.type != _STR or not n:
        return pc.all(pc.equal(pc.utf8_slice_codeunits(arr, 13, 14), ":")).as_py() is not False
    offsets = np.frombuffer(arr.buffers()[1], np.int64, n + 1, arr.offset * 8)
    starts = offsets[:-1]
    if int((offsets[1:] - starts).min()) < 14:
        return False
    data = np.frombuffer(arr.buffers()[2], np.uint8)
    if int(data.max(initial=0)) >= 0x80:  # not ASCII: index 13 need not be byte 13
        return pc.all(pc.equal(pc.utf8_slice_codeunits(arr, 13, 14), ":")).as_py() is not False
    return bool((data[starts + 13] == ord(":")).all())


def _with_session_names(
    user_name: pa.Array, user_type: pa.Array, arns: pa.DictionaryArray
) -> pa.Array:
    """userName, else the session name (after the last "/" of the arn) of a role session
    (``arns``: the arn column encoded, few distinct arns: each is named once)."""
    wanted = pc.fill_null(
        pc.and_kleene(
            pc.is_null(user_name), pc.is_in(user_type, pa.array(sorted(SESSION_TYPES), _STR))
        ),
        False,
    )
    if not pc.any(wanted).as_py():
        return user_name
    names = [_session_name({"arn": a}) for a in arns.dictionary.to_pylist()]
    session = pc.take(pa.array(names, type=_STR), arns.indices)
    return pc.if_else(wanted, session, user_name)


def _text_booleans(arr: pa.Array) -> pa.Array:
    """ "true"/"false" (how CloudTrail writes mfaAuthenticated) → bool; anything else → null."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    known = pc.is_in(lowered, value_set=pa.array(list(_BOOL_TEXT), type=_STR))
    truth = pc.is_in(lowered, value_set=pa.array(["true", "1", "yes"], type=_STR))
    return pc.if_else(known, truth, pa.scalar(None, pa.bool_()))


_HASH_K = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def event_id_hash(ids: pa.Array) -> pa.Array:
    """A 64-bit hash of each event_id from its length and first and last 8 bytes (0 for null),
    vectorized. It only finds candidate copies, which are then compared exactly."""
    arr = ids if ids.type == _STR else ids.cast(_STR)
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], np.int64, n + 1, arr.offset * 8)
    data = np.frombuffer(arr.buffers()[2] or b"\0", dtype=np.uint8)
    if len(data) == 0:
        data = np.zeros(1, dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    if n and int((ends - starts).min()) >= 8:  # the usual IDs: read the two words directly
        # the 8 bytes from each offset, as one word (unaligned reads)
        words = np.ndarray((len(data) - 7,), np.uint64, data, strides=(1,))
        head = words[starts]
        tail = words[ends - 8]
        out = head * _HASH_K[0] ^ tail * _HASH_K[1]
    else:  # short or null IDs: the bytes past either end are the ID's own last/first byte
        last = np.maximum(ends - 1, 0)
        eight = np.arange(8, dtype=np.int64)
        head = np.minimum(starts[:, None] + eight, last[:, None])
        tail = np.maximum(ends[:, None] - 8 + eight, starts[:, None])
        gathered = data[np.clip(np.concatenate([head, tail], axis=1), 0, len(data) - 1)]
        words = np.ascontiguousarray(gathered).view(np.uint64)
        out = words[:, 0] * _HASH_K[0] ^ words[:, 1] * _HASH_K[1]
    out ^= (ends - starts).astype(np.uint64) * _HASH_K[2]
    if arr.null_count:
        out[~np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False))] = 0
    return pa.array(out, type=pa.uint64())


def filter_keys(
    records: Iterable[Mapping[str, Any]],
    keys: Collection[str],
    minted: Collection[str] = (),
    users: Collection[str] = (),
) -> list[Mapping[str, Any]]:
    """The records whose caller used one of ``keys`` (``userIdentity.accessKeyId``, text: a
    list or object written there is no key, and not a reason to fail the file), with
    ``minted`` the records that minted one of those keys (:func:`mints_one`: who minted the
    key, :mod:`torinvest.sources.records.origin`), and with ``users`` the console sign-ins of
    those IAM users and their console sessions' calls
    (:func:`~torinvest.sources.records.passwords.signs_in`, :func:`~.passwords.console_call`)."""
    out = []
    for r in records:
        u = r.get("userIdentity")
        if (
            (isinstance(u, dict) and isinstance(key := u.get("accessKeyId"), str) and key in keys)
            or (minted and mints_one(r, minted))
            or (users and (signs_in(r, users) or console_call(r, users)))
        ):
            out.append(r)
    return out


def mints_one(record: Mapping[str, Any], keys: Collection[str]) -> bool:
    """Whether ``record`` is a minting call (:data:`MINTING_EVENTS`) whose response holds one
    of ``keys`` (``responseElements.credentials.accessKeyId``; CreateAccessKey's
    ``responseElements.accessKey.accessKeyId``)."""
    name = record.get("eventName")
    if name not in MINTING_EVENTS:
        return False
    response = record.get("responseElements")
    if not isinstance(response, dict):
        return False
    creds = response.get("accessKey" if name == "CreateAccessKey" else "credentials")
    key = creds.get("accessKeyId") if isinstance(creds, dict) else None
    return isinstance(key, str) and key in keys


def filter_window(
    table: pa.Table, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pa.Table:
    """Rows of a piece whose event_time is in [start, end], and rows without a time (missing or
    unparsable eventTime): a record whose time is unknown cannot be shown to be outside the
    window, so it is kept (with NA time; :func:`untimed_issue` reports it)."""
    if (start is None and end is None) or table.num_rows == 0:
        return table
    t = table.column("event_time")
    mask = None
    if start is not None:
        mask = pc.greater_equal(t, pa.scalar(start.to_pydatetime(), _TIME))
    if end is not None:
        before = pc.less_equal(t, pa.scalar(end.to_pydatetime(), _TIME))
        mask = before if mask is None else pc.and_(mask, before)
    return table.filter(pc.fill_null(mask, True))


#: How many event IDs an issue names before it says "and N more".
NAMED_IDS = 10


#: How :func:`untimed_issue` says it (after the count).
UNTIMED = " record(s) without a usable eventTime "


def is_untimed_issue(issue: DataIssue) -> bool:
    """Whether ``issue`` is :func:`untimed_issue`'s."""
    head, sep, _ = issue.problem.partition(UNTIMED)
    return bool(sep) and head.isdigit()


def untimed_issue(table: pa.Table, where: str) -> DataIssue | None:
    """One issue for the rows of a piece without a usable time (eventTime missing, empty or not
    an ISO 8601 time), naming their event IDs; None when every row has a time."""
    times = table.column("event_time")
    if not times.null_count:
        return None
    rows = pc.is_null(times)
    ids = [
        i if i is not None else "(no eventID)"
        for i in table.column("event_id").filter(rows).to_pylist()
    ]
    return DataIssue(
        where,
        f"{len(ids)}{UNTIMED}(missing, or not an ISO 8601 time "
        "in the extended form CloudTrail writes, 2023-07-10T12:00:00Z): "
        f"{_named(ids)}; kept with an unknown time (NA): they cannot be placed in the window, "
        "nor shown to be outside it",
    )


def _named(ids: Sequence[str]) -> str:
    """The first :data:`NAMED_IDS` event IDs (a forged record's text: each cut at
    :data:`ID_CHARS`, its backticks escaped — :func:`~torinvest.safety.prose_safe` — in a
    data issue's prose), then how many more."""
    shown = ", ".join(shown_id(i) for i in ids[:NAMED_IDS])
    return shown + (f" and {len(ids) - NAMED_IDS} more" if len(ids) > NAMED_IDS else "")


#: The characters of a record's eventID (attacker text) a data issue quotes.
ID_CHARS = 80


def shown_id(event_id: object) -> str:
    """An event ID as a data issue quotes it: cut at :data:`ID_CHARS` (``…``), backticks
    escaped (:func:`~torinvest.safety.prose_safe`): a forged one can neither be a megabyte nor
    read as a command."""
    text = str(event_id)
    return prose_safe(text if len(text) <= ID_CHARS else text[: ID_CHARS - 1] + "…")
