"""The baseline: what the key used before the finding window against what it used since
(source IPs, user agents, ASNs), and which values are new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from torinvest.analysis.helpers import _UTC, _require
from torinvest.errors import InputError
from torinvest.grouping import address_codes_and_labels, codes_and_labels
from torinvest.schema import iso_utc, utc_timestamp

BASELINE_COLUMNS: tuple[str, ...] = (
    "kind",
    "value",
    "events_before",
    "events_during",
    "first_seen",
    "last_seen",
    "new",
)
BASELINE_KINDS: tuple[str, ...] = ("source_ip", "user_agent", "asn")


# --------------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Baseline:
    """What the key used before the finding window, against what it used since.

    ``frame`` columns: kind (source_ip, user_agent, asn), value, events_before, events_during
    (Int64; "during" is at or after ``window_start``), first_seen, last_seen (UTC), new (boolean:
    seen during and never before; NA when there is no activity before the window at all).
    ``history_start`` is the earliest event before the window (None: no history); ``note`` says
    why "new" cannot be told, when it cannot.
    """

    window_start: pd.Timestamp
    frame: pd.DataFrame
    history_start: pd.Timestamp | None
    note: str | None = None

    @property
    def has_history(self) -> bool:
        return self.history_start is not None

    def flags(self, kind: str) -> pd.Series:
        """value → new (boolean) for one kind."""
        rows = self.frame[self.frame["kind"] == kind]
        return pd.Series(rows["new"].to_numpy(), index=rows["value"].to_numpy(), dtype="boolean")

    def new_values(self, kind: str) -> list[str]:
        """Values of one kind that are new, in order of first appearance."""
        rows = self.frame[(self.frame["kind"] == kind) & self.frame["new"].fillna(False)]
        return rows.sort_values("first_seen")["value"].astype(str).tolist()


def _empty_baseline() -> pd.DataFrame:
    dtypes = {
        "kind": "string",
        "value": "string",
        "events_before": "Int64",
        "events_during": "Int64",
        "first_seen": _UTC,
        "last_seen": _UTC,
        "new": "boolean",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in BASELINE_COLUMNS})


def _recode(
    codes: np.ndarray, labels: np.ndarray, mapping: Mapping[str, Any] | pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Codes/labels of ``mapping[label]`` (missing or NA → -1)."""
    lookup = mapping if isinstance(mapping, pd.Series) else pd.Series(dict(mapping), dtype=object)
    lookup = lookup[~lookup.index.duplicated()]
    mapped = pd.Series(labels, dtype=object).map(lookup)
    new_codes, new_labels = pd.factorize(mapped, use_na_sentinel=True)
    per_row = np.append(new_codes, -1)[codes]
    return per_row, np.asarray([str(v) for v in new_labels], dtype=object)


def _kind_rows(
    kind: str, codes: np.ndarray, labels: np.ndarray, before: np.ndarray, times: Any
) -> pd.DataFrame:
    keep = codes >= 0
    if not keep.any():
        return _empty_baseline()
    df = pd.DataFrame({"v": codes[keep], "before": before[keep], "time": times[keep]})
    g = df.groupby("v", sort=False).agg(
        n=("before", "size"),
        events_before=("before", "sum"),
        first_seen=("time", "min"),
        last_seen=("time", "max"),
    )
    return pd.DataFrame(
        {
            "kind": kind,
            "value": labels[g.index.to_numpy()],
            "events_before": g["events_before"].to_numpy(),
            "events_during": (g["n"] - g["events_before"]).to_numpy(),
            "first_seen": g["first_seen"].array,
            "last_seen": g["last_seen"].array,
        }
    )


def baseline(
    events: pd.DataFrame,
    window_start: Any,
    *,
    ip_asn: Mapping[str, Any] | pd.Series | None = None,
) -> Baseline:
    """Source IPs, user agents and ASNs seen before ``window_start`` against at/after it.

    A value is new when it shows at or after the window start and never before (as Amazon
    Detective's "newly observed"). Source IPs are compared as addresses, in canonical form
    (:func:`torinvest.grouping.address_codes_and_labels`): an address seen before under another
    spelling is not new. When nothing at all precedes the window, "new" cannot be
    told: every flag is NA and ``note`` says so. ``ip_asn`` maps IP → ASN (for example
    ``per_ip(...).set_index("source_ip")["asn"]``); without it there are no ASN rows.
    """
    _require(events, ("event_time", "source_ip", "user_agent"))
    start = utc_timestamp(window_start)
    if start is None:
        raise InputError("baseline needs a window start", hint="pass the finding's first_seen")
    valid = events["event_time"].notna().to_numpy()
    before = (events["event_time"] < start).fillna(False).to_numpy(dtype=bool) & valid
    times = events["event_time"].array
    history = utc_timestamp(events["event_time"][before].min()) if before.any() else None
    ip, ip_labels = address_codes_and_labels(events["source_ip"])  # addresses, not text
    ip = np.where(valid, ip, -1)
    parts = [_kind_rows("source_ip", ip, ip_labels, before, times)]
    ua, ua_labels = codes_and_labels(events["user_agent"])
    parts.append(_kind_rows("user_agent", np.where(valid, ua, -1), ua_labels, before, times))
    if ip_asn is not None and len(ip_asn):
        asn, asn_labels = _recode(ip, ip_labels, ip_asn)
        parts.append(_kind_rows("asn", asn, asn_labels, before, times))
    parts = [p for p in parts if len(p)]
    frame = pd.concat(parts, ignore_index=True) if parts else _empty_baseline()
    note = None
    if history is None:
        frame["new"] = pd.Series(pd.NA, index=frame.index, dtype="boolean")
        note = (
            f"no call before {iso_utc(start)} (the finding's first sighting) in the events "
            "given: cannot tell new from usual sources (read more history before the finding)"
        )
    else:
        frame["new"] = ((frame["events_before"] == 0) & (frame["events_during"] > 0)).astype(
            "boolean"
        )
    frame = frame.astype(
        {
            "kind": "string",
            "value": "string",
            "events_before": "Int64",
            "events_during": "Int64",
            "first_seen": _UTC,
            "last_seen": _UTC,
        }
    )
    frame = frame.sort_values(["kind", "first_seen", "value"], kind="stable")
    return Baseline(start, frame.reset_index(drop=True), history, note)
