"""Tor status: was an IP a listed exit within the tolerance of each event's time
(:func:`tor_status`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from torinvest.errors import DataIssue, InputError
from torinvest.geo import ip_kind
from torinvest.grouping import OR_ONLY_CAVEAT as OR_ONLY_CAVEAT  # re-exported: one rule
from torinvest.grouping import OR_ONLY_LABEL as OR_ONLY_LABEL
from torinvest.grouping import OR_ONLY_WORDS as OR_ONLY_WORDS
from torinvest.grouping import status_label as status_label
from torinvest.tor.records import (
    DEFAULT_TOLERANCE,
    ExitLists,
    _check_tolerance,
    _padded,
    _us,
    covered_segments,
    normalize_ip,
)

# --------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------
#: The kinds of source (:func:`torinvest.geo.ip_kind`) that cannot be a Tor exit whatever the
#: lists say or cover: private, loopback, link-local, shared, reserved and documentation
#: addresses, and AWS service names (``AWS Internal``, ``<service>.amazonaws.com``).
NEVER_EXIT_KINDS: frozenset[str] = frozenset({"private", "aws-service"})


def cannot_be_exit(value: object) -> bool:
    """Whether a ``sourceIPAddress`` value can never be a Tor exit (:data:`NEVER_EXIT_KINDS`)."""
    return ip_kind(value) in NEVER_EXIT_KINDS


@dataclass(frozen=True, slots=True)
class _Sources:
    """Per event row: the position of its normalized address among the listed ones (-1 if
    absent) and masks: no source, a source that cannot be an exit (:func:`cannot_be_exit`), an
    IPv6 address, and a value that is neither an address nor an AWS service name (unreadable)."""

    known: np.ndarray
    missing: np.ndarray
    never: np.ndarray
    ipv6: np.ndarray
    unreadable: np.ndarray


def _classify(values: pd.Index) -> tuple[list[str | None], np.ndarray, np.ndarray, np.ndarray]:
    """Distinct source values: normalized address (None if none), and masks of the blank
    ones, of those that cannot be an exit, and of those that are unreadable."""
    normalized = [normalize_ip(str(v)) for v in values]
    kinds = [ip_kind(str(v)) for v in values]
    blank = np.array([k == "missing" for k in kinds], dtype=bool)
    never = np.array([k in NEVER_EXIT_KINDS for k in kinds], dtype=bool)
    unreadable = np.array([n is None for n in normalized], dtype=bool) & ~blank & ~never
    return normalized, blank, never, unreadable


def _factorized(source_ip: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes (-1 for NA) and distinct values of a source column (categorical or not)."""
    if isinstance(source_ip.dtype, pd.CategoricalDtype):
        return source_ip.cat.codes.to_numpy(), pd.Index(source_ip.cat.categories)
    codes, values = pd.factorize(source_ip, use_na_sentinel=True)
    return codes, pd.Index(values)


def _event_codes(source_ip: pd.Series, known: pd.Index) -> _Sources:
    """:class:`_Sources` of a source column; only the distinct values are normalized (a
    categorical's categories, or ``pd.factorize``)."""
    codes, values = _factorized(source_ip)
    normalized, blank, never, unreadable = _classify(values)
    index = pd.Index([n or "" for n in normalized], dtype="object")
    v6 = np.array([n is not None and ":" in n for n in normalized], dtype=bool)

    def per_row(per_value: np.ndarray, na: object) -> np.ndarray:
        # one extra slot for NA rows (code -1)
        return np.append(per_value, na)[codes]

    return _Sources(
        known=per_row(known.get_indexer(index), -1),
        missing=per_row(blank, True),
        never=per_row(never, False),
        ipv6=per_row(v6, False),
        unreadable=per_row(unreadable, False),
    )


def ip_status(
    ip: str,
    at: pd.Timestamp,
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
) -> bool | None:
    """Was ``ip`` a listed Tor exit within ``tolerance`` of ``at``? True, False (also for an
    address that cannot be an exit, such as a private one), or None when no loaded list that
    vouches for the exit population covers that time (:func:`tor_status` of a one-row frame)."""
    probe = pd.DataFrame({"event_time": [at], "source_ip": pd.Categorical([ip])})
    status = tor_status(probe, lists, tolerance).iloc[0]
    return None if status is pd.NA else bool(status)


def tor_status(
    events: pd.DataFrame,
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
    *,
    span: pd.Timedelta | timedelta | str | None = None,
) -> pd.Series:
    """Per event row: was ``source_ip`` a listed Tor exit within ``tolerance`` of ``event_time``?

    Returns a ``boolean`` Series named ``tor`` on ``events.index``: True (listed near that time),
    False (the loaded lists rule Tor out at that time for the address's family —
    :func:`~torinvest.tor.records.coverage`: where every exit a list names would match — and no
    list names it near it; and, whatever the lists cover, for a source that cannot be an exit
    and no list names: private, loopback, link-local, shared, reserved or documentation
    addresses and AWS service names such as ``AWS Internal`` — :data:`NEVER_EXIT_KINDS`), NA
    (no list rules Tor out at that time for that family, e.g. an IPv6 source and lists of IPv4
    exits; a value that is not an address, such as ``185.220.101.34:443``; or no time/source on
    the row). A partial list (an IOC list, a hand-made case list) can make a row True, never
    False.

    ``span`` (a counts frame's time bucket): each row stands for calls anywhere in
    [``event_time``, ``event_time`` + ``span``): True when a list names the address within
    ``tolerance`` of some moment of it; False only when the lists rule Tor out throughout it (at
    ``tolerance`` itself: a larger one would widen a snapshot's span) and none names the address
    near it; NA otherwise — a bucket only partly covered holds calls at times no list covers.
    """
    missing_cols = {"event_time", "source_ip"} - set(events.columns)
    if missing_cols:
        raise InputError(
            f"events frame lacks {', '.join(sorted(missing_cols))}",
            hint="pass the events frame of torinvest.sources (see torinvest.schema.EVENTS_COLUMNS)",
        )
    tol = _check_tolerance(tolerance)
    n = len(events)
    t, t_ok = _us(events["event_time"])
    t_end = t + _span_us(span)  # the last moment a row's calls may be at
    observed = _observed(lists, tol)

    # covered: a list that vouches for the whole exit population of the row's address family
    # rules Tor out at t (records.coverage); a partial list's observations only mark IPs as Tor
    src = _event_codes(events["source_ip"], observed.known)
    ev_code, ip_missing, never = src.known, src.missing, src.never
    v4 = _within(t, covered_segments(lists, tol, 4), t_end)
    v6 = _within(t, covered_segments(lists, tol, 6), t_end)
    covered = np.where(src.ipv6, v6, v4) & t_ok

    # listed: some padded interval of the same address contains t (merge_asof by address)
    listed = np.zeros(n, dtype=bool)
    pick = np.flatnonzero(t_ok & (ev_code >= 0))
    if len(pick):
        right = observed.reaches()
        # an observation padded by the tolerance that starts by the row's last moment and
        # reaches its first
        left = pd.DataFrame(
            {"code": ev_code[pick], "end": t_end[pick], "t": t[pick], "row": pick}
        ).sort_values("end", kind="stable")
        merged = pd.merge_asof(
            left, right, left_on="end", right_on="start", by="code", direction="backward"
        )
        reach = merged["reach"].to_numpy(dtype="float64", na_value=np.nan)
        hit = reach >= merged["t"].to_numpy(dtype="float64")
        listed[merged["row"].to_numpy()[hit]] = True

    listed &= ~ip_missing
    # a value that is not an address (185.220.101.34:443, 3118228770) is unknown, not "not Tor"
    known_mask = (covered & ~ip_missing & ~src.unreadable) | listed | never
    values = pd.arrays.BooleanArray(listed, ~known_mask)
    return pd.Series(values, index=events.index, name="tor")


class _Observed:
    """The lists' observations as :func:`tor_status` matches rows against them with tolerance
    ``tol`` µs: the distinct addresses (``known``) and, per address code, each padded
    observation's start and how far the address's observations reach from it
    (:meth:`reaches`, built when a row names a listed address). Made once per lists and
    tolerance (:func:`_observed`), not once per frame asked about."""

    def __init__(self, lists: ExitLists, tol: int) -> None:
        self._obs, self._tol = lists.observations, tol  # not the lists: they keep this
        self._codes, known = pd.factorize(self._obs["ip"])
        self.known = pd.Index(known, dtype="object")
        self._reaches: pd.DataFrame | None = None

    def reaches(self) -> pd.DataFrame:
        """``code``, ``start``, ``reach`` (µs), sorted by ``start``: for ``merge_asof``."""
        if self._reaches is None:
            starts, ends = _padded(self._obs, self._tol)
            right = (
                pd.DataFrame({"code": self._codes, "start": starts, "end": ends})
                .groupby(["code", "start"], sort=True)["end"]
                .max()
                .reset_index()
            )
            right["reach"] = right.groupby("code", sort=False)["end"].cummax()
            self._reaches = right.sort_values("start", kind="stable")[["code", "start", "reach"]]
        return self._reaches


def _observed(lists: ExitLists, tol: int) -> _Observed:
    """:class:`_Observed` of ``lists`` at ``tol``, kept with the lists' vouching (made again
    when their observations frame is another: :meth:`ExitLists.vouching`)."""
    kept = lists.vouching().observed
    if tol not in kept:
        kept[tol] = _Observed(lists, tol)
    found: _Observed = kept[tol]
    return found


def _within(
    t: np.ndarray, segments: tuple[np.ndarray, np.ndarray], t_end: np.ndarray | None = None
) -> np.ndarray:
    """Whether each time (µs) — each closed span [``t``, ``t_end``] when given — falls wholly in
    one of the sorted disjoint closed ``segments``."""
    seg_start, seg_end = segments
    if not len(seg_start):
        return np.zeros(len(t), dtype=bool)
    j = np.searchsorted(seg_start, t, side="right") - 1
    last = t if t_end is None else t_end
    return (j >= 0) & (last <= seg_end[np.clip(j, 0, None)])


def _span_us(span: pd.Timedelta | timedelta | str | None) -> int:
    """How far past its time a row's calls may be (µs): 0 for one call, a bucket's size less
    1 µs for the calls of a time bucket [start, start + span)."""
    if span is None:
        return 0
    try:
        size = pd.Timedelta(span)
    except (ValueError, TypeError):
        size = pd.NaT
    if size is pd.NaT or pd.isna(size) or size <= pd.Timedelta(0):
        raise InputError(
            f"invalid time bucket {span!r}",
            hint="pass the counts frame's bucket, a duration above zero such as '1h'",
        )
    return int(size // pd.Timedelta(microseconds=1)) - 1


# --------------------------------------------------------------------------------------------
# what "not Tor" rests on
# --------------------------------------------------------------------------------------------
#: What a "not Tor" that rests only on lists of relays' OR addresses is worth (:func:`or_only`),
#: in the words every surface uses.
OR_ONLY_TEXT = (
    "not listed by an OR-address list (exits whose traffic leaves from another address are "
    "not in it)"
)


def or_only(
    frame: pd.DataFrame,
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
    *,
    span: pd.Timedelta | timedelta | str | None = None,
) -> np.ndarray:
    """Per row of ``frame`` (``event_time``, ``source_ip`` and the ``tor`` :func:`tor_status`
    gave with the same ``lists``, ``tolerance`` and ``span``): whether its "not Tor" rests only
    on lists that name relays by their OR address (``ListSource.names`` ``or_addresses``:
    dan.me.uk's, the bundled interval file): no list of measured exit addresses rules Tor out
    at its time (throughout its ``span``). Such a list misses an exit whose traffic leaves from
    another address than its OR address — an attacker can pick those exits. False where the
    status is not False, and for a source that cannot be an exit (:func:`cannot_be_exit`)."""
    if not len(frame) or "tor" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    tol = _check_tolerance(tolerance)
    no = frame["tor"].eq(False).fillna(False).to_numpy(dtype=bool)
    if not no.any():
        return no
    t, _ = _us(frame["event_time"])
    t_end = t + _span_us(span)
    src = _event_codes(frame["source_ip"], pd.Index([], dtype="object"))
    v4 = _within(t, covered_segments(lists, tol, 4, exit_addresses=True), t_end)
    v6 = _within(t, covered_segments(lists, tol, 6, exit_addresses=True), t_end)
    measured = np.where(src.ipv6, v6, v4)
    return no & ~measured & ~src.never


def caveats(
    frame: pd.DataFrame,
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
    *,
    span: pd.Timedelta | timedelta | str | None = None,
) -> pd.Series:
    """Per row of ``frame`` (``event_time``, ``source_ip``, ``tor`` as for :func:`or_only`):
    :data:`OR_ONLY_CAVEAT` where its "not Tor" rests only on lists of relays' OR addresses,
    else NA — a string Series named ``tor_caveat``, the one rule every surface's caveat comes
    from (calls, IPs, the key's mints, console sign-ins)."""
    values = pd.Series(pd.NA, index=frame.index, dtype="string", name="tor_caveat")
    if len(frame) and {"event_time", "source_ip", "tor"} <= set(frame.columns):
        values[or_only(frame, lists, tolerance, span=span)] = OR_ONLY_CAVEAT
    return values


def marked(
    times: Sequence[object],
    ips: Sequence[object],
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
) -> list[tuple[bool | None, str | None]]:
    """The Tor status (None: unknown) and ``tor_caveat`` (:func:`caveats`; None: none) of each
    (time, source IP) pair — what a record (a mint, a sign-in) carries."""
    probe = pd.DataFrame(
        {
            "event_time": pd.to_datetime(list(times), utc=True),
            "source_ip": pd.Series(list(ips), dtype=object),
        }
    )
    probe["tor"] = tor_status(probe, lists, tolerance)
    said = caveats(probe, lists, tolerance)
    return [
        (None if pd.isna(t) else bool(t), None if pd.isna(c) else str(c))
        for t, c in zip(probe["tor"], said, strict=True)
    ]


def or_only_note(ips: int) -> str:
    """The one note of an investigation (or a report) whose ``ips`` source IPs are "not Tor"
    by lists of OR addresses only (:func:`or_only`)."""
    return (
        f"{ips:,} source IP(s) are 'not Tor' only by lists that name relays by their OR address "
        "(dan.me.uk-style lists, the bundled interval file): "
        f"{OR_ONLY_TEXT}, and an attacker can pick such exits; a measured list of those dates "
        "(TorDNSEL: torinvest tor refresh --month YYYY-MM, or CASE/tor/) narrows it"
    )


# --------------------------------------------------------------------------------------------
# why a status is unknown
# --------------------------------------------------------------------------------------------
#: Why a row's Tor status is NA (:func:`unknown_reasons`), in the order they are tested: no
#: time or no source on the row; a source that is not an address; an IPv6 source at a time the
#: lists rule Tor out for IPv4 sources only (no list names enough IPv6 exits then); a time no
#: list rules Tor out at for the source's family.
UNKNOWN_REASONS: tuple[str, ...] = ("no_time_or_source", "not_an_address", "ipv6", "time")
#: How many of the values that are not an address an issue names.
_NAMED_VALUES = 3


def unknown_reasons(
    frame: pd.DataFrame,
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
    *,
    span: pd.Timedelta | timedelta | str | None = None,
) -> pd.Series:
    """Per row of ``frame`` (``event_time``, ``source_ip`` and the ``tor`` that
    :func:`tor_status` gave with the same ``lists``, ``tolerance`` and ``span``): why its Tor status is
    NA — one of :data:`UNKNOWN_REASONS` (a categorical Series named ``tor_unknown``, NA where
    the status is known). Only the distinct source values are looked at, not each row."""
    categories = pd.CategoricalDtype(list(UNKNOWN_REASONS))
    if not len(frame):
        return pd.Series(
            pd.Categorical([], dtype=categories), index=frame.index, name="tor_unknown"
        )
    tol = _check_tolerance(tolerance)
    na = frame["tor"].isna().to_numpy(dtype=bool)
    t, t_ok = _us(frame["event_time"])
    t_end = t + _span_us(span)
    src = _event_codes(frame["source_ip"], pd.Index([], dtype="object"))
    v4_only = _within(t, covered_segments(lists, tol, 4), t_end) & ~_within(
        t, covered_segments(lists, tol, 6), t_end
    )
    code = np.full(len(frame), 3, dtype="int8")  # a time no list rules Tor out at
    code[src.ipv6 & v4_only] = 2
    code[src.unreadable] = 1
    code[src.missing | ~t_ok] = 0
    code[~na] = -1
    values = pd.Categorical.from_codes(code, dtype=categories)
    return pd.Series(values, index=frame.index, name="tor_unknown")


def unknown_issues(
    frame: pd.DataFrame,
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
    *,
    span: pd.Timedelta | timedelta | str | None = None,
) -> list[DataIssue]:
    """Data issues (source ``tor``) for the rows of ``frame`` whose Tor status is NA, one per
    reason (:func:`unknown_reasons`): how many events (a counts frame's ``calls`` weigh each
    row), why, and what to do; the values that are not an address named (a few, as data)."""
    reasons = unknown_reasons(frame, lists, tolerance, span=span)
    if not reasons.notna().any():
        return []
    weight = (
        frame["calls"].fillna(0).to_numpy(dtype="int64")
        if "calls" in frame.columns
        else np.ones(len(frame), dtype="int64")
    )
    codes = reasons.cat.codes.to_numpy()
    counts = np.bincount(codes[codes >= 0], weights=weight[codes >= 0], minlength=4)
    issues = []
    for code, count in enumerate(counts.astype("int64")):
        if count:
            text = _unknown_text(UNKNOWN_REASONS[code], int(count), frame["source_ip"][codes == 1])
            issues.append(DataIssue("tor", text))
    return issues


def _unknown_text(reason: str, count: int, unreadable: pd.Series) -> str:
    """One :func:`unknown_issues` line: ``count`` events, why their Tor status is unknown."""
    if reason == "no_time_or_source":
        return f"{count} event(s) without a time or a source address: their Tor status is unknown"
    if reason == "not_an_address":
        values = sorted(pd.unique(unreadable.dropna().astype(str)))
        named = ", ".join(repr(v[:60]) for v in values[:_NAMED_VALUES])
        more = f" and {len(values) - _NAMED_VALUES:,} more" if len(values) > _NAMED_VALUES else ""
        return (
            f"{count} event(s) whose source is not an IP address ({named}{more}): their Tor "
            "status is unknown (an exit list names addresses; look at those values in the events)"
        )
    if reason == "ipv6":
        return (
            f"{count} event(s) from IPv6 addresses at times the loaded exit lists rule Tor out "
            "for IPv4 addresses only (no list names enough IPv6 exits then): their Tor status "
            "is unknown (add a list that names IPv6 exits for those dates to CASE/tor/)"
        )
    return (
        f"{count} event(s) at times no loaded exit list covers (rules Tor out at: a snapshot "
        "only from its oldest to its newest test, within the tolerance of each): their Tor "
        "status is unknown (add exit lists for those dates to CASE/tor/, e.g. a month of "
        "hourly lists: torinvest tor refresh --month YYYY-MM)"
    )


def _rows_from(source: pd.Series, ip: str) -> np.ndarray:
    """Where ``source`` (IP text, categorical or not) is ``ip`` once normalized: each distinct
    value normalized once, not each row."""
    values = pd.Series(pd.unique(source.dropna().astype(str)), dtype="object")
    same = [v for v in values if normalize_ip(v) == ip]
    return source.astype("object").isin(same).to_numpy(dtype=bool, copy=True)


def finding_ip_contradiction(frame: pd.DataFrame, tor_ip: object, finding: str) -> DataIssue | None:
    """A data issue when the events' Tor status (``tor`` column, :func:`tor_status`) says the
    IP a GuardDuty finding names as its Tor caller was *not* Tor: the lists and GuardDuty
    disagree (a list that vouched wrongly, a tolerance too tight, a clock). None otherwise.

    ``frame`` is the events frame, or a counts frame (its ``calls`` weigh each row); ``finding``
    names the finding in the issue's source.
    """
    ip = normalize_ip(tor_ip)
    if ip is None or not len(frame) or "tor" not in frame.columns:
        return None
    rows = _rows_from(frame["source_ip"], ip)
    rows &= frame["tor"].eq(False).fillna(False).to_numpy(dtype=bool)
    if not rows.any():
        return None
    calls = int(frame["calls"][rows].sum()) if "calls" in frame.columns else int(rows.sum())
    return DataIssue(
        f"finding {finding}",
        f"{calls} call(s) from {ip}, the finding's Tor IP, are 'not Tor' by the loaded exit "
        "lists: the lists and GuardDuty disagree (check the lists of those dates, or widen "
        "the tolerance)",
    )
