"""The loaded exit lists are described for the log only when INFO is logged: describing them
is work every investigation paid for a line nobody saw."""

from __future__ import annotations

import logging

import pytest

from torinvest.tor import lists
from torinvest.tor.records import ExitLists


def test_the_lists_are_described_only_when_info_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    described: list[int] = []
    real = ExitLists.describe

    def counted(self: ExitLists) -> str:
        described.append(1)
        return real(self)

    monkeypatch.setattr(ExitLists, "describe", counted)
    with caplog.at_level(logging.WARNING, logger=lists.log.name):
        lists.load_exit_lists(bundled=False)
    assert described == [] and "tor exit lists:" not in caplog.text
    with caplog.at_level(logging.INFO, logger=lists.log.name):
        lists.load_exit_lists(bundled=False)
    assert described == [1]
    assert "tor exit lists: no Tor exit list loaded: every tor status will be NA" in caplog.text
