"""The sensitive calls: the events in the sensitive-actions catalogue (:mod:`torinvest.catalogue`)
with category, MITRE technique and note, and what each acted on (:mod:`torinvest.targets`).
"""

from __future__ import annotations

import pandas as pd

from torinvest.analysis.helpers import _NEEDED, _UTC, _require
from torinvest.catalogue import shipped_catalogue
from torinvest.grouping import tor_column
from torinvest.outcome import failed_flags
from torinvest.schema import SENSITIVE_COLUMNS, SENSITIVE_TARGET_COLUMNS
from torinvest.targets import Target, call_targets, targets_text

# --------------------------------------------------------------------------------------------
# sensitive actions
# --------------------------------------------------------------------------------------------


def _empty_sensitive(targets: bool = False) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype="string") for c in SENSITIVE_COLUMNS})
    out = out.astype(
        {"event_time": _UTC, "failed": "boolean", "tor": "boolean", "derived": "boolean"}
    )
    if targets:
        out["target"] = pd.Series([], dtype="string")
        out["targets"] = pd.Series([], dtype="object")
    return out


def _targets_of(rows: pd.DataFrame) -> list[tuple[Target, ...]]:
    """:func:`torinvest.targets.call_targets` of each row (request/response JSON text)."""
    na = [None] * len(rows)
    names = rows["event_name"].astype("object").tolist()
    sources = rows["event_source"].astype("object").tolist()
    requests = (
        rows["request_parameters"].astype("object").tolist()
        if "request_parameters" in rows.columns
        else na
    )
    responses = (
        rows["response_elements"].astype("object").tolist()
        if "response_elements" in rows.columns
        else na
    )
    return [call_targets(*args) for args in zip(names, sources, requests, responses, strict=True)]


def sensitive_events(
    events: pd.DataFrame, *, catalogue: pd.DataFrame | None = None, targets: bool = False
) -> pd.DataFrame:
    """The calls in the sensitive-actions catalogue, oldest first.

    Columns: event_time (UTC), event_id, event_name, event_source, aws_region, source_ip,
    access_key_id, user_name, user_agent, error_code (string), failed (boolean: an error code; NA when the
    outcome is not known, :mod:`torinvest.outcome`),
    tor (boolean, NA when unknown), derived (boolean: by a key minted by the suspect key; NA when
    the frame has no ``derived`` column), category, mitre_technique, note (string). With
    ``targets``, also :data:`SENSITIVE_TARGET_COLUMNS`: ``target`` (string: what the call acted
    on, e.g. ``user svc-backup-sync, new key AKIA…``; NA when nothing is named) and ``targets``
    (tuples of :class:`torinvest.targets.Target`), from ``request_parameters`` and
    ``response_elements``.
    """
    _require(events, _NEEDED)
    cat = shipped_catalogue() if catalogue is None else catalogue
    if events.empty or cat.empty:
        return _empty_sensitive(targets)
    hit = events["event_name"].isin(cat["event_name"]).to_numpy(dtype=bool)
    if not hit.any():
        return _empty_sensitive(targets)
    rows = events.loc[hit]
    na_text = pd.Series(pd.NA, index=rows.index, dtype="string")
    sub = pd.DataFrame({"event_time": rows["event_time"]})
    for c in SENSITIVE_COLUMNS[1:10]:
        sub[c] = rows[c].astype("string") if c in rows.columns else na_text
    sub["failed"] = failed_flags(rows)
    sub["tor"] = tor_column(events).loc[hit]
    sub["derived"] = (
        rows["derived"].astype("boolean")
        if "derived" in rows.columns
        else pd.Series(pd.NA, index=rows.index, dtype="boolean")
    )
    columns = list(SENSITIVE_COLUMNS)
    if targets:
        found = _targets_of(rows)
        sub["target"] = pd.Series(
            [targets_text(t) for t in found], index=rows.index, dtype="string"
        )
        sub["targets"] = pd.Series(found, index=rows.index, dtype="object")
        columns += SENSITIVE_TARGET_COLUMNS
    merged = sub.merge(cat.astype("string"), on=["event_name", "event_source"], how="inner")
    merged = merged.sort_values(["event_time", "event_id"], kind="stable", na_position="last")
    return merged[columns].reset_index(drop=True)
