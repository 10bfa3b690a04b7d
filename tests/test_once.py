"""tests/once.py: a costly fixture's folder made once per test run, shared by the xdist
workers; a making that failed is made afresh by the next ask, never reused half made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from tests.once import made_once


@dataclass
class _Factory:
    """The part of ``pytest.TempPathFactory`` made_once uses: one xdist worker's basetemp."""

    basetemp: Path

    def getbasetemp(self) -> Path:
        self.basetemp.mkdir(parents=True, exist_ok=True)
        return self.basetemp

    def mktemp(self, name: str) -> Path:
        path = self.basetemp / name
        path.mkdir(parents=True)
        return path


def factory(basetemp: Path) -> pytest.TempPathFactory:
    return cast(pytest.TempPathFactory, _Factory(basetemp))


def test_the_workers_of_one_run_share_one_making(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Path] = []

    def make(folder: Path) -> None:
        made.append(folder)
        (folder / "x").write_text("made")

    got = []
    for worker in ("gw0", "gw1", "gw0", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        basetemp = factory(tmp_path / "run" / f"popen-{worker}")
        got.append(made_once(basetemp, "thing", make))
    assert len(made) == 1 and got == made * 4
    assert (got[0] / "x").read_text() == "made"
    # another run (another basetemp) makes its own
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    other = made_once(factory(tmp_path / "run2" / "popen-gw0"), "thing", make)
    assert other != got[0] and len(made) == 2


def test_a_making_that_failed_is_made_again_by_the_next_ask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Path] = []

    def broken(folder: Path) -> None:
        (folder / "half").write_text("half made")
        raise RuntimeError("kernel died")

    def make(folder: Path) -> None:
        made.append(folder)

    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    with pytest.raises(RuntimeError, match="kernel died"):
        made_once(factory(tmp_path / "run" / "popen-gw0"), "thing", broken)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    got = made_once(factory(tmp_path / "run" / "popen-gw1"), "thing", make)
    assert made == [got] and not (got / "half").exists()


def test_without_xdist_it_is_made_in_the_sessions_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    made: list[Path] = []
    got = made_once(factory(tmp_path / "session"), "thing", made.append)
    assert made == [got] and got.parent == tmp_path / "session"
