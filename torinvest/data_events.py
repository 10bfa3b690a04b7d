"""Whether an activity read could hold the key's CloudTrail *data events* — the one place that
says it, for the report, ``summary.json``'s ``data_events``, the terminal (``events``,
``investigate``), the notebook and a ticket's answer.

The classic harm of a stolen key is in data events — S3 object reads and writes (GetObject,
PutObject…), Lambda invocations, DynamoDB item reads — and neither source holds them always:

- **LookupEvents** returns management events (and Insights events) only, never data events: a
  reading through it has not searched them (:data:`NOT_SEARCHED`);
- a case folder's **saved LookupEvents answers** (``aws cloudtrail lookup-events`` output) are
  LookupEvents', whichever way they were read: :data:`NOT_SEARCHED` too when every file read is
  one (:attr:`~torinvest.sources.logs.FileCounts.lookup_answers`);
- **log files** (folders, S3, DuckDB, Athena) hold them only when the trail's event selectors
  record them: whether the files read hold any data event at all, whoever made it (a record's
  top-level ``eventCategory`` is ``Data``), tells a trail that records them
  (:data:`RECORDED`) from one that may not (:data:`NONE_RECORDED`: "no S3 object reads" there
  cannot be told from "none happened").

It is a limit of the source, not a data issue: a re-run reads the same (a data issue would make
every LookupEvents report "incomplete" and a scheduled run retry it forever). It is said
wherever the result is read instead: the activity and Sources cards, the answer's completeness
line, the sensitive-calls cards (which list S3 and secret reads), the terminal's notes and the
ticket's ``Data events:`` line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torinvest import data_trails
from torinvest.data_trails import DataTrails

if TYPE_CHECKING:
    from torinvest.events import Activity

#: ``summary.json``'s ``data_events.state`` values (docs/DESIGN.md).
NOT_SEARCHED = "not searched"
NONE_RECORDED = "none recorded"
RECORDED = "recorded"
NOT_KNOWN = "not known"
STATES = (NOT_SEARCHED, NONE_RECORDED, RECORDED, NOT_KNOWN)

#: What data events are, in the words every sentence below uses.
KINDS = "S3 object reads/writes, Lambda invocations, DynamoDB item calls…"

NOT_SEARCHED_TEXT = (
    "data events not searched (LookupEvents returns management events only): "
    f"{KINDS} are not in this report; read the trail's log files (--logs / --engine athena) "
    "if it records data events"
)


@dataclass(frozen=True, slots=True)
class DataEvents:
    """What a reading says of data events: ``state`` (:data:`STATES`), ``text`` (one sentence,
    the same everywhere) and ``count`` — the data events (any principal's) in the log files
    read, ``1`` for an Athena table that holds at least one (its query stops at the first),
    None when not counted."""

    state: str
    text: str
    count: int | None = None
    #: Which trails record data events, as CloudTrail answered (None: not part of the reading)
    trails: DataTrails | None = None

    @property
    def limited(self) -> bool:
        """Whether the key's data events may be missing from what was read (every state but
        :data:`RECORDED`)."""
        return self.state != RECORDED

    def to_json(self) -> dict[str, Any]:
        """``summary.json``'s ``data_events``."""
        out: dict[str, Any] = {"state": self.state, "text": self.text, "count": self.count}
        if self.trails is not None:
            out["trails"] = self.trails.to_json()
        return out

    def absent_note(self) -> str:
        """What a list of calls (sensitive calls: S3 and secret reads…) lacks, in one line ("" when
        the trail records data events)."""
        if not self.limited:
            return ""
        return f"Data events ({KINDS}) may be missing from these calls: {self.text}."


def files_read(act: Activity) -> tuple[int, int]:
    """The files read (the file loader's or DuckDB's), in two: log files (a trail's: they hold
    data events when it records them) and saved LookupEvents answers (never any)."""
    counts = act.file_counts
    if counts is None or not any(s.startswith(("logs:", "duckdb:")) for s in act.sources):
        return 0, 0
    answers = min(counts.lookup_answers, max(counts.read, 0))
    return max(counts.read - answers, 0), answers


def data_events(act: Activity, trails: DataTrails | None = None) -> DataEvents:
    """What ``act`` (a key's activity, as read) says of data events, and what CloudTrail says
    of the trails recording them (``trails``, :mod:`torinvest.data_trails`), in one sentence:
    the trails' clause is added when they were checked or could not be."""
    said = _read(act)
    if trails is None:
        return said
    if trails.status == data_trails.NOT_ASKED:
        return DataEvents(said.state, said.text, said.count, trails)
    # "no trail records data events" says they are in no trail's files, whichever source was read
    return DataEvents(said.state, f"{said.text}; {trails.text}", said.count, trails)


def _read(act: Activity) -> DataEvents:
    """What ``act`` says of data events: the log files read decide (their count of data
    events), else the Athena table (whether it holds one in the window), else LookupEvents
    (never searched), or the saved LookupEvents answers of a case folder (never searched
    either: they are LookupEvents'); :data:`NOT_KNOWN` when nothing was read or the table's
    query failed."""
    logs, answers = files_read(act)
    if logs:
        assert act.file_counts is not None
        n = act.file_counts.data_events
        files = f"{logs:,} log file(s) read"
        beside = (
            f" ({answers:,} saved LookupEvents answer(s) read beside them hold none: "
            "LookupEvents returns management events only)"
            if answers
            else ""
        )
        if n:
            return DataEvents(
                RECORDED,
                f"the trail records data events ({n:,} in the {files}): the key's "
                f"{KINDS}, if any, are in the log files read{beside}",
                n,
            )
        return DataEvents(
            NONE_RECORDED,
            f"the {files} hold no data events: the trail may not record them — {KINDS} "
            "would not be in its log files, so none here is not 'none happened' (check the "
            "trail's event selectors: aws cloudtrail get-event-selectors --trail-name "
            f"TRAIL){beside}",
            0,
        )
    tables = [s.removeprefix("athena:") for s in act.sources if s.startswith("athena:")]
    if tables and act.table_gap is None:
        table = ", ".join(tables)
        if act.table_data_events:
            return DataEvents(
                RECORDED,
                f"the trail records data events (the Athena table {table} holds some in the "
                f"window): the key's {KINDS}, if any, are in what was read",
                act.table_data_events,
            )
        if act.table_data_events == 0:
            return DataEvents(
                NONE_RECORDED,
                f"the Athena table {table} holds no data events in the window: the trail may "
                f"not record them — {KINDS} would not be in it, so none here is not 'none "
                "happened' (check the trail's event selectors: aws cloudtrail "
                "get-event-selectors --trail-name TRAIL)",
                0,
            )
        why = act.data_events_unknown or "the table was not asked"
        return DataEvents(
            NOT_KNOWN,
            f"whether the Athena table {table} holds data events is not known ({why}): the "
            f"key's {KINDS} may not be in what was read",
        )
    if any(s.startswith("lookup:") for s in act.sources):
        return DataEvents(NOT_SEARCHED, NOT_SEARCHED_TEXT)
    if answers:
        return DataEvents(
            NOT_SEARCHED,
            f"data events not searched: the {answers:,} file(s) read are saved LookupEvents "
            f"answers, and LookupEvents returns management events only: {KINDS} are not in "
            "this report; read the trail's log files (put them in the case's cloudtrail/ "
            "folder, or --logs / --engine athena) if it records data events",
        )
    return DataEvents(
        NOT_KNOWN,
        f"data events not known: no log file, table or LookupEvents region was read ({KINDS} "
        "included)",
    )


def summary_data_events(summary: Mapping[str, Any]) -> DataEvents | None:
    """A ``summary.json``'s ``data_events`` read back (None: a summary written before it, or an
    entry torinvest did not write)."""
    entry = summary.get("data_events")
    if not isinstance(entry, Mapping):
        return None
    state, text, count = entry.get("state"), entry.get("text"), entry.get("count")
    if state not in STATES or not isinstance(text, str):
        return None
    trails = data_trails.from_summary(entry.get("trails"))
    return DataEvents(str(state), text, count if isinstance(count, int) else None, trails)


#: ``summary.json``'s ``data_events`` in the report contract (``report.SUMMARY_SCHEMA``):
#: optional — a summary written before it has none.
SUMMARY_PROPERTIES: dict[str, Any] = {
    "data_events": {
        "type": "object",
        "additionalProperties": False,
        "required": ["state", "text", "count"],
        "properties": {
            "state": {"enum": list(STATES)},
            "text": {"type": "string"},
            "count": {"type": ["integer", "null"], "minimum": 0},
            "trails": data_trails.SUMMARY_PROPERTIES,
        },
    }
}
