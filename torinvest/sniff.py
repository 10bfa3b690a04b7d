"""What a file holds, from its first bytes: for files a folder walk passes over by name.

A case folder is filled by hand: a log file saved as ``trail.log`` or ``events.gz``, the logs
of a day downloaded as ``logs.zip``, the console's Event history saved as CSV. Passed over by
name alone, each is events silently not read — the answer reads whole while it is not. Each
file not named like an input is looked at here (:func:`sniff`, its first
:data:`HEAD_BYTES` bytes, a gzip's first inflated ones): CloudTrail JSON under another name is
read (findings JSON, by the findings reader); an archive, a compression the reader does not
open, or a CSV of CloudTrail events is named as not read (its events, if any, are missing);
anything else (notes, images…) is passed over as before.
"""

from __future__ import annotations

import bz2
import lzma
import re
import zlib
from dataclasses import dataclass
from typing import Literal

from torinvest.inflate import json_utf8

#: How much of a file is read to tell what it holds (and of a compressed file's content).
HEAD_BYTES = 64 * 1024
INFLATED_HEAD = 4096

Kind = Literal[
    "cloudtrail",
    "findings",
    "archive",
    "compressed",
    "events-csv",
    "cloudtrail-text",
    "findings-text",
]
Compression = Literal["gzip", "bzip2", "xz"]

#: Archives and a compression no reader opens: what they hold is not looked at.
_MAGIC: tuple[tuple[bytes, Kind, str], ...] = (
    (b"PK\x03\x04", "archive", "a zip archive"),
    (b"PK\x05\x06", "archive", "a zip archive"),
    (b"7z\xbc\xaf\x27\x1c", "archive", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "archive", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "compressed", "compressed with zstd"),
)
#: Compressions whose first bytes are inflated to look inside.
_COMPRESSED: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
#: Keys only CloudTrail's documents hold near their start (a log file, lookup-events output,
#: a record, an EventBridge "AWS API Call via CloudTrail" event).
_CLOUDTRAIL_KEYS = re.compile(rb'"(?:Records|eventVersion|CloudTrailEvent|eventName)"\s*:')
#: A trail's CloudWatch Logs copy (:mod:`torinvest.sources.records.loggroup`): the answer's list
#: of log events (``filter-log-events``, ``get-log-events``) or Logs Insights rows, and either a
#: record's keys escaped in a message (``\"eventVersion\":``) or a row naming a record's field.
_COPY_LIST = re.compile(rb'"(?:events|results)"\s*:\s*\[')
_ESCAPED_KEYS = re.compile(rb'\\"(?:eventVersion|eventName|eventID)\\"\s*:')
_INSIGHTS_FIELD = re.compile(
    rb'"field"\s*:\s*"(?:eventName|eventSource|eventID|eventTime|sourceIPAddress|userIdentity\.)'
)
#: A CloudWatch Logs export to S3: lines ``<ISO time> <message>``, a message a record's JSON.
_EXPORT_LINE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z \{")
#: Keys of findings exports near their start (GetFindings, ASFF, EventBridge, a raw finding).
_FINDINGS_KEYS = re.compile(
    rb'"(?:Findings|findings|SchemaVersion|schemaVersion|detail-type|ProductArn)"\s*:'
)
#: A header naming the event time and name (the console's Event history CSV: "Event time",
#: "Event name"; an Athena or CloudTrail Lake result: eventtime, eventname).
_CSV_TIME = re.compile(rb"event[ _]?time", re.IGNORECASE)
_CSV_NAME = re.compile(rb"event[ _]?name", re.IGNORECASE)

#: The AWS CLI's other output formats (``--output yaml``, ``yaml-stream``, ``text``,
#: ``table``, or ``cli_output`` in the profile): the same answer, not JSON. Each is told by its
#: first line: a YAML mapping key (``Findings:``, ``- Events:`` for yaml-stream); a text line,
#: an upper-case key name and a tab (``FINDINGS\t…``, ``EVENTS\t…``); a table's rule and the
#: operation's name in a box (``|  GetFindings  |``).
_YAML_FIRST = re.compile(rb"\A(?:---[ \t]*\r?\n)?(?:- )?[A-Za-z][\w-]*:(?:[ \t]|\r?\n|\Z)")
_TEXT_FIRST = re.compile(rb"\A[A-Z][A-Z0-9]*\t")
_TABLE_FIRST = re.compile(rb"\A-{5,}\r?\n\|\s*([A-Za-z]+)\s*\|")
#: Keys of CloudTrail's and of findings' answers, as YAML or text output writes them.
_YAML_CLOUDTRAIL = re.compile(
    rb"^[ \t-]*(?:CloudTrailEvent|eventVersion|EventId|EventName|eventName|Records):", re.MULTILINE
)
_YAML_FINDINGS = re.compile(
    rb"^[ \t-]*(?:Findings|FindingIds|SchemaVersion|schemaVersion|detail-type|ProductArn):",
    re.MULTILINE,
)
#: How :func:`sniff` names each of them (``Sniffed.what``), and what to do.
CLI_YAML = "the AWS CLI's YAML output (--output yaml), not JSON"
CLI_TEXT = "the AWS CLI's text output (--output text), not JSON"
CLI_TABLE = "the AWS CLI's table output (--output table), not JSON"
CLI_OUTPUTS: tuple[str, ...] = (CLI_YAML, CLI_TEXT, CLI_TABLE)
CLI_OUTPUT_DO = (
    "run the command again with `--output json` (the AWS CLI's JSON is what is read; a "
    "profile's `output = yaml` or `text` changes every command's default) into the folder, "
    "and re-run"
)
_TEXT_CLOUDTRAIL = re.compile(rb"^(?:EVENTS|RECORDS)\t", re.MULTILINE)
#: ``--output text`` of a list of JSON strings (``aws cloudtrail lookup-events --query
#: 'Events[].CloudTrailEvent'``): the strings on one line (a line per page), tab-separated —
#: records' JSON one after another, no JSON document as a whole.
_TEXT_RECORDS = re.compile(rb"\A\{[^\n]*?\}\t\{")
#: ``--output json`` of the same: a list of strings, each one record's JSON (escaped quotes).
_STRINGS_OPEN = re.compile(rb"\A\[\s*\"")


def tab_separated_records(text: bytes) -> bool:
    """Whether ``text`` (a file's first bytes) is the AWS CLI's text output of CloudTrail
    records' JSON strings (:data:`_TEXT_RECORDS`)."""
    return _TEXT_RECORDS.match(text) is not None and _CLOUDTRAIL_KEYS.search(text) is not None


_TEXT_FINDINGS = re.compile(rb"^(?:FINDINGS|FINDINGIDS)\t", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What :func:`sniff` found: ``kind``, ``what`` (in words, for a message) and the
    ``compression`` around it (None: none)."""

    kind: Kind
    what: str
    compression: Compression | None = None


def sniff(head: bytes) -> Sniffed | None:
    """What a file whose first bytes are ``head`` holds (:data:`HEAD_BYTES` of them are
    enough), or None when it is nothing an input reader wants (text, images…). A gzip, bzip2
    or xz file is looked inside (its first :data:`INFLATED_HEAD` bytes)."""
    for magic, kind, what in _MAGIC:
        if head.startswith(magic):
            return Sniffed(kind, what)
    if head[257:262] == b"ustar":
        return Sniffed("archive", "a tar archive")
    for magic, compression in _COMPRESSED:
        if head.startswith(magic):
            inner = _inflated_head(head, compression)
            if inner[257:262] == b"ustar":
                return Sniffed("archive", f"a tar archive ({compression}-compressed)")
            found = _content(inner)
            if found is None:
                return None
            return Sniffed(found.kind, f"{found.what}, {compression}-compressed", compression)
    return _content(head)


def _content(head: bytes) -> Sniffed | None:
    text = json_utf8(head).lstrip(b" \t\r\n")  # a BOM, UTF-16/32: PowerShell's `>`
    if tab_separated_records(text):
        return Sniffed("cloudtrail-text", CLI_TEXT)
    if text[:1] in (b"{", b"["):
        if _CLOUDTRAIL_KEYS.search(text):
            return Sniffed("cloudtrail", "CloudTrail JSON")
        if _STRINGS_OPEN.match(text) and _ESCAPED_KEYS.search(text):
            return Sniffed("cloudtrail", "CloudTrail records as JSON strings")
        if _COPY_LIST.search(text) and (_ESCAPED_KEYS.search(text) or _INSIGHTS_FIELD.search(text)):
            return Sniffed("cloudtrail", "a CloudWatch Logs copy of CloudTrail events")
        if _FINDINGS_KEYS.search(text):
            return Sniffed("findings", "findings JSON")
        return None
    if _EXPORT_LINE.match(text) and _CLOUDTRAIL_KEYS.search(text):
        return Sniffed("cloudtrail", "a CloudWatch Logs export of CloudTrail events")
    cli = _cli_output(text)
    if cli is not None:
        return cli
    first = text.split(b"\n", 1)[0]
    separated = b"," in first or b"\t" in first
    if separated and _CSV_TIME.search(first) and _CSV_NAME.search(first):
        return Sniffed("events-csv", "a CSV of CloudTrail events")
    return None


def _cli_output(text: bytes) -> Sniffed | None:
    """The AWS CLI's YAML, text or table output of CloudTrail events or findings, or None."""
    if _YAML_FIRST.match(text):
        what = CLI_YAML
        cloudtrail, findings = _YAML_CLOUDTRAIL, _YAML_FINDINGS
    elif _TEXT_FIRST.match(text):
        what = CLI_TEXT
        cloudtrail, findings = _TEXT_CLOUDTRAIL, _TEXT_FINDINGS
    elif table := _TABLE_FIRST.match(text):
        what = CLI_TABLE
        title = table.group(1)
        if b"Finding" in title:
            return Sniffed("findings-text", what)
        if b"Event" in title:
            return Sniffed("cloudtrail-text", what)
        return None
    else:
        return None
    if cloudtrail.search(text):
        return Sniffed("cloudtrail-text", what)
    if findings.search(text):
        return Sniffed("findings-text", what)
    return None


def not_json(data: bytes) -> str | None:
    """What a text that is not JSON at all is, in words for an error message, when it is one
    an analyst saves by mistake: the AWS CLI's YAML/text/table output (of anything), an XML
    error answer (S3's, saved instead of a log file: an expired presigned URL), an HTML page
    (a sign-in or error page). None: nothing known (the caller says the JSON is damaged)."""
    text = json_utf8(data[:HEAD_BYTES]).lstrip(b" \t\r\n")
    if tab_separated_records(text):
        return CLI_TEXT
    if text[:1] in (b"{", b"[", b""):
        return None
    found = _cli_output(text)
    if found is not None:
        return found.what
    if _YAML_FIRST.match(text) or _TABLE_FIRST.match(text):
        return "YAML or a table (the AWS CLI's --output yaml or table?), not JSON"
    lower = text[:512].lower()
    if lower.startswith(b"<?xml") or lower.startswith(b"<error>"):
        code = re.search(rb"<Code>([^<]{1,64})</Code>", text)
        said = f" ({code.group(1).decode('ascii', 'replace')})" if code else ""
        return f"an XML document{said}, not JSON: an error answer saved instead of the file?"
    if lower.startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not JSON: a sign-in or error page saved instead of the file?"
    return None


def cut_or_damaged(error: ValueError, data: bytes) -> str:
    """What a JSON parse error at ``error.pos`` says of ``data``: cut short when it is at the
    end (a download or copy stopped), damaged when it is before (bytes changed in the middle)."""
    pos = getattr(error, "pos", None)
    if isinstance(pos, int) and pos >= len(data.rstrip()) - 1:
        return "the file is cut short (a download or copy that stopped?)"
    return "the file is damaged"


def _inflated_head(head: bytes, compression: Compression) -> bytes:
    """The first inflated bytes of the ``compression`` stream ``head`` begins (b"" when it is
    not one)."""
    try:
        if compression == "gzip":
            return zlib.decompressobj(wbits=31).decompress(head, INFLATED_HEAD)
        if compression == "bzip2":
            return bz2.BZ2Decompressor().decompress(head, INFLATED_HEAD)
        return lzma.LZMADecompressor().decompress(head, INFLATED_HEAD)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        return b""


def read_head(path: str) -> bytes:
    """The first :data:`HEAD_BYTES` bytes of ``path`` (raises OSError)."""
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)
