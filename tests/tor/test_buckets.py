"""Counted activity (an engine's counts per IP and time bucket): a bucket's Tor status. Its
calls may be anywhere in the bucket, so "not Tor" needs the lists to rule Tor out throughout it
at the tolerance itself. It was decided at the bucket's middle with the tolerance plus half a
bucket: a day bucket only partly covered made its uncovered calls "not Tor", and a 7-day
bucket's 3.5 extra days made the 2024-03-12 check.torproject.org copy (tests 3.4 days apart,
which never rules Tor out) say "not Tor"."""

from __future__ import annotations

import pandas as pd

from tests.tor.test_tor import CHECK_2024, IP_2018, LIST_2018_11_01, utc
from torinvest import tor
from torinvest.investigation import tor_unknown_issues, with_tor

#: Listed in the 2024-03-12 copy (ExitAddress 2024-03-12 13:22).
IP_2024 = "185.220.101.34"
#: In no list.
NOT_LISTED = "9.9.9.1"


def counts(bucket: str, *rows: tuple[str, str, int]) -> pd.DataFrame:
    """A counts frame as an engine gives it (``by_time``): bucket start, IP, calls."""
    frame = pd.DataFrame(
        {
            "event_time": pd.Series([utc(t) for t, _, _ in rows], dtype="datetime64[us, UTC]"),
            "source_ip": pd.Series([ip for _, ip, _ in rows], dtype="string"),
            "calls": pd.Series([n for _, _, n in rows], dtype="Int64"),
        }
    )
    frame.attrs.update(bucket=pd.Timedelta(bucket))
    return frame


def statuses(frame: pd.DataFrame) -> list[bool | None]:
    return [None if pd.isna(v) else bool(v) for v in frame["tor"]]


def test_a_bucket_is_not_tor_only_where_the_lists_rule_tor_out_throughout_it() -> None:
    # the 2018-11-01 00:02 list rules Tor out 2018-10-31 00:05:25 → 22:15:59
    lists = tor.load_exit_lists(LIST_2018_11_01, bundled=False)
    frame = counts(
        "1D",
        ("2018-10-31T00:00:00Z", NOT_LISTED, 5),  # calls at 00:00–00:05 and 22:16–24:00 too
        ("2018-10-31T00:00:00Z", IP_2018, 2),
    )
    assert statuses(with_tor(frame, lists)) == [None, True]
    hourly = counts(
        "1h",
        ("2018-10-31T12:00:00Z", NOT_LISTED, 3),  # within the list's span: ruled out
        ("2018-10-31T22:00:00Z", NOT_LISTED, 4),  # 22:16–23:00 is not covered
    )
    tagged = with_tor(hourly, lists)
    assert statuses(tagged) == [False, None]
    (issue,) = tor_unknown_issues(tagged, lists)
    assert issue.problem.startswith("4 event(s) at times no loaded exit list covers")


def test_a_large_bucket_never_widens_a_snapshot_into_ruling_tor_out() -> None:
    # tests 2024-03-09 04:06 → 03-12 14:28, more than 24 h apart: never "not Tor"
    lists = tor.load_exit_lists(CHECK_2024, bundled=False)
    for bucket, start in (("1D", "2024-03-10"), ("7D", "2024-03-07")):  # middle: 03-10 12:00
        frame = counts(bucket, (f"{start}T00:00:00Z", NOT_LISTED, 9))
        assert statuses(with_tor(frame, lists)) == [None], bucket
        (issue,) = tor_unknown_issues(with_tor(frame, lists), lists)
        assert issue.problem.startswith("9 event(s) at times no loaded exit list covers"), bucket
    listed = counts("7D", ("2024-03-06T00:00:00Z", IP_2024, 1))  # the bucket reaches 03-12
    assert statuses(with_tor(listed, lists)) == [True]
    assert statuses(with_tor(counts("1D", ("2024-03-14T00:00:00Z", IP_2024, 1)), lists)) == [None]
