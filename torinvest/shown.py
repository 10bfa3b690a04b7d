"""What a report shows of data too large to show whole: the one place that decides "N of M".

Every table, chart, card and ``summary.json`` list that shows part of the key's activity takes
its part here: the first rows (in the order the caller gives: Tor and sensitive first, busiest
first…) up to a named limit (:data:`LIMITS`), and a :class:`Part` that says how many are shown,
how many there are and where all of them are (``events.csv``, ``per_ip.csv``, a command). A
part is never silent: :meth:`Part.note` is what the reader sees beside it.

Attacker-written text (a 100 KB user agent, request parameters nested hundreds deep) is cut
for display by :func:`cut_text` with a visible mark naming how much was left out; the exports
(``events.csv``, ``per_ip.csv``) keep it whole.

The limits are module data so that tests can lower them (``monkeypatch.setitem(LIMITS, …)``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: How many rows (or items, or characters) each kind of part shows at most.
LIMITS: dict[str, int] = {
    # rows of an interactive table on screen (the events and per-IP tables): the table's search
    # and sort work over these; the rest are in the export named beside it
    "table_rows": 2_000,
    # rows of a table printed (or saved to PDF)
    "print_rows": 5_000,
    # rows of a static table in a card (sensitive calls, a plan, derived keys…)
    "card_rows": 200,
    # items of a summary.json list that may be long (source_ips, sensitive_events,
    # derived_keys, ip_pivot_search.ips); its "lists" entry gives the totals
    "summary_items": 1_000,
    # characters of one attacker-written value in a table cell, a summary.json string or a card
    "text_chars": 1_000,
}
#: The mark a cut value ends with (then how much was cut).
CUT_MARK = "…"


def limit(name: str) -> int:
    """The limit named ``name`` (a key of :data:`LIMITS`)."""
    return LIMITS[name]


@dataclass(frozen=True, slots=True)
class Part:
    """``shown`` of ``total`` rows (items); ``where``: where all of them are (a file, a
    command, a section), ``what``: what they are ("events", "source IPs")."""

    shown: int
    total: int
    what: str = "rows"
    where: str = ""
    order: str = ""

    @property
    def whole(self) -> bool:
        return self.shown >= self.total

    @property
    def left_out(self) -> int:
        return max(self.total - self.shown, 0)

    def note(self) -> str:
        """What the reader sees beside the part: empty when it is whole, else ``showing 2,000
        of 200,071 events (ORDER); all of them: WHERE``."""
        if self.whole:
            return ""
        text = f"showing {self.shown:,} of {self.total:,} {self.what}"
        if self.order:
            text += f" ({self.order})"
        text += f"; {self.left_out:,} more not shown here"
        if self.where:
            text += f": all {self.total:,} are in {self.where}"
        return text

    def to_json(self) -> dict[str, Any]:
        """``summary.json``'s ``lists`` entry: ``{"listed", "total", "all_in"}``."""
        return {"listed": self.shown, "total": self.total, "all_in": self.where or None}


def part_of(
    items: Any,
    name: str,
    *,
    what: str = "rows",
    where: str = "",
    order: str = "",
    rank: Sequence[Any] | None = None,
) -> tuple[Any, Part]:
    """:data:`LIMITS` ``[name]`` of ``items`` (a frame or a sequence) and the :class:`Part`
    saying so: the first ones, or with ``rank`` (one sortable value per item, lowest first)
    those of lowest rank, kept in their order in ``items``."""
    cap = limit(name)
    total = len(items)
    if rank is None or total <= cap:
        head = items.head(cap) if hasattr(items, "head") else items[:cap]
    else:
        picked = sorted(sorted(range(total), key=lambda i: rank[i])[:cap])
        head = items.iloc[picked] if hasattr(items, "iloc") else [items[i] for i in picked]
    return head, Part(min(total, cap), total, what=what, where=where, order=order)


def cut_text(value: Any, name: str = "text_chars", *, where: str = "") -> Any:
    """A text value cut to :data:`LIMITS` ``[name]`` characters for display, ending with a
    visible mark that says how many characters were left out (and ``where`` the whole value
    is); anything else as it is."""
    if not isinstance(value, str):
        return value
    cap = limit(name)
    if len(value) <= cap:
        return value
    tail = f"{CUT_MARK} [cut: {len(value) - cap:,} more characters"
    tail += f"; whole in {where}]" if where else "]"
    return value[:cap] + tail


#: A command quoted in prose (a data issue's ``problem``, a ``why``, a signal's ``detail``):
#: between backticks, kept whole by :func:`cut_prose`.
_COMMAND_RE = re.compile(r"`[^`]*`")
#: The prose fields of ``summary.json`` (any object's), cut by :func:`cut_prose`.
PROSE_FIELDS = ("why", "problem", "detail")


def cut_prose(value: Any, name: str = "text_chars", *, where: str = "") -> Any:
    """A prose value (words around quoted commands: a data issue's ``problem``, a ``why``, a
    signal's ``detail``) whose text between commands is cut by :func:`cut_text` — each run of
    it to :data:`LIMITS` ``[name]`` characters with the mark — while every backticked command
    stays whole, to be copied and run. Attacker-written values put into prose are cut where
    they are put in; this bounds what is left whatever its source. Anything else as it is."""
    if not isinstance(value, str) or len(value) <= limit(name):
        return value
    out, at = [], 0
    for m in _COMMAND_RE.finditer(value):
        out += [_cut_run(value[at : m.start()], name, where), m.group()]
        at = m.end()
    out.append(_cut_run(value[at:], name, where))
    return "".join(out)


#: The tail :func:`cut_text` ends a cut value with, whole (its ``where`` is torinvest's own
#: short text: a file name, a command): what :func:`_cut_run` takes for a run cut already.
_CUT_TAIL = re.compile(
    re.escape(CUT_MARK)
    + r" \[cut: \d{1,3}(?:,\d{3})* more characters(?:; whole in [^\]]{1,500})?\]"
)


def _cut_run(text: str, name: str, where: str) -> str:
    """A run of prose cut by :func:`cut_text` — unless it was cut already (its mark right after
    the limit, then nothing but the mark's own tail): prose read back from ``summary.json`` is
    cut once, not twice. Attacker text made to look cut (a mark at the limit, then a megabyte
    and ``]``) is not: it is cut."""
    cap = limit(name)
    if _CUT_TAIL.fullmatch(text, cap):
        return text
    return cut_text(text, name, where=where)


def cut_prose_fields(node: Any, *, where: str = "") -> Any:
    """``node`` (``summary.json``, or a part of it) with every :data:`PROSE_FIELDS` string of
    every object in it cut by :func:`cut_prose`; a new structure, the rest as it is."""
    if isinstance(node, Mapping):
        return {
            k: cut_prose(v, where=where)
            if k in PROSE_FIELDS and isinstance(v, str)
            else cut_prose_fields(v, where=where)
            for k, v in node.items()
        }
    if isinstance(node, list | tuple):
        return [cut_prose_fields(v, where=where) for v in node]
    return node


def cut_fields(
    record: Mapping[str, Any], fields: Collection[str], *, where: str = ""
) -> dict[str, Any]:
    """``record`` (a ``summary.json`` object) with its attacker-written ``fields`` cut by
    :func:`cut_text` (a list's text items each) for display or export; its other fields as
    they are — identifiers (IDs, ARNs, addresses) and commands stay whole, to be matched and
    copied."""
    out = dict(record)
    for name in fields:
        value = out.get(name)
        if isinstance(value, list | tuple):
            out[name] = [cut_text(v, where=where) for v in value]
        elif name in out:
            out[name] = cut_text(value, where=where)
    return out


# --------------------------------------------------------------------------------------------
# reading summary.json's lists back: their totals, never the length of a part
# --------------------------------------------------------------------------------------------
def _list_entry(summary: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    lists = summary.get("lists")
    entry = lists.get(name) if isinstance(lists, Mapping) else None
    return entry if isinstance(entry, Mapping) else None


def listed_items(summary: Mapping[str, Any], name: str) -> list[Any]:
    """``summary``'s list ``name`` — a top-level key (``derived_keys``) or a dotted path
    (``ip_pivot_search.ips``), as ``lists`` names it — as listed (maybe a part; [] when
    absent)."""
    value: Any = summary
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return list(value) if isinstance(value, list) else []


def listed_total(summary: Mapping[str, Any], name: str) -> int:
    """How many items ``summary``'s list ``name`` (``source_ips``, ``sensitive_events``,
    ``derived_keys``, ``ip_pivot_search.ips``) has in all: the ``lists`` entry's total, or the
    list's length in a summary written before that list was a part (whole then)."""
    entry = _list_entry(summary, name)
    listed = len(listed_items(summary, name))
    if entry is not None and isinstance(entry.get("total"), int):
        return max(int(entry["total"]), listed)
    return listed


def tor_ip_counts(summary: Mapping[str, Any]) -> tuple[int, int]:
    """(Tor IPs, IPs of unknown Tor status) among all of ``summary``'s source IPs, not only
    those listed."""
    entry = _list_entry(summary, "source_ips")
    if entry is not None and isinstance(entry.get("tor"), int):
        return int(entry["tor"]), int(entry.get("tor_unknown") or 0)
    ips = [s for s in summary.get("source_ips") or [] if isinstance(s, Mapping)]
    return sum(s.get("tor") is True for s in ips), sum(s.get("tor") is None for s in ips)


def listed_note(summary: Mapping[str, Any], name: str, what: str) -> str:
    """``(N listed; all M in per_ip.csv)`` when ``summary[name]`` is a part, else empty."""
    entry = _list_entry(summary, name)
    total = listed_total(summary, name)
    listed = len(listed_items(summary, name))
    if listed >= total:
        return ""
    where = entry.get("all_in") if entry is not None else None
    return f"{listed:,} of {total:,} {what} listed" + (f"; all in {where}" if where else "")
