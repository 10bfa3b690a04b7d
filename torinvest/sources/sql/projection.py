"""The CloudTrail record as the investigation queries read it, and the events columns they
project from it: written once, in DuckDB's SQL, for every engine.

Each engine supplies ``records``, the CloudTrail records with the column names of AWS's Athena
table for CloudTrail (``eventtime``, ``useridentity.accesskeyid``…). :data:`PROJECTION` turns a
record into the columns of ``events`` (:data:`EVENT_COLUMNS`, the events frame's less
source/origin); :data:`RECORD_STRUCTURE` is what DuckDB's ``json_transform`` reads from a log
file (:func:`record_structure`: only the fields a query reads); :func:`content_key_sql` tells
copies of a record from different records sharing an event ID. Values enter the SQL only as
literals (:func:`sql_literal`). Plain text: nothing here imports an engine.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from torinvest.outcome import OUTCOME_UNKNOWN_MARK
from torinvest.sources.records import SAME_RECORD_COLUMNS, SESSION_TYPES, USABLE_TIME

#: The dialect the queries are written in, and the one Athena (engine v3, Trino) speaks.
SOURCE_DIALECT = "duckdb"
TRINO_DIALECT = "trino"


#: Texts read as true/false in ``readOnly`` and ``mfaAuthenticated`` (as
#: :mod:`torinvest.sources.records` does).
TRUE_TEXTS: tuple[str, ...] = ("true", "1", "yes")
FALSE_TEXTS: tuple[str, ...] = ("false", "0", "no")


#: The column of ``records`` saying the engine's reader found a record not whole (a BOOLEAN:
#: torinvest's :data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK` on it, which CloudTrail never
#: writes). Each engine supplies it beside the record's fields: DuckDB from the mark, as the
#: file loader reads it; Athena as FALSE (its table holds CloudTrail's own records). The
#: projection's ``outcome_unknown`` is it without an error code (:mod:`torinvest.outcome`).
NOT_WHOLE = "torinvest_not_whole"

#: The record fields the queries use, as ``json_transform`` reads them from a log file (the
#: same fields, names aside, as the columns of AWS's Athena table for CloudTrail; and the mark
#: of a record torinvest found not whole, which only DuckDB's files can hold: :data:`NOT_WHOLE`).
RECORD_STRUCTURE: dict[str, Any] = {
    "eventTime": "VARCHAR",
    "eventID": "VARCHAR",
    "eventName": "VARCHAR",
    "eventSource": "VARCHAR",
    "awsRegion": "VARCHAR",
    "sourceIPAddress": "VARCHAR",
    "userAgent": "VARCHAR",
    "errorCode": "VARCHAR",
    "errorMessage": "VARCHAR",
    "readOnly": "VARCHAR",
    "eventType": "VARCHAR",
    "recipientAccountId": "VARCHAR",
    "userIdentity": {
        "type": "VARCHAR",
        "principalId": "VARCHAR",
        "arn": "VARCHAR",
        "accountId": "VARCHAR",
        "accessKeyId": "VARCHAR",
        "userName": "VARCHAR",
        "sessionContext": {
            "sessionIssuer": {"arn": "VARCHAR"},
            "attributes": {"mfaAuthenticated": "VARCHAR"},
        },
    },
    "requestParameters": "JSON",
    "responseElements": "JSON",
    "sessionCredentialFromConsole": "VARCHAR",
    "additionalEventData": "JSON",
    OUTCOME_UNKNOWN_MARK: "VARCHAR",
}

#: Columns of ``events`` (the events frame's, less source/origin) and the engine's order keys.
EVENT_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_id",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "user_agent",
    "error_code",
    "outcome_unknown",
    "error_message",
    "read_only",
    "event_type",
    "access_key_id",
    "principal_id",
    "user_type",
    "user_name",
    "arn",
    "account_id",
    "recipient_account_id",
    "session_issuer_arn",
    "mfa_authenticated",
    "request_parameters",
    "response_elements",
)
ORDER_COLUMNS: tuple[str, ...] = ("file_index", "record_index")


def _text(column: str) -> str:
    return f"NULLIF({column}, '')"


def _boolean(column: str) -> str:
    true, false = (", ".join(sql_literal(t) for t in texts) for texts in (TRUE_TEXTS, FALSE_TEXTS))
    return (
        f"CASE WHEN lower(trim({column})) IN ({true}) THEN TRUE "
        f"WHEN lower(trim({column})) IN ({false}) THEN FALSE END"
    )


#: Characters a literal never holds as written: control characters (C0, DEL, C1) and the
#: line and paragraph separators. ``str.splitlines`` breaks lines at some of them, and a query
#: is indented line by line (:func:`.queries.render`): written inside a literal, such a
#: character would be indented too, and the literal would no longer be the value.
_UNWRITTEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def sql_literal(value: str) -> str:
    """A SQL string literal: the only way values enter the queries.

    Quotes doubled (DuckDB's and Trino's rule, what sqlglot writes for a string in either
    dialect: every other character stands for itself), and each character of
    :data:`_UNWRITTEN` as ``chr(code point)`` joined with ``||``: the literal is one line of
    printable text, which indenting the query and printing it (``--print-sql``) keep as it is.
    Written out, so that building the queries does not import sqlglot (only their
    translation, :func:`.queries.to_trino`, does)."""
    text = str(value)
    parts: list[str] = []
    last = 0
    for match in _UNWRITTEN.finditer(text):
        if match.start() > last or not parts:
            parts.append(_quoted(text[last : match.start()]))
        parts += [f"chr({ord(c)})" for c in match.group()]
        last = match.end()
    if not parts:
        return _quoted(text)
    if last < len(text):
        parts.append(_quoted(text[last:]))
    return "(" + " || ".join(parts) + ")"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_literals(values: Iterable[str]) -> str:
    return ", ".join(sql_literal(v) for v in sorted(values))


#: CloudTrail record (Athena's column names) → events frame column, written once.
PROJECTION: tuple[tuple[str, str], ...] = (
    # the forms the file loader reads, no other (the cast alone reads "+24:00", "T24:00:00Z",
    # "… UTC", "… America/New_York" and shifts them; it refuses "… +02:00", which is refused)
    (
        "event_time",
        f"CASE WHEN regexp_matches(eventtime, {sql_literal(USABLE_TIME)})"
        " THEN TRY_CAST(eventtime AS TIMESTAMPTZ) END",
    ),
    ("event_id", _text("eventid")),
    ("event_name", _text("eventname")),
    ("event_source", _text("eventsource")),
    ("aws_region", _text("awsregion")),
    ("source_ip", _text("sourceipaddress")),
    ("user_agent", _text("useragent")),
    ("error_code", _text("errorcode")),
    # torinvest.outcome's rule: a record not whole (NOT_WHOLE) without an error code
    (
        "outcome_unknown",
        f"(COALESCE({NOT_WHOLE}, FALSE) AND {_text('errorcode')} IS NULL)",
    ),
    ("error_message", _text("errormessage")),
    ("read_only", _boolean("readonly")),
    ("event_type", _text("eventtype")),
    ("access_key_id", _text("useridentity.accesskeyid")),
    ("principal_id", _text("useridentity.principalid")),
    ("user_type", _text("useridentity.type")),
    (
        "user_name",
        f"COALESCE({_text('useridentity.username')}, CASE WHEN useridentity.type IN "
        f"({sql_literals(SESSION_TYPES)}) THEN "
        f"NULLIF(regexp_extract(useridentity.arn, '/([^/]*)$', 1), '') END)",
    ),
    ("arn", _text("useridentity.arn")),
    ("account_id", _text("useridentity.accountid")),
    ("recipient_account_id", _text("recipientaccountid")),
    ("session_issuer_arn", _text("useridentity.sessioncontext.sessionissuer.arn")),
    ("mfa_authenticated", _boolean("useridentity.sessioncontext.attributes.mfaauthenticated")),
    ("request_parameters", _text("CAST(requestparameters AS VARCHAR)")),
    ("response_elements", _text("CAST(responseelements AS VARCHAR)")),
)
assert tuple(name for name, _ in PROJECTION) == EVENT_COLUMNS

#: A column of ``events`` that is no column of the events frame, projected only for the queries
#: of console sessions (:attr:`.queries.Scope.console`): whether the record is a call made with
#: a key a console sign-in gave (``sessionCredentialFromConsole`` ``"true"``, as the file
#: loader reads it: :func:`~torinvest.sources.records.passwords.console_call`). AWS's Athena
#: table has the column (``sessioncredentialfromconsole STRING``); DuckDB reads it as text.
CONSOLE_SESSION = "console_session"
#: A column of ``events`` projected only for the queries of console sessions too: the MFA of a
#: console sign-in (``additionalEventData.MFAUsed``, a short text — ``Yes``, ``No`` — as the
#: file loader takes it: :func:`~torinvest.sources.records.passwords.with_mfa`).
MFA_USED = "mfa_used"
_MFA_TEXT = "json_extract_string(CAST(additionaleventdata AS VARCHAR), '$.MFAUsed')"
EXTRA_PROJECTION: tuple[tuple[str, str], ...] = (
    (CONSOLE_SESSION, "COALESCE(lower(sessioncredentialfromconsole) = 'true', FALSE)"),
    (MFA_USED, f"CASE WHEN length({_MFA_TEXT}) <= 16 THEN {_MFA_TEXT} END"),
)
#: The columns of ``events`` the console sessions' queries project beside the frame's.
CONSOLE_COLUMNS: tuple[str, ...] = (CONSOLE_SESSION, MFA_USED)

#: The record fields (paths into RECORD_STRUCTURE) each column of ``events`` reads.
COLUMN_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "event_time": (("eventTime",),),
    "event_id": (("eventID",),),
    "event_name": (("eventName",),),
    "event_source": (("eventSource",),),
    "aws_region": (("awsRegion",),),
    "source_ip": (("sourceIPAddress",),),
    "user_agent": (("userAgent",),),
    "error_code": (("errorCode",),),
    "outcome_unknown": ((OUTCOME_UNKNOWN_MARK,), ("errorCode",)),
    "error_message": (("errorMessage",),),
    "read_only": (("readOnly",),),
    "event_type": (("eventType",),),
    "access_key_id": (("userIdentity", "accessKeyId"),),
    "principal_id": (("userIdentity", "principalId"),),
    "user_type": (("userIdentity", "type"),),
    "user_name": (("userIdentity", "userName"), ("userIdentity", "type"), ("userIdentity", "arn")),
    "arn": (("userIdentity", "arn"),),
    "account_id": (("userIdentity", "accountId"),),
    "recipient_account_id": (("recipientAccountId",),),
    "session_issuer_arn": (("userIdentity", "sessionContext", "sessionIssuer", "arn"),),
    "mfa_authenticated": (("userIdentity", "sessionContext", "attributes", "mfaAuthenticated"),),
    "request_parameters": (("requestParameters",),),
    "response_elements": (("responseElements",),),
}
assert tuple(COLUMN_FIELDS) == EVENT_COLUMNS
#: The record fields each column of :data:`EXTRA_PROJECTION` reads.
EXTRA_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    CONSOLE_SESSION: (("sessionCredentialFromConsole",),),
    MFA_USED: (("additionalEventData",),),
}

#: The columns (dotted paths into structs, lower case: AWS's Athena table for CloudTrail)
#: each column of ``events`` reads from a table: a table made from an older CloudTrail DDL may
#: lack some (:func:`projection_sql` then projects NULL, and the engine says what was not read).
#: The mark of a record not whole is no table's column (the engine supplies it).
TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(".".join(path).lower() for path in paths if path != (OUTCOME_UNKNOWN_MARK,))
    for name, paths in {**COLUMN_FIELDS, **EXTRA_FIELDS}.items()
}
#: The SQL type of each column of ``events`` (a column a table cannot give is a NULL of it).
COLUMN_TYPES: dict[str, str] = {
    **{name: "VARCHAR" for name in TABLE_FIELDS},
    "event_time": "TIMESTAMPTZ",
    "outcome_unknown": "BOOLEAN",
    "read_only": "BOOLEAN",
    "mfa_authenticated": "BOOLEAN",
    CONSOLE_SESSION: "BOOLEAN",
}


def projection_sql(name: str, unread: Collection[str] = ()) -> str:
    """The expression of column ``name`` of ``events`` (:data:`PROJECTION`,
    :data:`EXTRA_PROJECTION`); a NULL of its type when it is one of ``unread`` (the table
    lacks a column it reads: :data:`TABLE_FIELDS`)."""
    if name in unread:
        return f"CAST(NULL AS {COLUMN_TYPES[name]})"
    return dict((*PROJECTION, *EXTRA_PROJECTION))[name]


#: Columns every query projects: its scope's filters, and the event_id copies share.
BASE_COLUMNS: tuple[str, ...] = ("event_time", "event_id", "access_key_id")
#: What tells copies of a record apart from different records sharing an event_id — the file
#: loader's rule (:data:`~torinvest.sources.records.SAME_RECORD_COLUMNS`) — in every query, the
#: narrow counts too: a 64-bit hash of those columns (DuckDB's ``hash``; Trino's ``xxhash64`` of
#: their length-prefixed text, :func:`._trino_fixes`), so that the window that drops copies holds
#: 8 bytes per row instead of the records' text. Every query reads every content field for it.
CONTENT_KEY = "content_key"


def content_key_sql(unread: Collection[str] = ()) -> str:
    """The content key of a projected record (over :data:`PROJECTION`'s expressions; NULL for
    those of ``unread``, as :func:`projection_sql`)."""
    return f"hash({', '.join(projection_sql(c, unread) for c in SAME_RECORD_COLUMNS)})"


def record_structure(columns: Collection[str]) -> dict[str, Any]:
    """:data:`RECORD_STRUCTURE` with only the fields ``columns`` read (a narrow query's records
    are narrow: DuckDB transforms and holds only those fields)."""
    fields = {**COLUMN_FIELDS, **EXTRA_FIELDS}
    paths = [path for c in columns for path in fields[c]]

    def prune(node: dict[str, Any], prefix: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in node.items():
            here = (*prefix, name)
            if isinstance(value, dict):
                inner = prune(value, here)
                if inner:
                    out[name] = inner
            elif here in paths:
                out[name] = value
        return out

    return prune(RECORD_STRUCTURE, ())


#: Output column kinds, for engines that return text (Athena): time, text, bool, int.
EVENTS_OUTPUT: dict[str, str] = {
    **{c: "text" for c in EVENT_COLUMNS},
    "event_time": "time",
    "outcome_unknown": "bool",
    "read_only": "bool",
    "mfa_authenticated": "bool",
    "file_index": "int",
}
