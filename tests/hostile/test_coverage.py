"""What the trail's dated layout says was not there: a region asked with no folder, and days of
the window with no log file in a region that has some, are issues (the events there, if any,
were not read) — never "the sources were read and hold no event". Local folders and S3 (moto),
the file loader and DuckDB. Catalogue: docs/hostile-inputs.md, "Regions and days not there".
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import boto3
import pandas as pd
import pytest

from tests.cli_run import issues, run
from tests.fake_aws import FakeAws
from tests.offline_regions import SAMPLE_REGIONS, offline_unfolded
from torinvest.case import sample_case
from torinvest.options import DEFAULT_MAX_ROWS
from torinvest.sources.logs.coverage import FLAT_WORDS

CASE = sample_case()
ACCOUNT = "218007301253"
KEY = "AKIATFQR7NSCUXC3DDDP"  # 64 calls in the sample case, all on 2023-07-10
NOBODY = "AKIANOBODY0000000000"  # in no record
FOLDER = f"AWSLogs/{ACCOUNT}/CloudTrail/"
READ_EMPTY = "the sources were read and hold no event"


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: note:")]


def _upload(moto: str, bucket: str, files: dict[str, Path]) -> None:
    """``bucket`` made on moto, holding each file at its key (set-up, not the code under test:
    the puts run side by side, as tests/hostile/test_org_scale.py's ``upload``)."""
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1].read_bytes()),
                files.items(),
            )
        )


@pytest.fixture(params=["local", "s3"])
def trail(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The sample case's trail (us-east-1, eu-west-1, ap-southeast-1 on 2023-07-10 only): its
    folder, or the same objects on moto, read with credentials of its account (218007301253:
    moto's STS answers it; another account's: :func:`test_another_accounts_folder_…`)."""
    if request.param == "local":
        shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
        return str(tmp_path / "ct")
    moto = request.getfixturevalue("moto")
    request.getfixturevalue("monkeypatch").setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    files = sorted(CASE.cloudtrail.rglob("*.json.gz"))
    _upload(moto, "trail", {f.relative_to(CASE.cloudtrail).as_posix(): f for f in files})
    return "s3://trail/"


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_region_asked_with_no_folder_is_an_issue_not_read_and_empty(
    trail: str, engine: str, tmp_path: Path
) -> None:
    code, out, err = run(
        "events", "--logs", trail, "--regions", "sa-east-1", "--access-key", NOBODY,
        "--start", "2023-07-10T16:00Z", "--end", "2023-07-10T17:00Z", "--engine", engine,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("0 events from ")
    assert READ_EMPTY not in err and "not an access problem" not in err
    where = trail.rstrip("/") + "/" + FOLDER
    assert issues(err) == [
        f"torinvest: issue: {where}: no folder for region(s) sa-east-1: no log file of that "
        "region here at all, so its events, if any, were not read"
    ]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_days_of_the_window_with_no_log_file_are_named(
    trail: str, engine: str, tmp_path: Path
) -> None:
    code, out, err = run(
        "events", "--logs", trail, "--regions", "us-east-1", "--access-key", KEY,
        "--start", "2023-07-01", "--end", "2023-07-11", "--engine", engine,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from ")  # what is there is read (us-east-1's)
    where = trail.rstrip("/") + "/" + FOLDER + "us-east-1/"
    assert issues(err) == [
        f"torinvest: issue: {where}: no log file for 2023-07-01–2023-07-09, 2023-07-11 (10 of "
        "the window's 11 UTC day(s)): nothing was logged there those days, or logging stopped, "
        "or the files are not here; the events of those days, if any, were not read"
    ]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_region_with_its_day_folder_and_no_matching_event_is_read_and_empty(
    trail: str, engine: str, tmp_path: Path
) -> None:
    code, _out, err = run(
        "events", "--logs", trail, "--regions", "eu-west-1", "--access-key", NOBODY,
        "--start", "2023-07-10", "--end", "2023-07-10", "--engine", engine,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []
    assert READ_EMPTY in err


def test_without_regions_every_region_present_is_judged(tmp_path: Path) -> None:
    """No --regions, a local folder: every region present is judged (the day it lacks), and
    the partition's regions enabled everywhere that have no folder are the "no folder" issue."""
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    code, _out, err = run(
        "events", "--logs", str(tmp_path / "ct"), "--access-key", KEY,
        "--start", "2023-07-10", "--end", "2023-07-11", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {tmp_path}/ct/{FOLDER}: " + offline_unfolded(SAMPLE_REGIONS),
        f"torinvest: issue: {tmp_path}/ct/{FOLDER}…: 3 folders: no log file for 2023-07-11 (1 of "
        "the window's 2 UTC day(s)): nothing was logged there those days, or logging stopped, "
        "or the files are not here; the events of those days, if any, were not read — e.g. ap-southeast-1/, eu-west-1/, us-east-1/",
    ]


#: The account's enabled regions (the fake's DescribeRegions): the trail's three and ap-south-1,
#: which the trail has no folder for (a trail that leaves it out).
ENABLED = ["ap-south-1", "ap-southeast-1", "eu-west-1", "us-east-1"]
UNFOLDED = (
    "no folder for region(s) ap-south-1: no log file of that region here at all, so its "
    "events, if any, were not read; it is enabled for the account ({source}) and was not asked "
    "with --regions: the trail does not log it (a single-region trail, or one that leaves it "
    "out), or nothing was logged there in the window, or its files are not here, and no digest folder (CloudTrail-Digest/) shows it "
    "logged; read that region's log files from the trail that records it, or LookupEvents "
    "(--lookup), or name the key's regions with --regions"
)


@pytest.mark.parametrize("trail", ["s3"], indirect=True)
@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_an_enabled_region_the_trail_has_no_folder_for_is_not_read(
    trail: str, engine: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """No --regions, log files on S3: a region enabled for the account (EC2 DescribeRegions,
    asked once) that the trail has no folder for is the "no folder" issue, as with --regions
    (was: "64 events", complete, ap-south-1 never named)."""
    fake_aws.enabled_regions = ENABLED
    code, out, err = run(
        "events", "--logs", trail, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--engine", engine, "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    where = trail.rstrip("/") + "/" + FOLDER
    assert issues(err) == [
        f"torinvest: issue: {where}: " + UNFOLDED.format(source="ec2:DescribeRegions")
    ]
    assert len(fake_aws.calls("DescribeRegions", service="ec2")) == 1


@pytest.mark.parametrize("trail", ["s3"], indirect=True)
def test_every_enabled_region_with_a_folder_is_no_issue(
    trail: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    fake_aws.enabled_regions = [r for r in ENABLED if r != "ap-south-1"]
    code, out, err = run(
        "events", "--logs", trail, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    assert issues(err) == []


@pytest.mark.parametrize("trail", ["local", "s3"], indirect=True)
def test_no_enabled_region_asked_offline_nor_with_regions(
    trail: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """A local folder makes no AWS call: its regions present are judged, and those enabled in
    every account of the partition (not the account's, which are not asked) that it has no
    folder for are the "no folder" issue (ap-south-1 among them); with --regions the regions
    asked are judged, not the enabled ones."""
    fake_aws.enabled_regions = ENABLED
    local = not trail.startswith("s3://")
    regions = () if local else ("--regions", "us-east-1")
    code, _out, err = run(
        "events", "--logs", trail, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", *regions, "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    where = trail.rstrip("/") + "/" + FOLDER
    offline = [f"torinvest: issue: {where}: " + offline_unfolded(SAMPLE_REGIONS)]
    assert issues(err) == (offline if local else [])
    assert fake_aws.calls("DescribeRegions", service="ec2") == []


@pytest.mark.parametrize("trail", ["s3"], indirect=True)
def test_enabled_regions_refused_fall_back_to_the_partitions_and_say_so(
    trail: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeRegions refused: the partition's CloudTrail regions stand in (as Athena's), a
    note says why, and the issue says where the list came from."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("ec2", "*", "UnauthorizedOperation", operation="DescribeRegions")
    code, _out, err = run(
        "events", "--logs", trail, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    (issue,) = issues(err)
    unfolded = issue.split(": no folder for region(s) ", 1)[1].split(":", 1)[0].split(", ")
    assert "ap-south-1" in unfolded and "sa-east-1" in unfolded
    assert not {"us-east-1", "eu-west-1", "ap-southeast-1"} & set(unfolded)
    assert (
        "enabled for the account (the partition's CloudTrail regions: the enabled ones could "
        "not be listed)"
    ) in issue
    assert any(
        line.startswith(f"torinvest: note: {trail}: enabled regions unknown (")
        and "UnauthorizedOperation" in line
        for line in err.splitlines()
    )


@pytest.mark.parametrize("trail", ["s3"], indirect=True)
def test_enabled_regions_that_cannot_be_listed_at_all_are_said(
    trail: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials refused for DescribeRegions (expired: no fallback list): the events read
    stand and one issue says the regions without a folder are not known."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("ec2", "*", "RequestExpired", operation="DescribeRegions")
    code, out, err = run(
        "events", "--logs", trail, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    (issue,) = issues(err)
    assert issue.startswith(
        f"torinvest: issue: {trail} (regions): the account's enabled regions could not be listed ("
    )
    assert "RequestExpired" in issue
    assert issue.endswith(
        "whether the trail has a folder for every region the key could have called is not "
        "known — where it has none, the key's events there, if any, were not read; name the "
        "regions with --regions to have each checked"
    )


def test_files_outside_the_dated_layout_claim_no_coverage(tmp_path: Path) -> None:
    """A flat folder of exports not named like CloudTrail's log files cannot say which days or
    regions it covers: nothing claimed (files keeping CloudTrail's names are judged by them:
    tests/hostile/test_flat_folders.py)."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, f in enumerate(sorted(CASE.cloudtrail.rglob("*.json.gz"))):
        shutil.copy(f, flat / f"events-{i}.json.gz")
    code, _out, err = run(
        "events", "--logs", str(flat), "--regions", "eu-west-1", "--access-key", NOBODY,
        "--start", "2023-07-01", "--end", "2023-07-11", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []


def test_lookup_events_too_old_says_only_the_log_files_were_read(
    tmp_path: Path, fake_aws: object
) -> None:
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    code, _out, err = run(
        "events", "--logs", str(tmp_path / "ct"), "--lookup", "--regions", "us-east-1",
        "--access-key", KEY, "--start", "2023-07-01", "--end", "2023-07-31",
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert "cover the window" not in err
    assert "LookupEvents has no events that old; only the log files were read" in err
    gap = "no log file for 2023-07-01–2023-07-09, 2023-07-11–2023-07-31"
    assert any(gap in i for i in issues(err))


def test_new_values_against_a_history_not_completely_read_say_so() -> None:
    """The default window reaches 14 days back, where the case holds no log file: "3 IP(s) not
    seen before" holds only for what was read (3 regions without those days), and each "new" signal says the activity was not
    completely read; over a window the files cover, the same signals claim it plainly."""
    from tests.sample_window import COVERED
    from torinvest.investigation import investigate, sources_from_parameters

    # the case's trail regions named (Sources.regions), so the only gap is the days the window reaches beyond its log files
    src = replace(sources_from_parameters(case_dir=str(CASE.root)), regions=list(SAMPLE_REGIONS))
    gappy = {s.name: s for s in investigate("6dde0a8f8d46f6acad893b30f905e97c", src).signals}
    assert {"new_source_ip", "new_user_agent"} <= set(gappy)
    for name in ("new_source_ip", "new_user_agent"):
        # 3 region folders without those days: one data issue, as the reading counts it
        assert "the activity was not completely read (1 data issue(s)" in gappy[name].detail
        assert "an earlier call may be in what was not read" in gappy[name].detail
    assert "not completely read" not in gappy["tor_use"].detail
    covered = investigate("6dde0a8f8d46f6acad893b30f905e97c", src, **COVERED).signals
    assert not [s for s in covered if "not completely read" in s.detail]
    assert {"new_source_ip", "new_user_agent"} <= {s.name for s in covered}


# --------------------------------------------------------------------------------------------
# the same hole through every engine: a day of the window the trail logged nothing
# --------------------------------------------------------------------------------------------
DAYS = ("2023-07-09", "2023-07-10", "2023-07-11")
HOLE = "2023-07-10"  # the trail logged nothing that day (StopLogging, a delivery failure)
WINDOW = {"start": "2023-07-09T00:00:00Z", "end": "2023-07-11T23:59:59Z"}
FINDING_ACCOUNT = "123837392027"  # the sample's records' recipientAccountId


def _trail_with_a_hole(root: Path) -> Path:
    """The sample case's log files written on 2023-07-09 and 2023-07-11 (their times moved to
    those days, each copy its own event IDs), nothing on 2023-07-10: the key's calls on days 1
    and 3 of a three-day window, in the three regions the case holds."""
    import gzip
    import json
    import uuid

    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        rel = f.relative_to(CASE.cloudtrail).as_posix()
        data = json.loads(gzip.decompress(f.read_bytes()))
        for day in (DAYS[0], DAYS[2]):
            for r in data["Records"]:
                r["eventTime"] = day + r["eventTime"][10:]
                r["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{day}/{rel}/{r['eventID']}"))
            compact = day.replace("-", "")
            out = root / rel.replace("2023/07/10", day.replace("-", "/")).replace(
                "20230710T", compact + "T"
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(gzip.compress(json.dumps(data).encode()))
            data = json.loads(gzip.decompress(f.read_bytes()))
    return root


@pytest.fixture(scope="module")
def hole_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`_trail_with_a_hole`, written once for the module's tests, which only read it."""
    return _trail_with_a_hole(tmp_path_factory.mktemp("hole") / "ct")


def _athena_over(fake_aws: object, trail: Path, key: str, max_rows: int = DEFAULT_MAX_ROWS) -> None:
    """The fake Athena answering as a table over ``trail`` would: the queries of the key's
    activity with what DuckDB answers them over the same files (in the order Athena runs
    them), the coverage probe with the (region, day) cells the files hold (region "": any)."""
    from tests.sources.sql.helpers import Recorder, athena_results
    from torinvest.sources.sql import load_sql
    from torinvest.sources.sql.duckdb import DuckDBEngine

    athena = fake_aws.athena("us-east-1")  # type: ignore[attr-defined]
    held: set[tuple[str, str]] = set()
    for f in trail.rglob("*.json.gz"):
        region, y, m, d = f.relative_to(trail).parts[3:7]
        held |= {(region, f"{y}/{m}/{d}"), ("", f"{y}/{m}/{d}")}
    cells = [
        [r, d.replace("-", "/"), "1" if (r, d.replace("-", "/")) in held else "0"]
        for r in sorted({r for r, _ in held})
        for d in DAYS
    ]
    cells += [[r, "", "1"] for r in sorted({r for r, _ in held if r})]  # any day of the window
    columns = [("region", "varchar"), ("day", "varchar"), ("records", "bigint")]
    athena.add_results(columns, cells, scanned=1 << 20, match="AS probe")
    recorder = Recorder(DuckDBEngine(str(trail)))
    recorder.count_first = True  # type: ignore[attr-defined]  # as Athena: a count first
    with recorder.engine:
        load_sql(recorder, access_keys=key, max_rows=max_rows, **WINDOW)  # type: ignore[arg-type]
    athena.add_answers(
        *(athena_results(t, dict(q.columns), scanned=5 << 20) for q, t in recorder.outputs)
    )


def _day_two_not_read(act: object) -> None:
    """Day 2 said as not read, in the file loader's words; days 1 and 3 not."""
    from torinvest.investigation import READING_INCOMPLETE, reading_of

    assert not act.nothing_read and act.account_gap is None  # type: ignore[attr-defined]
    issues = act.issues  # type: ignore[attr-defined]
    assert reading_of(issues, act.total_events)[0] == READING_INCOMPLETE  # type: ignore[attr-defined]
    said = [i.problem for i in issues]
    assert any(
        f"for {HOLE} (1 of the window's 3 UTC day(s)): nothing was logged there those days, "
        "or logging stopped, or "
        in p
        and "the events of those days, if any, were not read" in p
        for p in said
    ), said
    assert all(DAYS[0] not in p and DAYS[2] not in p for p in said), said


@pytest.mark.parametrize("account", [FINDING_ACCOUNT, None], ids=["account", "no-account"])
@pytest.mark.parametrize("key", [KEY, NOBODY], ids=["events", "no-events"])
@pytest.mark.parametrize("engine", ["files", "duckdb", "athena"])
def test_a_day_the_trail_logged_nothing_is_not_read_in_every_engine(
    hole_trail: Path, fake_aws: object, engine: str, key: str, account: str | None
) -> None:
    """A three-day window, the key's calls on days 1 and 3, nothing logged on day 2: every
    engine says day 2 was not read (the reading "incomplete"), with or without events, with or
    without the finding's account sought. Athena said "N events" and nothing of day 2 (its
    probe ran only when no event of the account matched, or with --regions): complete."""
    from torinvest.events import EngineOptions, load_activity

    trail = hole_trail
    window = {k: pd.Timestamp(v) for k, v in WINDOW.items()}
    if engine == "athena":
        _athena_over(fake_aws, trail, key)
        options = EngineOptions(
            kind="athena", athena_database="security", athena_region="us-east-1"
        )
        act = load_activity(access_key=key, engine=options, account=account, **window)
    else:
        options = EngineOptions(kind=engine)
        act = load_activity(
            logs=[str(trail)], access_key=key, engine=options, account=account, **window
        )
    assert act.total_events == (128 if key == KEY else 0)
    _day_two_not_read(act)


@pytest.mark.parametrize("account", [FINDING_ACCOUNT, None], ids=["account", "no-account"])
@pytest.mark.parametrize("engine", ["duckdb", "athena"])
def test_a_day_the_trail_logged_nothing_is_not_read_when_counted_in_the_engine(
    hole_trail: Path, fake_aws: object, engine: str, account: str | None
) -> None:
    """The same hole, the key's calls more than the row limit (counted in the engine, only the
    sensitive calls as rows): day 2 is said as not read by both engines."""
    from torinvest.events import EngineOptions, load_activity

    trail = hole_trail
    window = {k: pd.Timestamp(v) for k, v in WINDOW.items()}
    if engine == "athena":
        _athena_over(fake_aws, trail, KEY, max_rows=10)
        options = EngineOptions(
            kind="athena", athena_database="security", athena_region="us-east-1", max_rows=10
        )
        act = load_activity(access_key=KEY, engine=options, account=account, **window)
    else:
        options = EngineOptions(kind=engine, max_rows=10)
        act = load_activity(
            logs=[str(trail)], access_key=KEY, engine=options, account=account, **window
        )
    assert act.aggregates is not None and act.total_events == 128
    _day_two_not_read(act)


# --------------------------------------------------------------------------------------------
# the finding's region: the key certainly called it, so a folder without it is not "no calls"
# --------------------------------------------------------------------------------------------
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"  # raised in us-east-1, account 123837392027
#: 12:02–12:20 on 2023-07-10: the key's calls in ap-southeast-1 and eu-west-1 (12:12–12:13) are
#: within 15 minutes of GuardDuty's sightings (12:17–12:20), so the sightings check is silent
NEAR = {"lookback_days": 0.02, "lookahead_days": 0}
KNOWN = (
    "no folder for region(s) us-east-1: no log file of that region here at all, so its events, "
    f"if any, were not read — and the key called it (us-east-1: GuardDuty raised finding {FINDING} "
    "there, the region of the call); read that region's log files from the trail that records "
    "it, or LookupEvents (--lookup)"
)


def _case(root: Path, regions: tuple[str, ...], account: str = FINDING_ACCOUNT) -> Path:
    """A case folder: the sample's findings, and its trail's ``regions`` as the trail of
    ``account`` (``cloudtrail/AWSLogs/<account>/CloudTrail/<region>/…``)."""
    shutil.copytree(CASE.root / "findings", root / "findings")
    for region in regions:
        shutil.copytree(
            CASE.cloudtrail / FOLDER / region,
            root / "cloudtrail" / "AWSLogs" / account / "CloudTrail" / region,
        )
    return root


def _investigate(
    case: Path, engine: str, logs: str = "", regions: tuple[str, ...] = ()
) -> tuple[list[str], str, int]:
    """The sample finding investigated over ``case`` (and ``logs``), for ``regions`` (none:
    every region): its data issues (source: problem), its reading and how many events it
    read."""
    from torinvest.investigation import investigate, reading_of, sources_from_parameters

    src = sources_from_parameters(case_dir=str(case), engine=engine, logs=logs)
    if regions:  # Sources.regions: sources_from_parameters does not take them with a case
        src = replace(src, regions=list(regions))
    inv = investigate(FINDING, src, **NEAR)  # type: ignore[arg-type]
    issues = inv.data_issues
    total = inv.activity.total_events
    return [f"{i.source}: {i.problem}" for i in issues], reading_of(issues, total)[0], total


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_findings_region_with_no_folder_in_a_case_folder_is_not_read(
    tmp_path: Path, engine: str
) -> None:
    """A case folder whose trail of the finding's account holds ap-southeast-1 and eu-west-1
    but no us-east-1, where GuardDuty raised the finding (the region of the call): the "no
    folder" issue names us-east-1 and why, the reading incomplete (was: 4 events, complete —
    the 60 calls of us-east-1 never read, nothing said). Read for every region (offline), the
    partition's other regions without a folder are their own issue; us-east-1 is not in it."""
    from torinvest.investigation import READING_INCOMPLETE

    case = _case(tmp_path / "case", ("ap-southeast-1", "eu-west-1"))
    issues, reading, total = _investigate(case, engine)
    assert total == 4
    where = f"{case}/cloudtrail/AWSLogs/{FINDING_ACCOUNT}/CloudTrail/"
    assert issues == [f"{where}: {KNOWN}", f"{where}: {offline_unfolded(SAMPLE_REGIONS)}"]
    assert reading == READING_INCOMPLETE


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_findings_region_with_a_folder_is_no_issue(tmp_path: Path, engine: str) -> None:
    from torinvest.investigation import READING_COMPLETE, READING_INCOMPLETE

    case = _case(tmp_path / "case", SAMPLE_REGIONS)
    issues, reading, total = _investigate(case, engine, regions=SAMPLE_REGIONS)
    assert (issues, reading, total) == ([], READING_COMPLETE, 22)  # us-east-1 read too
    # for every region (offline): only the partition's regions without a folder are an issue
    where = f"{case}/cloudtrail/AWSLogs/{FINDING_ACCOUNT}/CloudTrail/"
    every = ([f"{where}: {offline_unfolded(SAMPLE_REGIONS)}"], READING_INCOMPLETE, 22)
    assert _investigate(case, engine) == every


def test_another_accounts_folder_and_a_flat_folder_are_not_judged_by_the_finding(
    tmp_path: Path,
) -> None:
    """The finding's region is asked of the finding's account's trail folders only (another
    account's trail need not log that region): it does not get the finding's "no folder"
    issue, nor does a flat folder of another account's log files (judged by their names:
    tests/hostile/test_flat_folders.py). Another account's folder read for every region
    (offline) is judged by the partition's regions enabled everywhere, us-east-1 among them, as
    its own (not as the key's region). A flat folder of the finding's account's log files
    lacking us-east-1 gets the finding's issue, from their names."""
    other = _case(tmp_path / "other", ("ap-southeast-1", "eu-west-1"), account=ACCOUNT)
    issues, _reading, total = _investigate(other, "files")
    where = f"{other}/cloudtrail/AWSLogs/{ACCOUNT}/CloudTrail/"
    unfolded = offline_unfolded(("ap-southeast-1", "eu-west-1"))
    assert "us-east-1" in unfolded and "the key called it" not in unfolded
    assert total == 4 and issues == [f"{where}: {unfolded}"]
    flat = tmp_path / "flat"
    shutil.copytree(CASE.root / "findings", flat / "findings")
    (flat / "cloudtrail").mkdir()
    for region in ("ap-southeast-1", "eu-west-1"):
        for f in sorted((CASE.cloudtrail / FOLDER / region).rglob("*.json.gz")):
            shutil.copy(f, flat / "cloudtrail" / f.name)
    issues, _reading, total = _investigate(flat, "files")
    assert total == 4 and not [i for i in issues if "the key called it" in i]
    mine = tmp_path / "mine"
    shutil.copytree(CASE.root / "findings", mine / "findings")
    (mine / "cloudtrail").mkdir()
    for region in ("ap-southeast-1", "eu-west-1"):
        for f in sorted((CASE.cloudtrail / FOLDER / region).rglob("*.json.gz")):
            name = f.name.replace(ACCOUNT, FINDING_ACCOUNT)
            shutil.copy(f, mine / "cloudtrail" / name)
    issues, _reading, total = _investigate(mine, "files")
    where = f"{mine}/cloudtrail ({FINDING_ACCOUNT}_CloudTrail_* files)"
    known = KNOWN.replace("no folder for", "no log file named for")
    assert total == 4 and f"{where}: {known} ({FLAT_WORDS})" in issues


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_findings_region_is_judged_on_s3_when_the_enabled_regions_are_not_known(
    tmp_path: Path, engine: str, moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same trail on S3, the account's enabled regions not listable (expired credentials
    for DescribeRegions): that is one issue, and the finding's region, which the key certainly
    called, is named all the same (was: only the "not known" issue)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("ec2", "*", "RequestExpired", operation="DescribeRegions")
    case = _case(tmp_path / "case", ("ap-southeast-1", "eu-west-1"))
    files = sorted((case / "cloudtrail").rglob("*.json.gz"))
    _upload(moto, "trail", {f.relative_to(case / "cloudtrail").as_posix(): f for f in files})
    shutil.rmtree(case / "cloudtrail")
    issues, _reading, total = _investigate(case, engine, logs="s3://trail/")
    assert total == 4
    where = f"s3://trail/AWSLogs/{FINDING_ACCOUNT}/CloudTrail/"
    assert f"{where}: {KNOWN}" in issues
    assert any(i.startswith("s3://trail/ (regions): the account's enabled regions") for i in issues)


def test_a_global_services_call_is_known_in_the_partitions_global_region() -> None:
    """An IAM call: recorded in us-east-1 (us-gov-west-1 in GovCloud) whatever region the
    finding names; another service's call: the finding's region only; no valid region: none."""
    from dataclasses import replace

    from torinvest.investigation import (
        known_regions,
        load_findings,
        locate,
        sources_from_parameters,
    )

    _row, key = locate(load_findings(sources_from_parameters(case_dir=str(CASE.root))), FINDING)
    assert known_regions(key).names == {"us-east-1"}  # type: ignore[union-attr]
    iam = replace(key, region="eu-west-1", service_name="iam.amazonaws.com")
    assert known_regions(iam).names == {"eu-west-1", "us-east-1"}  # type: ignore[union-attr]
    gov = replace(iam, region="us-gov-east-1")
    assert known_regions(gov).names == {"us-gov-east-1", "us-gov-west-1"}  # type: ignore[union-attr]
    assert known_regions(replace(key, region="../x")) is None
    assert known_regions(replace(key, region=None)) is None


# --------------------------------------------------------------------------------------------
# another account's trail folder (a log-archive account reading its organization's members)
# --------------------------------------------------------------------------------------------
READER = "123456789012"  # the credentials' account (moto's STS, by default)
ORG = "o-aa111bb222"


def _other_accounts_trail(moto: str, org: bool) -> str:
    """The sample trail (account 218007301253's) in a bucket of the reader's account, as an
    account trail or under an organization trail's ``AWSLogs/<o-id>/``: its URL."""
    head = f"AWSLogs/{ORG}/" if org else "AWSLogs/"
    files = sorted(CASE.cloudtrail.rglob("*.json.gz"))
    _upload(
        moto,
        "archive",
        {head + f.relative_to(CASE.cloudtrail / "AWSLogs").as_posix(): f for f in files},
    )
    return f"s3://archive/{head}{ACCOUNT}/CloudTrail/"


def _partition_regions() -> list[str]:
    """botocore's CloudTrail regions of the aws partition (what the listing knows of it)."""
    return sorted(boto3.Session().get_available_regions("cloudtrail", partition_name="aws"))


@pytest.mark.parametrize("org", [False, True], ids=["account-trail", "organization-trail"])
def test_another_accounts_folder_names_the_opt_in_regions_not_known_for_it(
    moto: str, fake_aws: FakeAws, tmp_path: Path, org: bool
) -> None:
    """A member's folder read with the reader's credentials, every region the reader enabled
    with a folder there: the partition's opt-in regions the reader has not enabled have no
    folder either, and whether the member enabled them is not known — one note names them and
    says whose enabled regions were listed (was: nothing said). A note, not an issue: most
    accounts enable none, and every reading of an organization's archive would be incomplete."""
    present = ["ap-southeast-1", "eu-west-1", "us-east-1"]
    fake_aws.enabled_regions = present
    folder = _other_accounts_trail(moto, org)
    code, out, err = run(
        "events", "--logs", folder, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    unknown = [r for r in _partition_regions() if r not in present]
    assert unknown, "botocore names no other region of the aws partition"
    assert issues(err) == []
    assert (
        f"torinvest: note: {folder}: no folder for the aws partition's opt-in region(s) "
        f"{', '.join(unknown)}: whether account {ACCOUNT}, whose folder this is, enabled them "
        f"is not known (the enabled regions listed are those of account {READER}, the "
        "credentials', which has not enabled them) — where it did, the key's events there, if "
        f"any, were not read; aws account list-regions --account-id {ACCOUNT}, run from the "
        "organization's management account, lists its enabled regions: name the key's regions "
        "with --regions to have each checked"
    ) in notes(err)


def test_another_accounts_folder_says_whose_enabled_regions_it_lacks_in_one_issue(
    moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """The reader's enabled regions without a folder there that are not opt-in (ap-south-1…:
    enabled for every account) are an issue; the opt-in ones (ap-east-1, which the reader
    opted in to, and those it lacks) one note: whether the member enabled them is not known."""
    everything = _partition_regions()
    opted, absent = "ap-east-1", ["af-south-1", "me-south-1"]
    assert {opted, *absent, "ap-south-1"} <= set(everything)
    fake_aws.enabled_regions = [r for r in everything if r not in absent]
    fake_aws.opted_in_regions = [opted]
    folder = _other_accounts_trail(moto, org=False)
    code, _out, err = run(
        "events", "--logs", folder, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    (issue,) = issues(err)
    lacking = [
        r
        for r in fake_aws.enabled_regions
        if r not in ("ap-southeast-1", "eu-west-1", "us-east-1", opted)
    ]
    assert issue.startswith(
        f"torinvest: issue: {folder}: no folder for region(s) {', '.join(lacking)}: no log file "
        "of those regions here at all, so its events, if any, were not read; they are enabled "
        f"for every account, {ACCOUNT}'s too (they are not opt-in regions; listed for account "
        f"{READER}, the credentials' (ec2:DescribeRegions)) and were not asked with --regions: "
    )
    assert opted not in issue and not any(r in issue for r in absent)
    assert (
        f"torinvest: note: {folder}: no folder for the aws partition's opt-in region(s) "
        f"{', '.join(sorted([*absent, opted]))}: whether account {ACCOUNT}, whose folder this "
        f"is, enabled them is not known (the enabled regions listed are those of account "
        f"{READER}, the credentials', which opted in to {opted}) — where it did"
    ) in "\n".join(notes(err))


def test_the_credentials_own_folder_names_no_opt_in_region_it_has_not_enabled(
    moto: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same trail read with its own account's credentials: a region that account has not
    enabled cannot have been called — nothing said."""
    fake_aws.enabled_regions = ["ap-southeast-1", "eu-west-1", "us-east-1"]
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    folder = _other_accounts_trail(moto, org=True)
    code, _out, err = run(
        "events", "--logs", folder, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []


def test_credentials_whose_account_cannot_be_identified_say_so(
    moto: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STS GetCallerIdentity refused: whether the folder is the credentials' account is not
    known, so it is judged as another account's, saying why (never as the reader's own)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_aws.url)
    fake_aws.fail("sts", "*", "AccessDenied", operation="GetCallerIdentity")
    fake_aws.enabled_regions = ["ap-southeast-1", "eu-west-1", "us-east-1"]
    folder = _other_accounts_trail(moto, org=False)
    code, _out, err = run(
        "events", "--logs", folder, "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []
    (note,) = [n for n in notes(err) if "opt-in region(s)" in n]
    assert f"whether account {ACCOUNT}, whose folder this is, enabled them is not known" in note
    assert (
        "(the enabled regions listed are those of the credentials' account (not identified: "
        "sts:GetCallerIdentity failed: "
    ) in note
    assert "AccessDenied" in note


def test_investigate_says_the_findings_region_was_not_read_in_its_summary(tmp_path: Path) -> None:
    """`torinvest investigate` over that case folder: summary.json's data issue and reading,
    and the terminal's line, say us-east-1 was not read (was: `4 events`, `complete`)."""
    from torinvest import report
    from torinvest.post.answer import reading

    case = _case(tmp_path / "case", ("ap-southeast-1", "eu-west-1"))
    out = tmp_path / "out"
    code, said, err = run(
        "investigate", FINDING, "--case", str(case), "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"), "--lookback-days", "0.02",
        "--lookahead-days", "0",
    )  # fmt: skip
    assert code == 0, err
    # and, read for every region (no --regions), the partition's regions
    # without a folder: said once (us-east-1 apart: the finding's) — the IP pivot reads the
    # same folder told the finding's region, so it says the same two issues, not a third
    # listing us-east-1 again among the partition's regions (was: 3 data issues)
    assert "4 events" in said and "INCOMPLETE: 2 DATA ISSUE(S)" in said
    data = report.check_summary(out / "summary.json")
    where = f"{case}/cloudtrail/AWSLogs/{FINDING_ACCOUNT}/CloudTrail/"
    assert data["data_issues"] == [
        {"source": where, "problem": KNOWN},
        {"source": where, "problem": offline_unfolded(SAMPLE_REGIONS)},
    ]
    said_once = [i["problem"] for i in data["ip_pivot_search"]["issues"]]
    assert said_once == [KNOWN, offline_unfolded(SAMPLE_REGIONS)]
    assert reading(data).startswith("INCOMPLETE")
