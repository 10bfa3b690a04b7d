"""Another principal's calls that turn off the logging (the file loader's watched calls:
``load_logs(..., watch=...)``) in a copied trail are counted once, as the key's events are.

Was: the watched frame dropped copies of a record within one file only, so a trail copied (the
same log file under another name, a gunzipped copy beside the .gz — the events frame and the
file counts already count those once) kept bert-jan's StopLogging and GuardDuty disabled once
per copy: three of each in the impairments, ``summary.json``'s ``impaired_logging``, the
related-findings search's "GuardDuty was impaired (3 call(s) …)" and ``torinvest events``'
notes. And its category columns became text where the files held different values (one
``pd.concat`` of a frame a file), against the events frame's dtypes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.cli_run import run
from tests.test_impairment import (
    ADMIN,
    ADMIN_KEY,
    DELETE_LOG_GROUP,
    DISABLE,
    KEY,
    WATCH_WINDOW,
    T,
    admin_stop,
    as_admin,
    as_key,
    gd,
    real,
)
from torinvest.impairment import GUARDDUTY_SOURCE, WATCHED_CALLS
from torinvest.sources.logs import load_logs
from torinvest.sources.records.columns import CATEGORY_COLUMNS

CREATE_USER = "a5a980fe-2e53-4b5b-98fa-180c12cb2503"  # the suspect key's, from Tor
DISABLED_AT = "2023-07-10T12:28:00Z"


def _theirs() -> list[dict[str, Any]]:
    """bert-jan stops the trail read and disables GuardDuty's detector (not the key)."""
    return [admin_stop(), as_admin(gd(DISABLE), DISABLED_AT)]


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The key's call in a.json; bert-jan's calls in p1/b.json.gz, copied under another prefix
    and name (p2/copy.json.gz: read, the same content) and gunzipped beside it (p1/b.json);
    bert-jan's DeleteLogGroup (routine work on what is not read: says nothing) in c.json."""
    folder = tmp_path_factory.mktemp("copied") / "logs"
    (folder / "p1").mkdir(parents=True)
    (folder / "p2").mkdir()
    mine = [as_key(real(CREATE_USER), "2023-07-10T12:20:00Z")]
    (folder / "a.json").write_text(json.dumps({"Records": mine}))
    data = json.dumps({"Records": _theirs()}).encode()
    (folder / "p1" / "b.json.gz").write_bytes(gzip.compress(data))
    (folder / "p2" / "copy.json.gz").write_bytes(gzip.compress(data))
    (folder / "p1" / "b.json").write_bytes(data)
    group = [as_admin(real(DELETE_LOG_GROUP), T)]
    (folder / "c.json").write_text(json.dumps({"Records": group}))
    return folder


def _load(folder: Path, key: str = KEY) -> Any:
    return load_logs(
        folder, access_keys=key, watch=WATCHED_CALLS, progress=False, workers=1, **WATCH_WINDOW
    )


def test_a_copied_trail_keeps_each_watched_call_once(copied: Path) -> None:
    res = _load(copied)
    assert res.watched is not None
    got = res.watched
    names = got["event_name"].astype(str).tolist()
    assert sorted(names) == ["DeleteLogGroup", "StopLogging", "UpdateDetector"]  # once each
    assert names[0] == "UpdateDetector" and got["event_time"].is_monotonic_increasing
    assert got["event_id"].is_unique
    # the first file's copy, as the events frame keeps (the files in listing order)
    assert set(got["origin"].astype(str)) == {str(copied / "c.json"), str(copied / "p1/b.json")}


def test_the_watched_frame_has_the_events_frames_dtypes(copied: Path) -> None:
    """The same records read as the events frame (bert-jan's key asked): the same dtypes,
    categories included (was: event_name, event_source… text — the files held different
    values)."""
    watched = _load(copied).watched
    events = _load(copied, ADMIN_KEY).frame  # bert-jan's calls: the same three records
    assert watched is not None
    for name in CATEGORY_COLUMNS:
        assert isinstance(watched[name].dtype, pd.CategoricalDtype), name
    assert dict(watched.dtypes) == dict(events.dtypes)
    assert sorted(events["event_id"].astype(str)) == sorted(watched["event_id"].astype(str))


def test_records_sharing_an_event_id_that_differ_are_all_kept_and_named(tmp_path: Path) -> None:
    """The events frame's rule: the same eventID and content is one call; different records
    sharing an eventID are all kept, and an issue names them (a log file was altered)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    stop = admin_stop()
    altered = {**stop, "sourceIPAddress": "203.0.113.9"}
    (folder / "a.json").write_text(json.dumps({"Records": [stop]}))
    (folder / "b.json").write_text(json.dumps({"Records": [altered]}))
    res = _load(folder)
    assert res.watched is not None
    assert sorted(res.watched["source_ip"].astype(str)) == ["192.168.10.20", "203.0.113.9"]
    [issue] = [i for i in res.issues if "is shared by 2 different records" in i.problem]
    assert stop["eventID"] in issue.problem and "source_ip" in issue.problem


def test_the_impairments_say_one_call_each(copied: Path) -> None:
    """What summary.json (``impaired_logging``), the data issues and reading notes, and the
    related-findings search ("GuardDuty was impaired (N call(s)") are made of: one each."""
    from torinvest.events import load_activity
    from torinvest.reading import impaired_of

    window = {k: pd.Timestamp(v, tz="UTC") for k, v in WATCH_WINDOW.items()}
    act = load_activity(logs=[copied], access_key=KEY, watch=WATCHED_CALLS, **window)
    found = impaired_of(act, (window["start"], window["end"]), access_key=KEY, others=act.watched)
    entries = [(e["event_name"], e["principal"]) for e in found.to_json()]
    assert entries == [("UpdateDetector", ADMIN), ("StopLogging", ADMIN)]
    [blind] = found.findings_gaps  # the related-findings search: "1 call(s)"
    assert blind.source == GUARDDUTY_SOURCE and f"by {ADMIN}" in blind.problem
    [stopped] = found.notes  # no digest file names the trail: a note, once
    assert f"stopped logging at {T} (StopLogging by {ADMIN}" in stopped


def test_torinvest_events_says_each_call_once(copied: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    code, _, err = run(
        "events", "--logs", str(copied), "--access-key", KEY, "--start", WATCH_WINDOW["start"],
        "--end", WATCH_WINDOW["end"], "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    lines = err.splitlines()
    assert sum(f"StopLogging by {ADMIN}" in line for line in lines) == 1, err
    assert sum(f"UpdateDetector by {ADMIN}" in line for line in lines) == 1, err
    # the reading file beside the export says them once too
    [beside] = [p for p in tmp_path.iterdir() if p != out]
    said = json.dumps(json.loads(beside.read_text()))
    assert said.count(f"StopLogging by {ADMIN}") == 1
    assert said.count(f"UpdateDetector by {ADMIN}") == 1
