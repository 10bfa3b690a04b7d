"""LookupEvents source against the local endpoint: paging, pacing, throttling, failures, cache."""

from __future__ import annotations

import copy
import gc
import gzip
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest.aws import Aws, AwsConfig
from torinvest.case import sample_case
from torinvest.errors import AccessDeniedError
from torinvest.events import NOTES_SOURCE
from torinvest.export import reading_path
from torinvest.schema import EVENTS_COLUMNS, iso_utc
from torinvest.sources import lookup as lk
from torinvest.sources.lookup import fetch as lk_fetch
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.lookup import pull as lk_pull
from torinvest.sources.lookup.pull import RECENT_LOOKUP_NOTE

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
    lk_pacer._PACERS.clear()
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


def test_an_expired_next_token_starts_the_pull_over_once_and_keeps_each_event_once(
    trail: FakeAws,
) -> None:
    """LookupEvents answers InvalidNextTokenException (a token that expired in a long pause):
    the region's pull starts over from its first page, the events already pulled are not kept
    twice, and the region is read whole. Before, the region stopped there, partly read."""
    trail.expire_tokens("cloudtrail", "us-east-1", operation="LookupEvents", times=1)
    result = lk.lookup_events(
        Aws(), BUSY, start=START, end=END, regions=["us-east-1"], cache_dir=False,
        follow_derived=False, rate=FAST, now=NOW,
    )  # fmt: skip
    assert result.issues == []
    assert len(result.frame) == len(set(result.frame["event_id"])) == len(expected_ids(BUSY))
    statuses = [c.status for c in trail.calls("LookupEvents")]
    assert statuses[:3] == [200, 400, 200] and statuses.count(400) == 1


def test_a_next_token_expiring_again_names_what_could_not_be_read(trail: FakeAws) -> None:
    trail.expire_tokens("cloudtrail", "us-east-1", operation="LookupEvents", times=None)
    result = lk.lookup_events(
        Aws(), BUSY, start=START, end=END, regions=["us-east-1"], cache_dir=False,
        follow_derived=False, rate=FAST, now=NOW,
    )  # fmt: skip
    (issue,) = result.issues
    assert issue.source == "lookup:us-east-1"
    assert "the next token was refused as expired or not valid" in issue.problem
    assert "again after the listing started over from its first page" in issue.problem
    assert f"not read: {iso_utc(START)} to " in issue.problem
    assert 0 < len(result.frame) == len(set(result.frame["event_id"])) < len(expected_ids(BUSY))


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


@pytest.mark.parametrize(
    ("home", "asked", "global_region"),
    [
        ("us-gov-east-1", "us-gov-east-1", "us-gov-west-1"),
        ("cn-northwest-1", "cn-northwest-1", "cn-north-1"),
    ],
)
def test_the_partitions_global_events_region_is_always_searched(
    fake_aws: FakeAws,
    moto: str,
    monkeypatch: pytest.MonkeyPatch,
    home: str,
    asked: str,
    global_region: str,
) -> None:
    """GovCloud records IAM and STS events in us-gov-west-1, China in cn-north-1: a search
    narrowed to the finding's region asks that region too (as us-east-1 in the commercial
    partition), or the key's CreateUser, CreateAccessKey and GetSessionToken read as never
    made and its minted keys are not followed."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_REGION", home)
    monkeypatch.setenv("AWS_DEFAULT_REGION", home)
    lk_pacer._PACERS.clear()
    mine = [r for r in RECORDS if r.get("userIdentity", {}).get("accessKeyId") == SUSPECT]
    for r in mine:
        region = global_region if r["awsRegion"] == "us-east-1" else asked
        fake_aws.cloudtrail(region).add_records([{**r, "awsRegion": region}])
    result = lk.lookup_events(
        Aws(), SUSPECT, start=START, end=END, regions=[asked], cache_dir=False,
        follow_derived=False, rate=FAST, now=NOW,
    )  # fmt: skip
    asked_in = {c.region for c in fake_aws.calls("LookupEvents")}
    assert asked_in == {asked, global_region}
    assert "us-east-1" not in asked_in  # another partition's region: never asked
    assert {"CreateUser", "CreateAccessKey", "GetSessionToken"} <= set(result.frame["event_name"])
    assert len(result.frame) == len(mine)


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
    backdoor = STORY["created_keys"][0]  # CreateAccessKey returned its secret to the actor
    assert [d.access_key_id for d in result.derived] == [
        backdoor,
        derived or "ASIATFQR7NSCNGEI5QNT",
    ]
    frame = result.frame
    asia = frame[frame["access_key_id"] == "ASIATFQR7NSCNGEI5QNT"]
    assert len(asia) == 5 and asia["derived"].all()
    assert frame.loc[frame["access_key_id"] == backdoor, "derived"].tolist() == [True, True]
    assert not frame.loc[frame["access_key_id"] == SUSPECT, "derived"].any()
    assert set(frame["event_id"]) == (
        expected_ids(SUSPECT) | expected_ids("ASIATFQR7NSCNGEI5QNT") | expected_ids(backdoor)
    )


def test_throttling_storm_resumes_from_the_same_token(
    trail: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_MAX_ATTEMPTS")  # no retries configured: the pull's own (8)
    monkeypatch.setattr(lk_fetch, "BACKOFF_BASE", 0.01)
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


@pytest.mark.parametrize(
    ("setting", "attempts"),
    [
        ({}, lk_fetch.MAX_RETRIES + 1),
        ({"AWS_MAX_ATTEMPTS": "3"}, 3),
        ({"AWS_MAX_ATTEMPTS": "12"}, 12),
        ({"AWS_RETRY_MODE": "standard"}, 3),
        ({"AWS_RETRY_MODE": "legacy"}, 5),
        ({"profile": "[default]\nmax_attempts = 4\n"}, 4),
        ({"profile": "[profile ir]\nretry_mode = adaptive\n", "AWS_PROFILE": "ir"}, 3),
    ],
    ids=[
        "unconfigured",
        "env-3",
        "env-12",
        "mode-standard",
        "mode-legacy",
        "profile",
        "profile-mode",
    ],
)
def test_lookup_retries_are_the_configured_attempts(
    trail: FakeAws,
    setting: dict[str, str],
    attempts: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A region throttled on every call: LookupEvents is tried as many times as the
    configuration chain says (AWS_MAX_ATTEMPTS, a retry mode's default, a profile's
    max_attempts/retry_mode), as every other client is — it stopped after 9 attempts
    whatever was set — and its own 9 when nothing is set; each retry paced."""
    monkeypatch.delenv("AWS_MAX_ATTEMPTS")
    monkeypatch.setattr(lk_fetch, "BACKOFF_BASE", 0.0001)
    for name, value in setting.items():
        if name == "profile":
            config = tmp_path / "config"
            config.write_text(value)
            monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        else:
            monkeypatch.setenv(name, value)
    trail.throttle_share = 1.0
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
    assert len(trail.calls("LookupEvents")) == attempts
    assert len(result.frame) == 0
    [issue] = result.issues
    assert issue.source == "lookup:us-east-1" and "throttled" in issue.problem


@pytest.mark.parametrize(("configured", "attempts"), [(None, 2), (4, 4), (1, 1)])
def test_lookup_connection_failures_take_the_configured_attempts(
    configured: int | None, attempts: int
) -> None:
    """A LookupEvents call that could not connect: retried once when no retries are configured
    (a refused connection is nearly always a wrong endpoint), the configured attempts when they
    are (it was twice whatever was set)."""
    from botocore.exceptions import EndpointConnectionError

    refused = EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")
    client = _StubClient(refused)
    q = lk.Query("AccessKeyId", SUSPECT, START, END)
    with pytest.raises(lk_fetch.AwsError):
        list(lk.fetch_pages(client, q, lk.Pacer(1000.0), attempts=configured, backoff_base=0))
    assert client.calls == 1 + attempts  # page one, then the failing page's attempts


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


def window_counts(calls: list[Any], window: float = 1.0) -> int:
    """The most requests the server saw arrive within one sliding window (by arrival)."""
    arrivals = sorted(c.at for c in calls)
    return max(
        (sum(1 for b in arrivals[i:] if b - a < window) for i, a in enumerate(arrivals)), default=0
    )


@pytest.mark.parametrize("latency", [0.005, 0.3])
def test_paced_to_the_limit_whatever_the_latency(trail: FakeAws, latency: float) -> None:
    """At the endpoint's real 2 requests/s, answering in 5 ms or 300 ms: no request throttled,
    never more than 2 arrivals in a second in any region, and close to the limit."""
    trail.set_lookup_rate(2.0)
    trail.set_lookup_latency(latency)
    base = [r for r in RECORDS if r.get("userIdentity", {}).get("accessKeyId") == BUSY][:300]
    key = "AKIAEXAMPLEPACING002"
    for region in ["us-west-2", "eu-north-1"]:
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
        Aws(AwsConfig(max_workers=3)),
        key,
        start=START,
        end=END,
        regions=["us-west-2", "eu-north-1"],
        cache_dir=False,
        follow_derived=False,
        now=NOW,
    )
    assert result.issues == [] and len(result.frame) == 600
    calls = trail.calls("LookupEvents")
    assert [c for c in calls if c.status != 200] == []
    for region in ["us-west-2", "eu-north-1"]:
        mine = [c for c in calls if c.region == region]
        assert len(mine) == 6 and window_counts(mine) == 2
        # the 6 pages arrive within what the limit needs (2.5 s) plus one round trip at
        # the start (until the pacer has measured it): how close to the limit is the
        # benchmark's to say (bench_lookup), not a test's on a shared machine; this bound only
        # catches a pacer that waits a round trip or a second interval too many (>= 3 s)
        span = max(c.at for c in mine) - min(c.at for c in mine)
        assert span < 2.5 + latency + 0.45


def test_page_handling_does_not_move_the_next_request(trail: FakeAws) -> None:
    """A consumer that takes 0.3 s over each page (parsing, caching) while the endpoint answers
    in 5 ms: the requests still arrive at the limit (a page's handling runs while the next call
    waits its turn), and none is throttled."""
    trail.set_lookup_rate(2.0)
    trail.set_lookup_latency(0.005)
    key = "AKIAEXAMPLEPACING003"
    base = [r for r in RECORDS if r.get("userIdentity", {}).get("accessKeyId") == BUSY][:300]
    trail.cloudtrail("us-west-2").add_records(
        {**r, "eventID": f"h-{i}", "userIdentity": {**r["userIdentity"], "accessKeyId": key}}
        for i, r in enumerate(base)
    )
    aws = Aws(AwsConfig())
    pacer = lk.Pacer(2.0)
    got = 0
    for page in lk.fetch_pages(
        lk.lookup_client(aws, "us-west-2"), lk.Query("AccessKeyId", key, START, END), pacer
    ):
        got += len(page)
        time.sleep(0.3)  # handling the page
    assert got == 300
    calls = trail.calls("LookupEvents")
    assert [c.status for c in calls] == [200] * 6
    assert window_counts(calls) == 2
    # 6 pages at the limit: 2.5 s between the first arrival and the last; a pacer that
    # counted its interval from the end of a page's handling (0.3 s each) would take 4 s:
    # the bound tells the two apart with room for a loaded machine (the margins themselves
    # are the benchmark's to measure)
    span = calls[-1].at - calls[0].at
    assert span < 3.25


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
    # provenance: the denied region was asked, not read
    assert result.sources == ["lookup:us-east-1", "lookup:ap-southeast-1"]
    assert result.asked == [f"lookup:{r}" for r in REGIONS]


@pytest.mark.parametrize("period", [1, 3, None])
def test_a_next_token_that_never_ends_stops_the_region_as_incomplete(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, period: int | None
) -> None:
    """The same token again (period 1), a cycle of tokens (3), fresh tokens forever (None, up to
    the page cap): the region stops, keeps what it had, says it could not look completely; the
    other regions are whole, and nothing of that region is cached as covered."""
    monkeypatch.setattr(lk_fetch, "MAX_PAGES", 5)
    trail.loop_tokens("cloudtrail", "us-east-1", period=period)
    kw: dict[str, Any] = dict(
        regions=REGIONS, cache_dir=tmp_path, follow_derived=False, rate=FAST, now=NOW
    )
    result = lk.lookup_events(Aws(), BUSY, start=START, end=END, **kw)
    east = trail.calls("LookupEvents", region="us-east-1")
    assert len(east) == (5 if period is None else period + 1)
    (issue,) = result.issues
    assert issue.source == "lookup:us-east-1"
    expected = "same NextToken twice" if period else "still returned a NextToken after 5 pages"
    assert expected in issue.problem
    assert f"stopped after {len(east)} page(s), results for this region are incomplete" in (
        issue.problem
    )
    assert 0 < len(result.frame) == result.frame["event_id"].nunique()  # page 1 kept, once
    assert not list(tmp_path.glob("lookup/*/us-east-1/*/*.parquet"))  # not cached as covered
    assert result.sources == [
        "lookup:us-east-1 (partly)",
        "lookup:eu-west-1",
        "lookup:ap-southeast-1",
    ]
    trail.clear_failures()
    trail.clear_requests()
    monkeypatch.setattr(lk_fetch, "MAX_PAGES", 200)
    again = lk.lookup_events(Aws(), BUSY, start=START, end=END, **kw)
    assert again.issues == [] and trail.calls("LookupEvents", region="us-east-1")
    assert set(again.frame["event_id"]) == expected_ids(BUSY)


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


@pytest.mark.parametrize("damage", ["delete", "garbage", "empty", "manifest"])
def test_a_damaged_cache_entry_is_a_miss_pulled_again_and_replaced(
    trail: FakeAws, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    kw: dict[str, Any] = dict(
        regions=["us-east-1"], cache_dir=tmp_path, follow_derived=False, rate=FAST, now=NOW
    )
    first = lk.lookup_events(Aws(), SUSPECT, start=START, end=END, **kw)
    n_first = len(trail.calls("LookupEvents"))
    (entry,) = tmp_path.glob("lookup/*/us-east-1/*/*.parquet")
    if damage == "delete":
        entry.unlink()
    elif damage == "manifest":
        (entry.parent / "manifest.json").write_text("{not json")
    else:
        entry.write_bytes(b"" if damage == "empty" else b"not parquet at all" * 10)
    with caplog.at_level("WARNING"):
        again = lk.lookup_events(Aws(), SUSPECT, start=START, end=END, **kw)
    assert again.issues == []
    assert len(trail.calls("LookupEvents")) > n_first  # the interval pulled again
    assert set(again.frame["event_id"]) == set(first.frame["event_id"])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    named = entry.parent / "manifest.json" if damage == "manifest" else entry
    assert len(warnings) == 1 and str(named) in warnings[0], warnings
    n_again = len(trail.calls("LookupEvents"))
    third = lk.lookup_events(Aws(), SUSPECT, start=START, end=END, **kw)
    assert len(trail.calls("LookupEvents")) == n_again  # the entry was replaced
    assert third.cached == len(third.frame) == len(first.frame)


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


def test_ctrl_c_during_a_throttle_backoff_ends_the_wait_at_once() -> None:
    """A region backing off after throttles (up to BACKOFF_CAP, 20 s) when Ctrl-C sets the stop
    event: the wait ends then and the pull stops before its next call. Before, the backoff was
    slept out in the worker thread and the interrupted run waited for it. The pacer's own sleep
    is one that fails: only the stop event may be waited on."""
    from botocore.exceptions import ClientError

    stop = threading.Event()
    throttled = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "LookupEvents"
    )

    class Throttled(_StubClient):
        def lookup_events(self, **params: Any) -> dict[str, Any]:
            self.calls += 1
            stop.set()  # Ctrl-C while this call is out: the backoff that follows is cut
            raise self.error

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds:.1f} s without looking at the stop event")

    client = Throttled(throttled)
    q = lk.Query("AccessKeyId", SUSPECT, START, END)
    pacer = lk.Pacer(2.0, sleep=no_sleep)
    with pytest.raises(lk_fetch.Interrupted):
        list(lk.fetch_pages(client, q, pacer, backoff_base=lk_fetch.BACKOFF_CAP, stop=stop))
    assert client.calls == 1


def _full_collections(work: Callable[[], None]) -> int:
    """How many collections of the oldest generation ran during ``work``."""
    seen: list[int] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(watch)
    try:
        work()
    finally:
        gc.callbacks.remove(watch)
    return len(seen)


def _long_lived_garbage() -> None:
    """Enough surviving cycles to trigger full collections under the default thresholds: a full
    collection waits until the objects that survived young collections since the last one are
    a quarter of the long-lived ones, so a process that already holds many (the tests before
    this one in its worker) needs more: half as many as it tracks."""
    keep = []
    for _ in range(max(400_000, len(gc.get_objects()) // 2)):
        a: list[Any] = []
        a.append(a)
        keep.append(a)
    del keep


def test_no_full_collection_stalls_a_pull(trail: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full garbage collection stops every thread for 50-120 ms in a process holding pandas
    and botocore: every region's answer in flight is stamped late and the pacer widens its
    margins. While regions are pulled, the oldest generation is not collected; after, it is."""
    # the workload does trigger them (and no pull of another test is still deferring them)
    state = f"thresholds {gc.get_threshold()}, deferring pulls {lk_pacer._deferred}"
    assert _full_collections(_long_lived_garbage) > 0, state
    with lk_pacer.full_collections_deferred():
        with lk_pacer.full_collections_deferred():  # nested (derived keys, threads)
            pass
        assert _full_collections(_long_lived_garbage) == 0
    assert gc.get_threshold()[2] < lk_pacer._NEVER
    assert _full_collections(_long_lived_garbage) > 0

    thresholds: list[int] = []
    real = lk_pull.fetch_pages

    def fetch_pages(*args: Any, **kwargs: Any) -> Any:
        thresholds.append(gc.get_threshold()[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(lk_pull, "fetch_pages", fetch_pages)
    before = gc.get_threshold()
    result = lk.lookup_events(
        Aws(), SUSPECT, start=START, end=END, regions=REGIONS, cache_dir=False, rate=FAST, now=NOW
    )
    assert result.issues == [] and len(result.frame) > 0
    assert thresholds and set(thresholds) == {lk_pacer._NEVER}
    assert gc.get_threshold() == before


# --------------------------------------------------------------------------- the pacer, simulated
# The pacer against a simulated network and server (a clock that only its sleeps and the
# simulated delays move): each request spends ``up`` seconds before the server counts it, the
# server answers ``server`` seconds later, the answer spends ``down`` seconds on its way back.
# The server admits a request as tests/fake_aws does (sliding window by arrival); the tests
# count the requests it would have refused.


def refused(arrivals: list[float], rate: float = 2.0, window: float = 1.0) -> int:
    """How many of these arrivals the fake endpoint's sliding window refuses."""
    admitted: list[float] = []
    refused = 0
    for at in sorted(arrivals):
        admitted = [a for a in admitted if at - a < window]
        if len(admitted) >= rate:
            refused += 1
        else:
            admitted.append(at)
    return refused


Delays = Callable[[int, random.Random], tuple[float, float, float]]


def simulate(delays: Delays, calls: int = 60, seed: int = 0) -> tuple[list[float], lk.Pacer]:
    """One region's pages through a pacer: the arrival time of each request at the server."""
    rng = random.Random(seed)
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s + rng.uniform(0, 0.002)  # a sleep overshoots a little

    pacer = lk.Pacer(2.0, clock=lambda: t[0], sleep=sleep)
    arrivals = []
    for i in range(calls):
        slot = pacer.wait()
        t[0] += rng.uniform(0, 0.003)  # botocore serializes and signs
        pacer.sent(slot)
        up, server, down = delays(i, rng)
        arrivals.append(t[0] + up)
        t[0] += up + server + down
        pacer.answered(slot)
        t[0] += rng.uniform(0, 0.002)  # botocore parses the answer
        pacer.done(slot)
        t[0] += rng.uniform(0, 0.005)  # the page is handled
    return arrivals, pacer


LATENCIES = [0.0, 0.005, 0.1, 0.3, 0.7, 1.5, 3.0]


@pytest.mark.parametrize("latency", LATENCIES)
@pytest.mark.parametrize("where", ["server", "network", "split"])
def test_the_pacer_never_exceeds_the_limit_at_any_latency(latency: float, where: str) -> None:
    """Whatever the latency and wherever it is spent (server, network, both), no second at the
    server holds more than 2 requests — and the pacer does not give away more than needed."""
    share = {"server": (0.0, 1.0, 0.0), "network": (0.5, 0.0, 0.5), "split": (0.3, 0.4, 0.3)}

    def delays(i: int, rng: random.Random) -> tuple[float, float, float]:
        first = 0.05 if i == 0 else 0.0  # the first request opens the connection
        up, server, down = (latency * f for f in share[where])
        return up + first + rng.uniform(0, 0.001), server + rng.uniform(0, 0.001), down

    arrivals, _ = simulate(delays)
    assert refused(arrivals) == 0
    # 59 gaps of half a second at the limit — or of a round trip, when pages (each needing
    # the token of the one before) come back slower than that: margins cost under 5 %
    gap = max(0.5, latency + 0.01)
    assert arrivals[-1] - arrivals[0] < 59 * gap * 1.05


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("jitter", [0.005, 0.05, 0.3])
def test_the_pacer_never_exceeds_the_limit_with_jitter(seed: int, jitter: float) -> None:
    """Round trips that vary call to call (each way and at the server), with spikes."""

    def delays(i: int, rng: random.Random) -> tuple[float, float, float]:
        spike = 0.4 if rng.random() < 0.05 else 0.0
        return (
            0.02 + rng.uniform(0, jitter) + spike * rng.random(),
            0.1 + rng.uniform(0, jitter),
            0.02 + rng.uniform(0, jitter) + spike * rng.random(),
        )

    arrivals, _ = simulate(delays, calls=80, seed=seed)
    assert refused(arrivals) == 0


def test_the_pacer_measures_its_margins_and_turns_safe_after_a_throttle() -> None:
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s

    pacer = lk.Pacer(2.0, clock=lambda: t[0], sleep=sleep)
    starts = []
    for i in range(8):
        slot = pacer.wait()
        starts.append(slot.start)
        t[0] += 0.3  # the server answers in 0.3 s, the network is instant
        pacer.done(slot, throttled=i == 5)
    # until 4 round trips are measured: a window after the answer to the call two before
    assert starts[:4] == pytest.approx([0.0, 0.5, 1.3, 1.8])
    # then, the round trips all being 0.3 s (the server's time: the network is instant), a
    # window after the call two before was *sent*: the limit itself
    assert starts[4] - starts[2] == pytest.approx(1.0, abs=1e-5)
    assert starts[5] - starts[3] == pytest.approx(1.0, abs=1e-5)
    assert list(pacer.margins)[2:4] == pytest.approx([0.0, 0.0], abs=1e-5)
    # a throttled answer: from then on a window after the answer to the call two before
    assert pacer.safe
    assert starts[6] == pytest.approx(starts[4] + 0.3 + 1.0)
    assert starts[7] == pytest.approx(starts[5] + 0.3 + 1.0)


def test_the_pacer_waits_for_an_answer_it_needs_and_spaces_the_first_calls() -> None:
    """Before two round trips are known, the safe bound: a window after the answer."""
    t = [0.0]
    pacer = lk.Pacer(2.0, clock=lambda: t[0], sleep=lambda s: t.__setitem__(0, t[0] + s))
    a = pacer.wait()
    b = pacer.wait()  # a's answer has not come back: b only keeps the interval
    assert b.start == pytest.approx(0.5)
    t[0] = 0.9
    pacer.done(a)
    done_b = threading.Timer(0.05, lambda: pacer.done(b))
    done_b.start()
    c = pacer.wait()  # one round trip known: a window after a's answer
    done_b.join()
    assert c.start == pytest.approx(1.9)


def test_a_window_reaching_now_says_the_latest_events_may_not_have_arrived(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`events --lookup` over a window ending tomorrow: no event, and the notes say the end was
    cut to now and that the last minutes' events may not have reached LookupEvents yet (never a
    bare "hold no event"); a window ended an hour ago says neither."""
    import io

    from torinvest.cli import main

    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    now = pd.Timestamp.now(tz="UTC")
    out = tmp_path / "x.jsonl"

    def events(start: pd.Timestamp, end: pd.Timestamp) -> str:
        said, err = io.StringIO(), io.StringIO()
        argv = ["events", "--lookup", "--regions", "us-east-1", "--access-key", SUSPECT]
        argv += ["--start", start.isoformat(), "--end", end.isoformat(), "--out", str(out)]
        assert main(argv, out=said, err=err) == 0, err.getvalue()
        assert said.getvalue().startswith("0 events")
        return err.getvalue()

    err = events(now - pd.Timedelta(days=1), now + pd.Timedelta(days=1))
    # the last minutes not arrived yet are a gap of the reading, as the log files' are (was a
    # note beside a complete "the sources were read and hold no event")
    assert "hold no event" not in err
    assert "after now: LookupEvents was asked up to now" in err
    assert f"torinvest: issue: {NOTES_SOURCE}: {RECENT_LOOKUP_NOTE}" in err.splitlines()
    assert "torinvest: note: partial result: 1 data issue(s)" in err
    assert json.loads(reading_path(out).read_text())["state"] == "incomplete"
    assert max(pd.Timestamp(c.params["EndTime"]) for c in trail.calls("LookupEvents")) <= (
        pd.Timestamp.now(tz="UTC")
    )
    err = events(now - pd.Timedelta(days=1), now - pd.Timedelta(hours=1))
    assert "hold no event" in err and "after now" not in err and "not have arrived" not in err


def recent_records(n: int, now: pd.Timestamp) -> list[dict[str, Any]]:
    """``n`` of the suspect key's us-east-1 records, moved into the last hours (the CLI asks
    LookupEvents relative to the real clock), each with its own eventID."""
    base = next(
        r
        for r in RECORDS
        if r["awsRegion"] == "us-east-1" and r["userIdentity"].get("accessKeyId") == SUSPECT
    )
    out = []
    for i in range(n):
        r = copy.deepcopy(base)
        r["eventID"] = f"00000000-0000-4000-8000-{i:012d}"
        r["eventTime"] = (now - pd.Timedelta(hours=3, minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(r)
    return out


def cli_events(tmp_path: Path, now: pd.Timestamp) -> tuple[int, str, str, pd.DataFrame]:
    """`events --lookup` over the last six hours to one hour ago: status, stdout, stderr, rows."""
    import io

    from torinvest.cli import main

    out = tmp_path / "ev.parquet"
    out.unlink(missing_ok=True)
    said, err = io.StringIO(), io.StringIO()
    argv = ["events", "--lookup", "--regions", "us-east-1", "--access-key", SUSPECT]
    argv += ["--start", (now - pd.Timedelta(hours=6)).isoformat()]
    argv += ["--end", (now - pd.Timedelta(hours=1)).isoformat(), "--out", str(out)]
    code = main(argv, out=said, err=err)
    rows = pd.read_parquet(out) if out.exists() else pd.DataFrame()
    return code, said.getvalue(), err.getvalue(), rows


def test_an_event_without_a_usable_cloudtrail_event_is_kept_and_named(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LookupEvents events whose CloudTrailEvent is not JSON, missing or not an object: the run
    does not die (it did: internal error, and again on every re-run from the cache), nothing is
    dropped (a missing one was, silently), each is kept from LookupEvents' own fields and named
    in an issue; the region is still read whole; a re-run names them again (not cached)."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    now = pd.Timestamp.now(tz="UTC")
    trail.reset()
    trail.set_lookup_rate(None)
    region = trail.cloudtrail("us-east-1")
    region.add_records(recent_records(60, now))
    events = [e for _, _, e in region._events]
    events[0]["CloudTrailEvent"] = "{not json"
    del events[1]["CloudTrailEvent"]
    events[2]["CloudTrailEvent"] = "[1, 2]"
    bad = [e["EventId"] for e in events[:3]]
    for _ in range(2):
        code, said, err, rows = cli_events(tmp_path, now)
        assert code == 0, err
        assert said.startswith("60 events") and "failed" not in said, said
        assert len(rows) == 60 and set(bad) <= set(rows["event_id"])
        kept = rows.set_index("event_id").loc[bad]
        assert (kept["event_name"] == events[0]["EventName"]).all()
        assert (kept["access_key_id"] == SUSPECT).all() and kept["event_time"].notna().all()
        assert "3 event(s) LookupEvents returned without a usable CloudTrailEvent" in err
        assert all(b in err for b in bad) and "not JSON" in err and "missing" in err


@pytest.mark.parametrize("damage", ["not a folder", "another version"])
def test_a_cache_that_cannot_be_used_never_costs_the_pulled_events(
    trail: FakeAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    """A cache that cannot be written (TORINVEST_CACHE a file: every event was lost and the
    region said "failed") or a manifest of another version (naive times: the region failed with
    "Cannot compare tz-naive and tz-aware") is a miss with a warning; the events are all there."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TORINVEST_CACHE", str(cache))
    now = pd.Timestamp.now(tz="UTC")
    trail.reset()
    trail.set_lookup_rate(None)
    trail.cloudtrail("us-east-1").add_records(recent_records(60, now))
    if damage == "not a folder":
        cache.write_text("a file where the cache folder should be")
    else:
        assert cli_events(tmp_path, now)[0] == 0
        (manifest,) = cache.glob("lookup/*/us-east-1/*/manifest.json")
        data = json.loads(manifest.read_text())
        data["intervals"] = [[s[:19], e[:19], f] for s, e, f in data["intervals"]]
        manifest.write_text(json.dumps(data))
    with caplog.at_level("WARNING"):
        code, said, err, rows = cli_events(tmp_path, now)
    assert code == 0, err
    assert said.startswith("60 events") and "failed" not in said, said
    assert len(rows) == 60
    assert "issue" not in err, err
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(cache) in w for w in warned), warned


def test_a_region_stopped_mid_pagination_names_the_window_it_could_not_read(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throttling storm that outlasts the retries after two pages: the two pages are kept,
    the region is partly read, and the issue names the part of the window not read (from the
    window's start to the oldest event pulled: LookupEvents answers newest first) — it said
    only "results for this region are incomplete". A re-run pulls it whole (nothing cached)."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(lk_fetch, "BACKOFF_BASE", 0.001)
    now = pd.Timestamp.now(tz="UTC")
    trail.reset()
    trail.set_lookup_rate(None)
    trail.cloudtrail("us-east-1").add_records(recent_records(160, now))
    serve = trail._cloudtrail_LookupEvents
    seen = {"calls": 0}

    def storm_after_two_pages(region: str, op: Any, params: dict[str, Any]) -> dict[str, Any]:
        seen["calls"] += 1
        if seen["calls"] == 3:
            trail.fail("cloudtrail", "us-east-1", "ThrottlingException")
        return serve(region, op, params)

    monkeypatch.setattr(trail, "_cloudtrail_LookupEvents", storm_after_two_pages)
    code, said, err, rows = cli_events(tmp_path, now)
    pages = int(err.split("stopped after ")[1].split(" page")[0])
    assert 0 < pages < 4 and len(rows) == 50 * pages, (said, err)
    assert said.startswith(f"{50 * pages} events") and "(1 read in part)" in said, said
    start, oldest = iso_utc(now - pd.Timedelta(hours=6)), iso_utc(rows["event_time"].min())
    assert f"not read: {start} to {oldest}" in err, err
    trail.clear_failures()
    code, said, err, rows = cli_events(tmp_path, now)
    assert code == 0 and said.startswith("160 events") and "not read" not in err, err


def test_ctrl_c_stops_every_region_now_and_caches_nothing_unfinished(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during `events --lookup` in two regions (40 pages at 2 a second to go): the run
    ends within a couple of seconds and asks LookupEvents nothing more — it said "interrupted"
    only once every region had been pulled to the end (hours for a busy key in every region) —
    and no unfinished region is cached as covered."""
    import os
    import signal

    cache = tmp_path / "cache"
    monkeypatch.setenv("TORINVEST_CACHE", str(cache))
    now = pd.Timestamp.now(tz="UTC")
    trail.reset()  # LookupEvents' real limit, 2 a second: the CLI paces itself to it
    records = recent_records(2000, now)
    for i, r in enumerate(records):
        r["eventTime"] = (now - pd.Timedelta(hours=2) - pd.Timedelta(seconds=5 * i)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    trail.cloudtrail("us-east-1").add_records(records)
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()  # a real Ctrl-C
    started = time.monotonic()
    argv = ["events", "--lookup", "--regions", "us-east-1,eu-west-1", "--access-key", SUSPECT]
    argv += ["--start", (now - pd.Timedelta(hours=6)).isoformat()]
    argv += ["--end", (now - pd.Timedelta(hours=1)).isoformat()]
    argv += ["--out", str(tmp_path / "ev.parquet")]
    try:
        code = cli_main(argv)
    except KeyboardInterrupt:
        code = 130
    took = time.monotonic() - started
    calls = len(trail.calls("LookupEvents", region="us-east-1"))
    time.sleep(1.5)  # a pull still running would ask again meanwhile
    assert code == 130 and took < 5, (code, took)
    assert len(trail.calls("LookupEvents", region="us-east-1")) == calls < 10
    assert not list(cache.glob("lookup/*/us-east-1/*/manifest.json"))


def cli_main(argv: list[str]) -> int:
    import io

    from torinvest.cli import main

    return main(argv, out=io.StringIO(), err=io.StringIO())


def test_events_outside_the_window_asked_are_left_out_as_on_a_rerun(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint that answers events outside the window asked (a proxy, a skewed clock): the
    first run kept them and the re-run from the cache did not — two answers to one question.
    Both leave them out now, as the log files do."""
    kw: dict[str, Any] = dict(
        regions=["us-east-1"], cache_dir=tmp_path, follow_derived=False, rate=FAST, now=NOW
    )
    serve = trail._cloudtrail_LookupEvents
    record = copy.deepcopy(next(r for r in RECORDS if r["awsRegion"] == "us-east-1"))
    record["eventID"] = "11111111-2222-4333-8444-555555555555"
    record["eventTime"] = "2023-07-01T00:00:00Z"  # nine days before the window
    stray = lk_fake_event(record)

    def with_a_stray(region: str, op: Any, params: dict[str, Any]) -> dict[str, Any]:
        answer = serve(region, op, params)
        return {**answer, "Events": [*answer["Events"], stray]}

    monkeypatch.setattr(trail, "_cloudtrail_LookupEvents", with_a_stray)
    first = lk.lookup_events(Aws(), SUSPECT, start=START, end=END, **kw)
    again = lk.lookup_events(Aws(), SUSPECT, start=START, end=END, **kw)
    assert record["eventID"] not in set(first.frame["event_id"])
    assert set(first.frame["event_id"]) == set(again.frame["event_id"])
    assert first.frame["event_time"].between(START, END).all()


def lk_fake_event(record: dict[str, Any]) -> dict[str, Any]:
    from tests.fake_aws.server import lookup_event

    return lookup_event(record)


def test_an_account_id_that_is_not_one_never_leaves_the_cache_folder(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STS (or what answers for it) giving an account that is a path (`../../escaped`): the
    cache is not used (it wrote beside the cache folder), the events are all returned."""
    monkeypatch.setattr(Aws, "account_id", lambda self: "../../escaped")
    cache = tmp_path / "deep" / "cache"
    result = lk.lookup_events(
        Aws(), SUSPECT, start=START, end=END, regions=["us-east-1"], cache_dir=cache,
        follow_derived=False, rate=FAST, now=NOW,
    )  # fmt: skip
    assert result.issues == []
    assert len(result.frame) == len(
        expected_ids(SUSPECT) & {r["eventID"] for r in RECORDS if r["awsRegion"] == "us-east-1"}
    )
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.rglob("manifest.json"))


def test_a_partial_cloudtrail_event_is_filled_and_another_keys_is_left_out(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CloudTrailEvent that is a JSON object without eventTime/eventID (``{}``) is filled
    from the fields LookupEvents lists beside it (time, ID, name, source, key) and named; one
    recorded with another access key than the one looked up is left out of the key's events
    and named. Neither window is cached: a re-run pulls and names them again."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    now = pd.Timestamp.now(tz="UTC")
    trail.reset()
    trail.set_lookup_rate(None)
    region = trail.cloudtrail("us-east-1")
    region.add_records(recent_records(60, now))
    events = [e for _, _, e in region._events]
    events[0]["CloudTrailEvent"] = "{}"
    partial = json.loads(events[1]["CloudTrailEvent"])
    del partial["eventTime"], partial["eventID"]
    events[1]["CloudTrailEvent"] = json.dumps(partial)
    other = json.loads(events[2]["CloudTrailEvent"])
    other["userIdentity"]["accessKeyId"] = "AKIAOTHERKEY00000000"
    events[2]["CloudTrailEvent"] = json.dumps(other)
    filled, foreign = [e["EventId"] for e in events[:2]], events[2]["EventId"]
    for _ in range(2):
        code, said, err, rows = cli_events(tmp_path, now)
        assert code == 0, err
        assert said.startswith("59 events"), said
        assert len(rows) == 59 and foreign not in set(rows["event_id"])
        kept = rows.set_index("event_id").loc[filled]
        assert kept["event_time"].notna().all() and (kept["access_key_id"] == SUSPECT).all()
        assert list(kept["event_name"]) == [e["EventName"] for e in events[:2]]
        assert kept.loc[filled[1], "source_ip"] == partial["sourceIPAddress"]  # the rest kept
        text = " ".join(err.split())
        assert "2 event(s) LookupEvents returned with a CloudTrailEvent lacking fields" in text
        assert all(f in text for f in filled) and "no eventTime, eventID" in text
        assert f"names another access key ({foreign} " in text
        assert "AKIAOTHERKEY00000000" in text and "left out" in text


@pytest.mark.parametrize("code", ["ExpiredTokenException", "ExpiredToken"])
def test_credentials_that_expire_mid_pull_say_what_was_read(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    """An SSO or assumed-role session that expires while the pages are read (page 3 answered
    ExpiredToken): the result says partial — the pages read, the window not read, what to do
    — never a confident "N events"; not retried (the same credentials stay expired). Run again
    with fresh credentials, it is whole."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    quick = lk_pacer.pacer_for
    monkeypatch.setattr(lk_pull, "pacer_for", lambda a, r, rate: quick(a, r, 1000.0))
    now = pd.Timestamp.now(tz="UTC")
    trail.reset()
    trail.set_lookup_rate(None)
    trail.cloudtrail("us-east-1").add_records(recent_records(180, now))  # 4 pages of 50
    message = "The security token included in the request is expired"
    trail.fail("cloudtrail", "*", code, operation="LookupEvents", message=message, after=2)
    status, said, err, rows = cli_events(tmp_path, now)
    assert status == 0, err  # a result, partial (README "Exit codes")
    assert said.startswith("100 events from LookupEvents in 1 region(s) (1 read in part)"), said
    assert len(rows) == 100
    assert len(trail.calls("LookupEvents")) == 3  # page 3 not asked again
    (issue,) = [line for line in err.splitlines() if line.startswith("torinvest: issue:")]
    assert f"lookup:us-east-1: credentials expired calling LookupEvents ({code})" in issue
    assert "stopped after 2 page(s), results for this region are incomplete" in issue
    assert "not read: " in issue and "run it again for them" in issue
    assert "`aws sso login --profile default`" in issue  # the profile of the call
    assert "torinvest: note: partial result: 1 data issue(s)" in err
    trail.clear_failures()  # the analyst logged in again
    status, said, err, rows = cli_events(tmp_path, now)
    assert status == 0, err
    assert said.startswith("180 events") and "part" not in said, said
    assert len(rows) == 180 and rows["event_id"].is_unique
    assert "issue" not in err, err


def test_sts_names_the_account_while_the_regions_clients_are_made(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time to the first request: GetCallerIdentity is under way while each region's
    LookupEvents client is made (20–50 ms of CPU each), not before them. Here STS is held
    until every client is made: asked first and waited for, it would never see them."""
    regions = ["us-east-1", "eu-west-1", "ap-southeast-1"]
    made: set[str] = set()
    all_made = threading.Event()
    real_client = lk_pull.lookup_client

    def client(aws: Aws, region: str) -> Any:
        c = real_client(aws, region)
        made.add(region)
        if made >= set(regions):
            all_made.set()
        return c

    real_account = Aws._account_id
    seen: list[bool] = []

    def account(self: Aws) -> str:
        seen.append(all_made.wait(10))  # 10 s only when the clients wait for the account
        return real_account(self)

    monkeypatch.setattr(lk_pull, "lookup_client", client)
    monkeypatch.setattr(Aws, "_account_id", account)
    result = lk.lookup_events(
        Aws(),
        SUSPECT,
        start=START,
        end=END,
        regions=regions,
        follow_derived=False,
        cache_dir=False,
        rate=FAST,
        now=NOW,
    )
    assert seen[0] is True  # the clients were made while STS was asked
    assert result.issues == [] and set(result.frame["event_id"]) == expected_ids(SUSPECT)
