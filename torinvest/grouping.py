"""Grouping the events frame the same way everywhere: integer codes and labels of a column,
the labels' name order (which breaks ties between counts as SQL engines do), the Tor column and
how a status is said (with what a "not Tor" rests on), and the timeline's time buckets. Shared by :mod:`torinvest.analysis`, :mod:`torinvest.charts` and
the SQL engines (:mod:`torinvest.sources.sql`), so that counts made in an engine match those
made from the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from torinvest.addresses import same_or_canonical


def tor_count(known: int, unknown: int) -> str:
    """Calls from Tor as a number that never reads "0" when it is not known: ``24``, or
    ``0 (+69 of unknown Tor status)`` when calls at times no exit list covers are left."""
    return f"{known:,}" if not unknown else f"{known:,} (+{unknown:,} of unknown Tor status)"


def from_tor(known: int, unknown: int) -> str:
    """``24 from Tor``, or ``0 from Tor, 69 of unknown Tor status`` (:func:`tor_count`)."""
    text = f"{known:,} from Tor"
    return text if not unknown else f"{text}, {unknown:,} of unknown Tor status"


#: Time bucket sizes the timeline picks from (the first that gives few enough buckets).
TIMELINE_BUCKETS: tuple[tuple[pd.Timedelta, str], ...] = (
    (pd.Timedelta(minutes=1), "1 minute"),
    (pd.Timedelta(minutes=5), "5 minutes"),
    (pd.Timedelta(minutes=15), "15 minutes"),
    (pd.Timedelta(hours=1), "1 hour"),
    (pd.Timedelta(hours=6), "6 hours"),
    (pd.Timedelta(days=1), "1 day"),
    (pd.Timedelta(days=7), "7 days"),
)
#: At most this many time buckets on the timeline (larger buckets are picked beyond).
TIMELINE_MAX_BUCKETS = 120


def tor_column(events: pd.DataFrame) -> pd.Series:
    """The ``tor`` column as nullable boolean; all NA when the frame has none."""
    if "tor" not in events.columns:
        return pd.Series(pd.NA, index=events.index, dtype="boolean")
    return events["tor"].astype("boolean")


#: The ``tor_caveat`` of a row (an IP, a call, a mint, a sign-in) whose "not Tor" rests only on
#: lists that name relays by their OR address (:func:`torinvest.tor.caveats` says which).
OR_ONLY_CAVEAT = "or_addresses_only"
#: What such a "not Tor" rests on, in the words every surface uses.
OR_ONLY_WORDS = "OR-address lists only"
#: Such a "not Tor" in a table cell, a card, a chart (:func:`status_label`).
OR_ONLY_LABEL = f"not Tor ({OR_ONLY_WORDS})"


def weak_not_tor(caveat: object) -> bool:
    """Whether a ``tor_caveat`` value says "not Tor" rests on OR-address lists only."""
    return isinstance(caveat, str) and caveat == OR_ONLY_CAVEAT


def status_label(status: object, caveat: object = None, *, unknown: str = "unknown") -> str:
    """A Tor status in words: ``Tor``, ``not Tor`` — :data:`OR_ONLY_LABEL` when ``caveat`` is
    :data:`OR_ONLY_CAVEAT` —, else ``unknown`` (NA, None)."""
    if status is None or status is pd.NA or (isinstance(status, float) and status != status):
        return unknown
    if bool(status):
        return "Tor"
    return OR_ONLY_LABEL if weak_not_tor(caveat) else "not Tor"


def caveat_column(events: pd.DataFrame) -> np.ndarray:
    """Per row: whether its "not Tor" rests on OR-address lists only (the ``tor_caveat``
    column; all False when the frame has none)."""
    if "tor_caveat" not in events.columns:
        return np.zeros(len(events), dtype=bool)
    return events["tor_caveat"].eq(OR_ONLY_CAVEAT).fillna(False).to_numpy(dtype=bool)


def codes_and_labels(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for NA) and the labels (object array of str) of a column."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int64, copy=False)
        labels = s.cat.categories
    else:
        codes, labels = pd.factorize(s, use_na_sentinel=True)
        codes = codes.astype(np.int64, copy=False)
    return codes, np.asarray([str(v) for v in labels], dtype=object)


def address_codes_and_labels(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`codes_and_labels` of a source IP column grouped by address, not text: every
    spelling of one address (``2001:0470:…``/``2001:470:…``, ``::ffff:1.2.3.4``/``1.2.3.4``)
    gets one code, labelled with the canonical form (:func:`torinvest.addresses.canonical_ip`);
    other text (``AWS Internal``) as written. Each distinct value is converted once; the
    column is not changed."""
    codes, raw = codes_and_labels(s)
    canonical = [str(same_or_canonical(v)) for v in raw]
    if canonical == raw.tolist():
        return codes, raw
    merged, labels = pd.factorize(pd.Series(canonical, dtype=object))
    to_merged = np.append(merged.astype(np.int64), -1)  # code -1 (NA) stays -1
    return to_merged[codes], np.asarray(labels, dtype=object)


def label_rank(labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Each label's position in name order (by code point, as SQL engines sort text): ties
    between counts broken by it pick the same values however the labels were coded."""
    rank = np.empty(len(labels), dtype=np.int64)
    rank[np.argsort(np.asarray(labels, dtype=object).astype(str), kind="stable")] = np.arange(
        len(labels)
    )
    return rank


def pick_bucket(span: pd.Timedelta) -> tuple[pd.Timedelta, str]:
    """The smallest bucket of :data:`TIMELINE_BUCKETS` giving at most
    :data:`TIMELINE_MAX_BUCKETS` buckets over ``span`` (the largest one beyond)."""
    for size, name in TIMELINE_BUCKETS:
        if span / size < TIMELINE_MAX_BUCKETS:
            return size, name
    return TIMELINE_BUCKETS[-1]


def bucket_origin(start: pd.Timestamp, size: pd.Timedelta) -> pd.Timestamp:
    """Where the timeline's first bucket starts: ``start`` floored to the bucket (to the day for
    buckets over a day). Buckets computed elsewhere (in a SQL engine) use the same origin."""
    return start.floor(size) if size <= pd.Timedelta(days=1) else start.normalize()
