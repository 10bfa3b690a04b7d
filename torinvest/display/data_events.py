"""What the report says of data events (S3 object reads, Lambda invocations…) beside the
activity it read — the Sources card's row, the activity card's and the answer's note, the
sensitive-calls cards' note — in the words of :func:`torinvest.data_events.data_events`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torinvest.data_events import DataEvents, data_events
from torinvest.display.markup import _e

if TYPE_CHECKING:
    from torinvest.investigation import Investigation


def of(inv: Investigation) -> DataEvents:
    """The investigation's data events (:func:`torinvest.data_events.data_events`), with
    which trails record them."""
    return data_events(inv.activity, inv.data_trails)


def row(inv: Investigation) -> tuple[str, str]:
    """The Sources card's ``data events`` row (always)."""
    return ("data events", _e(of(inv).text))


def note(inv: Investigation) -> str:
    """The activity card's and the answer's note when the key's data events may be missing
    from what was read (not searched, none recorded, not known); "" when the trail records
    them."""
    found = of(inv)
    if not found.limited:
        return ""
    return f"<p class='ti-note ti-data-events'><b>Data events:</b> {_e(found.text)}.</p>"


def calls_note(inv: Investigation) -> str:
    """The sensitive-calls cards' note: S3 object and other data-event calls may be missing
    from the list; "" when the trail records them."""
    said = of(inv).absent_note()
    return f"<p class='ti-note ti-data-events'>{_e(said)}</p>" if said else ""
