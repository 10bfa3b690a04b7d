"""The analysis frames as ``summary.json`` pieces (JSON-ready values)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from torinvest.analysis.helpers import _na
from torinvest.schema import iso_utc


# --------------------------------------------------------------------------------------------
# summary.json pieces
# --------------------------------------------------------------------------------------------
def summary_source_ips(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``source_ips`` from a :func:`.per_ip` frame (JSON-ready values)."""
    return [
        {
            "ip": _na(r.source_ip),
            "events": int(r.events),
            "failed": int(r.failed),
            "tor": _na(r.tor),
            "first_seen": iso_utc(r.first_seen),
            "last_seen": iso_utc(r.last_seen),
            "user_agents": list(r.user_agents),
            "new": _na(r.new),
        }
        for r in table.itertuples(index=False)
    ]


def summary_sensitive_events(found: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``sensitive_events`` from a :func:`.sensitive_events` frame: also
    ``error_code`` (null: the call succeeded), ``target`` (one line, null when the call names
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
            "target": _na(getattr(r, "target", None)),
            "targets": [t.to_dict() for t in getattr(r, "targets", ())],
        }
        for r in found.itertuples(index=False)
    ]
