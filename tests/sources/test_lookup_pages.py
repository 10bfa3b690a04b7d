"""LookupEvents' pages are made into the frame's Arrow pieces as they come in, in the region's
thread while the pacer holds the next request: each ``CloudTrailEvent`` text is read once, and
the frame is the one reading the texts at the end gives (hostile texts too: repaired, filled,
unusable, another key's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest.aws import Aws
from torinvest.sources import lookup as lk
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.lookup import pull as lk_pull
from torinvest.sources.lookup.fetch import Query
from torinvest.sources.lookup.pull import RegionPull, _kept_events, _page_table, _tables
from torinvest.sources.records import frame_from_tables

KEY = "AKIATFQR7NSCUXC3DDDP"
QUERY = Query(
    "AccessKeyId", KEY, pd.Timestamp("2023-07-10T00:00:00Z"), pd.Timestamp("2023-07-11T00:00:00Z")
)


def _record(i: int, extra: str = "", key: str = KEY) -> str:
    return (
        f'{{"eventVersion": "1.08", "eventID": "id-{i}", "eventTime": "2023-07-10T12:00:{i:02d}Z",'
        f' "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com",'
        f' "sourceIPAddress": "185.220.101.{i}", "userAgent": "ua-{i}",'
        f' "userIdentity": {{"accessKeyId": "{key}"}}{extra}}}'
    )


#: One of each: a plain record, a lone surrogate and a NaN (repaired), a record lacking the
#: fields LookupEvents lists beside it (filled), no record (made of those fields), not JSON,
#: a JSON list, another key's record (left out), and a big integer (read exactly).
TEXTS = [
    _record(0),
    _record(1).replace("ua-1", "curl\\ud800"),
    _record(2, ', "requestParameters": {"n": NaN}'),
    "{}",
    None,
    "not json",
    "[1, 2]",
    _record(7, key="AKIAIOSFODNN7EXAMPLE"),
    _record(8, ', "requestParameters": {"id": 123456789012345678901234567890}'),
]


def _page(texts: list[str | None], first: int = 0) -> list[dict[str, Any]]:
    when = pd.Timestamp("2023-07-10T12:00:00Z").to_pydatetime()
    page = []
    for i, text in enumerate(texts, first):
        ev = {"EventId": f"id-{i}", "EventName": "GetCallerIdentity", "EventTime": when}
        ev["AccessKeyId"] = KEY
        if text is not None:
            ev["CloudTrailEvent"] = text
        page.append(ev)
    return page


def test_a_pages_piece_is_what_reading_its_texts_at_the_end_gives() -> None:
    """The piece made of each page as it came in gives the frame the texts kept give when read
    afterwards (as the cached events are, and every event was): rows, values, order, issues."""
    pull = RegionPull("eu-west-1")
    pieces = []
    kept_texts = []
    second = [t.replace('"id-', '"p2-') if t else t for t in reversed(TEXTS)]
    for n, texts in enumerate([TEXTS, second]):
        records: list[dict[str, Any] | None] = []
        kept = _kept_events(_page(texts, 10 * n), QUERY, pull, records)
        assert len(records) == len(kept) == len(texts) - 1  # another key's: left out
        pieces.append(_page_table(kept, records, pull.region))
        kept_texts += [ev["CloudTrailEvent"] for ev in kept]
    read_at_the_end = RegionPull("eu-west-1", events=kept_texts)
    made_as_pulled = RegionPull("eu-west-1", events=kept_texts, tables=pieces)
    issues: list[Any] = []
    expected = frame_from_tables(_tables([read_at_the_end], issues))
    got = frame_from_tables(_tables([made_as_pulled], issues))
    assert issues == []
    assert len(got) == 2 * (len(TEXTS) - 1)
    pd.testing.assert_frame_equal(got, expected)
    big = got.loc[got["event_id"] == "id-8", "request_parameters"].iloc[0]
    assert json.loads(big) == {"id": 123456789012345678901234567890}


def test_cached_events_are_read_and_come_before_the_pages_pulled() -> None:
    """A region's cached events (texts, read at the end) and its pages pulled (pieces) keep
    the order of its events: the cached first, as the first copy of a record wins."""
    records: list[dict[str, Any] | None] = []
    pull = RegionPull("eu-west-1")
    kept = _kept_events(_page([_record(0), _record(1)]), QUERY, pull, records)
    pulled = [ev["CloudTrailEvent"] for ev in kept]
    cached = [_record(5), _record(1, ', "errorCode": "AccessDenied"'), "[]"]
    mixed = RegionPull(
        "eu-west-1", events=[*cached, *pulled], tables=[_page_table(kept, records, "eu-west-1")]
    )
    issues: list[Any] = []
    tables = _tables([mixed], issues)
    assert [t.num_rows for t in tables] == [2, 2]  # the cached (one not a record), the page
    assert len(issues) == 1 and "1 cached event(s) are not CloudTrail records" in issues[0].problem
    frame = frame_from_tables(tables, issues=issues)
    assert sorted(frame["event_id"]) == ["id-0", "id-1", "id-1", "id-5"]


@pytest.fixture
def trail(fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    records = [json.loads(_record(i % 60).replace("id-", f"r{i}-")) for i in range(120)]
    fake_aws.cloudtrail("eu-west-1").add_records(records)
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    return fake_aws


def test_each_text_pulled_is_read_once(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pulled (3 pages) and then served from the cache, each ``CloudTrailEvent`` text is read
    once: where it came in (was: read again after the last page, 0.3–0.7 s of every 10,000
    events between the last answer and the file written)."""
    reads = 0
    real = lk_pull.read_json

    def counted(text: str) -> Any:
        nonlocal reads
        reads += 1
        return real(text)

    monkeypatch.setattr(lk_pull, "read_json", counted)

    def pull() -> lk.LookupResult:
        return lk.lookup_events(
            Aws(),
            KEY,
            start=QUERY.start,
            end=QUERY.end,
            regions=["eu-west-1"],
            follow_derived=False,
            cache_dir=tmp_path,
            rate=200.0,
            now=pd.Timestamp("2023-07-12T00:00:00Z"),
        )

    first = pull()
    assert (len(first.frame), first.pages, reads) == (120, 4, 120)  # us-east-1: 1 empty
    reads = 0
    again = pull()  # the cache's texts are read once too: at the end
    assert (again.cached, reads) == (120, 120)
    pd.testing.assert_frame_equal(again.frame, first.frame)
