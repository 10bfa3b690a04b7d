"""The signals: observations that bear on the verdict, each with a one-line reason and a weight
(:func:`signals`) — Tor use, derived keys, recon, sensitive calls, new sources, concurrency,
retries — from the events frame or from the counts an engine made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from torinvest.analysis.agents import attack_tool_signals
from torinvest.analysis.baseline import Baseline, baseline
from torinvest.analysis.helpers import (
    _EPOCH,
    _NEEDED,
    DETAIL_ITEMS,
    _bools,
    _distinct,
    _hm,
    _is_ip_label,
    _label_test,
    _listing,
    _mask,
    _require,
    _seconds,
    _short,
)
from torinvest.analysis.places import GEO_WEIGHTS, Observation, geo_signals
from torinvest.analysis.sensitive import sensitive_events
from torinvest.aws.ids import role_account
from torinvest.catalogue import CATEGORIES, shipped_catalogue
from torinvest.geo import ip_kind
from torinvest.grouping import (
    OR_ONLY_LABEL,
    address_codes_and_labels,
    caveat_column,
    codes_and_labels,
    from_tor,
    tor_column,
)
from torinvest.outcome import SUCCEEDED, UNKNOWN, UNKNOWN_WHY, outcome_counts, outcome_labels
from torinvest.safety import prose_safe
from torinvest.schema import iso_utc, utc_timestamp
from torinvest.sources.records import DerivedKey

log = logging.getLogger(__name__)


#: Recon: calls whose name starts with one of these read something.
RECON_PREFIXES: tuple[str, ...] = ("List", "Describe", "Get", "Head", "Search", "Lookup", "Scan")
#: Recon burst: at least this many read calls, of at least that many distinct names, from one
#: IP within :data:`RECON_WINDOW` (two grids of windows, offset by half a window).
RECON_WINDOW = pd.Timedelta(minutes=5)
RECON_MIN_CALLS = 10
RECON_MIN_DISTINCT_CALLS = 5
#: Recon breadth: this many services, or this many regions, touched from one IP in one window.
RECON_MIN_SERVICES = 5
RECON_MIN_REGIONS = 3
#: Recon by denial: this many AccessDenied/UnauthorizedOperation errors from one IP.
RECON_MIN_DENIED = 3
#: Error codes that mean "not allowed" (regular expression, case-insensitive).
DENIED_PATTERN = (
    r"AccessDenied|UnauthorizedOperation|Unauthorized|Forbidden|NotAuthorized|AuthorizationError"
)
#: Error codes that say a resource is absent, not that the caller failed (not "failed" for
#: :func:`signals`' failed-then-succeeded pattern).
ABSENT_PATTERN = r"NoSuch|NotFound|NotExist"
#: Use of one key from two IPs within this time counts as "at once".
CONCURRENT_WINDOW = pd.Timedelta(minutes=10)

#: Weight of each signal (sensitive actions: :data:`SENSITIVE_WEIGHTS`). Weight 0 = information.
WEIGHTS: Mapping[str, int] = {
    "tor_use": 20,
    "tor_after_finding": 15,
    "tor_and_non_tor": 10,
    "tor_unknown": 0,
    "derived_key_in_use": 20,
    "derived_key_unused": 0,
    "recon_burst": 10,
    "recon_breadth": 10,
    "recon_denied": 10,
    "new_source_ip": 10,
    "new_user_agent": 5,
    "new_asn": 5,
    "no_baseline": 0,
    "concurrent_ips": 10,
    "failed_then_succeeded": 5,
    "counted_in_engine": 0,
    # geography (analysis.places) and known tools (analysis.agents: the table's weight)
    **GEO_WEIGHTS,
}
#: Weight of the ``sensitive:<category>`` signal when at least one such call succeeded, or may
#: have (its outcome unknown: the detail says so).
SENSITIVE_WEIGHTS: Mapping[str, int] = {
    "persistence": 25,
    "privilege-escalation": 25,
    "credential-access": 20,
    "defense-evasion": 30,
    "exfiltration": 25,
    "discovery": 5,
    "impact": 20,
}
#: A sensitive category whose calls all failed weighs this fraction of its weight.
FAILED_ONLY_FACTOR = 0.5


# --------------------------------------------------------------------------------------------
# signals
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Signal:
    """One observation that bears on the verdict: a name, a one-line reason, a weight (0 = info).

    ``detail`` can quote attacker-written text: escape it before putting it in HTML/Markdown.
    """

    name: str
    detail: str
    weight: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "detail": self.detail, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class _Rows:
    """Per-row arrays the signals share (built once)."""

    ip: np.ndarray
    ip_labels: np.ndarray
    ip_is_ip: np.ndarray
    key: np.ndarray
    key_labels: np.ndarray
    name: np.ndarray
    name_labels: np.ndarray
    secs: np.ndarray
    times: pd.Series
    failed: np.ndarray
    unknown: np.ndarray  # of unknown outcome (neither failed nor succeeded)
    tor_true: np.ndarray
    tor_false: np.ndarray
    #: "not Tor" by OR-address lists only (``tor_caveat``: :func:`torinvest.tor.caveats`)
    tor_weak: np.ndarray
    tor_ips: frozenset[int]
    weight: np.ndarray  # the calls each row stands for (1, or ``calls`` of a counts frame)

    @classmethod
    def of(cls, events: pd.DataFrame) -> _Rows:
        """Rows of the events frame, or of a counts frame (``calls``/``failed`` columns)."""
        counted = "calls" in events.columns
        ip, ip_labels = address_codes_and_labels(events["source_ip"])
        key, key_labels = codes_and_labels(events["access_key_id"])
        name, name_labels = codes_and_labels(events["event_name"])
        tor = tor_column(events)
        tor_true = _bools(tor)
        _, failed, unknown = outcome_counts(events)
        return cls(
            ip=ip,
            ip_labels=ip_labels,
            ip_is_ip=np.append(_is_ip_label(ip_labels), False),
            key=key,
            key_labels=key_labels,
            name=name,
            name_labels=name_labels,
            secs=_seconds(events["event_time"]),
            times=events["event_time"].reset_index(drop=True),
            failed=failed > 0,
            unknown=unknown > 0,
            tor_true=tor_true,
            tor_false=_bools(~tor),
            tor_weak=caveat_column(events),
            tor_ips=frozenset(_distinct(ip[tor_true]).tolist()),
            weight=(
                events["calls"].fillna(0).to_numpy(dtype=np.int64)
                if counted
                else np.ones(len(events), dtype=np.int64)
            ),
        )

    def calls(self, mask: np.ndarray) -> int:
        """The calls the rows in ``mask`` stand for."""
        return int(self.weight[mask].sum())

    def ip_label(self, code: int) -> str:
        label = "(no IP)" if code < 0 else str(self.ip_labels[code])
        return f"{label} (Tor)" if code in self.tor_ips else label

    def ips(self, mask: np.ndarray, *, counts: bool = False, limit: int = DETAIL_ITEMS) -> str:
        """The IPs of the rows in ``mask``, most calls first (``counts``: 'IP ×n'), listed."""
        codes, inverse = np.unique(self.ip[mask], return_inverse=True)
        n = np.bincount(inverse.ravel(), weights=self.weight[mask], minlength=len(codes))
        n = n.astype(np.int64)
        order = np.lexsort((codes, -n))[:limit]
        shown = [self.ip_label(int(codes[i])) + (f" ×{int(n[i])}" if counts else "") for i in order]
        return _listing(shown, limit, total=len(codes))

    def n_ips(self, mask: np.ndarray) -> int:
        return len(_distinct(self.ip[mask]))


def signals(
    events: pd.DataFrame,
    *,
    finding_window: tuple[Any, Any] | None = None,
    derived_keys: Iterable[str | DerivedKey] = (),
    ip_asn: Mapping[str, Any] | pd.Series | None = None,
    catalogue: pd.DataFrame | None = None,
    counts: pd.DataFrame | None = None,
    per_ip_table: pd.DataFrame | None = None,
    agents: pd.DataFrame | None = None,
    read_from: Any = None,
) -> list[Signal]:
    """Observations that bear on the verdict, heaviest first (weights: :data:`WEIGHTS`,
    :data:`SENSITIVE_WEIGHTS`; thresholds are the ``RECON_*``/``CONCURRENT_*`` constants).

    ``finding_window`` is (first_seen, last_seen) of the finding(s) (:func:`.window_of`): it
    enables Tor-after-finding and the new IP/user agent/ASN signals. ``derived_keys`` are keys
    minted by the suspect key (also read from the ``derived`` column). Signals:

    - ``tor_use``, ``tor_after_finding``, ``tor_and_non_tor``, ``tor_unknown`` (info);
    - ``derived_key_in_use`` (and ``derived_key_unused``, info);
    - ``recon_burst``, ``recon_breadth``, ``recon_denied``;
    - ``sensitive:<category>``, one per catalogue category present, naming the calls;
    - ``new_source_ip``, ``new_user_agent``, ``new_asn`` (``no_baseline``, info, when no call
      precedes the finding's first sighting: they and ``new_country`` cannot be evaluated, and
      :func:`.triage_score` makes the score a floor; ``read_from``, when the activity read
      starts — the investigation window's start —, lets its detail name the period looked at);
    - ``concurrent_ips`` (one key, several IPs within :data:`CONCURRENT_WINDOW`);
    - ``failed_then_succeeded``;
    - ``attack_tool``: user agents of known attack tools (:mod:`.agents`; its weight is the
      heaviest tool's in ``torinvest/data/attack_tools.csv``);
    - with ``per_ip_table`` (its ``country``, :func:`.places.place_ips`): ``new_country`` and
      ``countries_within_window`` (:mod:`.places`; Tor calls left out).

    Recon bursts and denials are counted per IP and per access key (Tor rotates addresses: reads
    spread over several exits add up for the key); breadth per IP.

    ``counts``: when the activity was counted in a SQL engine (too many rows to load; see
    :class:`torinvest.sources.sql.Aggregates`), its by-time counts frame with a ``tor`` column,
    and ``events`` holds only the sensitive calls. The Tor and derived-key signals are then
    computed from the counts (at the counts' time-bucket resolution), ``new_source_ip`` from
    ``per_ip_table`` (its ``new`` column, see :func:`.per_ip_counted`), ``attack_tool`` from
    ``agents`` (the per-user-agent counts frame), and the recon,
    concurrency and retry signals from the sensitive calls only (what they find holds; what
    they miss may be in the calls not loaded); ``counted_in_engine`` (info) says so.
    """
    _require(events, _NEEDED)
    window = None
    if finding_window is not None:
        start, end = (utc_timestamp(t) for t in finding_window)
        window = (start, end) if start is not None and end is not None else None
    if counts is not None:
        return _counted_signals(
            events,
            counts,
            per_ip_table,
            window,
            derived_keys,
            catalogue=catalogue,
            agents=agents,
            read_from=read_from,
        )
    if events.empty:
        return []
    rows = _Rows.of(events)
    found: list[Signal] = []
    found += _tor_signals(rows, events, window)
    found += _derived_signals(rows, events, derived_keys)
    found += _recon_signals(rows, events, catalogue)
    found += _sensitive_signals(sensitive_events(events, catalogue=catalogue))
    if window is not None:
        found += _baseline_signals(rows, events, window[0], ip_asn, read_from)
    found += _concurrency_signals(rows)
    found += _retry_signals(rows, events)
    found += _observed(attack_tool_signals(events))
    found += _observed(geo_signals(events, per_ip_table, window[0] if window else None))
    log.debug("signals over %d events: %s", len(events), ", ".join(s.name for s in found))
    return _inert(found)


def _counted_signals(
    events: pd.DataFrame,
    counts: pd.DataFrame,
    per_ip_table: pd.DataFrame | None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None,
    derived_keys: Iterable[str | DerivedKey],
    *,
    catalogue: pd.DataFrame | None,
    agents: pd.DataFrame | None = None,
    read_from: Any = None,
) -> list[Signal]:
    """:func:`signals` for an activity counted in an engine (see its ``counts``)."""
    _require(counts, ("event_time", "source_ip", "event_name", "access_key_id", "calls"))
    found: list[Signal] = []
    if len(counts):
        counted = _Rows.of(counts)
        found += _tor_signals(counted, counts, window)
        found += _derived_signals(counted, counts, derived_keys)
    if len(events):
        rows = _Rows.of(events)
        found += _recon_signals(rows, events, catalogue)
        found += _sensitive_signals(sensitive_events(events, catalogue=catalogue))
        found += _concurrency_signals(rows)
        found += _retry_signals(rows, events)
    if window is not None and per_ip_table is not None:
        found += _new_ip_signal(per_ip_table, window[0], read_from)
    found += _observed(attack_tool_signals(agents if agents is not None else events))
    if len(counts):
        found += _observed(geo_signals(counts, per_ip_table, window[0] if window else None))
    total = int(counts["calls"].sum()) if len(counts) else 0
    bucket = counts.attrs.get("bucket_name", "time bucket")
    found.append(
        Signal(
            "counted_in_engine",
            f"{total:,} calls were counted in the SQL engine, not loaded: Tor and derived-key "
            f"signals are computed per {bucket} (a Tor status per IP and {bucket}; times are "
            f"the {bucket}'s start); recon, concurrency and retry signals read only the "
            f"{len(events):,} sensitive calls loaded as rows; new user agents and ASNs are "
            "not computed",
            WEIGHTS["counted_in_engine"],
        )
    )
    log.debug("counted signals: %s", ", ".join(s.name for s in found))
    return _inert(found)


def _inert(found: Iterable[Signal]) -> list[Signal]:
    """``found`` heaviest first, each detail's backticks escaped (:func:`prose_safe`): what
    these signals say is words around the events' values (user agents, keys, addresses, event
    names: attacker-written) and never a command, so no backtick in them is torinvest's — a
    user agent cannot put a command into a ``detail`` (``summary.json``'s prose, where
    backticked text is a command to copy and run)."""
    return sorted(
        (Signal(s.name, prose_safe(s.detail), s.weight) for s in found),
        key=lambda s: (-s.weight, s.name),
    )


#: Signals that say a value was "not seen before" the window: their claim holds only as far
#: as the history before the window was read (:func:`qualify_new`).
NEW_SIGNALS: frozenset[str] = frozenset(
    {"new_source_ip", "new_user_agent", "new_asn", "new_country"}
)
#: The signals that compare with the key's calls before the finding's first sighting (its
#: baseline), in the order they are named, with the most each can weigh: without a baseline
#: none of them can fire, so the score may be short of up to their sum.
BASELINE_WEIGHTS: Mapping[str, int] = {
    name: WEIGHTS[name] for name in ("new_source_ip", "new_user_agent", "new_asn", "new_country")
}
#: The signal (weight 0) that says the key made no call before the finding's first sighting in
#: what was read: the :data:`BASELINE_WEIGHTS` signals could not be evaluated, and the score is
#: a floor (:func:`.triage_score`) — distinct from data issues: nothing may have failed.
NO_BASELINE_SIGNAL = "no_baseline"
#: The signal (weight 0) that says signals of :data:`NEW_SIGNALS` fired against a history read
#: in part (data issues of the activity): a value they call new may have been used in what was
#: not read, so they may be wrong (:func:`qualify_new`).
PARTIAL_BASELINE_SIGNAL = "partial_baseline"


def baseline_signal_names() -> str:
    """The :data:`BASELINE_WEIGHTS` signals with their weights, in words."""
    return ", ".join(f"{n} (+{w})" for n, w in BASELINE_WEIGHTS.items())


def no_baseline_signal(first_sighting: Any, read_from: Any = None) -> Signal:
    """``no_baseline``: the key made no call before ``first_sighting`` (the finding's first
    sighting, where its baseline ends) in the activity read from ``read_from`` (the window's
    start; None: not known). Its detail names the period looked at — or, when the window
    starts at or after the first sighting, that it holds no time before it."""
    first = utc_timestamp(first_sighting)
    start = utc_timestamp(read_from)
    not_evaluated = (
        "new source IPs, user agents, ASNs and countries cannot be told from usual ones: "
        f"{baseline_signal_names()} were not evaluated and the score is a floor"
    )
    if start is not None and first is not None and start >= first:
        return Signal(
            NO_BASELINE_SIGNAL,
            f"the window starts at {iso_utc(start)}, not before the finding's first sighting "
            f"{iso_utc(first)}: it holds no time before it, so {not_evaluated} — read the key's "
            "calls before the finding with a longer --lookback-days (notebook parameter "
            "lookback_days)",
            WEIGHTS[NO_BASELINE_SIGNAL],
        )
    if start is not None and first is not None:
        period = (
            f"from the window start {iso_utc(start)} to the finding's first sighting "
            f"{iso_utc(first)} (the {_span(first - start)} read before it)"
        )
    else:
        period = f"before the finding's first sighting {iso_utc(first) or '(unknown)'}"
    return Signal(
        NO_BASELINE_SIGNAL,
        f"no call of the key {period}, so {not_evaluated} — read more history before the "
        "finding (a longer --lookback-days, notebook parameter lookback_days) to evaluate them",
        WEIGHTS[NO_BASELINE_SIGNAL],
    )


def _span(delta: pd.Timedelta) -> str:
    """A duration in words: ``14 days``, ``5 h 30 min``, ``6 min``."""
    minutes = int(delta / pd.Timedelta(minutes=1))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days and not rest:
        return f"{days} day{'s' if days != 1 else ''}"
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min"]
    return " ".join(p for p in parts if p and p != "0 min") or "under a minute"


def qualify_new(found: Iterable[Signal], unread: int) -> list[Signal]:
    """``found`` with each :data:`NEW_SIGNALS` signal's detail saying the history was not
    completely read, when ``unread`` (how many data issues the reading of the activity had: log
    files or days not read, a region that failed) is not 0: an earlier call from a value called
    "new" may be in what was not read. Its weight is kept (the value is new to what was read),
    and a :data:`PARTIAL_BASELINE_SIGNAL` (info) says those that weigh may be wrong. A
    ``no_baseline`` says a call before the first sighting may be in what was not read.
    """
    found = list(found)
    if not unread:
        return found
    read_in_part = (
        f"the activity was not completely read ({unread:,} data issue(s) about reading it)"
    )
    caveat = f"; {read_in_part}: an earlier call may be in what was not read"
    out = [
        Signal(s.name, s.detail + caveat, s.weight)
        if s.name in NEW_SIGNALS
        else Signal(
            s.name,
            s.detail + f"; {read_in_part}: a call before the first sighting may be in what was "
            "not read",
            s.weight,
        )
        if s.name == NO_BASELINE_SIGNAL
        else s
        for s in found
    ]
    fired = [s for s in found if s.name in NEW_SIGNALS and s.weight > 0]
    if fired:
        named = ", ".join(f"{s.name} (+{s.weight})" for s in fired)
        out.append(
            Signal(
                PARTIAL_BASELINE_SIGNAL,
                f"{named} compare(s) with a history read in part ({read_in_part}): a value "
                "called new may have been used in what was not read, so it may be wrong — "
                "read the data issues before relying on it",
                0,
            )
        )
    return out


def _observed(found: Iterable[Observation]) -> list[Signal]:
    return [Signal(o.name, o.detail, o.weight) for o in found]


def _new_ip_signal(
    table: pd.DataFrame, window_start: pd.Timestamp, read_from: Any = None
) -> list[Signal]:
    """``new_source_ip`` (or ``no_baseline``) from a per-IP frame's ``new`` and first_seen
    (``window_start``: the finding's first sighting; ``read_from``: see :func:`signals`)."""
    before = table["first_seen"] < window_start
    if not before.fillna(False).any():
        if table.empty:  # no call at all: nothing could be new either
            return []
        return [no_baseline_signal(window_start, read_from)]
    new = table[table["new"].fillna(False).astype(bool)].sort_values("first_seen")
    if new.empty:
        return []
    history = table.loc[before.fillna(False), "first_seen"].min()
    ips = [
        f"{ip} (Tor)" if tor is not pd.NA and bool(tor) else str(ip)
        for ip, tor in zip(new["source_ip"], new["tor"], strict=True)
    ]
    return [
        Signal(
            "new_source_ip",
            f"{len(ips)} IP(s) not seen before {_hm(window_start)} "
            f"(history from {_hm(history)}): {_listing(ips)}",
            WEIGHTS["new_source_ip"],
        )
    ]


def _tor_signals(
    rows: _Rows, events: pd.DataFrame, window: tuple[pd.Timestamp, pd.Timestamp] | None
) -> list[Signal]:
    out: list[Signal] = []
    if rows.tor_true.any():
        out.append(
            Signal(
                "tor_use",
                f"{rows.calls(rows.tor_true)} calls from {rows.n_ips(rows.tor_true)} Tor exit(s): "
                f"{rows.ips(rows.tor_true, counts=True)}",
                WEIGHTS["tor_use"],
            )
        )
    if window is not None:
        late = rows.tor_true & (rows.secs > (window[1] - _EPOCH) / pd.Timedelta(seconds=1))
        if late.any():
            keys = sorted({str(rows.key_labels[k]) for k in _distinct(rows.key[late]) if k >= 0})
            last = rows.times[late].max()
            out.append(
                Signal(
                    "tor_after_finding",
                    f"{rows.calls(late)} calls from Tor after the finding's last activity "
                    f"({_hm(window[1])}), the last at {_hm(last)}, with key(s) {_listing(keys)}: "
                    "still in use from Tor",
                    WEIGHTS["tor_after_finding"],
                )
            )
    out += _tor_mixed(rows)
    unknown = ~(rows.tor_true | rows.tor_false) & rows.ip_is_ip[rows.ip]
    if unknown.any():
        why = (
            "no Tor status was computed (no exit lists applied)"
            if "tor" not in events.columns
            else "no loaded exit list can rule Tor out for them: the data issues say why"
        )
        out.append(
            Signal(
                "tor_unknown",
                f"Tor status unknown for {rows.calls(unknown)} calls from {rows.n_ips(unknown)} "
                f"IP(s) ({why}): {rows.ips(unknown, counts=True)}",
                WEIGHTS["tor_unknown"],
            )
        )
    return out


def _tor_mixed(rows: _Rows) -> list[Signal]:
    on_ip = rows.ip_is_ip[rows.ip] & (rows.key >= 0)
    frame = pd.DataFrame(
        {"key": rows.key[on_ip], "t": rows.tor_true[on_ip], "f": rows.tor_false[on_ip]}
    )
    g = frame.groupby("key", sort=False)[["t", "f"]].any()
    mixed = g.index[g["t"] & g["f"]].sort_values()
    parts = []
    for k in mixed[:DETAIL_ITEMS]:
        in_key = rows.key == k
        tor_ips = sorted(
            {str(rows.ip_labels[i]) for i in _distinct(rows.ip[in_key & rows.tor_true])}
        )
        weak = _distinct(rows.ip[in_key & rows.tor_weak])  # said with what it rests on
        plain = np.setdiff1d(_distinct(rows.ip[in_key & rows.tor_false]), weak)
        said = [
            f"{words} ({_listing(sorted({str(rows.ip_labels[i]) for i in ips}), 3)})"
            for words, ips in (("not Tor", plain), (OR_ONLY_LABEL, weak))
            if len(ips)
        ]
        parts.append(
            f"{rows.key_labels[k]} from Tor ({_listing(tor_ips, 3)}) and " + " and ".join(said)
        )
    if not parts:
        return []
    more = f"; … (+{len(mixed) - len(parts)} keys)" if len(mixed) > len(parts) else ""
    return [Signal("tor_and_non_tor", "; ".join(parts) + more, WEIGHTS["tor_and_non_tor"])]


def _derived_signals(
    rows: _Rows, events: pd.DataFrame, derived_keys: Iterable[str | DerivedKey]
) -> list[Signal]:
    minted: dict[str, DerivedKey | None] = {}
    for d in derived_keys:
        if isinstance(d, DerivedKey):
            minted[d.access_key_id] = d
        else:
            minted.setdefault(str(d), None)
    if "derived" in events.columns:
        flagged = _bools(events["derived"]) & (rows.key >= 0)
        for k in _distinct(rows.key[flagged]):
            minted.setdefault(str(rows.key_labels[k]), None)
    if not minted:
        return []
    code_of = {str(label): i for i, label in enumerate(rows.key_labels)}
    recorded_in = (
        set(events["recipient_account_id"].dropna().astype(str))
        if "recipient_account_id" in events.columns
        else set()
    )
    used, unused = [], []
    elsewhere = 0  # unused keys of roles in accounts none of the events read was recorded in
    for akid, d in list(minted.items())[:DETAIL_ITEMS]:
        origin = (
            f" (minted by {d.minted_by} via {d.event_name} at {_hm(d.event_time)})" if d else ""
        )
        code = code_of.get(akid)
        mask = rows.key == code if code is not None else np.zeros(len(rows.key), dtype=bool)
        role = role_account(d.role_arn) if d else None
        if mask.any():
            used.append(f"{akid}{origin}: {rows.calls(mask)} calls from {rows.ips(mask, limit=3)}")
        elif role is not None and recorded_in and role not in recorded_in:
            elsewhere += 1
            unused.append(
                f"{akid}{origin} — a role of account {role}, whose CloudTrail records its "
                "calls: none of the events read was recorded there"
            )
        else:
            unused.append(f"{akid}{origin}")
    more = f"; … (+{len(minted) - DETAIL_ITEMS} keys)" if len(minted) > DETAIL_ITEMS else ""
    out = []
    if used:
        detail = "; ".join(used) + more
        out.append(Signal("derived_key_in_use", detail, WEIGHTS["derived_key_in_use"]))
    if unused:
        out.append(
            Signal(
                "derived_key_unused",
                f"minted but no call found in the loaded data: {_listing(unused)}"
                + (
                    ""
                    if elsewhere == len(unused)
                    else " (it may have been used in regions or days not loaded)"
                ),
                WEIGHTS["derived_key_unused"],
            )
        )
    return out


def _recon_mask(rows: _Rows, catalogue: pd.DataFrame | None) -> np.ndarray:
    """Read calls that are not themselves sensitive (except discovery ones)."""
    cat = shipped_catalogue() if catalogue is None else catalogue
    not_recon = set(cat.loc[cat["category"] != "discovery", "event_name"].astype(str))
    pattern = "^(?:" + "|".join(RECON_PREFIXES) + ")"
    is_read = _label_test(rows.name_labels, pattern)
    if len(rows.name_labels):
        is_read &= ~np.isin(rows.name_labels, list(not_recon))
    return _mask(rows.name, is_read)


def _recon_windows(
    rows: _Rows, events: pd.DataFrame, recon: np.ndarray, group: np.ndarray
) -> pd.DataFrame:
    """Per (group, window) on two grids offset by half a window — ``group``: the rows' IP codes,
    or their key codes (recon per identity: Tor rotates addresses; then only the read calls are
    windowed, for bursts: services and regions are 0) —: columns group, start (epoch seconds),
    reads, distinct_reads, services, regions, ips (distinct IPs)."""
    width = RECON_WINDOW / pd.Timedelta(seconds=1)
    per_ip = group is rows.ip
    ok = ~np.isnan(rows.secs) & (group >= 0) & (True if per_ip else recon)
    columns = ("group", "start", "reads", "distinct_reads", "services", "regions", "ips")
    if not ok.any():
        return pd.DataFrame({c: np.zeros(0) for c in columns})
    secs, grp = rows.secs[ok], group[ok]
    first = np.floor(secs.min() / width) - 1
    grids = [np.floor((secs + off) / width).astype(np.int64) - int(first) for off in (0, width / 2)]
    n_bins = int(max(g.max() for g in grids)) + 1
    window_key = np.concatenate([((grp + 1) * n_bins + g) * 2 + k for k, g in enumerate(grids)])
    keys, window = np.unique(window_key, return_inverse=True)
    n = len(keys)
    twice = np.concatenate([recon[ok], recon[ok]])
    weight = np.concatenate([rows.weight[ok], rows.weight[ok]])
    out = pd.DataFrame(
        {
            "group": keys // 2 // n_bins - 1,
            "start": ((keys // 2 % n_bins) + first) * width - (keys % 2) * (width / 2),
            "reads": np.bincount(window, weights=twice * weight, minlength=n).astype(np.int64),
        }
    )
    svc, _ = codes_and_labels(events["event_source"])
    region, _ = codes_and_labels(events["aws_region"])
    counted: list[tuple[str, np.ndarray, np.ndarray | None]] = [
        ("distinct_reads", rows.name, twice)
    ]
    if per_ip:
        counted += [("services", svc, None), ("regions", region, None)]
        out["ips"] = 1
    else:
        counted.append(("ips", rows.ip, None))
        out["services"] = out["regions"] = 0
    for name, codes, only in counted:
        values = np.concatenate([codes[ok], codes[ok]])
        keep = values >= 0 if only is None else (values >= 0) & only
        width_v = np.int64(values.max() + 2) if len(values) else np.int64(1)
        pairs = _distinct(window[keep].astype(np.int64) * width_v + values[keep])
        out[name] = np.bincount(pairs // width_v, minlength=n)
    return out


def _recon_items(
    rows: _Rows, windows: pd.DataFrame, by_key: bool, sort: list[str], text: Any
) -> tuple[list[str], int]:
    """Detail items, the busiest window of each group first: per IP, or per key when its
    window spans several IPs (one IP's burst is already named per IP)."""
    if by_key:
        windows = windows[windows["ips"] >= 2]
    if windows.empty:
        return [], 0
    best = windows.sort_values(sort, ascending=[False] * (len(sort) - 1) + [True])
    best = best.drop_duplicates("group")
    items = []
    for r in best.head(DETAIL_ITEMS).itertuples():
        who = (
            f"key {rows.key_labels[int(r.group)]} from {int(r.ips)} IPs"
            if by_key
            else rows.ip_label(int(r.group))
        )
        items.append(f"{who}: {text(r)} from {_hm(_EPOCH + pd.Timedelta(seconds=r.start))}")
    return items, len(best)


def _recon_signals(
    rows: _Rows, events: pd.DataFrame, catalogue: pd.DataFrame | None
) -> list[Signal]:
    """Bursts and denials per IP and per identity (the access key: Tor rotates addresses, so an
    actor's reads split over many exits are counted together); breadth per IP."""
    recon = _recon_mask(rows, catalogue)
    minutes = int(RECON_WINDOW / pd.Timedelta(minutes=1))
    out: list[Signal] = []
    bursts: list[str] = []
    broad: list[str] = []
    n_burst = n_broad = 0
    for by_key, group in ((False, rows.ip), (True, rows.key)):
        windows = _recon_windows(rows, events, recon, group)
        burst = windows[
            (windows["reads"] >= RECON_MIN_CALLS)
            & (windows["distinct_reads"] >= RECON_MIN_DISTINCT_CALLS)
        ]
        items, n = _recon_items(
            rows,
            burst,
            by_key,
            ["reads", "start"],
            lambda r: f"{int(r.reads)} calls ({int(r.distinct_reads)} kinds)",
        )
        bursts += items
        n_burst += n
        wide = windows[
            (windows["services"] >= RECON_MIN_SERVICES) | (windows["regions"] >= RECON_MIN_REGIONS)
        ]
        items, n = _recon_items(
            rows,
            wide,
            by_key,
            ["regions", "services", "start"],
            lambda r: f"{int(r.services)} services, {int(r.regions)} regions",
        )
        broad += items
        n_broad += n
    if bursts:
        out.append(
            Signal(
                "recon_burst",
                f"bursts of List/Describe/Get calls within {minutes} min: "
                f"{_listing(bursts, total=n_burst)}",
                WEIGHTS["recon_burst"],
            )
        )
    if broad:
        out.append(
            Signal(
                "recon_breadth",
                f"many services or regions within {minutes} min: {_listing(broad, total=n_broad)}",
                WEIGHTS["recon_breadth"],
            )
        )
    out += _denied_signal(rows, events)
    return out


def _denied_signal(rows: _Rows, events: pd.DataFrame) -> list[Signal]:
    """Many AccessDenied errors from one IP, or from one key over several IPs."""
    codes, labels = codes_and_labels(events["error_code"])
    denied = _mask(codes, _label_test(labels, DENIED_PATTERN))
    if not denied.any():
        return []
    items: list[str] = []
    total = 0
    for by_key, group in ((False, rows.ip), (True, rows.key)):
        sel = denied & (group >= 0) if by_key else denied
        codes_g, inverse = np.unique(group[sel], return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=rows.weight[sel], minlength=len(codes_g))
        # distinct IPs per group (per key: a key's denials over several IPs)
        width = np.int64(len(rows.ip_labels) + 2)
        pairs = _distinct(inverse.ravel().astype(np.int64) * width + rows.ip[sel] + 1)
        n_ips = np.bincount(pairs // width, minlength=len(codes_g))
        ranked = sorted(
            (
                (int(g), int(n), int(k))
                for g, n, k in zip(codes_g, counts, n_ips, strict=True)
                if n >= RECON_MIN_DENIED and (k >= 2 or not by_key)
            ),
            key=lambda x: (-x[1], x[0]),
        )
        total += len(ranked)
        for g, n, k in ranked[: max(0, DETAIL_ITEMS - len(items))]:
            in_group = sel & (group == g)
            names = sorted(
                {str(rows.name_labels[c]) for c in _distinct(rows.name[in_group]) if c >= 0}
            )
            who = f"key {rows.key_labels[g]} from {k} IPs" if by_key else rows.ip_label(g)
            items.append(f"{who}: {n} denied ({_listing(names, 3)})")
    if not items:
        return []
    return [
        Signal(
            "recon_denied",
            f"many AccessDenied/UnauthorizedOperation errors: {_listing(items, total=total)}",
            WEIGHTS["recon_denied"],
        )
    ]


def _sensitive_signals(found: pd.DataFrame) -> list[Signal]:
    out = []
    for category in CATEGORIES:
        rows = found[found["category"] == category]
        if rows.empty:
            continue
        names = rows["event_name"].value_counts()
        calls = [f"{n} ×{c}" if c > 1 else str(n) for n, c in names.items()]
        ips = rows["source_ip"].fillna("(no IP)").unique().tolist()
        outcome = outcome_labels(rows)
        succeeded = int((outcome == SUCCEEDED).sum())
        unknown = int((outcome == UNKNOWN).sum())
        tor = from_tor(int(rows["tor"].fillna(False).sum()), int(rows["tor"].isna().sum()))
        weight = SENSITIVE_WEIGHTS[category]
        state = f"{succeeded} of {len(rows)} succeeded"
        if unknown:  # may have succeeded: weighed as if it did, said as not known
            state = (
                f"outcome unknown ({unknown} of {len(rows)}: {UNKNOWN_WHY})"
                if unknown == len(rows)
                else f"{state}, {unknown} of unknown outcome"
            )
        elif succeeded == 0:
            weight = int(weight * FAILED_ONLY_FACTOR)
            state = "all failed (attempted)"
        out.append(
            Signal(
                f"sensitive:{category}",
                f"{_listing(calls)}: {state}, {tor}, from {_listing(ips, 3)}",
                weight,
            )
        )
    return out


def _baseline_signals(
    rows: _Rows,
    events: pd.DataFrame,
    window_start: pd.Timestamp,
    ip_asn: Mapping[str, Any] | pd.Series | None,
    read_from: Any = None,
) -> list[Signal]:
    base = baseline(events, window_start, ip_asn=ip_asn)
    if not base.has_history:
        return [no_baseline_signal(window_start, read_from)]
    out = []
    code_of = {str(label): i for i, label in enumerate(rows.ip_labels)}
    ips = [rows.ip_label(code_of[v]) for v in base.new_values("source_ip")]
    if ips:
        out.append(
            Signal(
                "new_source_ip",
                f"{len(ips)} IP(s) not seen before {_hm(window_start)} "
                f"(history from {_hm(base.history_start)}): {_listing(ips)}",
                WEIGHTS["new_source_ip"],
            )
        )
    agents = [_short(v) for v in base.new_values("user_agent")]
    if agents:
        out.append(
            Signal(
                "new_user_agent",
                f"{len(agents)} user agent(s) not seen before: {_listing(agents, 3)}",
                WEIGHTS["new_user_agent"],
            )
        )
    asns = base.new_values("asn")
    if asns:
        out.append(_new_asn_signal(asns, base, ip_asn))
    return out


def _new_asn_signal(
    asns: list[str], base: Baseline, ip_asn: Mapping[str, Any] | pd.Series | None
) -> Signal:
    """``new_asn`` for ``asns`` (new against the baseline): when no earlier call's ASN is known
    (private or AWS-service callers, public IPs the database does not answer), new cannot be
    told from usual and it weighs nothing; otherwise its detail names the earlier public IPs
    whose ASN is not known (one of them may be in those ASNs)."""
    detail = f"{len(asns)} ASN(s) not seen before: {_listing(asns)}"
    lookup = (
        ip_asn if isinstance(ip_asn, pd.Series) else pd.Series(dict(ip_asn or {}), dtype=object)
    )
    known = {str(k) for k, v in lookup.items() if isinstance(v, str) and v}
    rows = base.frame[(base.frame["kind"] == "source_ip") & (base.frame["events_before"] > 0)]
    earlier = [str(v) for v in rows["value"]]
    if not any(ip in known for ip in earlier):
        return Signal(
            "new_asn",
            f"{detail}; cannot tell: no earlier call's ASN is known (earlier IP(s): "
            f"{_listing(earlier, 3)})",
            0,
        )
    unknown = [ip for ip in earlier if ip not in known and ip_kind(ip) == "public"]
    if not unknown:
        return Signal("new_asn", detail, WEIGHTS["new_asn"])
    return Signal(
        "new_asn",
        f"{detail}; {len(unknown)} earlier public IP(s) have no known ASN "
        f"({_listing(unknown, 3)}): they may be in these",
        WEIGHTS["new_asn"],
    )


def _concurrency_signals(rows: _Rows) -> list[Signal]:
    ok = (rows.key >= 0) & rows.ip_is_ip[rows.ip] & ~np.isnan(rows.secs)
    key, ip, secs = rows.key[ok], rows.ip[ok], rows.secs[ok]
    if len(key) < 2:
        return []
    order = np.lexsort((secs, key))
    key, ip, secs = key[order], ip[order], secs[order]
    limit = CONCURRENT_WINDOW / pd.Timedelta(seconds=1)
    switch = (key[1:] == key[:-1]) & (ip[1:] != ip[:-1]) & (secs[1:] - secs[:-1] <= limit)
    if not switch.any():
        return []
    idx = np.flatnonzero(switch)
    pairs = pd.DataFrame(
        {"key": np.concatenate([key[idx], key[idx]]), "ip": np.concatenate([ip[idx], ip[idx + 1]])}
    ).drop_duplicates()
    groups = pairs.groupby("key", sort=True)["ip"]
    items = [
        f"{rows.key_labels[k]}: {len(ips)} IPs "
        f"({_listing(sorted(rows.ip_label(int(i)) for i in ips), 4)})"
        for k, ips in list(groups)[:DETAIL_ITEMS]
    ]
    minutes = int(CONCURRENT_WINDOW / pd.Timedelta(minutes=1))
    return [
        Signal(
            "concurrent_ips",
            f"one key used from several IPs within {minutes} min of each other: "
            f"{_listing(items, total=groups.ngroups)}",
            WEIGHTS["concurrent_ips"],
        )
    ]


def _retry_signals(rows: _Rows, events: pd.DataFrame) -> list[Signal]:
    codes, labels = codes_and_labels(events["error_code"])
    absent = _mask(codes, _label_test(labels, ABSENT_PATTERN))
    failed = rows.failed & ~absent
    if not failed.any():
        return []
    ok = (rows.ip >= 0) & (rows.name >= 0) & ~np.isnan(rows.secs)
    df = pd.DataFrame(
        {
            "ip": rows.ip[ok],
            "name": rows.name[ok],
            "fail_t": np.where(failed[ok], rows.secs[ok], np.inf),
            "ok_t": np.where(~rows.failed[ok] & ~rows.unknown[ok], rows.secs[ok], -np.inf),
        }
    )
    g = df.groupby(["ip", "name"], sort=False).agg(
        first_fail=("fail_t", "min"), last_ok=("ok_t", "max")
    )
    hits = g[g["first_fail"] < g["last_ok"]].reset_index().sort_values("first_fail")
    if hits.empty:
        return []
    items = [
        f"{rows.ip_label(int(r.ip))}: {rows.name_labels[r.name]}"
        for r in hits.head(DETAIL_ITEMS).itertuples()
    ]
    return [
        Signal(
            "failed_then_succeeded",
            "calls that failed, then succeeded from the same IP: "
            f"{_listing(items, total=len(hits))}",
            WEIGHTS["failed_then_succeeded"],
        )
    ]
