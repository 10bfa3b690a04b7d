"""Whether a call succeeded, failed or is of unknown outcome: the one place that reads it.

CloudTrail writes ``errorCode`` only when a call failed, so a whole record without one is a call
that succeeded. A record that is not whole proves nothing by its silence: an event LookupEvents
returned without a usable ``CloudTrailEvent`` (rebuilt from the fields it lists beside it, which
carry no error code) or with a partial one (a record lacking fields LookupEvents lists) has an
outcome nobody knows. Its row has ``outcome_unknown`` True (and no ``error_code``): it is
neither succeeded nor failed, and every count that splits the two counts it apart.

Every reader of a call's outcome goes through this module: the events frame (``error_code``,
``outcome_unknown``), an engine's counts frame (``calls``, ``failed``, optional
``outcome_unknown`` counts), the sensitive calls' frame (``failed`` boolean, NA when unknown)
and a record (a dict, :func:`record_outcome`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

Outcome = Literal["succeeded", "failed", "unknown"]
SUCCEEDED: Outcome = "succeeded"
FAILED: Outcome = "failed"
UNKNOWN: Outcome = "unknown"

#: The key torinvest adds to a record it rebuilt or found partial (never one CloudTrail writes):
#: without an ``errorCode`` such a record's outcome is unknown. Its value says why (text).
OUTCOME_UNKNOWN_MARK = "torinvest:outcomeUnknown"
#: The events frame's column: True for a row whose outcome is unknown (see the module).
OUTCOME_UNKNOWN_COLUMN = "outcome_unknown"

#: What the report, the answer and the signals say about calls of unknown outcome.
UNKNOWN_WHY = (
    "kept from LookupEvents' own fields without a usable record: whether the call succeeded "
    "is not known"
)


def _bool_array(series: pd.Series | None, n: int) -> np.ndarray:
    if series is None:
        return np.zeros(n, dtype=bool)
    return series.astype("boolean").fillna(False).to_numpy(dtype=bool)


def failed_rows(events: pd.DataFrame) -> np.ndarray:
    """Per row of an events frame: the call failed (it has an error code)."""
    return events["error_code"].notna().to_numpy(dtype=bool)


def unknown_rows(events: pd.DataFrame) -> np.ndarray:
    """Per row of an events frame: the call's outcome is unknown (no error code, and its record
    was not whole: ``outcome_unknown``)."""
    flag = events[OUTCOME_UNKNOWN_COLUMN] if OUTCOME_UNKNOWN_COLUMN in events.columns else None
    return _bool_array(flag, len(events)) & ~failed_rows(events)


def succeeded_rows(events: pd.DataFrame) -> np.ndarray:
    """Per row of an events frame: the call succeeded (a whole record without an error code)."""
    return ~failed_rows(events) & ~unknown_rows(events)


def outcome_counts(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of an events frame or of an engine's counts frame (``calls``/``failed``
    columns, ``outcome_unknown`` counts when it has them): the calls it stands for, those that
    failed and those of unknown outcome (int64 arrays; succeeded = calls - failed - unknown)."""
    n = len(frame)
    if "calls" in frame.columns:
        calls = frame["calls"].to_numpy(dtype=np.int64, na_value=0)
        failed = (
            frame["failed"].to_numpy(dtype=np.int64, na_value=0)
            if "failed" in frame.columns
            else np.zeros(n, dtype=np.int64)
        )
        unknown = (
            frame[OUTCOME_UNKNOWN_COLUMN].to_numpy(dtype=np.int64, na_value=0)
            if OUTCOME_UNKNOWN_COLUMN in frame.columns
            else np.zeros(n, dtype=np.int64)
        )
        return calls, failed, unknown
    return (
        np.ones(n, dtype=np.int64),
        failed_rows(frame).astype(np.int64),
        unknown_rows(frame).astype(np.int64),
    )


def failed_flags(events: pd.DataFrame) -> pd.Series:
    """Per row: True (failed), False (succeeded) or NA (unknown), as a ``boolean`` Series on the
    frame's index: the ``failed`` column of the sensitive calls and the pivot's rows."""
    out = pd.Series(failed_rows(events), index=events.index, dtype="boolean")
    out[unknown_rows(events)] = pd.NA
    return out


def outcome_labels(events: pd.DataFrame) -> pd.Series:
    """Per row of an events frame (``error_code``, ``outcome_unknown``) or of a frame with a
    ``failed`` boolean column (NA: unknown; the sensitive calls'): ``succeeded``, ``failed`` or
    ``unknown`` (``string``, the frame's index)."""
    if OUTCOME_UNKNOWN_COLUMN in events.columns or "failed" not in events.columns:
        failed, unknown = failed_rows(events), unknown_rows(events)
    else:
        flags = events["failed"].astype("boolean")
        failed = flags.fillna(False).to_numpy(dtype=bool)
        unknown = flags.isna().to_numpy(dtype=bool)
    labels = np.where(failed, FAILED, np.where(unknown, UNKNOWN, SUCCEEDED))
    return pd.Series(labels, index=events.index, dtype="string")


def outcome_of(failed: Any) -> Outcome:
    """One ``failed`` value (True, False, NA/None) as its outcome."""
    if failed is None or failed is pd.NA or (isinstance(failed, float) and failed != failed):
        return UNKNOWN
    return FAILED if bool(failed) else SUCCEEDED


def record_outcome(record: Mapping[str, Any]) -> Outcome:
    """A CloudTrail record's outcome: failed with an ``errorCode``, unknown when torinvest marked
    it not whole (:data:`OUTCOME_UNKNOWN_MARK`), else succeeded."""
    if record.get("errorCode"):
        return FAILED
    return UNKNOWN if record.get(OUTCOME_UNKNOWN_MARK) else SUCCEEDED


def split_text(failed: int, unknown: int) -> str:
    """``N failed`` and, when there are any, ``, M of unknown outcome``: how a count that splits
    succeeded from failed says the calls that are neither."""
    text = f"{failed:,} failed"
    if unknown:
        text += f", {unknown:,} of unknown outcome"
    return text


#: How a table's result column says a call's outcome besides its error code.
RESULT_OK = "ok"
RESULT_UNKNOWN = "outcome unknown"


def call_results(frame: pd.DataFrame) -> pd.Series:
    """Per row (an events frame or the sensitive calls' frame): the error code of a failed
    call, ``ok`` for one that succeeded, ``outcome unknown`` for one nobody knows (``object``,
    the frame's index): the result column of the report's tables."""
    labels = outcome_labels(frame)
    codes = frame["error_code"].astype("object") if "error_code" in frame.columns else labels
    out = pd.Series(RESULT_OK, index=frame.index, dtype="object")
    out[(labels == UNKNOWN).to_numpy(dtype=bool)] = RESULT_UNKNOWN
    failed = (labels == FAILED).to_numpy(dtype=bool)
    out[failed] = codes[failed]
    return out
