"""LookupEvents source against the local endpoint: paging, pacing, throttling, failures, cache."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest.aws import Aws, AwsConfig
from torinvest.case import sample_case
from torinvest.errors import AccessDeniedError
from torinvest.schema import EVENTS_COLUMNS
from torinvest.sources import lookup as lk

STORY = json.loads((sample_case().root / "STORY.json").read_text())
SUSPECT = "AKIATFQR7NSCUXC3DDDP"
BUSY = "AKIATFQR7NSC8Q4X20BJ"
START = pd.Timestamp("2023-07-10T00:00:00Z")
END = pd.Timestamp("2023-07-11T00:00:00Z")
NOW = pd.Timestamp("2023-07-12T00:00:00Z")
FAST = 200.0  # requests/s: tests that are not about pacing need not wait


def case_records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in sorted((sample_case().cloudtrail).rglob("*.json.gz")):
        out.extend(json.loads(gzip.decompress(f.read_bytes()))["Records"])
    return out


RECORDS = case_records()


def by_region() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in RECORDS:
        out.setdefault(r["awsRegion"], []).append(r)
    return out


@pytest.fixture
def trail(fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """The sample case's records behind LookupEvents, in their regions."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for region, recs in by_region().items():
        fake_aws.cloudtrail(region).add_records(recs)
    fake_aws.set_lookup_rate(None)
    lk._PACERS.clear()
    return fake_aws


REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]


def expected_ids(key: str) -> set[str]:
    return {r["eventID"] for r in RECORDS if r.get("userIdentity", {}).get("accessKeyId") == key}


def test_pages_through_every_region(trail: FakeAws, tmp_path: Path) -> None:
    result = lk.lookup_events(
        Aws(),
        BUSY,
        start=START,
        end=END,
        regions=REGIONS,
        cache_dir=tmp_path,
        follow_derived=False,
        rate=FAST,
        now=NOW,
    )
    assert result.issues == []
    assert set(result.frame["event_id"]) == expected_ids(BUSY)
    assert len(result.frame) == len(expected_ids(BUSY)) > 1000
    assert result.pages == len(trail.calls("LookupEvents")) > 20
    assert list(result.frame.columns) == [c.name for c in EVENTS_COLUMNS]
    assert (result.frame["source"] == "lookup").all()
    assert set(result.frame["origin"]) == {"lookup:us-east-1"}
    assert result.frame["event_time"].is_monotonic_increasing


def test_us_east_1_is_always_searched(trail: FakeAws, tmp_path: Path) -> None:
    result = lk.lookup_events(
        Aws(),
        SUSPECT,
        start=START,
        end=END,
        regions=["eu-west-1"],
        cache_dir=False,
        follow_derived=False,
        rate=FAST,
        now=NOW,
    )
    assert {c.region for c in trail.calls("LookupEvents")} == {"us-east-1", "eu-west-1"}
    assert "iam.amazonaws.com" in set(result.frame["event_source"])


def test_derived_keys_are_followed_and_flagged(trail: FakeAws) -> None:
    result = lk.lookup_events(
        Aws(),
        SUSPECT,
        start=START,
        end=END,
        regions=REGIONS,
        cache_dir=False,
        rate=FAST,
        now=NOW,
    )
    derived = STORY["derived_key"]["access_key_id"] if "derived_key" in STORY else None
    assert [d.access_key_id for d in result.derived] == [derived or "ASIATFQR7NSCNGEI5QNT"]
    frame = result.frame
    asia = frame[frame["access_key_id"] == "ASIATFQR7NSCNGEI5QNT"]
    assert len(asia) == 5 and asia["derived"].all()
    assert not frame.loc[frame["access_key_id"] == SUSPECT, "derived"].any()
    assert set(frame["event_id"]) == expected_ids(SUSPECT) | expected_ids("ASIATFQR7NSCNGEI5QNT")


def test_throttling_storm_resumes_from_the_same_token(
    trail: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lk, "BACKOFF_BASE", 0.01)
    trail.throttle_share = 0.4
    result = lk.lookup_events(
        Aws(),
        BUSY,
        start=START,
        end=END,
        regions=["us-east-1"],
        cache_dir=False,
        follow_derived=False,
        rate=FAST,
        now=NOW,
    )
    assert result.issues == []
    assert set(result.frame["event_id"]) == expected_ids(BUSY)
    calls = trail.calls("LookupEvents")
    throttled = [i for i, c in enumerate(calls) if c.status == 400]
    assert len(throttled) > 5
    for i in throttled:  # the retry asks for the very page that was refused
        assert calls[i + 1].params.get("NextToken") == calls[i].params.get("NextToken")


def test_paced_to_the_documented_limit_in_several_regions(trail: FakeAws) -> None:
    """4 regions × 3 pages at the endpoint's real 2 requests/s: no request is throttled."""
    trail.set_lookup_rate(2.0)
    regions = ["us-west-1", "us-west-2", "eu-north-1", "sa-east-1"]
    base = [r for r in RECORDS if r.get("userIdentity", {}).get("accessKeyId") == BUSY][:120]
    key = "AKIAEXAMPLEPACING001"  # only in these regions, so us-east-1 adds one empty page
    for region in regions:
        trail.cloudtrail(region).add_records(
            {
                **r,
                "awsRegion": region,
                "eventID": f"{region}-{i}",
                "userIdentity": {**r["userIdentity"], "accessKeyId": key},
            }
            for i, r in enumerate(base)
        )
    result = lk.lookup_events(
        Aws(AwsConfig(max_workers=5)),
        key,
        start=START,
        end=END,
        regions=regions,
        cache_dir=False,
        follow_derived=False,
        now=NOW,
    )
    assert result.issues == []
    assert [c for c in trail.calls("LookupEvents") if c.status != 200] == []
    counts = Counter(result.frame["aws_region"])
    assert all(counts[r] == 120 for r in regions)


def test_a_denied_region_is_reported_and_the_others_kept(trail: FakeAws) -> None:
    trail.fail("cloudtrail", "eu-west-1", "AccessDeniedException")
    result = lk.lookup_events(
        Aws(),
        SUSPECT,
        start=START,
        end=END,
        regions=REGIONS,
        cache_dir=False,
        follow_derived=False,
        rate=FAST,
        now=NOW,
    )
    (issue,) = result.issues
    assert issue.source == "lookup:eu-west-1"
    assert "cloudtrail:LookupEvents" in issue.problem
    regions = Counter(result.frame["aws_region"])
    assert regions["us-east-1"] > 0 and regions["ap-southeast-1"] > 0
    assert regions["eu-west-1"] == 0


def test_cache_serves_a_rerun_and_a_wider_window_pulls_only_the_gap(
    trail: FakeAws, tmp_path: Path
) -> None:
    kw: dict[str, Any] = dict(
        regions=["us-east-1"], cache_dir=tmp_path, follow_derived=False, rate=FAST, now=NOW
    )
    mid = pd.Timestamp("2023-07-10T12:15:00Z")
    first = lk.lookup_events(Aws(), SUSPECT, start=START, end=mid, **kw)
    n_first = len(trail.calls("LookupEvents"))
    again = lk.lookup_events(Aws(), SUSPECT, start=START, end=mid, **kw)
    assert len(trail.calls("LookupEvents")) == n_first  # nothing pulled again
    pd.testing.assert_frame_equal(
        first.frame.drop(columns="origin"), again.frame.drop(columns="origin")
    )
    assert again.cached == len(again.frame)
    wider = lk.lookup_events(Aws(), SUSPECT, start=START, end=END, **kw)
    new_calls = trail.calls("LookupEvents")[n_first:]
    assert new_calls
    assert all(pd.Timestamp(c.params["StartTime"]) >= mid for c in new_calls)
    assert set(wider.frame["event_id"]) == {i for i in expected_ids(SUSPECT)} & {
        r["eventID"] for r in RECORDS if r["awsRegion"] == "us-east-1"
    }


def test_recent_window_is_not_marked_covered(trail: FakeAws, tmp_path: Path) -> None:
    end = pd.Timestamp("2023-07-10T12:30:00Z")
    kw: dict[str, Any] = dict(
        regions=["us-east-1"], cache_dir=tmp_path, follow_derived=False, rate=FAST, now=end
    )
    lk.lookup_events(Aws(), SUSPECT, start=START, end=end, **kw)
    n = len(trail.calls("LookupEvents"))
    lk.lookup_events(Aws(), SUSPECT, start=START, end=end, **kw)
    later = trail.calls("LookupEvents")[n:]
    assert later  # the last 20 minutes are asked again: events may still arrive
    assert all(pd.Timestamp(c.params["StartTime"]) >= end - lk.DELIVERY_MARGIN for c in later)


def test_window_older_than_90_days_is_refused_or_cut() -> None:
    now = pd.Timestamp("2024-01-01T00:00:00Z")
    with pytest.raises(Exception, match="more than 90 days ago"):
        lk.clamp_window(START, END, now)
    start, _end, note = lk.clamp_window(pd.Timestamp("2023-09-01T00:00:00Z"), now, now)
    assert start == now - lk.RETENTION
    assert "90 days" in note


class _StubClient:
    """A client whose second page fails: the region keeps page one and says it is incomplete."""

    class meta:
        region_name = "us-east-1"

    def __init__(self, error: Exception) -> None:
        self.calls = 0
        self.error = error

    def lookup_events(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            return {"Events": [{"EventId": "1", "CloudTrailEvent": "{}"}], "NextToken": "t"}
        raise self.error


def test_fetch_pages_refusal_keeps_what_it_had() -> None:
    from botocore.exceptions import ClientError

    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "LookupEvents"
    )
    client = _StubClient(denied)
    pages: list[list[dict[str, Any]]] = []
    q = lk.Query("AccessKeyId", SUSPECT, START, END)
    with pytest.raises(AccessDeniedError):
        for page in lk.fetch_pages(client, q, lk.Pacer(1000.0)):
            pages.append(page)
    assert len(pages) == 1
    err = lk.IncompleteRegion(AccessDeniedError("denied", region="us-east-1"), pages)
    assert "stopped after 1 page(s)" in str(err)


def test_pacer_spaces_calls_and_waits_for_answers() -> None:
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s

    pacer = lk.Pacer(2.0, clock=lambda: t[0], sleep=sleep)
    starts = []
    for _ in range(4):
        pacer.wait()
        starts.append(t[0])
        t[0] += 0.3  # each answer takes 0.3 s
        pacer.done()
    # 2 calls in any server-side second: the third waits for 1 s after the first answer
    assert starts[1] - starts[0] >= 0.5
    assert starts[2] >= starts[0] + 0.3 + 1.0
    assert starts[3] >= starts[1] + 0.3 + 1.0
