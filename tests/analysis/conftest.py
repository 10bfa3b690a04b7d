"""Fixtures of the analysis tests: the sample case's events (with ``tor``), findings, window."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.analysis.helpers import CASE, SUSPECT, synthetic_events, tor_from_story
from torinvest import analysis as an
from torinvest.findings import read_findings
from torinvest.sources.logs import load_logs


@pytest.fixture(scope="module")
def loaded() -> Any:
    return load_logs(CASE.cloudtrail, access_keys=SUSPECT, follow_derived=True, workers=1)


@pytest.fixture(scope="module")
def events(loaded: Any) -> pd.DataFrame:
    frame = loaded.frame.copy()
    frame["tor"] = tor_from_story(frame)
    return frame


@pytest.fixture(scope="module")
def findings() -> pd.DataFrame:
    return read_findings(CASE.findings).tor_only().frame()


@pytest.fixture(scope="module")
def window(findings: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    w = an.window_of(findings)
    assert w is not None
    return w


@pytest.fixture(scope="module")
def million() -> pd.DataFrame:
    return synthetic_events(1_000_000)
