"""Small HTML builders (every value escaped) and the table machinery: column classes, the
static print copy, interactive tables, frames made display-ready.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from IPython.display import HTML

from torinvest.grouping import status_label
from torinvest.safety import UNSEEN, html_text, term_safe
from torinvest.shown import Part, cut_prose, cut_text, limit, part_of

#: At most this many data issues are listed in the warning block (the rest are counted).
MAX_ISSUES_SHOWN = 50
#: Interactive tables embed at most about this many bytes of data (itables downsamples beyond).
TABLE_MAX_BYTES = 1_000_000
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Where every sensitive call is (the events export's ``sensitive`` column).
SENSITIVE_ALL_IN = "events.csv (its sensitive column)"


# --------------------------------------------------------------------------------------------
# small builders (every value escaped)
# --------------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "—"
    if isinstance(value, float) and value != value:
        return "—"
    return html_text(value)


def _shown(value: Any, where: str = "") -> str:
    """An attacker-written value (a user name, a network name) shown in a card's prose: cut to
    :func:`torinvest.shown.cut_text`'s limit with its mark (how much was left out, ``where``
    it is whole), then escaped. Never in :func:`_e` itself: commands and identifiers an analyst
    copies stay whole."""
    return _e(cut_text(value, where=where))


def _prose(value: Any) -> str:
    """A prose value (a data issue's problem, a signal's detail, a ``why``) shown in a card: its
    text around backticked commands cut (:func:`torinvest.shown.cut_prose`, as in
    ``summary.json``), its commands whole; then escaped."""
    return _e(cut_prose(value))


def _time(value: Any) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return "—"
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return "—"
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime(TIME_FORMAT) + " UTC"


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table; labels are ours, values must already be escaped."""
    body = "".join(f"<tr><th>{html_text(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="ti-kv">{body}</table>'


def _card(title: str, body: str, kind: str = "") -> str:
    cls = f"ti-card {kind}".strip()
    return f'<div class="{cls}"><h3>{html_text(title)}</h3>{body}</div>'


def _list(items: Iterable[str]) -> str:
    """A bullet list of already escaped items."""
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


#: Columns of identifiers, times, IPs, names and flags: a cell never breaks inside them. Not the
#: Tor status: its words ("not Tor (OR-address lists only)") wrap, or the printed events table
#: runs off an A4 landscape page.
ID_COLUMNS: frozenset[str] = frozenset(
    {
        "#",
        "event_time",
        "event_name",
        "event_source",
        "aws_region",
        "source_ip",
        "access_key_id",
        "derived",
        "error_code",
        "failed",
        "outcome",
        "outcome_unknown",
        "category",
        "sensitive",
        "first_seen",
        "last_seen",
        "events",
        "tor_events",
        "new",
        "ip_kind",
        "country",
        "asn",
        "id",
        "type",
        "account_id",
        "region",
        "severity",
        "key_kind",
        "user_type",
        "principal_id",
        "tor_ip",
        "count",
        "findings_for_key",
        "archived",
        "name",
        "weight",
        "effect",
        "call",
        "derived key",
        "minted by",
        "minted at",
        "expires",
        "from IP",
        "calls made with it",
        "of them from Tor",
        "when (UTC)",
        "from",
        "result",
    }
)
#: Columns of long attacker-written text: one line cut with "…", the whole text on hover (it
#: wraps in place) and in print.
LONG_COLUMNS: frozenset[str] = frozenset(
    {
        "user_agent",
        "user_agents",
        "request_parameters",
        "response_elements",
        "error_message",
        "event_names",
        "regions",
        "access_keys",
        "note",
        "mitre_technique",
    }
)
#: A printed (or PDF) interactive table shows at most this many rows (every row up to it):
#: the default of :data:`torinvest.shown.LIMITS` ``print_rows``, which decides.
PRINT_MAX_ROWS = 5_000
#: In print, these columns leave a row's first line for a second line across the whole row
#: (a landscape page then holds every event on its own two lines).
PRINT_SECOND_LINE: frozenset[str] = LONG_COLUMNS | {
    "event_source",
    "asn_org",
    "mitre_technique",
    "note",
    "command",
}


def column_class(name: Any) -> str:
    """The CSS class of a table column: ``ti-id`` (never broken), ``ti-long`` (cut, whole on
    hover and in print) or ``ti-text`` (wraps between words)."""
    if name in ID_COLUMNS:
        return "ti-id"
    if name in LONG_COLUMNS:
        return "ti-long"
    return "ti-text"


def _cell(value: Any) -> str:
    """A table cell's HTML: "—" for a missing value; control and bidi characters shown escaped
    (a name cannot reorder the row around it), then HTML-escaped."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "—"
    if isinstance(value, float) and value != value:
        return "—"
    return html_text(term_safe(value))


def _inert(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with control, bidi and zero-width characters in its text cells shown escaped
    (:data:`torinvest.safety.UNSEEN`; only the cells that hold one are touched: a million-row
    table stays fast)."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        text = col.map(lambda v: v if isinstance(v, str) else "")
        hit = text.str.contains(UNSEEN, regex=True).to_numpy(dtype=bool)
        if hit.any():
            out.loc[hit, name] = col[hit].map(term_safe)
    return out


def _part_note(part: Part) -> str:
    """A part's "showing N of M …" line (empty when it is whole)."""
    note = part.note()
    return f'<p class="ti-note ti-part">{html_text(note)}</p>' if note else ""


def _cut_cells(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """``frame`` with every text cell cut to :func:`torinvest.shown.cut_text`'s limit (a
    visible mark says how much was left out and ``where`` the whole value is)."""
    out = frame.copy()
    cap = limit("text_chars")
    for name in out.columns:
        col = out[name]
        long = col.map(lambda v: isinstance(v, str) and len(v) > cap).to_numpy(dtype=bool)
        if long.any():
            out[name] = col.astype("object")
            out.loc[long, name] = col[long].map(lambda v: cut_text(v, where=where))
    return out


def frame_html(
    frame: pd.DataFrame,
    *,
    max_rows: int | None = None,
    more_where: str = "",
    what: str = "rows",
    order: str = "",
) -> str:
    """A static table, every header and cell escaped (:func:`_cell`), each column with its
    :func:`column_class` (identifiers never break mid-word; long text cut, whole on hover).

    It shows at most ``max_rows`` rows (default: :data:`torinvest.shown.LIMITS` ``card_rows``)
    and says how many of how many ``what`` it shows and ``more_where`` all of them are
    (:class:`torinvest.shown.Part`); attacker text longer than ``text_chars`` is cut with a
    visible mark.
    """
    cap = limit("card_rows") if max_rows is None else max_rows
    shown = _cut_cells(frame.head(cap), more_where)
    part = Part(len(shown), len(frame), what=what, where=more_where, order=order)
    classes = [column_class(c) for c in frame.columns]
    head = "".join(
        f'<th class="{k}">{html_text(c)}</th>' for c, k in zip(frame.columns, classes, strict=True)
    )
    rows = []
    for values in shown.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="{k}">{_cell(v)}</td>' for v, k in zip(values, classes, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    table = (
        f'<div class="ti-scroll"><table class="ti-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return table + _part_note(part)


def print_html(
    frame: pd.DataFrame,
    *,
    max_rows: int | None = None,
    more_where: str = "",
    what: str = "rows",
    order: str = "",
) -> str:
    """The table as printed: every row (up to ``max_rows``, default :data:`torinvest.shown.
    LIMITS` ``print_rows``; the rest counted, ``more_where`` says where they are) as a
    ``tbody.ti-row`` of two lines — the short columns, then the :data:`PRINT_SECOND_LINE` ones
    (user agent, parameters…) labelled, across the row, wrapped in full (attacker text cut at
    ``text_chars`` with a visible mark). Every header and cell escaped."""
    cap = limit("print_rows") if max_rows is None else max_rows
    printed = _cut_cells(frame.head(cap), more_where)
    part = Part(len(printed), len(frame), what=what, where=more_where, order=order)
    first = [c for c in frame.columns if c not in PRINT_SECOND_LINE]
    second = [c for c in frame.columns if c in PRINT_SECOND_LINE]
    classes = [column_class(c) for c in first]
    # a header may break after its underscores (outcome_<wbr>unknown): printed, a column is as
    # wide as its values, not its name (an A4 landscape page holds the row)
    head = "".join(
        f'<th class="{k}">{html_text(c).replace("_", "_<wbr>")}</th>'
        for c, k in zip(first, classes, strict=True)
    )
    bodies = []
    for values in printed.itertuples(index=False, name=None):
        rec = dict(zip(frame.columns, values, strict=True))
        cells = "".join(
            f'<td class="{k}">{_cell(rec[c])}</td>' for c, k in zip(first, classes, strict=True)
        )
        extra = " · ".join(
            f'<span class="ti-field"><b>{html_text(c)}</b> {_cell(rec[c])}</span>'
            for c in second
            if _present(rec[c])
        )
        more = f'<tr class="ti-more"><td colspan="{len(first)}">{extra}</td></tr>' if extra else ""
        bodies.append(f'<tbody class="ti-row"><tr>{cells}</tr>{more}</tbody>')
    table = (
        f'<table class="ti-table ti-printed"><thead><tr>{head}</tr></thead>'
        f"{''.join(bodies)}</table>"
    )
    return table + _part_note(part)


def table(
    frame: pd.DataFrame,
    *,
    caption: str = "",
    page_length: int = 10,
    what: str = "rows",
    where: str = "",
    order: str = "",
) -> HTML:
    """An interactive table (itables, offline: nothing loads from a CDN; text escaped) of the
    first :data:`torinvest.shown.LIMITS` ``table_rows`` rows of ``frame`` (in its order), and
    the same rows as a static table for print (up to ``print_rows``): printing or saving to
    PDF shows every row, not one page of the interactive table. Each says how many of how many
    ``what`` it shows, in which ``order``, and ``where`` all of them are
    (:class:`torinvest.shown.Part`); attacker text is cut at ``text_chars`` with a visible
    mark. The rows are never downsampled by itables: what is shown is what the note says."""
    from itables import to_html_datatable

    head_rows, part = part_of(frame, "table_rows", what=what, where=where, order=order)
    cut = _cut_cells(head_rows, where)
    shown = _inert(cut.astype("object").where(cut.notna(), ""))
    kinds = [column_class(c) for c in frame.columns]
    column_defs = [
        {"targets": [i for i, k in enumerate(kinds) if k == kind], "className": kind}
        for kind in ("ti-id", "ti-long")
        if kind in kinds
    ]
    body = to_html_datatable(
        shown,
        connected=False,
        allow_html=False,
        showIndex=False,
        maxBytes=0,  # never downsampled behind the note's back: the rows are capped above
        pageLength=page_length,
        classes="display compact",
        scrollX=True,
        columnDefs=column_defs,
    )
    head = f'<p class="ti-caption">{html_text(caption)}</p>' if caption else ""
    printed = print_html(frame, more_where=where, what=what, order=order)
    return HTML(
        f'{head}{_part_note(part)}<div class="ti-screen">{body}</div>'
        f'<div class="ti-print">{printed}</div>'
    )


def _text_cell(value: Any, max_items: int | None = None) -> Any:
    """A cell for a display frame: lists joined (the first ``max_items``), dicts as 'name ×n',
    times formatted, NA as None."""
    if isinstance(value, list | tuple | dict):
        items = (
            [f"{k} ×{v}" for k, v in value.items()]
            if isinstance(value, dict)
            else [str(v) for v in value]
        )
        if max_items is not None and len(items) > max_items:
            items = [*items[:max_items], f"(+{len(items) - max_items} more)"]
        return " | ".join(items)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return _time(value)
    return value


def with_caveat(cols: Iterable[str], frame: pd.DataFrame) -> list[str]:
    """``cols`` plus ``tor_caveat`` when they show ``tor`` and ``frame`` has the caveat: what
    :func:`display_frame` needs to say a "not Tor" the way every surface says it."""
    out = list(cols)
    if "tor" in out and "tor_caveat" in frame.columns and "tor_caveat" not in out:
        out.append("tor_caveat")
    return out


def display_frame(frame: pd.DataFrame, *, max_items: int | None = None) -> pd.DataFrame:
    """A copy of ``frame`` fit for a table or a CSV: plain text cells, times in UTC, Tor spelled,
    lists joined with " | " (the first ``max_items`` of each). A ``tor_caveat`` column beside
    ``tor`` is said in the Tor cell (:func:`torinvest.tor.status_label`: "not Tor (OR-address
    lists only)"), not as a column of its own."""
    fold = "tor" in frame.columns and "tor_caveat" in frame.columns
    caveat = frame["tor_caveat"].astype("object") if fold else None
    out = pd.DataFrame(index=frame.index)
    for name, col in frame.items():
        if fold and name == "tor_caveat":
            continue
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.strftime(TIME_FORMAT).astype("object").where(col.notna(), None)
        elif name == "tor":
            said = caveat if caveat is not None else pd.Series(None, index=col.index)
            out[name] = [
                status_label(v, c) for v, c in zip(col.astype("object"), said, strict=True)
            ]
        else:
            out[name] = [_text_cell(v, max_items) for v in col.astype("object")]
    return out.reset_index(drop=True)


def _present(v: Any) -> bool:
    return not (v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "")
