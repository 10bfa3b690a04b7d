"""Plotly figures of the events frame: each function takes the frame and returns a ``go.Figure``.

Nothing here shows a figure or writes HTML: the notebook displays what it gets. Every figure is an
aggregate (counts per IP, per time bucket, per event name…), so its size does not grow with the
number of events: a million events make figures of a few hundred kilobytes.

Attacker-written text (user agents, event names, IP column values read from files) only enters a
figure as data: axis categories, trace names, hover ``customdata``. Plotly serializes it as JSON
strings, each label and hover text through :func:`_clip` (control, bidi and zero-width
characters shown escaped; ``&``, ``<`` and ``>`` as entities, so that plotly's few HTML tags are
shown, not read); titles are fixed strings. No HTML is built here.

Each function also takes a *counts frame* (as :class:`torinvest.sources.sql.Aggregates` holds,
computed by a SQL engine when the rows are too many to load): the same columns, where each row
stands for ``calls`` events of which ``failed`` failed. A counts frame's ``attrs["bucket"]`` is
the smallest time bucket its ``event_time`` (a bucket start) allows; the timeline uses it.

The Tor status is read from the events frame's nullable boolean ``tor`` column (all unknown when
the frame has none): an IP is "Tor" when any of its calls is ``tor`` True, "not Tor" when all are
False, "Tor status unknown" otherwise. Tor IPs are labelled ``<ip> (Tor)``. A "not Tor" IP some
of whose calls are "not Tor" by OR-address lists only (the frame's ``tor_caveat``) is said so:
"not Tor (OR-address lists only)" (:data:`~torinvest.grouping.OR_ONLY_LABEL`), its own colour.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from torinvest.grouping import (
    OR_ONLY_LABEL,
    address_codes_and_labels,
    bucket_origin,
    caveat_column,
    codes_and_labels,
    label_rank,
    pick_bucket,
    tor_column,
)
from torinvest.outcome import outcome_counts
from torinvest.safety import term_safe
from torinvest.schema import utc_timestamp

log = logging.getLogger(__name__)

#: IPs shown one by one (Tor IPs first, then by calls); the rest are one "other IPs" row.
MAX_IPS = 25
#: IPs shown one by one in the per-user-agent and per-region bars.
MAX_IPS_STACKED = 8
#: Event names listed in a timeline point's hover text.
HOVER_TOP_NAMES = 3
#: Characters of attacker text shown in a label (the hover shows more).
LABEL_CHARS = 40
HOVER_CHARS = 200
#: Marker sizes on the timeline (pixels, by area).
MARKER_MAX_PX = 30
MARKER_MIN_PX = 4

#: The status of an IP "not Tor" by OR-address lists only (a key of the status dicts below).
WEAK = "or_only"
COLORS = {
    True: "#7b3294",  # Tor
    False: "#1f77b4",  # not Tor
    WEAK: "#9ecae1",  # not Tor by OR-address lists only
    None: "#7f7f7f",  # unknown
    "failed": "#d62728",
    "succeeded": "#2ca02c",
    "outcome unknown": "#bdbdbd",
}
#: The calls-per-IP bars of calls whose outcome is not known (:mod:`torinvest.outcome`).
OUTCOME_UNKNOWN_NAME = "outcome unknown"
STATUS_NAMES = {True: "Tor exit", False: "not Tor", WEAK: OR_ONLY_LABEL, None: "Tor status unknown"}
#: The finding's first/last seen marks on the timeline.
FINDING_COLOR = "#b35806"
#: Legend of sized markers: every symbol one legible size (not the area of the first point).
LEGEND = {"itemsizing": "constant", "title": {"text": ""}, "font": {"size": 13}}
TOR_SUFFIX = " (Tor)"
OTHER = "other"
#: The "other IPs" rows' words, one row per Tor status.
OTHER_STATUS = {True: "Tor", False: "not Tor", WEAK: OR_ONLY_LABEL, None: "Tor status unknown"}
#: What an empty chart says by default: only right when every source was read and none holds a
#: call. A report passes what its activity amounts to instead (``empty=``:
#: :func:`torinvest.display.empty_reason`: "could not look…", "nothing to read"…).
NO_EVENTS = "no events"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _clip(text: str, limit: int) -> str:
    """``text`` (attacker text: control, bidi and zero-width characters shown escaped,
    :func:`torinvest.safety.term_safe`) cut to ``limit`` characters, as plotly shows it
    literally (:func:`_literal`)."""
    return _literal(_cut(text, limit))


def _cut(text: str, limit: int) -> str:
    """:func:`_clip` before :func:`_literal` (for a label :func:`_distinct_labels` takes)."""
    text = term_safe(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip_middle(text: str, limit: int) -> str:
    """Cut the middle out: user agents differ at their end (``command/iam.create-user``).
    Control, bidi and zero-width characters shown escaped first, as :func:`_clip` does."""
    text = term_safe(text)
    if len(text) <= limit:
        return _literal(text)
    head = (limit - 1) // 2
    return _literal(text[:head] + "…" + text[len(text) - (limit - 1 - head) :])


def _literal(text: str) -> str:
    """``text`` as plotly shows it character for character: plotly reads a few HTML tags in
    every label and hover text (``<b>``, ``<a href>``, ``<span style>``: a user agent could
    bold, link or hide itself) and decodes entities after finding them, so ``&``, ``<`` and
    ``>`` are written as entities."""
    return html.escape(text, quote=False)


def _status(tor_true: int, tor_false: int, calls: int, weak: int = 0) -> bool | str | None:
    """An IP's status: True (Tor), False (not Tor), :data:`WEAK` (not Tor, some of it by
    OR-address lists only), None (unknown)."""
    if tor_true > 0:
        return True
    if calls and tor_false == calls:
        return WEAK if weak > 0 else False
    return None


def _empty(title: str, said: str = NO_EVENTS) -> go.Figure:
    """A chart with nothing to draw, saying why (``said``: plain text, shown as it is)."""
    fig = go.Figure()
    fig.update_layout(
        title=title,
        annotations=[{"text": _literal(said), "showarrow": False, "x": 0.5, "y": 0.5}],
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return fig


@dataclass(frozen=True, slots=True)
class _IpRows:
    """Each event's row (index into ``labels``): the top IPs one by one, the rest as "other"."""

    row: np.ndarray
    labels: list[str]
    status: list[bool | str | None]
    calls: np.ndarray
    first: np.ndarray  # first event time of each row (epoch seconds)
    others: int = 0  # the last rows are the "other IPs" groups (one per Tor status)


def _ip_rows(events: pd.DataFrame, limit: int) -> _IpRows:
    weights = _weights(events)
    codes, labels = address_codes_and_labels(events["source_ip"])  # one bar per address
    labels = np.append(labels, "(no IP)")
    codes = np.where(codes < 0, len(labels) - 1, codes)
    tor = tor_column(events)
    t_true = tor.fillna(False).to_numpy(dtype=bool)
    t_false = (~tor).fillna(False).to_numpy(dtype=bool)
    t_weak = caveat_column(events)
    secs = np.full(len(events), np.inf)
    if "event_time" in events.columns:  # counts per user agent or region have no time
        since = events["event_time"] - pd.Timestamp(0, tz="UTC")
        secs = (since / pd.Timedelta(seconds=1)).to_numpy(dtype=float, na_value=np.inf)
    n = len(labels)
    calls = np.bincount(codes, weights=weights, minlength=n).astype(np.int64)
    trues = np.bincount(codes, weights=t_true * weights, minlength=n)
    falses = np.bincount(codes, weights=t_false * weights, minlength=n)
    weak = np.bincount(codes, weights=t_weak * weights, minlength=n)
    first = np.full(n, np.inf)
    np.minimum.at(first, codes, secs)
    present = np.flatnonzero(calls)
    rank = label_rank(labels)
    order = present[np.lexsort((rank[present], -calls[present], ~(trues[present] > 0)))]
    top, rest = order[:limit], order[limit:]
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[top] = np.arange(len(top))
    out_labels, status = [], []
    for c in top:
        s = _status(int(trues[c]), int(falses[c]), int(calls[c]), int(weak[c]))
        out_labels.append(_cut(str(labels[c]), LABEL_CHARS) + (TOR_SUFFIX if s is True else ""))
        status.append(s)
    row_calls = list(calls[top])
    row_first = list(first[top])
    # the rest: one row per Tor status, never one that hides the Tor / not Tor split
    rest_status = [
        _status(int(trues[c]), int(falses[c]), int(calls[c]), int(weak[c])) for c in rest
    ]
    others = 0
    for group in (True, None, WEAK, False):
        members = rest[np.asarray([st is group for st in rest_status], dtype=bool)]
        if not len(members):
            continue
        row_of[members] = len(out_labels)
        out_labels.append(f"{OTHER} {len(members):,} IPs ({OTHER_STATUS[group]})")
        status.append(group)
        row_calls.append(calls[members].sum())
        row_first.append(first[members].min())
        others += 1
    row_of[row_of < 0] = 0  # addresses without a call (a counts frame's zero rows) weigh nothing
    return _IpRows(
        row=row_of[codes],
        labels=_distinct_labels(out_labels, LABEL_CHARS + len(TOR_SUFFIX)),
        status=status,
        calls=np.asarray(row_calls, dtype=np.int64),
        first=np.asarray(row_first, dtype=float),
        others=others,
    )


def _top_values(
    codes: np.ndarray, labels: np.ndarray, top: int, weights: np.ndarray
) -> tuple[np.ndarray, list[str], bool]:
    """Each row's column index among the ``top`` most frequent values (rows weigh ``weights``);
    the rest (NA included) share one last column. Returns the indexes, the top values, and
    whether that column is used."""
    n = len(labels)
    known = codes >= 0
    counts = np.bincount(codes[known], weights=weights[known], minlength=n)
    order = np.lexsort((label_rank(labels), -counts))
    chosen = [c for c in order[:top] if counts[c] > 0]
    col_of = np.full(n + 1, len(chosen), dtype=np.int64)
    col_of[chosen] = np.arange(len(chosen))
    cols = col_of[np.where(codes < 0, n, codes)]
    return cols, [str(labels[c]) for c in chosen], bool((cols == len(chosen)).any())


def _distinct(codes: np.ndarray) -> int:
    """How many distinct values the codes of a column hold (NA left out)."""
    return len(np.unique(codes[codes >= 0]))


def _distinct_labels(texts: Sequence[str], limit: int = LABEL_CHARS) -> list[str]:
    """Texts cut to ``limit`` characters, numbered where cutting made two of them equal."""
    cut = [_clip(t, limit) for t in texts]
    seen: dict[str, int] = {}
    out = []
    for c in cut:
        seen[c] = seen.get(c, 0) + 1
        out.append(c if seen[c] == 1 else f"{c} #{seen[c]}")
    return out


def _crosstab(
    rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, weights: np.ndarray
) -> np.ndarray:
    """Weighted counts of (row, col) pairs as an n_rows × n_cols array."""
    flat = np.bincount(rows * n_cols + cols, weights=weights, minlength=n_rows * n_cols)
    return flat.astype(np.int64).reshape(n_rows, n_cols)


def is_counts(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` is a counts frame (rows standing for ``calls`` events each)."""
    return "calls" in frame.columns


def _weights(events: pd.DataFrame) -> np.ndarray:
    """The events each row stands for: ``calls`` in a counts frame, else 1."""
    if is_counts(events):
        return events["calls"].to_numpy(dtype=np.int64, na_value=0)
    return np.ones(len(events), dtype=np.int64)


def _failed(events: pd.DataFrame) -> np.ndarray:
    """The failed calls each row stands for: ``failed`` in a counts frame, else 0 or 1."""
    return outcome_counts(events)[1]


def _unknown(events: pd.DataFrame) -> np.ndarray:
    """The calls of unknown outcome each row stands for (:mod:`torinvest.outcome`)."""
    return outcome_counts(events)[2]


# --------------------------------------------------------------------------------------------
# timeline
# --------------------------------------------------------------------------------------------
def timeline(
    events: pd.DataFrame,
    *,
    max_ips: int = MAX_IPS,
    finding: tuple[object, object] | None = None,
    empty: str = NO_EVENTS,
) -> go.Figure:
    """Activity over time by source IP: one marker per (IP, time bucket), its area the number of
    calls, its colour the IP's Tor status; failed calls as red crosses on top. The legend's
    symbols have one legible size (:data:`LEGEND`), whatever the markers' areas.

    The bucket (1 minute … 7 days) is picked from the span (:func:`pick_bucket`) and named in
    the title. The ``max_ips`` busiest IPs (Tor IPs first) get a row each, the rest share one.
    Hover: IP, bucket start, calls, failed calls and the top event names. A counts frame's
    bucket (``attrs["bucket"]``) is the smallest the timeline picks.

    ``finding``: the finding's (first seen, last seen) — marked by dashed lines labelled
    "finding first seen" / "last seen" over a shaded band (one line when they are equal).

    ``empty``: what the chart says when there is no event (:data:`NO_EVENTS`; a report passes
    what its activity amounts to); events without a time say so.
    """
    title = "Activity by source IP"
    times = events["event_time"] if "event_time" in events.columns else pd.Series([])
    valid = times.notna().to_numpy(dtype=bool)
    if events.empty:
        return _empty(title, empty)
    if not valid.any():
        return _empty(title, f"no event with a time ({len(events):,} without one)")
    smallest = events.attrs.get("bucket") if is_counts(events) else None
    events = events.loc[valid]
    rows = _ip_rows(events, max_ips)
    start, end = events["event_time"].min(), events["event_time"].max()
    size, size_name = pick_bucket(end - start)
    if smallest is not None and size < smallest:
        size, size_name = smallest, str(events.attrs.get("bucket_name", smallest))
    log.debug("timeline: %d events over %s in %s buckets", len(events), end - start, size_name)
    origin = bucket_origin(start, size)
    bucket = ((events["event_time"] - origin) // size).to_numpy(dtype=np.int64)
    n_buckets = int(bucket.max()) + 1
    cell = rows.row * n_buckets + bucket
    n_cells = len(rows.labels) * n_buckets
    weights = _weights(events)
    calls = np.bincount(cell, weights=weights, minlength=n_cells).astype(np.int64)
    failed = np.bincount(cell, weights=_failed(events), minlength=n_cells).astype(np.int64)
    names = _top_names(cell, events["event_name"], weights)
    used = np.flatnonzero(calls)
    row_of_cell, bucket_of_cell = used // n_buckets, used % n_buckets
    stamps = [
        (origin + size * int(b)).tz_convert(None).strftime("%Y-%m-%d %H:%M")
        for b in range(n_buckets)
    ]
    x = np.asarray(stamps, dtype=object)[bucket_of_cell]
    y = np.asarray(rows.labels, dtype=object)[row_of_cell]
    custom = np.empty((len(used), 3), dtype=object)
    custom[:, 0] = calls[used]
    custom[:, 1] = failed[used]
    custom[:, 2] = [names.get(int(c), "") for c in used]
    sizeref = 2.0 * max(int(calls.max()), 1) / MARKER_MAX_PX**2
    hover = (
        "%{y}<br>%{x} (+" + size_name + ")<br>%{customdata[0]} calls, "
        "%{customdata[1]} failed<br>%{customdata[2]}<extra></extra>"
    )
    fig = go.Figure()
    status_of_cell = np.asarray(rows.status, dtype=object)[row_of_cell]
    for status in (True, False, WEAK, None):
        pick = np.asarray([s is status for s in status_of_cell], dtype=bool)
        if not pick.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=x[pick],
                y=y[pick],
                mode="markers",
                name=STATUS_NAMES[status],
                marker={
                    "size": calls[used][pick],
                    "sizemode": "area",
                    "sizeref": sizeref,
                    "sizemin": MARKER_MIN_PX,
                    "color": COLORS[status],
                    "opacity": 0.7,
                },
                customdata=custom[pick],
                hovertemplate=hover,
            )
        )
    bad = failed[used] > 0
    if bad.any():
        fig.add_trace(
            go.Scatter(
                x=x[bad],
                y=y[bad],
                mode="markers",
                name="failed calls",
                marker={
                    "symbol": "x",
                    "color": COLORS["failed"],
                    "size": failed[used][bad],
                    "sizemode": "area",
                    "sizeref": sizeref,
                    "sizemin": MARKER_MIN_PX,
                },
                customdata=custom[bad],
                hovertemplate=hover,
            )
        )
    order = [rows.labels[i] for i in np.argsort(rows.first, kind="stable")]
    fig.update_layout(
        title=f"{title} (calls per {size_name})",
        xaxis_title="time (UTC)",
        yaxis={
            "title": "source IP",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": order[::-1],
        },
        legend=LEGEND,
        height=max(300, 40 + 28 * len(rows.labels)),
    )
    if finding is not None:
        mark_finding(fig, *finding)
    return fig


def _stamp(value: object) -> str | None:
    ts = utc_timestamp(value)
    return None if ts is None else ts.tz_convert(None).strftime("%Y-%m-%d %H:%M:%S")


def mark_finding(fig: go.Figure, first_seen: object, last_seen: object) -> go.Figure:
    """Mark a finding's first and last sighting on a figure whose x axis is time (UTC): dashed
    lines with labels at the top, the span between them shaded. A missing end uses the other;
    both missing mark nothing."""
    first, last = _stamp(first_seen), _stamp(last_seen)
    first, last = first or last, last or first
    if first is None or last is None:
        return fig
    line = {"color": FINDING_COLOR, "width": 2, "dash": "dash"}
    if first != last:
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=first,
            x1=last,
            y0=0,
            y1=1,
            fillcolor=FINDING_COLOR,
            opacity=0.10,
            line={"width": 0},
            layer="below",
        )
    marks = (
        [(first, "finding seen", "center")]
        if first == last
        else [(first, "finding first seen", "right"), (last, "finding last seen", "left")]
    )
    for x, text, anchor in marks:
        fig.add_shape(
            type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line=line, layer="above"
        )
        fig.add_annotation(
            x=x,
            xref="x",
            y=1,
            yref="paper",
            yanchor="bottom",
            xanchor=anchor,
            text=f"{text} {x[11:]}",
            showarrow=False,
            font={"color": FINDING_COLOR, "size": 12},
        )
    return fig


def _top_names(cell: np.ndarray, names: pd.Series, weights: np.ndarray) -> dict[int, str]:
    """cell → 'Name ×n, Name ×n, …' of its :data:`HOVER_TOP_NAMES` most frequent event names
    (ties: by name)."""
    codes, labels = codes_and_labels(names)
    rank = label_rank(labels)  # codes by name: ties are broken by name
    labels = np.append(labels[np.argsort(rank)], "(no name)")
    codes = np.where(codes < 0, len(labels) - 1, rank[np.clip(codes, 0, None)])
    width = np.int64(len(labels))
    keys, inverse = np.unique(cell.astype(np.int64) * width + codes, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=weights, minlength=len(keys)).astype(np.int64)
    cells, name = keys // width, keys % width
    order = np.lexsort((name, -counts, cells))
    cells, name, counts = cells[order], name[order], counts[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cells)) + 1]
    position = np.arange(len(cells)) - np.repeat(starts, np.diff(np.r_[starts, len(cells)]))
    keep = position < HOVER_TOP_NAMES
    out: dict[int, list[str]] = {}
    for c, nm, k in zip(
        cells[keep].tolist(), name[keep].tolist(), counts[keep].tolist(), strict=True
    ):
        out.setdefault(c, []).append(f"{_clip(str(labels[nm]), LABEL_CHARS)} ×{k}")
    return {c: ", ".join(v) for c, v in out.items()}


# --------------------------------------------------------------------------------------------
# bars and heatmaps
# --------------------------------------------------------------------------------------------
def _row_order(rows: _IpRows) -> list[int]:
    """Rows by calls, busiest first (the "other IPs" rows last: Tor, unknown, not Tor)."""
    n = len(rows.labels)
    body = sorted(range(n - rows.others), key=lambda i: (-rows.calls[i], rows.labels[i]))
    return [*body, *range(n - rows.others, n)]


def calls_per_ip(
    events: pd.DataFrame, *, max_ips: int = MAX_IPS, empty: str = NO_EVENTS
) -> go.Figure:
    """Calls per source IP as stacked horizontal bars: succeeded and failed, and outcome unknown
    when some calls' outcome is not known (Tor IPs labelled). ``empty``: what it says when there
    is no event (see :func:`timeline`)."""
    title = "Calls per source IP"
    if events.empty:
        return _empty(title, empty)
    rows = _ip_rows(events, max_ips)
    n = len(rows.labels)
    failed = np.bincount(rows.row, weights=_failed(events), minlength=n).astype(np.int64)
    unknown = np.bincount(rows.row, weights=_unknown(events), minlength=n).astype(np.int64)
    ok = rows.calls - failed - unknown
    order = _row_order(rows)
    labels = [rows.labels[i] for i in order]
    status = [STATUS_NAMES[rows.status[i]] for i in order]
    fig = go.Figure()
    parts = [("succeeded", ok), ("failed", failed)]
    if unknown.any():  # neither succeeded nor failed: said apart, never counted as either
        parts.append((OUTCOME_UNKNOWN_NAME, unknown))
    for name, values in parts:
        fig.add_trace(
            go.Bar(
                name=name,
                orientation="h",
                y=labels,
                x=values[order],
                marker_color=COLORS[name],
                customdata=status,
                hovertemplate="%{y} (%{customdata})<br>" + name + ": %{x}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        barmode="stack",
        xaxis_title="calls",
        yaxis={"title": "source IP", "autorange": "reversed", "type": "category"},
        height=max(300, 40 + 24 * n),
    )
    return fig


def event_mix(
    events: pd.DataFrame,
    *,
    top: int = 15,
    max_ips: int = MAX_IPS,
    empty: str = NO_EVENTS,
) -> go.Figure:
    """A heatmap of calls per source IP (rows) and event name (columns): the ``top`` event names
    overall, the others summed as "other". ``empty``: see :func:`timeline`."""
    title = f"Event names per source IP (top {top})"
    if events.empty:
        return _empty(title, empty)
    rows = _ip_rows(events, max_ips)
    weights = _weights(events)
    codes, labels = codes_and_labels(events["event_name"])
    cols, names, other = _top_values(codes, labels, top, weights)
    rest = _distinct(codes) - len(names)
    full = names + (
        [f"{OTHER} {rest:,} event names" if rest else f"{OTHER} (no name)"] if other else []
    )
    table = _crosstab(rows.row, cols, len(rows.labels), len(full), weights)
    order = _row_order(rows)
    fig = go.Figure(
        go.Heatmap(
            z=table[order],
            x=_distinct_labels(full),
            y=[rows.labels[i] for i in order],
            customdata=np.tile(
                np.asarray([_clip(n, HOVER_CHARS) for n in full], dtype=object), (len(order), 1)
            ),
            colorscale="Blues",
            hovertemplate="%{y}<br>%{customdata}: %{z}<extra></extra>",
            colorbar={"title": "calls"},
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "event name", "type": "category", "tickangle": -45, "dtick": 1},
        yaxis={"title": "source IP", "autorange": "reversed", "type": "category", "dtick": 1},
        height=max(360, 160 + 28 * len(order)),
    )
    return fig


def _stacked_by_ip(
    events: pd.DataFrame,
    cols: np.ndarray,
    *,
    labels: Sequence[str],
    full: Sequence[str],
    max_ips: int,
    horizontal: bool,
) -> go.Figure:
    """One bar trace per IP row over the categories ``labels`` (hover: ``full``); ``cols`` is
    each event's category index."""
    rows = _ip_rows(events, max_ips)
    table = _crosstab(rows.row, cols, len(rows.labels), len(labels), _weights(events))
    fig = go.Figure()
    for i in _row_order(rows):
        values = table[i]
        if not values.any():
            continue
        counts = (
            {"x": values, "y": list(labels)} if horizontal else {"x": list(labels), "y": values}
        )
        fig.add_trace(
            go.Bar(
                name=rows.labels[i],
                orientation="h" if horizontal else "v",
                customdata=list(full),
                marker_pattern_shape="/" if rows.status[i] is True else "",
                hovertemplate="%{customdata}<br>%{fullData.name}: "
                + ("%{x}" if horizontal else "%{y}")
                + "<extra></extra>",
                **counts,
            )
        )
    fig.update_layout(barmode="stack", legend_title="source IP")
    return fig


def user_agents(
    events: pd.DataFrame,
    *,
    top: int = 10,
    max_ips: int = MAX_IPS_STACKED,
    empty: str = NO_EVENTS,
) -> go.Figure:
    """Calls per user agent (the ``top`` ones, then "other"), stacked by source IP.

    Labels are numbered and cut to :data:`LABEL_CHARS` characters (the middle goes: agents
    differ at their ends); the hover shows the user agent (up to :data:`HOVER_CHARS`) as text.
    ``empty``: see :func:`timeline`.
    """
    title = f"User agents (top {top})"
    if events.empty:
        return _empty(title, empty)
    codes, labels = codes_and_labels(events["user_agent"])
    cols, names, other = _top_values(codes, labels, top, _weights(events))
    short = [f"{i + 1}. {_clip_middle(n, LABEL_CHARS)}" for i, n in enumerate(names)]
    full = [_clip(n, HOVER_CHARS) for n in names]
    if other:
        short.append(f"{OTHER} {_distinct(codes) - len(names):,} user agents (or none)")
        full.append(short[-1])
    fig = _stacked_by_ip(events, cols, labels=short, full=full, max_ips=max_ips, horizontal=True)
    fig.update_layout(
        title=title,
        xaxis_title="calls",
        yaxis={
            "title": "user agent",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": short[::-1],
        },
        height=max(300, 80 + 28 * len(short)),
    )
    return fig


def regions(
    events: pd.DataFrame, *, max_ips: int = MAX_IPS_STACKED, empty: str = NO_EVENTS
) -> go.Figure:
    """Calls per region, stacked by source IP (busiest regions first). ``empty``: see
    :func:`timeline`."""
    title = "Calls per region"
    if events.empty:
        return _empty(title, empty)
    codes, labels = codes_and_labels(events["aws_region"])
    cols, names, other = _top_values(codes, labels, len(labels), _weights(events))
    names = _distinct_labels(names) + (["(no region)"] if other else [])
    fig = _stacked_by_ip(events, cols, labels=names, full=names, max_ips=max_ips, horizontal=False)
    fig.update_layout(
        title=title,
        xaxis={
            "title": "region",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": names,
        },
        yaxis_title="calls",
    )
    return fig
