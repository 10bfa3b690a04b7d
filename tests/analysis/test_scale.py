"""analysis over empty frames and a million events."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from tests.analysis.helpers import MILLION_BUDGET_S
from torinvest import analysis as an
from torinvest.errors import InputError
from torinvest.schema import EVENTS_COLUMNS, conform


# --------------------------------------------------------------------------------------------
# empty frames and scale
# --------------------------------------------------------------------------------------------
def test_empty_frame_gives_empty_results(events: pd.DataFrame) -> None:
    empty = events.iloc[:0]
    table = an.per_ip(empty, window_start=pd.Timestamp("2024-01-01", tz="UTC"))
    assert table.empty and tuple(table.columns) == an.PER_IP_COLUMNS
    found = an.sensitive_events(empty)
    assert found.empty and tuple(found.columns) == an.SENSITIVE_COLUMNS
    assert an.signals(empty, finding_window=(pd.Timestamp(0, tz="UTC"),) * 2) == []
    base = an.baseline(empty, pd.Timestamp("2024-01-01", tz="UTC"))
    assert base.frame.empty and not base.has_history
    score = an.triage_score([])
    assert (score.score, score.band, score.reasons) == (0, "low", ())
    assert an.summary_source_ips(table) == [] and an.summary_sensitive_events(found) == []
    assert an.per_ip(conform([], EVENTS_COLUMNS)).empty


def test_missing_columns_are_an_input_error() -> None:
    with pytest.raises(InputError, match="source_ip"):
        an.per_ip(pd.DataFrame({"event_time": []}))


def test_a_million_events_in_seconds(million: pd.DataFrame) -> None:
    window = (pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC"))
    timings: dict[str, float] = {}
    table = pd.DataFrame()
    for name, run in {
        "per_ip": lambda: an.per_ip(million, window_start=window[0]),
        "sensitive_events": lambda: an.sensitive_events(million),
        "signals": lambda: an.signals(million, finding_window=window),
    }.items():
        start = time.perf_counter()
        result = run()
        timings[name] = time.perf_counter() - start
        assert len(result)
        if name == "per_ip":
            table = result
    assert max(timings.values()) < MILLION_BUDGET_S, timings
    assert table["events"].sum() == len(million)
    assert table["user_agents"].map(len).max() <= an.MAX_LIST_ITEMS
