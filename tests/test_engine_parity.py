"""The same log folders read by the file loader and by DuckDB give the same answer.

A differential check: a corpus of folders built by the hostile tests' own builders (damaged
files, odd encodings, invalid UTF-8, lone surrogates, NaN, big integers, entries that are not
records, different records sharing an eventID, records without a time, lookup-events answers
whole, cut and scoped, JSON lines, files under odd names, digest-covered folders, late writes, a
window that cuts days, derived keys followed) is loaded through ``load_activity`` — what
``torinvest events --engine files|duckdb`` calls — and everything the answer is made of is
compared: the events frame (every column but ``source``, which names the engine; times in UTC),
the issues, notes and asides, the one-line counts, the file counts, the derived keys, whether
anything could be read and whether the reading is complete; and, for a few folders, the command
itself (exit status, stdout, stderr).

Differences that remain are documented (README, "Organization scale": "What differs between
the engines") and named here, each by the case that shows it: :data:`DOCUMENTED`.
"""

from __future__ import annotations

import codecs
import copy
import gzip
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from tests import test_console_passwords as console
from tests import test_impairment as impairment
from tests.campaign_case import OTHER_KEY
from tests.cli_run import run
from tests.fake_aws import AthenaRegion
from tests.hostile import test_big_integers as big
from tests.hostile import test_coverage as coverage
from tests.hostile import test_cut_exports as cut
from tests.hostile import test_digests as digests
from tests.hostile import test_escapes as escapes
from tests.hostile import test_late_writes as late
from tests.hostile import test_log_files as damaged
from tests.hostile import test_odd_names as odd_names
from tests.hostile import test_scoped_exports as scoped
from tests.sources.sql.helpers import Recorder, athena_results
from tests.test_sources_logs import odd_log_files
from torinvest.case import sample_case
from torinvest.events import Activity, EngineOptions, load_activity
from torinvest.impairment import WATCHED_CALLS
from torinvest.sources.logs import KnownRegions
from torinvest.sources.sql import load_sql
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine

CASE = sample_case().root / "cloudtrail"
KEY = "AKIATFQR7NSCUXC3DDDP"  # the sample case's suspect key (it mints an ASIA key)
SUSPECT = damaged.SUSPECT  # the invictus records' key
#: ``Activity.summary`` names the engine that read the files: the one word that differs.
BY_DUCKDB = " read by the DuckDB engine"


# --------------------------------------------------------------------------------------------
# the corpus: one folder per case, built once
# --------------------------------------------------------------------------------------------
def _gz(path: Path, data: bytes) -> Path:
    return damaged.write(path, data, gz=True)


def _damaged(root: Path) -> Path:
    """Four good log files; each damaged file of the hostile tests (but one nested past the
    parsers' depth: :data:`DOCUMENTED`) and each file state the counts tell apart."""
    folder = damaged.good_folder(root)
    for kind, d in damaged.DAMAGED.items():
        if kind != "nested-too-deep":
            d.write(folder / "damaged" / kind)
    for kind, (make, _state, _words) in damaged.FILE_STATES.items():
        make(folder / "states" / kind)
    return folder


#: The files of ``odd_log_files`` whose readings differ as documented (:data:`DOCUMENTED`).
_ODD_APART = {"deep", "dup_keys_in_record", "escapes"}


def _odd(root: Path, names: Any = None) -> Path:
    """Log files whose fields take every shape (``odd_log_files``), each in its own folder."""
    for name, data in odd_log_files().items():
        if (name in names) if names is not None else (name not in _ODD_APART):
            _gz(root / name / f"{name}.json.gz", data)
    return root


def _not_json_numbers(root: Path) -> Path:
    """NaN, Infinity, -Infinity and 1e400 in a log file and in JSON lines (a script's
    ``json.dumps``), beside the good files."""
    folder = damaged.good_folder(root)
    recs = copy.deepcopy(damaged.OTHER)
    mine = [r for r in recs if r["userIdentity"].get("accessKeyId") == SUSPECT][:4]
    for i, r in enumerate(mine):
        r["requestParameters"] = {"size": f"NUM-{i}", "name": "NaN Infinity"}
    for name, data in (
        ("nan.json.gz", damaged.compact(recs)),
        ("nan.jsonl", b"\n".join(orjson.dumps(r) for r in recs[::-1])),
    ):
        for i, raw in enumerate((b"NaN", b"Infinity", b"-Infinity", b"1e400")):
            data = data.replace(f'"NUM-{i}"'.encode(), raw)
        damaged.write(folder / name, data, gz=name.endswith(".gz"))
    return folder


def _encodings(root: Path) -> Path:
    """The sample's records as PowerShell's and other writers save them: UTF-8 with a BOM,
    UTF-16 (either order), UTF-32; plain and gzipped."""
    recs = scoped.RECORDS
    for n, enc in enumerate(("utf-8-sig", "utf-16", "utf-16-be", "utf-32")):
        part = recs[n * 20 : (n + 1) * 20]
        data = json.dumps({"Records": part}, ensure_ascii=False, indent=1).encode(enc)
        if enc == "utf-16-be":
            data = codecs.BOM_UTF16_BE + data
        damaged.write(root / f"{enc}.json", data)
        _gz(root / f"{enc}-gz.json.gz", json.dumps({"Records": recs[80 + n * 5 :][:5]}).encode(enc))
    return root


def _json_lines(root: Path) -> Path:
    lines = [json.dumps(r) for r in scoped.RECORDS]
    damaged.write(root / "records.jsonl", "\n".join(lines).encode())
    return root


def _conflicts(root: Path) -> Path:
    """Different records sharing an eventID (a DeleteUser under a listed record's ID), an exact
    copy, and records without a usable time."""
    folder = damaged.good_folder(root)
    damaged.conflict_files(folder)
    damaged._untimed(folder / "untimed")
    return folder


def _lookup(root: Path, newest: int, token: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return cut._lookup_export(root, newest, token)


def _scoped(root: Path) -> Path:
    scoped._export(root, "key.json", scoped._of(KEY))
    return root


def _digested(root: Path) -> Path:
    """The sample trail with hourly digests over the window's four days (two without a log
    file: quiet), two delivered files deleted and one rewritten (a record dropped)."""
    trail = root / "ct"
    shutil.copytree(CASE, trail)
    for region in ("eu-west-1", "us-east-1"):
        digests.write_digests(trail, region, digests.present(trail, region))
    files = sorted((trail / digests.FOLDER / "us-east-1").rglob("*.json.gz"))
    for gone in files[:2]:
        gone.unlink()
    doc = json.loads(gzip.decompress(files[2].read_bytes()))
    doc["Records"] = doc["Records"][1:]
    files[2].write_bytes(gzip.compress(json.dumps(doc).encode()))
    return trail


def _late(root: Path) -> Path:
    """The sample trail as ``aws s3 sync`` leaves it, one file written three days late."""
    trail = root / "ct"
    shutil.copytree(CASE, trail)
    late.written_on_time(trail)
    late.write_late(sorted(trail.rglob("*_CloudTrail_*.json.gz"))[3], pd.Timedelta(days=3))
    return trail


def _odd_names(root: Path) -> Path:
    """CloudTrail JSON under other names, an archive and a CSV of events beside a log file."""
    logs = odd_names.LOGS
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(logs[0], root / logs[0].name)
    shutil.copy(logs[1], root / "trail.log")
    (root / "plain.txt").write_bytes(gzip.decompress(logs[2].read_bytes()))
    (root / "logs.zip").write_bytes(odd_names._zip({logs[3].name: logs[3].read_bytes()}))
    (root / "README.md").write_text("# notes\n")
    return root


def _spelled(root: Path) -> Path:
    """JSON text DuckDB's writer spells otherwise: escapes (``\\u001F``) and numbers (``1e21``
    for ``1e+21``, ``100000000000000000000.0`` for ``1e+20``)."""
    _odd(root, {"escapes"})
    recs = copy.deepcopy(damaged.OTHER[:3])
    for r in recs:
        r["responseElements"] = {"big": 1e21, "bigger": 1e20, "small": 1.5e-7}
    _gz(root / "numbers" / "numbers.json.gz", damaged.compact(recs))
    return root


def _console_sessions(root: Path) -> Path:
    """The sample trail with the console sign-ins and sessions' calls of
    tests/test_console_passwords.py (:func:`~tests.test_console_passwords.signed_in_records`)."""
    return console.case_with(root, console.signed_in_records()) / "cloudtrail"


def _others(root: Path) -> Path:
    """The sample trail with tests/test_impairment.py's other principal's calls that impair
    logging (StopLogging, GuardDuty disabled, a DeleteTrail with its name \\u-escaped, a
    later StartLogging), in a log file of their own."""
    trail = root / "ct"
    shutil.copytree(CASE, trail)
    records = [
        impairment.admin_stop(),
        impairment.as_admin(impairment.gd(impairment.DISABLE), "2023-07-10T12:28:00Z"),
        impairment.as_admin(impairment.real(impairment.START_LOGGING), "2023-07-10T13:01:31Z"),
    ]
    day = trail / "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10"
    name = "218007301253_CloudTrail_us-east-1_20230710T1230Z_AdMiNsToPpEdIt.json.gz"
    (day / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    escaped = impairment.as_admin(impairment.real(impairment.DELETE_TRAIL), "2023-07-10T12:41:00Z")
    text = json.dumps({"Records": [escaped]}, separators=(",", ":"))
    text = text.replace('"DeleteTrail"', '"Delete\\u0054rail"')
    name = "218007301253_CloudTrail_us-east-1_20230710T1245Z_EsCaPeDdElEtE1.json.gz"
    (day / name).write_bytes(gzip.compress(text.encode()))
    return trail


#: eventTimes a forged file can write, one record each (the suspect's records, renumbered):
#: CloudTrail's form, milliseconds, microseconds and past them, offsets, no zone, a date alone,
#: times before 1970 and past pandas' nanosecond range (2262), and times no engine can read
#: (a leap second, hour 24, a 30th of February, a decimal comma, a space before the time). The
#: nanosecond digits and the far times share a file: once, the loader read the far times as
#: untimed because of them (its parser took the whole batch as nanoseconds).
FORGED_TIMES = (
    "2023-07-10T12:00:00Z",
    "2023-07-10T12:00:00.000Z",
    "2023-07-10T12:00:00.000001Z",
    "2023-07-10T11:59:59.999999Z",
    "2023-07-10T11:59:59.9999999Z",
    "2023-07-10T12:00:00.123456789Z",
    "2023-07-10T12:00:00+00:00",
    "2023-07-10T12:00:00-00:00",
    "2023-07-10T17:30:00+05:30",
    "2023-07-10T17:29:59.999+05:30",
    "2023-07-10T12:00:00+0530",
    "2023-07-10T12:00:00",
    "2023-07-10 12:00:00Z",
    "2023-07-10T12:00Z",
    "2023-07-10",
    "2023-07-10T23:59:59.9999995Z",
    "2023-07-11T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2300-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2023-07-10T23:59:60Z",
    "2023-07-10T24:00:00Z",
    "2023-02-30T12:00:00Z",
    "2023-07-10T12:00:00,5Z",
    " 2023-07-10T12:00:00Z",
)
#: (the forged times' folder) outside pandas' nanosecond range: times, not "no usable time"
FAR_TIMES = ("0001-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z")


def forged_times(root: Path) -> Path:
    """One of the suspect's records at each of :data:`FORGED_TIMES`, in one file, event IDs
    ``…000000000000`` on (the time's index)."""
    mine = [r for r in damaged.OTHER if r["userIdentity"].get("accessKeyId") == SUSPECT]
    recs = []
    for i, when in enumerate(FORGED_TIMES):
        r = copy.deepcopy(mine[i % len(mine)])
        r["eventTime"] = when
        r["eventID"] = f"00000000-0000-0000-0000-{i:012d}"
        recs.append(r)
    _gz(root / "forged.json.gz", damaged.compact(recs))
    return root


def _only_archives(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs.zip").write_bytes(odd_names._zip({"a.json": b'{"Records": []}'}))
    return root


@dataclass(frozen=True)
class Case:
    """A folder (built by ``build`` under a fresh folder) and how it is loaded."""

    build: Callable[[Path], Path]
    load: dict[str, Any] = field(default_factory=dict)
    #: the JSON columns' text may be spelled otherwise (the same value): DOCUMENTED
    spelling: bool = False


T = pd.Timestamp
DAY = {"start": T("2023-07-10T00:00:00Z"), "end": T("2023-07-10T23:59:59Z")}
#: (the sample trail read whole, unfiltered: "digests-missing-altered")
CASES: dict[str, Case] = {
    "sample-key-derived-window": Case(
        lambda p: CASE,
        {
            "access_key": KEY,
            "follow_derived": True,
            "start": T("2023-07-10T12:10:00Z"),
            "end": T("2023-07-10T12:20:30Z"),
        },
    ),
    "sample-days-cut-known-region": Case(
        lambda p: CASE,
        {
            "access_key": KEY,
            "start": T("2023-07-08T12:10:00Z"),
            "end": T("2023-07-12T01:00:00Z"),
            "account": "123837392027",
            "known_regions": KnownRegions((("us-west-2", "the finding's region"),)),
        },
    ),
    "sample-regions": Case(lambda p: CASE, {"access_key": KEY, "regions": ["eu-west-1"]}),
    "sample-no-event": Case(lambda p: CASE, {"access_key": "AKIANOBODY0000000000"}),
    "damaged": Case(_damaged),
    "damaged-key-derived-day": Case(
        _damaged, {"access_key": SUSPECT, "follow_derived": True, **DAY}
    ),
    "odd-values": Case(_odd),
    "odd-values-key": Case(_odd, {"access_key": SUSPECT}),
    "not-json-numbers": Case(_not_json_numbers),
    "not-json-numbers-key": Case(_not_json_numbers, {"access_key": SUSPECT}),
    "encodings": Case(_encodings),
    "json-lines-derived": Case(_json_lines, {"access_key": KEY, "follow_derived": True}),
    "conflicts-untimed": Case(_conflicts, DAY),
    "conflicts-key": Case(_conflicts, {"access_key": SUSPECT}),
    "conflicts-user": Case(_conflicts, {"username": "benjamin"}),
    "odd-values-user": Case(_odd, {"username": "bob"}),
    "big-integers": Case(lambda p: big._big_case(p) / "cloudtrail", {"access_key": KEY}),
    "lookup-whole": Case(lambda p: _lookup(p, 10**6, ...), {"access_key": KEY}),
    "lookup-cut": Case(lambda p: _lookup(p, 50, cut.TOKEN), {"access_key": KEY}),
    "lookup-scoped-derived": Case(
        _scoped,
        {"access_key": KEY, "follow_derived": True, "start": scoped.START, "end": scoped.END},
    ),
    "escaped-key": Case(
        lambda p: escapes._escaped_trail(p, compact=False), {"access_key": OTHER_KEY}
    ),
    "digests-missing-altered": Case(
        _digested, {"start": T("2023-07-08T00:00:00Z"), "end": T("2023-07-11T23:59:59Z")}
    ),
    "late-write": Case(_late, {"access_key": KEY}),
    "day-not-logged": Case(
        lambda p: coverage._trail_with_a_hole(p),
        {"access_key": KEY, "account": coverage.FINDING_ACCOUNT, **coverage.WINDOW},
    ),
    # the sample trail where the user the key gave a console password signs in from Tor and
    # calls through the console session (a session begun before the password beside): the
    # sign-ins by user name, the session followed as a derived key
    "console-sessions": Case(_console_sessions, {"access_key": KEY, "follow_derived": True, **DAY}),
    # another principal (bert-jan) stops the trail and disables GuardDuty in a file holding
    # none of the key's records, and ends a gap: read apart (load_activity's watch)
    "others-logging-calls": Case(_others, {"access_key": KEY, "watch": WATCHED_CALLS}),
    # eventTimes at the edges (FORGED_TIMES): read whole, and in windows given to the
    # nanosecond (a bound between two microseconds: the events' next one for a start, the
    # previous one for an end), one of them the day CloudTrail's time ends
    "forged-times": Case(forged_times, {"access_key": SUSPECT}),
    "forged-times-nanosecond-window": Case(
        forged_times,
        {
            "access_key": SUSPECT,
            "start": T("2023-07-10T11:59:59.999999001Z"),
            "end": T("2023-07-10T12:00:00.000000999Z"),
        },
    ),
    "forged-times-day": Case(
        forged_times, {"access_key": SUSPECT, "start": T("2023-07-10"), "end": DAY["end"]}
    ),
    "odd-names": Case(_odd_names),
    "only-archives": Case(_only_archives),
    # documented differences (DOCUMENTED): the spelling of JSON text (same values)
    "json-spelling": Case(_spelled, spelling=True),
}


# --------------------------------------------------------------------------------------------
# comparing two readings
# --------------------------------------------------------------------------------------------
_JSON_COLUMNS = ("request_parameters", "response_elements")


def _strict(text: Any) -> Any:
    """A JSON column's value as parsed JSON (orjson: NaN and the like are no JSON), else its
    text: only the same value spelled otherwise compares equal."""
    if not isinstance(text, str):
        return text
    try:
        return ("json", orjson.loads(text))
    except orjson.JSONDecodeError:
        return ("text", text)


def _values(frame: pd.DataFrame, column: str, spelling: bool) -> list[Any]:
    col = frame[column]
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("string")
    values = col.astype("object").where(col.notna(), None).tolist()
    if column == "event_time":
        values = [None if v is None else pd.Timestamp(v).tz_convert("UTC") for v in values]
    if spelling and column in _JSON_COLUMNS:
        values = [_strict(v) for v in values]
    return values


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order (eventID, then content): the engines order ties otherwise."""
    keys = ["event_id", "origin", "event_name", *_JSON_COLUMNS, "user_agent", "event_time"]
    keys = [k for k in keys if k in frame.columns]
    text = frame[keys].astype("string").fillna("\0")
    return frame.loc[text.sort_values(keys, kind="stable").index].reset_index(drop=True)


def frame_differences(a: pd.DataFrame, b: pd.DataFrame, *, spelling: bool = False) -> list[str]:
    """How two events frames differ, column by column (``source`` names the engine)."""
    if list(a.columns) != list(b.columns):
        return [f"columns: {list(a.columns)} != {list(b.columns)}"]
    ids_a, ids_b = sorted(a["event_id"].dropna()), sorted(b["event_id"].dropna())
    if len(a) != len(b) or ids_a != ids_b:
        only_a, only_b = set(ids_a) - set(ids_b), set(ids_b) - set(ids_a)
        return [
            f"rows: {len(a)} != {len(b)} (event IDs only in files: {sorted(only_a)[:3]}, only "
            f"in duckdb: {sorted(only_b)[:3]})"
        ]
    a, b = _sorted(a), _sorted(b)
    out = []
    for column in a.columns:
        if column == "source":
            continue
        if str(a[column].dtype) != str(b[column].dtype):
            out.append(f"{column}: dtype {a[column].dtype} != {b[column].dtype}")
            continue
        va, vb = _values(a, column, spelling), _values(b, column, spelling)
        bad = [(a["event_id"][i], x, y) for i, (x, y) in enumerate(zip(va, vb, strict=True))]
        bad = [d for d in bad if d[1] != d[2]]
        if bad:
            out.append(f"{column}: {len(bad)} row(s) differ, e.g. {bad[0]}")
    return out


def _issues(act: Activity) -> list[tuple[str, str]]:
    return sorted((i.source, i.problem) for i in act.issues)


def _sources(act: Activity) -> list[str]:
    return [re.sub(r"^(logs|duckdb):", "", s) for s in act.sources]


def _texts(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its categorical columns as text."""
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype(dict.fromkeys(cats, "string"))


def differences(a: Activity, b: Activity, *, spelling: bool = False) -> list[str]:
    """Everything a reading's answer is made of that differs between ``a`` (files) and ``b``
    (duckdb), each difference one line (both texts when they are texts)."""
    out = frame_differences(a.frame, b.frame, spelling=spelling)
    ia, ib = _issues(a), _issues(b)
    out += [f"issue only in files: {i}" for i in ia if i not in ib]
    out += [f"issue only in duckdb: {i}" for i in ib if i not in ia]
    for name in ("notes", "asides"):
        na, nb = sorted(getattr(a, name)), sorted(getattr(b, name))
        if b.engine_summary in nb:
            nb.remove(b.engine_summary)
        out += [f"{name} only in files: {n}" for n in na if n not in nb]
        out += [f"{name} only in duckdb: {n}" for n in nb if n not in na]
    if a.summary() != b.summary().replace(BY_DUCKDB, ""):
        out.append(f"counts line: {a.summary()!r} != {b.summary()!r}")
    for name in ("total_events", "files_read", "complete", "nothing_read", "could_not_look"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"{name}: {getattr(a, name)!r} != {getattr(b, name)!r}")
    if a.nothing_read and a.why_nothing() != b.why_nothing():
        out.append(f"why nothing: {a.why_nothing()!r} != {b.why_nothing()!r}")
    ca = asdict(a.file_counts) if a.file_counts else None
    cb = asdict(b.file_counts) if b.file_counts else None
    if ca is None or cb is None:
        out += [] if ca == cb else [f"file counts: {ca} != {cb}"]
    else:  # listed, failed and why, with issues, accounts, data events, scoped answers…
        out += [f"file counts {k}: {ca[k]!r} != {cb[k]!r}" for k in ca if ca[k] != cb[k]]
    if [i.source for i in a.empty_sources] != [i.source for i in b.empty_sources]:
        out.append(f"empty sources: {a.empty_sources} != {b.empty_sources}")
    if _sources(a) != _sources(b):
        out.append(f"sources: {a.sources} != {b.sources}")
    da = sorted((d.access_key_id, d.minted_by, d.event_name, str(d.event_time)) for d in a.derived)
    db = sorted((d.access_key_id, d.minted_by, d.event_name, str(d.event_time)) for d in b.derived)
    if da != db:
        out.append(f"derived keys: {da} != {db}")
    # the console sign-ins of users the key set a password for (MFAUsed: the file loader's
    # alone, no column of the engines' rows) and whose console sessions' calls were read
    sa, sb = (
        [(s.user_name, str(s.event_time), s.event_id, s.result) for s in x.sign_ins] for x in (a, b)
    )
    for name in ("sign_ins_searched", "sessions_read", "sign_ins_unread"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"{name}: {getattr(a, name)!r} != {getattr(b, name)!r}")
    if sorted(sa) != sorted(sb):
        out.append(f"sign-ins: {sa} != {sb}")
    # anyone else's calls that impair logging (load_activity's watch)
    if (a.watched is None) != (b.watched is None):
        out.append(f"watched read: {a.watched is not None} != {b.watched is not None}")
    elif a.watched is not None and b.watched is not None:
        # (compared as text: each engine's categories are of what it read)
        wa, wb = (_texts(w) for w in (a.watched, b.watched))
        out += [f"watched {d}" for d in frame_differences(wa, wb)]
    return out


# --------------------------------------------------------------------------------------------
# the corpus through both engines
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def readings(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Any, Any]]:
    """Each case's folder read by both engines (once per module)."""
    done: dict[str, tuple[Any, Any]] = {}

    def read(name: str) -> tuple[Any, Any]:
        if name not in done:
            case = CASES[name]
            folder = case.build(tmp_path_factory.mktemp(name))
            done[name] = tuple(  # type: ignore[assignment]
                load_activity(logs=[folder], engine=EngineOptions(kind=kind), **case.load)
                for kind in ("files", "duckdb")
            )
        return done[name]

    return read


@pytest.mark.parametrize("name", sorted(CASES))
def test_both_engines_give_the_same_answer(
    readings: Callable[[str], tuple[Activity, Activity]], name: str
) -> None:
    files, duck = readings(name)
    assert differences(files, duck, spelling=CASES[name].spelling) == []


def test_the_corpus_holds_what_it_is_for(
    readings: Callable[[str], tuple[Activity, Activity]],
) -> None:
    """The cases hold the classes they were built for (a builder that stopped building them
    would make the comparison vacuous)."""
    problems = " ".join(i.problem for name in CASES for i in readings(name)[0].issues)
    for said in (
        "entries are not CloudTrail records",
        "JSON has no word for",
        "of a lone UTF-16 surrogate",
        "invalid UTF-8 byte sequence",
        "without a usable eventTime",
        "shared by 2 different records",
        "hash does not match the trail's digest file",
        "that are not in this folder",
        "more than 1.0 h after the time in their name",
        "the export is cut",
        "whose calls are not in what was read",
        "no log file for 2023-07-10",
        "zip archives",
    ):
        assert said in problems, said
    assert readings("json-lines-derived")[0].derived
    others = readings("others-logging-calls")[0].watched  # bert-jan's, the escaped name too
    assert others is not None
    assert {"DeleteTrail", "StartLogging", "StopLogging", "UpdateDetector"} <= set(
        others["event_name"].astype(str)
    )
    assert "CreateTrail" in set(others["event_name"].astype(str))  # the sample's background
    signed = readings("console-sessions")[0]  # a sign-in read, its console session followed
    assert signed.sessions_read == {console.USER} and len(signed.sign_ins) == 3
    assert console.SESSION in {d.access_key_id for d in signed.derived}
    assert readings("only-archives")[0].nothing_read
    assert not readings("sample-no-event")[0].nothing_read
    assert readings("sample-no-event")[0].total_events == 0


@pytest.mark.parametrize("engine", [0, 1], ids=["files", "duckdb"])
def test_times_past_pandas_nanosecond_range_are_times(
    readings: Callable[[str], tuple[Activity, Activity]], engine: int
) -> None:
    """Years 1 to 9999 are read as the times they are, beside a time with nanosecond digits
    (not "no usable time", which would keep them in every window); what no engine can read
    (a leap second, hour 24…) is untimed in both."""
    frame = readings("forged-times")[engine].frame
    timed = dict(zip(frame["event_id"].astype(str), frame["event_time"], strict=True))
    at = {t: timed[f"00000000-0000-0000-0000-{i:012d}"] for i, t in enumerate(FORGED_TIMES)}
    for far in FAR_TIMES:
        assert at[far] == T(far)
    assert at["2023-07-10T12:00:00.123456789Z"] == T("2023-07-10T12:00:00.123456Z")
    assert at["2023-07-10T17:29:59.999+05:30"] == T("2023-07-10T11:59:59.999Z")
    assert [t for t, when in at.items() if pd.isna(when)] == list(FORGED_TIMES[-5:])


@pytest.mark.parametrize("engine", [0, 1], ids=["files", "duckdb"])
def test_a_window_given_to_the_nanosecond_holds_the_events_inside_it(
    readings: Callable[[str], tuple[Activity, Activity]], engine: int
) -> None:
    """A start between two microseconds keeps none before it (11:59:59.999999 is before
    11:59:59.999999001), an end none after it (.000001 is after .000000999)."""
    kept = readings("forged-times-nanosecond-window")[engine].frame["event_time"].dropna()
    assert set(kept) == {T("2023-07-10T12:00:00Z")}


# --------------------------------------------------------------------------------------------
# the documented differences, each named by the case that shows it
# --------------------------------------------------------------------------------------------
def test_a_json_key_written_twice_is_read_last_by_files_and_first_by_duckdb(
    tmp_path: Path,
) -> None:
    """README: "a record holding a JSON key twice is read with the last value by the file
    loader and the first by DuckDB"."""
    folder = _odd(tmp_path, {"dup_keys_in_record"})
    files, duck = (
        load_activity(logs=[folder], engine=EngineOptions(kind=k)) for k in ("files", "duckdb")
    )
    assert differences(files, duck) == [
        f"event_name: 12 row(s) differ, e.g. {_first_renamed(files, duck)}"
    ]
    assert set(duck.frame["event_name"]) == {"First"}


def _first_renamed(files: Activity, duck: Activity) -> tuple[str, str, str]:
    a, b = _sorted(files.frame), _sorted(duck.frame)
    return (a["event_id"][0], a["event_name"][0], b["event_name"][0])


def test_the_json_columns_are_the_same_values_spelled_otherwise(
    readings: Callable[[str], tuple[Activity, Activity]],
) -> None:
    """README: DuckDB writes the JSON text of requestParameters/responseElements with its own
    writer: the same values (compared parsed, above), some spelled otherwise — ``1e21`` for
    the file loader's ``1e+21``, ``\\u001F`` for ``\\u001f``."""
    files, duck = readings("json-spelling")
    assert [d.split(":")[0] for d in differences(files, duck)] == [
        "request_parameters",
        "response_elements",
    ]


def test_a_value_nested_past_the_parsers_depth_is_kept_by_duckdb_alone(tmp_path: Path) -> None:
    """README: a record nesting deeper than 1,024 levels (built to break readers) is lost by
    the file loader, which names the file and the part lost; DuckDB reads it whole."""
    folder = damaged.good_folder(tmp_path)
    damaged.DAMAGED["nested-too-deep"].write(folder / "deep")
    files, duck = (
        load_activity(logs=[folder], engine=EngineOptions(kind=k)) for k in ("files", "duckdb")
    )
    assert len(duck.frame) == len(files.frame) + 1
    assert any("nests deeper than 1,024 levels" in i.problem for i in files.issues)
    assert not duck.issues


# --------------------------------------------------------------------------------------------
# the command: exit status, the counts line, the notes and issues printed
# --------------------------------------------------------------------------------------------
def _said(err: str) -> list[str]:
    """stderr's lines but the DuckDB engine's own (its queries' summary)."""
    return sorted(line for line in err.splitlines() if "duckdb:" not in line.lower())


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("damaged", ()),
        ("sample-no-event", ("--access-key", "AKIANOBODY0000000000")),
        ("only-archives", ()),
        ("lookup-cut", ("--access-key", KEY)),
    ],
)
def test_the_command_says_the_same_with_either_engine(
    tmp_path: Path, name: str, extra: tuple[str, ...]
) -> None:
    folder = CASES[name].build(tmp_path / "in")
    said = {}
    for kind in ("files", "duckdb"):
        out = tmp_path / f"{kind}.csv"
        argv = ["events", "--logs", str(folder), "--engine", kind, "--out", str(out), *extra]
        code, stdout, stderr = run(*argv)
        stdout, stderr = (t.replace(str(out), "OUT") for t in (stdout, stderr))
        said[kind] = (code, stdout.replace(BY_DUCKDB, ""), _said(stderr))
    assert said["files"] == said["duckdb"]


# --------------------------------------------------------------------------------------------
# Athena: the fake cannot run SQL (it answers seeded rows), so DuckDB's answers to the same
# queries are replayed through it — what this checks is Athena's side of the answer: its text
# rows read back into the same frame (types, NULLs, times, booleans, big integers, JSON text)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["big-integers", "not-json-numbers-key", "lookup-whole"])
def test_athena_reads_the_same_rows_back_as_the_file_loaders(
    readings: Callable[[str], tuple[Activity, Activity]],
    fake_athena: AthenaRegion,
    tmp_path: Path,
    name: str,
) -> None:
    case = CASES[name]
    # Athena needs a window: one around every record of the corpus (untimed ones kept)
    window = {"start": T("2020-01-01T00:00:00Z"), "end": T("2024-12-31T23:59:59Z")}
    window.update({k: case.load[k] for k in ("start", "end") if k in case.load})
    recorder = Recorder(DuckDBEngine(case.build(tmp_path / "in")))
    with recorder.engine:
        load_sql(recorder, access_keys=case.load["access_key"], **window)  # type: ignore[arg-type]
    fake_athena.add_answers(*[athena_results(t, dict(q.columns)) for q, t in recorder.outputs])
    engine = AthenaEngine(database="security", sleep=lambda _: None)
    athena = load_sql(engine, access_keys=case.load["access_key"], **window)
    files = readings(name)[0].frame.drop(columns="origin")  # Athena's: its table
    assert frame_differences(files, athena.frame.drop(columns="origin")) == []


@pytest.mark.parametrize("key", [None, SUSPECT], ids=["full-read", "key-filtered"])
def test_many_files_with_entries_that_are_not_records_cost_one_more_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    """Every file holding an entry that is not a record is found in one more pass over the
    files, when a query stops at the first: not one query again per such file (a folder of
    thousands, written to make the engine crawl)."""
    for n in range(12):
        damaged.write(
            tmp_path / f"f{n}.json.gz", damaged.compact([*damaged.OTHER[n::12], 5]), gz=True
        )
    ran = []
    query = DuckDBEngine._query
    monkeypatch.setattr(
        DuckDBEngine, "_query", lambda self, sql: ran.append(sql) or query(self, sql)
    )
    with DuckDBEngine(tmp_path) as engine:
        duck = load_sql(engine, access_keys=key)
    files = load_activity(logs=[tmp_path], access_key=key)
    assert len(ran) == 3  # stopped at a file, the files found, the query again
    assert sorted(duck.frame["event_id"]) == sorted(files.frame["event_id"])
    assert sorted((i.source, i.problem) for i in duck.issues) == _issues(files)
    assert len(files.issues) == 12
