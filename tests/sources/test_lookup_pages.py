"""LookupEvents' pages are made into the frame's Arrow pieces as they come in, in the region's
thread while the pacer holds the next request: each ``CloudTrailEvent`` text is read once, and
the frame is the one reading the texts at the end gives (hostile texts too: repaired, filled,
unusable, another key's)."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from dateutil.tz import gettz, tzlocal, tzutc

from tests.fake_aws import FakeAws
from torinvest.aws import Aws
from torinvest.sources import lookup as lk
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.lookup import pull as lk_pull
from torinvest.sources.lookup.cache import _CACHE_SCHEMA, PageCache, cache_rows
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


def _pull_one_region(cache_dir: Path) -> lk.LookupResult:
    """The key's calls in eu-west-1 over QUERY's window, the pages cached in ``cache_dir``."""
    return lk.lookup_events(
        Aws(),
        KEY,
        start=QUERY.start,
        end=QUERY.end,
        regions=["eu-west-1"],
        follow_derived=False,
        cache_dir=cache_dir,
        rate=200.0,
        now=pd.Timestamp("2023-07-12T00:00:00Z"),
    )


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

    pull = functools.partial(_pull_one_region, tmp_path)

    first = pull()
    assert (len(first.frame), first.pages, reads) == (120, 4, 120)  # us-east-1: 1 empty
    reads = 0
    again = pull()  # the cache's texts are read once too: at the end
    assert (again.cached, reads) == (120, 120)
    pd.testing.assert_frame_equal(again.frame, first.frame)


# --------------------------------------------------------------------------------------------
# the page cache's rows: made page by page too, their times without a Timestamp per event
# --------------------------------------------------------------------------------------------
def _times() -> list[datetime]:
    """EventTime values as botocore (tzutc, tzlocal) or anything else may give them: other
    zones, both sides of a DST fold, a fixed offset, microseconds, naive (read as UTC)."""
    new_york = ZoneInfo("America/New_York")
    return [
        datetime(2023, 7, 10, 12, 0, 1, 123456, tzinfo=tzutc()),
        datetime(2023, 7, 10, 12, 0, 2, tzinfo=tzlocal()),
        datetime(2023, 11, 5, 1, 30, tzinfo=new_york),
        datetime(2023, 11, 5, 1, 30, fold=1, tzinfo=new_york),
        datetime(2023, 11, 5, 1, 30, fold=1, tzinfo=gettz("America/New_York")),
        datetime(2023, 3, 12, 2, 30, tzinfo=new_york),  # a time that never was (DST gap)
        datetime(2023, 7, 10, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2023, 7, 10, 12, 0, 3, 7),  # naive
    ]


def test_cache_rows_hold_the_times_a_timestamp_per_event_gave() -> None:
    """The cache's time column is made by Arrow from the datetimes (was: a ``pd.Timestamp`` per
    event, 13 ms a region of 2,500 events after its last answer): the same instants, to the
    microsecond, whatever the datetime's zone (or none)."""
    times = _times()
    events = [
        {"EventId": f"id-{i}", "EventTime": t, "CloudTrailEvent": _record(i)}
        for i, t in enumerate(times)
    ]
    rows = cache_rows(events)
    assert rows is not None and rows.schema == _CACHE_SCHEMA
    before = [  # how PageCache.write made them until then
        pd.Timestamp(t).tz_convert("UTC") if pd.Timestamp(t).tzinfo else pd.Timestamp(t, tz="UTC")
        for t in times
    ]
    assert rows.column("event_time").to_pylist() == [t.to_pydatetime() for t in before]
    assert rows.column("event_id").to_pylist() == [e["EventId"] for e in events]
    assert rows.column("cloudtrail_event").to_pylist() == [e["CloudTrailEvent"] for e in events]
    # an entry without a datetime EventTime: no rows, and the interval is not cached
    assert cache_rows([*events, {"EventId": "x", "EventTime": "2023-07-10T12:00:00Z"}]) is None


def test_an_interval_with_an_event_without_a_time_is_not_cached(tmp_path: Path) -> None:
    cache = PageCache(tmp_path)
    page = _page([_record(0), _record(1)])
    del page[1]["EventTime"]
    cache.write("123456789012", "eu-west-1", QUERY, QUERY.start, QUERY.end, page)
    assert not list(tmp_path.rglob("*.parquet"))
    assert cache.lookup("123456789012", "eu-west-1", QUERY) == ([], [(QUERY.start, QUERY.end)])


def test_the_cache_rows_are_made_as_pages_come_in(
    trail: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page's cache rows are made in the region's thread as it comes in, while the pacer
    holds the next request; after the last answer the write only joins and stores them (was:
    made of all the region's events there, 0.1–0.7 s on a loaded machine with 4 regions writing
    at once, between the last answer and the file written). A re-run is served the same."""
    made: list[int] = []
    real_rows = lk_pull.cache_rows

    def counted(events: list[dict[str, Any]]) -> Any:
        made.append(len(events))
        return real_rows(events)

    written: list[Any] = []
    real_write = PageCache.write

    def spied(self: PageCache, *args: Any) -> None:
        written.append(args[-1])
        real_write(self, *args)

    monkeypatch.setattr(lk_pull, "cache_rows", counted)
    monkeypatch.setattr(PageCache, "write", spied)

    pull = functools.partial(_pull_one_region, tmp_path)

    first = pull()
    assert sorted(made) == [0, 20, 50, 50]  # one call a page (us-east-1: one empty page)
    assert len(written) == 2 and all(isinstance(w, pa.Table) for w in written)
    assert sorted(w.num_rows for w in written) == [0, 120]
    again = pull()
    assert again.cached == 120 and len(written) == 2  # served from the cache, nothing pulled
    pd.testing.assert_frame_equal(again.frame, first.frame)
