"""The campaign around the key: related findings, and who else used these addresses.

Each section reads ``inv.related`` / ``inv.pivot`` (:func:`torinvest.campaign.look_around`) and
says first whether it looked: "none related" (green), "partial" (amber: what could not be
searched), "could not look" (red) and "not looked" (grey) never read the same. Every value is
escaped; the commands are shell-quoted by :func:`torinvest.campaign.command_for` and shown as
text.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML

from torinvest.commands import Access, external_id_note
from torinvest.display.markup import _card, _e, _list, _prose, display_frame, frame_html
from torinvest.errors import group_issues
from torinvest.findings.related import COULD_NOT_LOOK, NOT_LOOKED, PARTIAL, RelatedFindings
from torinvest.investigation import CAMPAIGN_NOT_RUN, Investigation
from torinvest.pivot import IpPivot
from torinvest.schema import utc_times

#: The card class of each search status.
STATUS_KIND: dict[str, str] = {
    "looked": "ti-ok",
    PARTIAL: "ti-warn",
    COULD_NOT_LOOK: "ti-danger",
    NOT_LOOKED: "",
}

RELATED_TITLE = "Related findings"
PIVOT_TITLE = "Who else used these addresses"


def _issues_html(issues: list[tuple[str, str]]) -> str:
    if not issues:
        return ""
    return _list(f"<code>{_e(source)}</code>: {_prose(problem)}" for source, problem in issues)


def related_findings(inv: Investigation) -> HTML:
    """Every finding that names the key, its principal or one of its Tor IPs in the window
    (``link`` says why, strongest first), and whether every region or file was searched."""
    rel = inv.related or RelatedFindings.not_looked(CAMPAIGN_NOT_RUN)
    kind = STATUS_KIND.get(rel.status, "")
    if rel.findings and kind == "ti-ok":
        kind = "ti-warn"  # related findings are something to read
    body = f"<p>{_e(rel.describe())}.</p>"
    if rel.status not in (NOT_LOOKED, COULD_NOT_LOOK) and rel.findings:
        body += frame_html(display_frame(_timed(rel.frame())))
    body += _issues_html([(i.source, i.problem) for i in rel.failed])
    title = RELATED_TITLE + (f" ({len(rel.findings)})" if rel.findings else "")
    return HTML(_card(title, body, kind))


def _timed(frame: pd.DataFrame) -> pd.DataFrame:
    """The related findings with their sighting times as times (shown as every table's)."""
    out = frame.copy()
    for name in ("first_seen", "last_seen"):
        out[name] = utc_times(out[name])
    return out


def pivot_frame(pivot: IpPivot) -> pd.DataFrame:
    """The table as shown: every column of :data:`torinvest.pivot.PIVOT_COLUMNS` and the
    command that investigates each caller."""
    return pivot.table.copy()


def ip_pivot(inv: Investigation) -> HTML:
    """Every other key and principal that called from the key's Tor IPs and new source IPs,
    most calls first, each with the command that investigates it; and what was not searched
    (LookupEvents cannot filter by IP)."""
    pivot = inv.pivot or IpPivot.not_looked(CAMPAIGN_NOT_RUN)
    kind = STATUS_KIND.get(pivot.status, "")
    if len(pivot.table) and kind == "ti-ok":
        kind = "ti-warn"
    body = f"<p>{_e(pivot.describe())}.</p>"
    if pivot.ips:
        body += "<p>Addresses looked for: " + ", ".join(
            f"<code>{_e(ip)}</code>" for ip in pivot.ips
        )
        body += "</p>"
    if pivot.status not in (NOT_LOOKED, COULD_NOT_LOOK) and len(pivot.table):
        body += frame_html(display_frame(pivot_frame(pivot)))
        note = external_id_note(Access.of_report(inv.sources))
        body += f"<p>Note: {_e(note)}.</p>" if note else ""
    body += _issues_html([(i.source, i.problem) for i in group_issues(pivot.issues)])
    title = PIVOT_TITLE + (f" ({len(pivot.table)})" if len(pivot.table) else "")
    return HTML(_card(title, body, kind))
