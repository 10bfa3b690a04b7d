"""One events frame from every source, and `torinvest events`."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from tests.offline_regions import SAMPLE_REGIONS
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.errors import EXIT_COULD_NOT_LOOK
from torinvest.events import combine_frames, load_activity
from torinvest.schema import EVENTS_COLUMNS
from torinvest.sources.lookup import pacer as lk_pacer

SUSPECT = "AKIATFQR7NSCUXC3DDDP"
DERIVED = "ASIATFQR7NSCNGEI5QNT"
BACKDOOR = "AKIATFQR7NSCXLGMGTIH"  # CreateAccessKey by the suspect key: the actor holds it
CASE = sample_case()
START = pd.Timestamp("2023-07-10T00:00:00Z")
END = pd.Timestamp("2023-07-11T00:00:00Z")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def case_records() -> list[dict]:
    out: list[dict] = []
    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        out.extend(json.loads(gzip.decompress(f.read_bytes()))["Records"])
    return out


def test_logs_and_lookup_dedupe_into_one_frame(
    fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    for r in case_records():
        fake_aws.cloudtrail(r["awsRegion"]).add_records([r])
    act = load_activity(
        logs=[CASE.cloudtrail],
        lookup=Aws(),
        access_key=SUSPECT,
        start=START,
        end=END,
        regions=["us-east-1", "eu-west-1", "ap-southeast-1"],
        follow_derived=True,
        cache_dir=tmp_path,
        now=pd.Timestamp("2023-07-12T00:00:00Z"),
    )
    f = act.frame
    assert act.issues == []
    assert f["event_id"].is_unique
    # STORY.md: 43 + 2 + 17 + 2 benign/actor events of the key; derived: 5 ASIA, 2 backdoor
    assert len(f) == 71
    assert set(f["source"]) == {"logs"}  # every lookup row duplicated a log row; logs win
    assert [d.access_key_id for d in act.derived] == [BACKDOOR, DERIVED]
    assert f.loc[f["access_key_id"] == DERIVED, "derived"].all()
    assert list(f.columns) == [c.name for c in EVENTS_COLUMNS]
    assert "LookupEvents in 3 region(s)" in act.summary()


def test_combine_keeps_contract_dtypes_and_first_source() -> None:
    from torinvest.sources.records import normalize_records

    recs = case_records()[:50]
    a = normalize_records(recs[:30], source="logs", origin="a")
    b = normalize_records(recs[20:], source="lookup", origin="b")
    both = combine_frames([a, b])
    assert len(both) == len({r["eventID"] for r in recs})
    assert {c.name: str(both[c.name].dtype) for c in EVENTS_COLUMNS} == {
        c.name: c.dtype for c in EVENTS_COLUMNS
    }
    overlap = {r["eventID"] for r in recs[20:30]}
    assert set(both.loc[both["event_id"].isin(overlap), "source"]) == {"logs"}
    assert both["event_time"].is_monotonic_increasing


def test_cli_events_writes_parquet_with_a_summary(tmp_path: Path) -> None:
    out_file = tmp_path / "ev.parquet"
    code, out, err = run(
        "events",
        "--case",
        str(CASE.root),
        "--access-key",
        SUSPECT,
        "--follow-derived",
        "--out",
        str(out_file),
    )
    assert code == 0
    assert out.startswith("71 events from 62 log file(s), 2023-07-10 11:42:18Z")
    assert "2 derived key(s)" in out
    assert f"derived key {DERIVED}" in err
    back = pd.read_parquet(out_file)
    assert len(back) == 71
    assert str(back["event_time"].dtype) == "datetime64[us, UTC]"


def test_cli_csv_neutralizes_formulas(tmp_path: Path) -> None:
    out_file = tmp_path / "ev.csv"
    code, _, _ = run(
        "events", "--case", str(CASE.root), "--access-key", SUSPECT, "--out", str(out_file)
    )
    assert code == 0
    text = out_file.read_text()
    rows = pd.read_csv(out_file, dtype=str, keep_default_na=False)
    params = [v for v in rows["request_parameters"] if "HYPERLINK" in v]
    assert params  # the sample case's attacker put a formula in a filter value
    assert "=HYPERLINK(" in text  # kept as text inside the JSON…
    for col in rows.columns:  # …but no cell starts a formula
        assert not rows[col].str.match(r"^[=+\-@]").any(), col


def test_cli_events_with_no_matching_activity_says_so(tmp_path: Path) -> None:
    code, out, err = run(
        "events",
        "--case",
        str(CASE.root),
        "--access-key",
        "AKIAAAAAAAAAAAAAAAAA",
        "--regions",  # every region the trail has: nothing is missing
        ",".join(SAMPLE_REGIONS),
        "--out",
        str(tmp_path / "e.parquet"),
    )
    assert code == 0
    assert out.startswith("0 events")
    assert "not an access problem" in err
    said = json.loads((tmp_path / "e.parquet.reading.json").read_text())
    assert said["state"] == "no events" and said["data_issues"] == []


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_cli_events_no_window_over_a_trail_missing_regions_is_partial(
    tmp_path: Path, engine: str
) -> None:
    """A mistyped key, no window, over the sample trail (3 region folders of the 17 regions
    every account has): "no events" would be a confident wrong answer — the regions without
    a folder were not read. The regions are judged as with a window (days are not: no window)."""
    out_file = tmp_path / "e.csv"
    code, out, err = run(
        "events",
        "--case",
        str(CASE.root),
        "--access-key",
        "AKIAAAAAAAAAAAAAAAAA",
        "--engine",
        engine,
        "--out",
        str(out_file),
    )
    assert code == 0, err
    assert out.startswith("0 events")
    assert "hold no event" not in err and "not an access problem" not in err
    assert "no event of AKIAAAAAAAAAAAAAAAAA in what could be read" in err
    said = json.loads((tmp_path / "e.csv.reading.json").read_text())
    assert said["state"] == "incomplete"
    (issue,) = said["data_issues"]
    assert issue["source"].endswith("/AWSLogs/218007301253/CloudTrail/")
    lacking = issue["problem"].partition(":")[0]
    assert lacking.startswith("no folder for region(s) ap-northeast-1, ")
    assert "us-west-2" in lacking and not {"us-east-1", "eu-west-1"} & set(lacking.split(", "))
    assert "nothing was logged there at all" in issue["problem"]  # no window to speak of
    assert "no log file for" not in json.dumps(said)  # days: not judged without a window


def test_cli_events_nothing_loadable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cloudtrail").mkdir()
    (tmp_path / "cloudtrail" / "bad.json").write_text("{not json")
    (tmp_path / "cloudtrail" / "empty.json.gz").write_bytes(b"")
    code, out, err = run("events", "--case", str(tmp_path), "--out", str(tmp_path / "e.csv"))
    assert code == EXIT_COULD_NOT_LOOK
    assert out == ""
    assert "nothing could be loaded" in err
    assert "bad.json" in err and "Traceback" not in err
    assert not (tmp_path / "e.csv").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--out", "x.xlsx"], "unknown format .xlsx"),
        (
            ["--start", "2023-07-11", "--end", "2023-07-10"],
            "--start 2023-07-11T00:00:00Z is after --end 2023-07-10T23:59:59.999999Z",
        ),
    ],
)
def test_cli_events_bad_arguments(tmp_path: Path, argv: list[str], needle: str) -> None:
    args = ["events", "--case", str(CASE.root), *argv]
    if "--out" not in argv:
        args += ["--out", str(tmp_path / "e.parquet")]
    code, _, err = run(*args)
    assert code == (1 if "--out" in argv else 2)  # a window ending before it starts: usage
    assert needle in err


def test_cli_lookup_without_key_is_refused(tmp_path: Path) -> None:
    code, _, err = run(
        "events", "--lookup", "--regions", "us-east-1", "--out", str(tmp_path / "e.parquet")
    )
    assert code == 2  # options that cannot go together: a usage error
    assert "needs an access key" in err
