"""A reading that holds none of the calls the finding is about is not "no activity".

GuardDuty saw the finding's key called from its Tor IP between ``service.eventFirstSeen`` and
``eventLastSeen``: the account's CloudTrail holds those calls. Log files that do not (the
finding's region not among them — a single-region trail elsewhere, a copy that left a folder
out —, a trail that records no read-only management events, another account's or trail's
files, files altered) read as "0 events, 0 from Tor, no sensitive call" and, over a window they
cover, as complete: a confident wrong answer. The investigation says instead that the reading
misses them (:func:`torinvest.investigation.unread_sightings`), and the report reads incomplete.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.offline_regions import SAMPLE_REGIONS
from tests.sample_window import COVERED
from torinvest import display, investigation
from torinvest.case import sample_case
from torinvest.findings import KeyLocation
from torinvest.findings.locate import SEEN_FALLBACK, SEEN_LAST_FROM_UPDATE
from torinvest.investigation import SIGHTING_SLACK, unread_sightings

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
SAMPLE = sample_case().root
FIRST = pd.Timestamp("2023-07-10T12:17:08Z")
LAST = pd.Timestamp("2023-07-10T12:20:04Z")


def _case(root: Path, *, without: str) -> Path:
    """The sample case with the trail's folder of region ``without`` left out."""
    case = root / "case"
    shutil.copytree(SAMPLE, case)
    regions = next((case / "cloudtrail" / "AWSLogs").iterdir()) / "CloudTrail"
    shutil.rmtree(regions / without)
    return case


def test_the_findings_region_left_out_is_not_no_activity(tmp_path: Path) -> None:
    """The sample finding (us-east-1) over log files without the us-east-1 folder, a window
    whose days they cover: was "0 events … 0 sensitive call(s)" and a complete reading."""
    case = _case(tmp_path, without="us-east-1")
    inv = investigation.investigate(
        FINDING,
        investigation.sources_from_parameters(case_dir=str(case)),
        lookback_days=0,
        lookahead_days=0,
    )
    assert inv.could_not_look is None and inv.totals()["total"] == 0
    (issue,) = [i for i in inv.data_issues if i.source == f"finding {FINDING}"]
    assert issue.problem.startswith(
        f"GuardDuty saw key {KEY} called from 109.70.100.66 from 2023-07-10T12:17:08Z to "
        "2023-07-10T12:20:04Z, 6 time(s), and the sources read hold no call of the key"
    )
    assert "check that the sources cover us-east-1 (--regions; the log files' region" in (
        issue.problem
    )
    assert "none here is not 'no activity'" in issue.problem
    data = investigation.summary(inv)
    assert data["reading"]["state"] == "incomplete"
    assert data["derived_keys_search"]["status"] == "partial"  # minted by calls not read?
    state, line = display.activity_state(inv)
    assert state == "missed" and "though GuardDuty saw it called from 109.70.100.66" in line
    assert display.empty_reason(inv) != "no events"


def test_the_findings_calls_read_raise_no_issue() -> None:
    # read for the case's regions (Sources.regions), so any
    # issue would be the sightings check's
    sources = investigation.sources_from_parameters(case_dir=str(SAMPLE))
    sources = dataclasses.replace(sources, regions=list(SAMPLE_REGIONS))
    inv = investigation.investigate(FINDING, sources, **COVERED)
    assert not [i for i in inv.data_issues if "GuardDuty saw key" in i.problem]
    assert not inv.data_issues


def _key(**kw: object) -> KeyLocation:
    base = KeyLocation(
        finding_id=FINDING,
        finding_type="UnauthorizedAccess:IAMUser/TorIPCaller",
        access_key_id=KEY,
        kind="long-term",
        principal_id=None,
        user_name="benjamin",
        user_type="IAMUser",
        account_id="123837392027",
        region="us-east-1",
        tor_ip="109.70.100.66",
        api="CreateUser",
        service_name="iam.amazonaws.com",
        first_seen=FIRST,
        last_seen=LAST,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _frame(*rows: tuple[str | None, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime([t for t, _ in rows], utc=True),
            "access_key_id": pd.Series([k for _, k in rows], dtype="string"),
        }
    )


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ([], True),  # nothing read at all
        ([("2023-07-10T12:18:00Z", "AKIAOTHERKEY00000000")], True),  # another key only
        ([("2023-07-10T11:00:00Z", KEY), ("2023-07-10T14:00:00Z", KEY)], True),  # not then
        ([("2023-07-10T12:18:00Z", KEY)], False),
        ([(str(FIRST - SIGHTING_SLACK), KEY)], False),  # at the slack's edge
        ([(str(LAST + SIGHTING_SLACK), KEY)], False),
        ([(None, KEY)], False),  # a call of the key without a time may be one of them
    ],
)
def test_a_call_of_the_key_at_its_sightings_is_what_counts(
    rows: list[tuple[str | None, str]], said: bool
) -> None:
    assert (unread_sightings(_frame(*rows), _key(), count=6) is not None) is said


def test_a_counts_frame_bucket_that_spans_the_sightings_holds_them() -> None:
    """The engine's counts (``--max-rows`` passed): a bucket starting before the first
    sighting and ending after it holds the calls."""
    frame = _frame(("2023-07-10T11:00:00Z", KEY))
    assert unread_sightings(frame, _key()) is not None
    frame.attrs["bucket"] = pd.Timedelta(hours=2)
    assert unread_sightings(frame, _key()) is None


def test_times_that_are_not_sightings_of_calls_say_nothing() -> None:
    """createdAt/updatedAt standing for both sightings: when the finding was written, not when
    the key was called — no claim. One real sighting (first) still makes one."""
    empty = _frame()
    assert unread_sightings(empty, _key(seen_from=SEEN_FALLBACK)) is None
    assert unread_sightings(empty, _key(seen_from=SEEN_LAST_FROM_UPDATE)) is not None
    assert unread_sightings(empty, _key(first_seen=None, last_seen=None)) is None


def test_a_govcloud_finding_names_where_its_iam_events_are() -> None:
    issue = unread_sightings(_frame(), _key(region="us-gov-east-1"))
    assert issue is not None
    assert "sources cover us-gov-east-1 and us-gov-west-1 (where IAM and STS events are" in (
        issue.problem
    )
    issue = unread_sightings(_frame(), _key(region="us-east-1", first_seen=LAST))
    assert issue is not None and "at 2023-07-10T12:20:04Z" in issue.problem
    assert "us-east-1 and" not in issue.problem


def test_a_sighting_too_recent_to_be_delivered_says_so() -> None:
    """LookupEvents or the trail a few minutes after the finding: the calls may not be there
    yet — said, with when to run again; the same issue an hour later says nothing of it."""
    soon = unread_sightings(_frame(), _key(), now=LAST + pd.Timedelta(minutes=5))
    assert soon is not None and "run again after 2023-07-10T12:40:04Z" in soon.problem
    later = unread_sightings(_frame(), _key(), now=LAST + pd.Timedelta(hours=1))
    assert later is not None and "run again" not in later.problem
