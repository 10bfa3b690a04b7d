"""The activity card's line on IAM's record of the key's last use (:mod:`torinvest.last_used`):
checked and consistent, calls missing (a data issue), used after the window, too recent, not
checked or could not check — each said in its own words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torinvest.display.markup import _e
from torinvest.last_used import CHECKED, MISSING_CALLS, NOT_ASKED, not_checked

if TYPE_CHECKING:
    from torinvest.investigation import Investigation

#: The label of the activity card's line.
LABEL = "IAM's last use of the key"


def last_used_html(inv: Investigation) -> str:
    """One paragraph for the activity card (every value escaped): what IAM says of the key's
    last use and how it compares with the calls read."""
    found = inv.key_last_used or not_checked(NOT_ASKED)
    mark = "⚠ " if found.status == CHECKED and found.verdict == MISSING_CALLS else ""
    return (
        f"<p class='ti-last-used'>{mark}<b>{_e(LABEL)}</b> ({_e(found.status)}"
        + (f": {_e(found.verdict)}" if found.verdict else "")
        + f"): {_e(found.text)}</p>"
    )
