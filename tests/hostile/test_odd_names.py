"""Files in a log folder not named like log files: never events silently not read.

A case folder is filled by hand. A log file saved as ``trail.log`` or ``day.gz``, a day's logs
downloaded as ``logs.zip`` or ``logs.tar.gz``, the console's Event history saved as CSV: each was
passed over by its name, and the answer (``N events from M log file(s)``) read whole. Now CloudTrail
JSON under any name is read (and said), and a file that may hold events torinvest does not read
(an archive, another compression, a CSV of events) is a data issue naming it and what to do.
Notes, images and other files say nothing, as before.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.cli_run import run
from torinvest.case import sample_case
from torinvest.sniff import sniff

LOGS = sorted((sample_case().root / "cloudtrail").rglob("*.json.gz"))
FLAT = "218007301253_CloudTrail_* files"  # the flat group of the files named like CloudTrail's


def _ids(path: Path) -> set[str]:
    return {r["eventID"] for r in json.loads(gzip.decompress(path.read_bytes()))["Records"]}


def _events_csv(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    col = lines[0].split(",").index("event_id")
    return {line.split(",")[col] for line in lines[1:]}


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_cloudtrail_json_under_any_name_is_read_and_said(tmp_path: Path, engine: str) -> None:
    a, b, c, d = LOGS[:4]
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(a, folder / a.name)  # named like a log file
    shutil.copy(b, folder / "trail.log")  # gzip under another name
    (folder / "day.gz").write_bytes(c.read_bytes())
    (folder / "plain.txt").write_bytes(gzip.decompress(d.read_bytes()))  # plain JSON
    (folder / "README.md").write_text("# notes on the case\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    code, out, err = run("events", "--logs", str(folder), "--engine", engine, "--out", "ev.csv")
    assert code == 0, err
    assert "from 4 log file(s)" in out
    assert _events_csv(tmp_path / "ev.csv") == _ids(a) | _ids(b) | _ids(c) | _ids(d)
    assert (
        "3 file(s) not named like log files hold CloudTrail JSON and were read "
        "(day.gz, plain.txt, trail.log)" in err
    )
    # the one file named like CloudTrail's makes the folder a flat group: its other regions
    # are named missing (no window: regions only), never an issue of the names read
    (issue,) = [line for line in err.splitlines() if line.startswith("torinvest: issue:")]
    assert issue.startswith(f"torinvest: issue: {folder} ({FLAT}): no log file named for ")
    assert "partial result: 1 data issue(s)" in err


def _zip(data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in data.items():
            z.writestr(name, content)
    return buf.getvalue()


def _tgz(data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, content in data.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            t.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_files_that_may_hold_events_and_are_not_read_are_issues(
    tmp_path: Path, engine: str
) -> None:
    a, b = LOGS[:2]
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(a, folder / a.name)
    plain = gzip.decompress(b.read_bytes())
    (folder / "logs.zip").write_bytes(_zip({b.name: b.read_bytes()}))
    (folder / "logs.tar.gz").write_bytes(_tgz({b.name: b.read_bytes()}))
    (folder / "day.json.bz2").write_bytes(bz2.compress(plain))
    (folder / "day.json.xz").write_bytes(lzma.compress(plain))
    (folder / "event_history.csv").write_text(
        "Event ID,Event time,User name,Event name,Resource type,Resource name,AWS access key,"
        "AWS region,Error code,Source IP address,Resources\n"
        "0bd1f6c1-8d2c-4b4f-bd0d-7b2c1e1a0b8d,2023-07-10T12:17:08Z,benjamin,GetCallerIdentity,"
        ",,AKIATFQR7NSCUXC3DDDP,us-east-1,,109.70.100.66,[]\n"
    )
    code, _out, err = run("events", "--logs", str(folder), "--engine", engine, "--out", "ev.csv")
    assert code == 0, err
    assert _events_csv(tmp_path / "ev.csv") == _ids(a)  # what could be read is all there
    assert "1 file(s) are zip archives (logs.zip): not read, so their events, if any, are " in err
    assert "1 file(s) are tar archives (gzip-compressed) (logs.tar.gz): not read" in err
    assert "1 file(s) are compressed with bzip2 (day.json.bz2): not read" in err
    assert "1 file(s) are compressed with xz (day.json.xz): not read" in err
    assert "1 file(s) are CSV tables of CloudTrail events (event_history.csv): not read" in err
    assert "extract them into the folder (torinvest does not open archives)" in err
    # and the flat group's regions not there (the one file named like CloudTrail's)
    assert f"torinvest: issue: {folder} ({FLAT}): no log file named for " in err
    assert "partial result: 6 data issue(s)" in err


def test_a_folder_of_only_unread_files_names_them_and_could_not_look(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "logs.zip").write_bytes(_zip({LOGS[0].name: LOGS[0].read_bytes()}))
    code, _out, err = run("events", "--logs", str(folder), "--out", "ev.csv")
    assert code == 3, err
    assert "1 file(s) are zip archives (logs.zip): not read" in err
    assert "No CloudTrail log files in" in err


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b'{"Records":[{"eventVersion":"1.08"', "cloudtrail"),
        (b'\xef\xbb\xbf\n  {"Events": [{"EventId": "x", "CloudTrailEvent": "{}"}]}', "cloudtrail"),
        (b'{"eventVersion":"1.08","eventName":"GetCallerIdentity"}\n', "cloudtrail"),
        (b"eventtime,eventname,sourceipaddress\n2023-07-10,ListBuckets,1.2.3.4\n", "events-csv"),
        (b"PK\x03\x04rest", "archive"),
        (b"\x28\xb5\x2f\xfdrest", "compressed"),  # zstd: not looked inside
        (lzma.compress(b'{"Records": [{"eventVersion": "1.08"}]}'), "cloudtrail"),
        (bz2.compress(b'{"Findings": [{"SchemaVersion": "2018-10-08"}]}'), "findings"),
        (gzip.compress(b'[{"schemaVersion": "2.0", "accountId": "1"}]', mtime=0), "findings"),
        (b"\xfd7zXZ\x00damaged", None),
        (b'{"type": "FeatureCollection", "features": []}', None),  # JSON, not CloudTrail
        (b"name,size\nx,1\n", None),  # a CSV of something else
        (b"# notes\n", None),
        (b"\x1f\x8bnot really gzip", None),
    ],
)
def test_sniff_tells_what_a_file_holds(head: bytes, kind: str | None) -> None:
    found = sniff(head)
    assert (found.kind if found else None) == kind


SHAPES = Path(__file__).parent.parent / "fixtures" / "guardduty" / "shapes"
TOR = "6dde0a8f8d46f6acad893b30f905e97c"


def test_findings_under_any_name_are_read_and_archives_make_not_found_may_be_there(
    tmp_path: Path,
) -> None:
    doc = json.loads((SHAPES / "asff.json").read_text())
    wanted = [f for f in doc["Findings"] if str(f["Id"]).endswith(TOR)]
    others = [f for f in doc["Findings"] if not str(f["Id"]).endswith(TOR)]
    case = tmp_path / "case"
    shutil.copytree(sample_case().root / "cloudtrail", case / "cloudtrail")
    (case / "findings").mkdir()
    (case / "findings" / "securityhub.txt").write_bytes(
        lzma.compress(json.dumps({"Findings": others}).encode())
    )
    (case / "findings" / "notes.md").write_text("# case notes\n")
    code, out, err = run("findings", "--case", str(case), "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)] == ["7f176d541deef88b1ad653b9ed646f29"]
    assert "issue" not in err and "partial" not in err

    (case / "findings" / "export.zip").write_bytes(_zip({"f.json": json.dumps(wanted).encode()}))
    code, out, err = run("findings", "--case", str(case), "--json")
    assert code == 0, err
    assert "export.zip: a zip archive: not read (torinvest does not open it)" in err
    assert "partial result" in err
    code, _out, err = run("investigate", TOR, "--case", str(case), "--out", "r")
    assert code == 3, err  # could not look: never "not found"
    assert "so it may be there" in err and "export.zip" in err
