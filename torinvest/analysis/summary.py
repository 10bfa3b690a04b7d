"""The analysis frames as ``summary.json`` pieces (JSON-ready values)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from torinvest.analysis.helpers import _na
from torinvest.analysis.places import PLACE_COLUMNS
from torinvest.outcome import outcome_of
from torinvest.schema import iso_utc


# --------------------------------------------------------------------------------------------
# summary.json pieces
# --------------------------------------------------------------------------------------------
def summary_source_ips(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``source_ips`` from a :func:`.per_ip` frame (JSON-ready values):
    also ``ip_kind``, ``country``, ``country_source``, ``asn``, ``asn_org``, ``asn_source``
    (null when unknown; see :func:`.places.place_ips`) and ``outcome_unknown`` (calls neither
    succeeded nor failed: their outcome is not known)."""
    return [
        {
            "ip": _na(r.source_ip),
            "events": int(r.events),
            "failed": int(r.failed),
            "outcome_unknown": int(_na(getattr(r, "outcome_unknown", 0)) or 0),
            "tor": _na(r.tor),
            "first_seen": iso_utc(r.first_seen),
            "last_seen": iso_utc(r.last_seen),
            "user_agents": list(r.user_agents),
            "new": _na(r.new),
            **{c: _na(getattr(r, c, None)) for c in PLACE_COLUMNS},
        }
        for r in table.itertuples(index=False)
    ]


def summary_sensitive_events(found: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``sensitive_events`` from a :func:`.sensitive_events` frame: also
    ``outcome`` (``succeeded``, ``failed`` or ``unknown``: :mod:`torinvest.outcome`),
    ``error_code`` (null: the call did not fail — it succeeded, or its outcome is unknown), ``target`` (one line, null when the call names
    nothing) and ``targets`` (``[{"kind", "value"}]``; empty unless the frame was made with
    ``targets=True``)."""
    return [
        {
            "event_name": _na(r.event_name),
            "event_source": _na(r.event_source),
            "event_time": iso_utc(r.event_time),
            "source_ip": _na(r.source_ip),
            "tor": _na(r.tor),
            "category": _na(r.category),
            "error_code": _na(r.error_code),
            "outcome": outcome_of(r.failed),
            "target": _na(getattr(r, "target", None)),
            "targets": [t.to_dict() for t in getattr(r, "targets", ())],
        }
        for r in found.itertuples(index=False)
    ]
