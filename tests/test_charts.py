"""charts: each figure's traces on the sample case, attacker text as data, size at a million events."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from tests.analysis.helpers import (
    LEGIT_IP,
    STORY,
    SUSPECT,
    TOR_IPS,
    synthetic_events,
    tor_from_story,
)
from torinvest import analysis as an
from torinvest import charts
from torinvest.case import sample_case
from torinvest.sources.logs import load_logs

CHARTS: tuple[Callable[..., go.Figure], ...] = (
    charts.timeline,
    charts.calls_per_ip,
    charts.event_mix,
    charts.user_agents,
    charts.regions,
)
#: Largest figure JSON for a million events (bytes).
MAX_FIGURE_BYTES = 2_000_000
BAIT = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    frame = load_logs(
        sample_case().cloudtrail, access_keys=SUSPECT, follow_derived=True, workers=1
    ).frame
    frame["tor"] = tor_from_story(frame)
    return frame


@pytest.fixture(scope="module")
def million() -> pd.DataFrame:
    return synthetic_events(1_000_000)


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, value) of every string in a parsed figure JSON."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def total(fig: go.Figure, name: str, axis: str = "x") -> int:
    return int(sum(np.sum(getattr(t, axis)) for t in fig.data if t.name == name))


# --------------------------------------------------------------------------------------------
# timeline
# --------------------------------------------------------------------------------------------
def test_timeline_buckets_and_marks_tor(events: pd.DataFrame) -> None:
    fig = charts.timeline(events)
    names = [t.name for t in fig.data]
    assert names == ["Tor exit", "not Tor", "failed calls"]
    assert "1 minute" in fig.layout.title.text  # the case spans under an hour
    tor, other, failed = fig.data
    assert all(y.endswith(" (Tor)") and y.removesuffix(" (Tor)") in TOR_IPS for y in tor.y)
    assert set(other.y) == {LEGIT_IP, STORY["non_tor_actor_ip"]}
    assert int(np.sum(tor.marker.size) + np.sum(other.marker.size)) == len(events)
    assert int(np.sum(failed.marker.size)) == int(events["error_code"].notna().sum())
    assert failed.marker.symbol == "x"
    assert len(tor.x) + len(other.x) < len(events)  # aggregated, not one point per event
    # hover: calls, failed and top names of the bucket
    recon = [c for c, y in zip(tor.customdata, tor.y, strict=True) if y.startswith("185.220")]
    assert any("DescribeInstances ×" in c[2] for c in recon)
    # rows earliest first (top of the chart)
    assert list(fig.layout.yaxis.categoryarray)[-1] == LEGIT_IP


def test_timeline_marks_the_finding_and_has_a_legible_legend(events: pd.DataFrame) -> None:
    finding = STORY["findings"][0]
    first, last = finding["first_seen"], finding["last_seen"]
    fig = charts.timeline(events, finding=(first, last))
    # every legend symbol one size, whatever the area of a trace's first marker
    assert fig.layout.legend.itemsizing == "constant"
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    stamp = lambda t: pd.Timestamp(t).tz_convert(None).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    assert [(s.x0, s.x1) for s in lines] == [(stamp(first),) * 2, (stamp(last),) * 2]
    assert [(s.x0, s.x1) for s in band] == [(stamp(first), stamp(last))]
    assert all(s.yref == "paper" and (s.y0, s.y1) == (0, 1) for s in lines + band)
    labels = [a.text for a in fig.layout.annotations]
    assert labels == [
        f"finding first seen {stamp(first)[11:]}",
        f"finding last seen {stamp(last)[11:]}",
    ]
    # the marks lie inside the plotted span (bucket starts as x values)
    xs = sorted(x for t in fig.data for x in t.x)
    assert xs[0] <= stamp(first) and stamp(last) <= xs[-1] + ":59"
    # one sighting: one line; no sighting: no mark
    one = charts.timeline(events, finding=(first, first))
    assert [a.text for a in one.layout.annotations] == [f"finding seen {stamp(first)[11:]}"]
    assert [s.type for s in one.layout.shapes] == ["line"]
    assert charts.timeline(events, finding=(None, pd.NaT)).layout.shapes == ()


@pytest.mark.parametrize(
    ("span", "bucket"),
    [
        (pd.Timedelta(0), "1 minute"),
        (pd.Timedelta(minutes=55), "1 minute"),
        (pd.Timedelta(hours=5), "5 minutes"),
        (pd.Timedelta(days=3), "1 hour"),
        (pd.Timedelta(days=90), "1 day"),
        (pd.Timedelta(days=3000), "7 days"),
    ],
)
def test_bucket_follows_the_span(span: pd.Timedelta, bucket: str) -> None:
    assert charts.pick_bucket(span)[1] == bucket


def test_timeline_without_tor_column(events: pd.DataFrame) -> None:
    fig = charts.timeline(events.drop(columns=["tor"]))
    assert [t.name for t in fig.data] == ["Tor status unknown", "failed calls"]
    assert not any(y.endswith("(Tor)") for y in fig.data[0].y)


def test_timeline_groups_ips_beyond_the_limit_by_tor_status(events: pd.DataFrame) -> None:
    """The IPs past the limit are grouped one row per Tor status: one "other 3 IPs (Tor)" row
    hid the 2 IPs that are not Tor among them (a botnet of 20,000 addresses read as Tor)."""
    fig = charts.timeline(events, max_ips=2)
    rows = set(fig.layout.yaxis.categoryarray)
    assert rows == {
        "185.220.101.34 (Tor)",  # Tor IPs are shown first
        "199.249.230.87 (Tor)",
        "other 1 IPs (Tor)",
        "other 2 IPs (not Tor)",
    }
    tor = next(t for t in fig.data if t.name == "Tor exit")
    not_tor = next(t for t in fig.data if t.name == "not Tor")
    assert "other 1 IPs (Tor)" in set(tor.y) and "other 2 IPs (not Tor)" in set(not_tor.y)
    assert "other 2 IPs (not Tor)" not in set(tor.y)


def test_every_ip_chart_keeps_the_tor_split_of_the_ips_it_groups(events: pd.DataFrame) -> None:
    """calls_per_ip and event_mix group the same way, each call counted once."""
    bars = charts.calls_per_ip(events, max_ips=1)
    labels = list(bars.data[0].y)
    assert labels[-2:] == ["other 2 IPs (Tor)", "other 2 IPs (not Tor)"]
    assert sum(sum(t.x) for t in bars.data) == len(events)
    mix = charts.event_mix(events, max_ips=1)
    assert list(mix.data[0].y)[-2:] == ["other 2 IPs (Tor)", "other 2 IPs (not Tor)"]
    assert int(mix.data[0].z.sum()) == len(events)


# --------------------------------------------------------------------------------------------
# bars and heatmap
# --------------------------------------------------------------------------------------------
def test_calls_per_ip_stacks_success_and_failure(events: pd.DataFrame) -> None:
    fig = charts.calls_per_ip(events)
    assert [t.name for t in fig.data] == ["succeeded", "failed"]
    assert fig.layout.barmode == "stack"
    table = an.per_ip(events).set_index("source_ip")
    ok, failed = fig.data
    for label, n_ok, n_failed in zip(ok.y, ok.x, failed.x, strict=True):
        ip = label.removesuffix(" (Tor)")
        assert (label != ip) == (ip in TOR_IPS)
        assert (n_ok + n_failed, n_failed) == (table.loc[ip, "events"], table.loc[ip, "failed"])
    assert ok.y[0] == LEGIT_IP  # busiest first


def test_event_mix_heatmap(events: pd.DataFrame) -> None:
    fig = charts.event_mix(events, top=3)
    (heat,) = fig.data
    assert heat.type == "heatmap"
    # the names grouped are counted: a key calling 400 kinds of API reads "other 397"
    others = events["event_name"].nunique() - 3
    assert list(heat.x)[-1] == f"other {others} event names" and len(heat.x) == 4
    assert np.asarray(heat.z).sum() == len(events)
    assert "DescribeInstances" not in heat.x  # 5 calls: not in the top 3 (8 each)
    row = list(heat.y).index("185.220.101.34 (Tor)")
    assert np.asarray(heat.z)[row][-1] == 17  # all its calls are "other"


def test_user_agents_bars(events: pd.DataFrame) -> None:
    fig = charts.user_agents(events, top=5)
    labels = list(fig.data[0].y)
    assert labels[:5] == [f"{i}. " + labels[i - 1].split(". ", 1)[1] for i in range(1, 6)]
    assert labels[-1] == f"other {events['user_agent'].nunique() - 5} user agents (or none)"
    # as shown: plotly decodes the entities that keep its tags from being read
    assert all(len(html.unescape(label)) <= len("5. ") + charts.LABEL_CHARS for label in labels)
    assert sum(total(fig, t.name) for t in fig.data) == len(events)
    assert {t.name for t in fig.data} == {LEGIT_IP, STORY["non_tor_actor_ip"]} | {
        f"{ip} (Tor)" for ip in TOR_IPS
    }
    everything = charts.user_agents(events, top=50)
    full = {c for t in everything.data for c in t.customdata}
    shown = {html.unescape(text) for text in full}  # as plotly shows it
    assert STORY["injection"]["user_agent"] in shown  # hover shows the whole text


def test_regions_bars(events: pd.DataFrame) -> None:
    fig = charts.regions(events)
    regions = list(fig.layout.xaxis.categoryarray)
    assert regions[0] == "us-east-1" and set(regions) == {
        "us-east-1",
        "eu-west-1",
        "ap-southeast-1",
    }
    assert sum(total(fig, t.name, "y") for t in fig.data) == len(events)
    tor = next(t for t in fig.data if t.name == "185.220.101.34 (Tor)")
    assert dict(zip(tor.x, tor.y, strict=True)) == {
        "us-east-1": 13,
        "eu-west-1": 2,
        "ap-southeast-1": 2,
    }
    assert tor.marker.pattern.shape == "/"


# --------------------------------------------------------------------------------------------
# safety, empty input, size
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chart", CHARTS)
def test_attacker_text_is_only_data(events: pd.DataFrame, chart: Callable[..., go.Figure]) -> None:
    frame = events.copy()
    for col in ("user_agent", "event_name", "source_ip", "aws_region"):  # all read from files
        frame[col] = frame[col].cat.add_categories([BAIT])
        frame.loc[frame["source_ip"] == "109.70.100.66", col] = BAIT
    text = chart(frame).to_json()
    assert "<img" not in text  # escaped as \u003cimg inside JSON strings
    where = [p for p, s in strings(json.loads(text)) if "onerror" in s]
    assert where, "the bait should be shown (as text)"
    # plotly reads <b>, <a href>, <span style>… in labels and hover texts: none reaches it
    shown = [s for _, s in strings(json.loads(text)) if "onerror" in s]
    assert all("<" not in s and "&lt;img" in s for s in shown), shown
    assert all(
        p.startswith("data[")
        or p.startswith(("layout.xaxis.categoryarray", "layout.yaxis.categoryarray"))
        for p in where
    ), where
    assert "onerror" not in json.dumps(json.loads(text)["layout"].get("title", {}))


@pytest.mark.parametrize("chart", CHARTS)
def test_empty_frame_gives_an_empty_figure(
    events: pd.DataFrame, chart: Callable[..., go.Figure]
) -> None:
    fig = chart(events.iloc[:0])
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == "no events"


@pytest.mark.parametrize("chart", CHARTS)
def test_a_million_events_make_small_figures(
    million: pd.DataFrame, chart: Callable[..., go.Figure]
) -> None:
    text = chart(million).to_json()  # its time is a benchmark's: benchmarks/bench_analysis.py
    assert len(text) < MAX_FIGURE_BYTES, len(text)
    fig = json.loads(text)
    assert fig["data"], "a figure with traces"
