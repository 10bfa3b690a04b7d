"""Small helpers the analysis modules share over the events frame: the columns they need,
masks and distinct values over integer codes, detail-line formatting (attacker text cut and
escaped), JSON-ready values, and the finding window. Its names with a leading underscore are
the analysis package's own (its modules import them), not part of torinvest's API.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from torinvest.errors import InputError
from torinvest.safety import term_safe
from torinvest.schema import utc_timestamp

#: How many IPs, keys or calls a signal's detail names before "…".
DETAIL_ITEMS = 5
#: How many characters of a user agent a signal's detail shows.
DETAIL_TEXT_CHARS = 60


_EPOCH = pd.Timestamp(0, tz="UTC")
_UTC = "datetime64[us, UTC]"
_NEEDED: tuple[str, ...] = (
    "event_time",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "user_agent",
    "error_code",
    "access_key_id",
)


# --------------------------------------------------------------------------------------------
# small helpers over the events frame
# --------------------------------------------------------------------------------------------
def _require(events: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise InputError(
            f"the events frame lacks column(s) {', '.join(missing)}",
            hint="pass the frame a torinvest source returned (torinvest.schema.EVENTS_COLUMNS)",
        )


def _label_test(labels: np.ndarray, pattern: str) -> np.ndarray:
    if not len(labels):
        return np.zeros(0, dtype=bool)
    return (
        pd.Series(labels, dtype="string")
        .str.contains(pattern, case=False, regex=True)
        .to_numpy(dtype=bool, na_value=False)
    )


def _mask(codes: np.ndarray, label_hits: np.ndarray) -> np.ndarray:
    """Per-row mask from a per-label mask (code -1, NA, is False)."""
    return np.append(label_hits, False)[codes]


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: numpy's hash-based ``unique`` is slow on big arrays)."""
    ordered = np.sort(values)
    if not len(ordered):
        return ordered
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def _bools(s: pd.Series) -> np.ndarray:
    """A nullable boolean column as plain bool (NA is False)."""
    return s.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _is_ip_label(labels: np.ndarray) -> np.ndarray:
    """Which labels are IP addresses (not ``AWS Internal`` or a service name)."""
    out = np.zeros(len(labels), dtype=bool)
    for i, v in enumerate(labels):
        try:
            ipaddress.ip_address(v)
        except ValueError:
            continue
        out[i] = True
    return out


def _seconds(times: pd.Series) -> np.ndarray:
    """Event times as float seconds since the epoch (NaN for NaT)."""
    return ((times - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=float, na_value=np.nan)


def _hm(t: Any) -> str:
    ts = utc_timestamp(t)
    return "?" if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S")


def _listing(items: Sequence[str], limit: int = DETAIL_ITEMS, total: int | None = None) -> str:
    """The first ``limit`` items, then how many more (``total`` when items were cut already)."""
    total = len(items) if total is None else total
    shown = ", ".join(items[:limit])
    return shown + (f", … (+{total - min(limit, len(items))})" if total > limit else "")


def _na(v: Any) -> Any:
    """None for a missing value; numpy scalars as Python ones (JSON-ready)."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _short(value: Any, limit: int = DETAIL_TEXT_CHARS) -> str:
    """Attacker text for a detail line: control characters escaped, the middle cut out."""
    text = term_safe(value)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def window_of(findings: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The finding window of a findings frame: (earliest first_seen, latest last_seen), or None."""
    if findings is None or findings.empty:
        return None
    start, end = (
        utc_timestamp(findings["first_seen"].min()),
        utc_timestamp(findings["last_seen"].max()),
    )
    if start is None or end is None:
        return None
    return start, end
