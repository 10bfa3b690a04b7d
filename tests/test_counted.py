"""Large inputs: when the rows matched exceed the limit, the activity is counted in the engine.

The same investigation of the sample case is run twice with the DuckDB engine: loading every
row, and with a row limit below the key's events so that the per-IP table and the charts'
counts come from GROUP BY queries. What the analyst reads must not change: the per-IP table,
the summary's totals and source IPs, and every chart (compared as plotly JSON). Only the events
table shrinks to the sensitive calls, and the report says so.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.io as pio
import pytest

from tests.fake_aws import AthenaRegion
from tests.sample_window import REGIONS
from tests.sources.sql.helpers import INVICTUS, SUSPECT, Recorder, athena_results
from torinvest import charts, display
from torinvest.analysis import sensitive_events
from torinvest.case import sample_case
from torinvest.catalogue import GAP_ENDING_CALLS
from torinvest.errors import InputError
from torinvest.events import EngineOptions
from torinvest.investigation import Investigation, investigate, sources_from_parameters, summary
from torinvest.sources.logs import load_logs
from torinvest.sources.sql import (
    DEFAULT_MAX_ROWS,
    DuckDBEngine,
    aggregate_sql,
    events_query,
    load_sql,
    make_scope,
    per_ip_sql,
)
from torinvest.sources.sql.athena import AthenaEngine

CASE = sample_case()
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
LIMIT = (
    10  # the sample key has 71 events (64, 5 with its derived ASIA key, 2 with the key it created)
)


@pytest.fixture(scope="module")
def pair() -> tuple[Investigation, Investigation]:
    """The sample finding investigated with every row loaded, and counted in the engine."""
    case, regions = str(CASE.root), REGIONS  # the trail's three regions: its days the gap
    rows = investigate(
        FINDING,
        sources_from_parameters(case_dir=case, regions=regions, engine="duckdb", max_rows=None),
    )
    counted = investigate(
        FINDING,
        sources_from_parameters(case_dir=case, regions=regions, engine="duckdb", max_rows=LIMIT),
    )
    return rows, counted


def test_over_the_limit_the_activity_is_counted_not_loaded(
    pair: tuple[Investigation, Investigation],
) -> None:
    rows, counted = pair
    assert not rows.counted and counted.counted
    agg = counted.activity.aggregates
    assert agg is not None and agg.limit == LIMIT
    assert agg.total == len(rows.events) == 71
    # only the sensitive calls are rows, the same rows (and Tor status) as with every row loaded
    assert len(counted.events) == len(rows.sensitive) == 11
    pd.testing.assert_frame_equal(counted.sensitive, rows.sensitive)
    assert "71 events (counted in the engine" in counted.activity.summary()
    assert "sensitive as rows" in (counted.activity.engine_summary or "")


def test_per_ip_table_and_totals_are_the_same(pair: tuple[Investigation, Investigation]) -> None:
    rows, counted = pair
    pd.testing.assert_frame_equal(counted.per_ip, rows.per_ip)
    assert (
        counted.totals()
        == rows.totals()
        == {
            "total": 71,
            "failed": 10,
            "outcome_unknown": 0,
            "from_tor": 24,
            "tor_unknown": 0,
        }
    )
    s_rows, s_counted = summary(rows), summary(counted)
    for part in ("finding", "key", "window", "events", "source_ips", "sensitive_events"):
        assert s_counted[part] == s_rows[part], part
    assert (
        s_counted["derived_keys"]
        == s_rows["derived_keys"]
        == [
            "AKIATFQR7NSCXLGMGTIH",  # the key it created (CreateAccessKey): the actor holds it
            "ASIATFQR7NSCNGEI5QNT",
        ]
    )
    # the sample case holds one day of the finding's 22-day window: the rest is an issue
    gap, issue = s_counted["data_issues"]
    assert gap["problem"].startswith("3 folders: no log file for 2023-06-26–2023-07-09, 2023-07-11")
    assert "more than the 10-row limit" in issue["problem"]
    assert "11 sensitive calls were loaded as rows" in issue["problem"]


@pytest.mark.parametrize(
    ("chart", "frame"),
    [
        (charts.timeline, "by_time"),
        (charts.calls_per_ip, "by_time"),
        (charts.event_mix, "by_time"),
        (charts.user_agents, "by_agent"),
        (charts.regions, "by_region"),
    ],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_charts_from_the_engines_counts_are_the_charts_of_the_rows(
    pair: tuple[Investigation, Investigation], chart: Any, frame: str
) -> None:
    rows, counted = pair
    assert getattr(rows, frame) is rows.events  # rows: the charts take the events frame
    assert "calls" in getattr(counted, frame).columns
    got = pio.to_json(chart(getattr(counted, frame)), engine="json")
    expected = pio.to_json(chart(rows.events), engine="json")
    assert got == expected
    assert json.loads(got)["data"]  # not an empty figure


def test_signals_keep_what_the_counts_can_tell(pair: tuple[Investigation, Investigation]) -> None:
    rows, counted = pair
    by_name = {s.name: s for s in counted.signals}
    expected = {s.name: s for s in rows.signals}
    # computed from the counts: the same as from the rows
    assert by_name["tor_use"] == expected["tor_use"]
    assert by_name["tor_and_non_tor"] == expected["tor_and_non_tor"]
    assert by_name["new_source_ip"] == expected["new_source_ip"]
    for name in ("sensitive:persistence", "sensitive:privilege-escalation"):
        assert by_name[name] == expected[name]
    # the Tor use after the finding: counted at the bucket's start (1 minute here)
    assert by_name["tor_after_finding"].weight == expected["tor_after_finding"].weight
    assert "5 calls from Tor after" in by_name["tor_after_finding"].detail
    assert "GetSessionToken" in by_name["derived_key_in_use"].detail  # with how it was minted
    # said, not hidden: what read only the sensitive calls
    info = by_name["counted_in_engine"]
    assert info.weight == 0
    assert "71 calls were counted" in info.detail and "11 sensitive calls" in info.detail
    assert "recon_burst" in expected and "recon_burst" not in by_name  # a signal of the rows
    # so the score is a floor: a low one over counted calls is not known to be low
    assert "counted in the engine" in by_name["incomplete_evidence"].detail
    assert "counted in the engine" not in expected["incomplete_evidence"].detail  # day gaps
    assert counted.score.incomplete and counted.score.shown().startswith("at least ")


def test_the_report_cards_say_the_events_were_counted(
    pair: tuple[Investigation, Investigation],
) -> None:
    _, counted = pair
    card = display.activity_status(counted).data
    assert "counted in the engine" in card and "Too many events to load as rows" in card
    assert "10-row limit" in card and "11 sensitive calls" in card
    assert "Sensitive calls only: 11 of 71 events" in display.events_table(counted).data


def test_the_counted_activity_card_names_every_key_not_each_ips_most_frequent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The counted card's access keys were the union of the per-IP lists, which keep each IP's
    most frequent (50): a key never among an IP's most frequent was left out, the list read as
    whole. Lists cut to 1 here: the key the suspect created (2 calls from 167.99.201.43,
    beside the suspect's own) is still named, from the engine's counts of every call."""
    from torinvest.sources.sql import frames

    cut = tuple((k, c, 1 if k == "access_keys" else n) for k, c, n in frames.PER_IP_LISTS)
    monkeypatch.setattr(frames, "PER_IP_LISTS", cut)
    counted = investigate(
        FINDING, sources_from_parameters(case_dir=str(CASE.root), engine="duckdb", max_rows=LIMIT)
    )
    listed = {k for ks in counted.per_ip["access_keys"] for k in ks}
    created = "AKIATFQR7NSCXLGMGTIH"
    assert created not in listed  # cut from every IP's list: the case the card missed
    card = display.activity_status(counted).data
    keys = re.search(r"access keys</th><td>(.*?)</td>", card)
    assert keys is not None
    assert re.findall(r"<code>([^<]+)</code>", keys.group(1)) == [
        KEY,
        created,
        "ASIATFQR7NSCNGEI5QNT",
    ]


def test_under_the_limit_every_row_is_loaded_in_one_pass() -> None:
    ref = load_logs(INVICTUS, access_keys=SUSPECT, follow_derived=True, progress=False)
    n = len(ref.frame)
    with DuckDBEngine(INVICTUS) as engine:
        exact = load_sql(engine, access_keys=SUSPECT, follow_derived=True, max_rows=n)
        over = load_sql(engine, access_keys=SUSPECT, follow_derived=True, max_rows=n - 1)
    assert exact.aggregates is None
    pd.testing.assert_frame_equal(exact.frame, load_sql_plain(INVICTUS))
    assert over.aggregates is not None and over.aggregates.total == n
    assert over.derived == ref.derived  # the minted keys are followed when counting too
    assert over.aggregates.per_ip["derived"].any()
    # the rows: the sensitive calls, and the trail calls that end a gap in the logging (the
    # key's CreateTrail and StartLogging: the impairment reading's spans)
    ending = ref.frame[
        pd.Series(
            list(zip(ref.frame["event_name"], ref.frame["event_source"], strict=True)),
            index=ref.frame.index,
        ).isin(GAP_ENDING_CALLS)
    ]
    assert len(ending)  # the Stratus run's CreateTrail/StartLogging
    expected_ids = sorted([*sensitive_events(ref.frame)["event_id"], *ending["event_id"]])
    assert sorted(over.frame["event_id"]) == expected_ids and expected_ids
    assert over.frame["derived"].sum() == (
        sensitive_events(ref.frame)["derived"].sum() + ending["derived"].sum()
    )


@pytest.mark.parametrize(
    ("folder", "kwargs"),
    [
        (CASE.cloudtrail, {}),
        (CASE.cloudtrail, {"access_keys": KEY, "follow_derived": True}),
        (INVICTUS, {"access_keys": SUSPECT, "follow_derived": True}),
        (INVICTUS, {"start": "2023-07-10T00:00:00Z", "end": "2023-07-10T23:59:59Z"}),
    ],
)
def test_the_per_ip_table_from_the_rollup_is_the_engines_per_ip_query(
    folder: Path, kwargs: dict[str, Any]
) -> None:
    with DuckDBEngine(folder) as engine:
        counted = aggregate_sql(engine, **kwargs)
        queried = per_ip_sql(engine, **kwargs)
    assert counted.aggregates is not None
    assert [q.kind for q in counted.queries][-3:] == ["span", "rollup", "events"]
    assert len(queried.frame) >= 1
    pd.testing.assert_frame_equal(counted.aggregates.per_ip, queried.frame)


def test_duckdb_counts_before_it_loads() -> None:
    with DuckDBEngine(CASE.cloudtrail) as engine:
        under = load_sql(engine, access_keys=KEY, follow_derived=True, max_rows=71)
        over = load_sql(engine, access_keys=KEY, follow_derived=True, max_rows=68)
    # the key's 64 events, then its derived keys' 7: counted before each is loaded
    assert [q.kind for q in under.queries] == ["span", "events", "span", "events"]
    assert under.aggregates is None and len(under.frame) == 71
    assert [q.kind for q in over.queries] == [
        "span",  # counts the key's 64 events: under the limit
        "events",
        "span",  # its derived keys' 7 more would go over: counted instead
        "minted",
        "minted",
        "span",  # the key's and its derived key's: the timeline's bucket
        "rollup",
        "events",  # the sensitive calls
    ]
    assert over.aggregates is not None and over.aggregates.total == 71


def load_sql_plain(folder: Path) -> pd.DataFrame:
    with DuckDBEngine(folder) as engine:
        return load_sql(engine, access_keys=SUSPECT, follow_derived=True).frame


def test_an_events_query_never_asks_for_more_than_one_row_over_the_limit() -> None:
    scope = make_scope(access_keys=KEY)
    sql = events_query(scope, limit=LIMIT + 1).select
    assert sql.rstrip().endswith(f"LIMIT {LIMIT + 1}")
    with pytest.raises(InputError, match="row limit"):
        events_query(scope, limit=-1)
    with DuckDBEngine(CASE.cloudtrail) as engine, pytest.raises(InputError, match="row limit"):
        load_sql(engine, access_keys=KEY, max_rows=-5)
    with pytest.raises(InputError, match="row limit"):
        EngineOptions(kind="duckdb", max_rows=-1)
    assert EngineOptions().max_rows == DEFAULT_MAX_ROWS


def test_the_counts_translate_for_athena_and_read_back_the_same(
    fake_athena: AthenaRegion,
) -> None:
    kwargs = {"access_keys": KEY, "start": "2023-07-10T00:00:00Z", "end": "2023-07-11T00:00:00Z"}
    recorder = Recorder(DuckDBEngine(CASE.cloudtrail))
    recorder.count_first = True  # as Athena
    with recorder.engine:
        expected = load_sql(recorder, follow_derived=True, max_rows=LIMIT, **kwargs)
    assert [q.kind for q, _ in recorder.outputs] == [
        "span",  # the count: over the limit
        "minted",
        "minted",
        "span",
        "rollup",
        "events",  # the sensitive calls
    ]
    results = [athena_results(table, dict(query.columns)) for query, table in recorder.outputs]
    fake_athena.add_answers(*results)
    got = load_sql(
        AthenaEngine(database="security", sleep=lambda _: None),
        follow_derived=True,
        max_rows=LIMIT,
        **kwargs,
    )
    assert expected.aggregates is not None and got.aggregates is not None
    for part in ("per_ip", "by_time", "by_agent", "by_region"):
        mine, theirs = getattr(got.aggregates, part), getattr(expected.aggregates, part)
        pd.testing.assert_frame_equal(mine, theirs)
        assert mine.attrs == theirs.attrs
    same = [c for c in got.frame.columns if c not in ("source", "origin")]
    pd.testing.assert_frame_equal(got.frame[same], expected.frame[same], check_categorical=False)
    assert got.cost_usd is not None and "sensitive as rows" in got.summary()


def test_counts_without_any_event_are_empty_not_an_error() -> None:
    with DuckDBEngine(CASE.cloudtrail) as engine:
        got = aggregate_sql(engine, access_keys="AKIAIOSFODNN7EXAMPLE")
    agg = got.aggregates
    assert agg is not None and agg.total == 0 and agg.first_seen is None
    assert agg.by_time.empty and agg.by_agent.empty and agg.by_region.empty
    assert got.frame.empty
    for chart in (charts.timeline, charts.calls_per_ip, charts.event_mix):
        assert not chart(agg.by_time).data  # the empty figure, titled


def test_counted_activity_does_not_mix_in_lookup_events_and_says_so() -> None:
    from torinvest.aws import Aws
    from torinvest.events import load_activity

    act = load_activity(
        logs=[CASE.cloudtrail],
        lookup=Aws(),  # never called: the guard fails any call to AWS
        access_key=KEY,
        follow_derived=True,
        engine=EngineOptions(kind="duckdb", max_rows=LIMIT),
    )
    assert act.aggregates is not None and act.total_events == 71
    assert not any(s.startswith("lookup:") for s in act.sources)
    assert any(n.startswith("LookupEvents not used") for n in act.notes)
    assert any("more than the 10-row limit" in n for n in act.notes)
    assert "71 events (counted in the engine; 11 sensitive calls loaded as rows)" in act.summary()


def test_the_sources_card_names_the_engine_and_what_it_read(
    pair: tuple[Investigation, Investigation],
) -> None:
    rows, counted = pair
    files = len(list(CASE.cloudtrail.rglob("*.json.gz")))
    for inv in (rows, counted):
        assert inv.activity.files_read == files  # the DuckDB engine's, not 0
        card = display.sources_card(inv).data
        assert f"{files:,} by the DuckDB engine from" in card
        assert "<th>engine</th>" in card and "MB scanned" in card
    assert "sensitive as rows" in display.sources_card(counted).data


def test_an_empty_window_read_by_the_engine_is_no_events_not_nothing_to_read() -> None:
    from torinvest.events import load_activity

    act = load_activity(
        logs=[CASE.cloudtrail],
        access_key="AKIAIOSFODNN7EXAMPLE",  # no call in the case
        start=pd.Timestamp("2023-07-10T00:00Z"),
        end=pd.Timestamp("2023-07-10T23:59Z"),
        engine=EngineOptions(kind="duckdb"),
    )
    assert act.frame.empty and act.aggregates is None
    assert act.files_read > 0  # read, and nothing there: "No events", not "Nothing to read"


def test_an_engine_that_does_not_count_first_asks_for_one_row_over_the_limit() -> None:
    recorder = Recorder(DuckDBEngine(CASE.cloudtrail))  # no count_first: the LIMIT path
    with recorder.engine:
        over = load_sql(recorder, access_keys=KEY, max_rows=LIMIT)
        recorder.outputs.clear()
        under = load_sql(recorder, access_keys=KEY, max_rows=64)
    assert over.aggregates is not None and over.aggregates.total == 64
    assert [q.kind for q in over.queries] == ["events", "span", "rollup", "events"]
    assert over.queries[0].rows == LIMIT + 1  # never more than one row over the limit
    assert "LIMIT 11" in over.queries[0].sql
    assert under.aggregates is None and len(under.frame) == 64
    ((query, table),) = recorder.outputs
    assert query.select.rstrip().endswith("LIMIT 65") and table.num_rows == 64


def test_duckdb_spills_to_a_folder_of_its_own_and_removes_it() -> None:
    engine = DuckDBEngine(CASE.cloudtrail)
    spill = engine._con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert Path(spill).name.startswith("torinvest-duckdb-spill-")  # not ./.tmp of the caller
    assert Path(spill).parent == Path(tempfile.gettempdir())
    engine.close()
    assert not Path(spill).exists()
