"""Data events (S3 object reads, Lambda invocations…): every activity read says whether it could
hold them — LookupEvents never returns them ("not searched"); log files hold them only when the
trail records them ("none recorded" / "recorded", counted over every principal's records in
the files read, alike in the file loader, DuckDB and Athena) — in summary.json, the report's
cards (the sensitive calls' too), the terminal and a ticket's answer (torinvest.data_events)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from tests.fake_aws.server import lookup_event
from tests.offline_regions import SAMPLE_REGIONS
from tests.sample_window import COVERED
from torinvest import display, investigation
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.data_events import (
    NONE_RECORDED,
    NOT_KNOWN,
    NOT_SEARCHED,
    RECORDED,
    data_events,
    summary_data_events,
)
from torinvest.events import EngineOptions, load_activity
from torinvest.post.answer import build_answer
from torinvest.report.summary import summary_problems
from torinvest.sources.logs import count_data_events, load_logs
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.records import is_lookup_answer
from torinvest.sources.records.logfile import log_file_records
from torinvest.sources.sql import load_sql
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine

FIXTURE = next((Path(__file__).parent / "fixtures" / "cloudtrail" / "data_events").glob("*.json"))
KEY = "AKIATFQR7NSCUXC3DDDP"  # the sample case's IAM user key: the fixture's S3 reads are its
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"  # the sample case's finding of that key
DAY = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10"
START, END = "2023-07-10T00:00:00Z", "2023-07-10T23:59:59Z"


def _text(html: Any) -> str:
    raw = html.data if hasattr(html, "data") else str(html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)).replace("&#x27;", "'")


def _records(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------
# counting: a record's own eventCategory, whoever made it
# --------------------------------------------------------------------------------------------
def test_a_records_own_category_is_counted_not_the_same_text_in_a_value() -> None:
    """The fixture's three data events (two of the key, one of a role) count; a management
    event whose attacker-written parameters hold ``"eventCategory":"Data"`` (a Lambda tag)
    does not; spacing, JSON lines and a ``\\u`` escape of the value are read as JSON reads
    them (a compact log file is searched for the field as CloudTrail writes it)."""
    doc = json.loads(FIXTURE.read_bytes())
    assert count_data_events(FIXTURE.read_bytes()) == 3
    tagged = {
        **doc["Records"][0],
        "eventName": "CreateFunction20150331",
        "eventCategory": "Management",
        "managementEvent": True,
        "requestParameters": {"functionName": "x", "tags": {"eventCategory": "Data"}},
    }
    assert count_data_events(_records({"Records": [tagged]})) == 0
    spaced = json.dumps(doc, indent=2).encode()
    assert count_data_events(spaced) == 3
    lines = b"\n".join(json.dumps(r).encode() for r in doc["Records"])
    assert count_data_events(lines) == 3
    escaped = FIXTURE.read_bytes().replace(
        b'"eventCategory":"Data"', b'"eventCategory":"\\u0044ata"'
    )
    assert count_data_events(json.dumps(json.loads(escaped), indent=1).encode()) == 3
    # in a compact log file (CloudTrail's), only the field as CloudTrail writes it is searched
    # (one memmem); a whole file the loader parses is counted from its records, any spelling
    assert count_data_events(escaped) == 0
    records = log_file_records(escaped)
    assert records is not None and sum(r.eventCategory == "Data" for r in records) == 3
    managed = _records({"Records": [tagged, {**tagged, "eventCategory": "Management"}]})
    assert count_data_events(managed) == 0


def _trail(tmp_path: Path, *, with_data: bool) -> Path:
    """The sample case's us-east-1 day, with the fixture's data events file beside it or not."""
    root = tmp_path / "trail"
    day = root / DAY
    day.mkdir(parents=True)
    for f in (sample_case().cloudtrail / DAY).glob("*.json.gz"):
        shutil.copy(f, day / f.name)
    if with_data:
        (day / (FIXTURE.name + ".gz")).write_bytes(gzip.compress(FIXTURE.read_bytes()))
    return root


@pytest.mark.parametrize("with_data", [True, False], ids=["data-events", "management-only"])
def test_the_file_loader_and_duckdb_count_every_principals_data_events_alike(
    tmp_path: Path, with_data: bool
) -> None:
    """A key-filtered read counts the data events of every principal in the files it read (the
    role's Lambda Invoke too): the trail records them, or none in the files (may not). DuckDB
    counts the same files to the same number, and both load the key's GetObject."""
    trail = _trail(tmp_path, with_data=with_data)
    want = 3 if with_data else 0
    files = load_logs(trail, access_keys=KEY, start=START, end=END, progress=False)
    assert files.counts.data_events == want
    with DuckDBEngine(trail) as duck:
        got = load_sql(duck, access_keys=KEY, start=START, end=END)
    assert got.counts is not None and got.counts.data_events == want
    names = set(files.frame["event_name"].astype(str))
    assert ("GetObject" in names) == with_data == ("GetObject" in set(got.frame["event_name"]))
    act = load_activity(logs=[trail], access_key=KEY, start=START, end=END)
    said = data_events(act)
    assert said.state == (RECORDED if with_data else NONE_RECORDED)
    assert said.count == want
    if with_data:
        assert said.text.startswith("the trail records data events (3 in the ")
    else:
        assert "hold no data events: the trail may not record them" in said.text
    duck_act = load_activity(
        logs=[trail], access_key=KEY, start=START, end=END, engine=EngineOptions(kind="duckdb")
    )
    assert data_events(duck_act) == said


# --------------------------------------------------------------------------------------------
# LookupEvents: never searched
# --------------------------------------------------------------------------------------------
@pytest.fixture
def lookup_trail(fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """The fixture's records (data events included, as a trail's files would hold them) and
    the sample case's behind LookupEvents — which answers management events only, as AWS's."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    recs = []
    for f in (sample_case().cloudtrail / DAY).glob("*.json.gz"):
        recs += json.loads(gzip.decompress(f.read_bytes()))["Records"]
    fake_aws.cloudtrail("us-east-1").add_records(
        r for r in recs if r.get("eventCategory") != "Data"
    )
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    return fake_aws


def test_a_lookupevents_reading_says_data_events_were_not_searched(
    lookup_trail: FakeAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """LookupEvents read whole, its events loaded, no data issue — and "data events not
    searched": S3 object reads are not in what it returns. `events --lookup` says so."""
    act = load_activity(
        lookup=Aws(), access_key=KEY, start=START, end=END, regions=["us-east-1"], cache_dir=False,
        now=pd.Timestamp("2023-07-12T00:00:00Z"),
    )  # fmt: skip
    assert len(act.frame) and not act.issues
    said = data_events(act)
    assert said.state == NOT_SEARCHED and said.count is None
    assert said.text.startswith(
        "data events not searched (LookupEvents returns management events only): S3 object "
        "reads/writes, Lambda invocations"
    )
    assert "--logs / --engine athena" in said.text


def test_the_events_command_says_the_data_events_of_what_it_read(tmp_path: Path) -> None:
    err = io.StringIO()
    argv = ["events", "--case", str(sample_case().root), "--access-key", KEY]
    argv += ["--out", str(tmp_path / "e.parquet")]
    assert main(argv, out=io.StringIO(), err=err) == 0
    said = [line for line in err.getvalue().splitlines() if "data events" in line]
    assert len(said) == 1
    assert said[0].startswith("torinvest: note: the ")
    assert "hold no data events: the trail may not record them" in said[0]


# --------------------------------------------------------------------------------------------
# Athena: whether the table holds one in the window
# --------------------------------------------------------------------------------------------
def _athena_answers(fake_aws: FakeAws, found: str | None) -> AthenaEngine:
    athena = fake_aws.athena("us-east-1")
    probe = [("region", "varchar"), ("day", "varchar"), ("records", "bigint")]
    held = [[None, "2023/07/10", "1"], ["us-east-1", "", "1"]]  # the day; the enabled region
    athena.add_results(probe, held, scanned=1 << 20, match="AS probe")
    if found is None:
        athena.add_failure(
            "SYNTAX_ERROR: column eventcategory cannot be resolved", match="data_probe"
        )
    else:
        athena.add_results(
            [("data_events", "bigint")], [[found]], scanned=1 << 20, match="data_probe"
        )
    span = [(n, "varchar") for n in ("first", "last", "events", "untimed")]
    athena.add_results(span, [[None, None, "0", "0"]], scanned=5 << 20, match=r"AS untimed")
    athena.add_results([], scanned=5 << 20, match=r"")
    return athena


@pytest.mark.parametrize(
    ("found", "state"), [("1", RECORDED), ("0", NONE_RECORDED), (None, NOT_KNOWN)]
)
def test_athena_asks_whether_its_table_holds_a_data_event_in_the_window(
    fake_aws: FakeAws, found: str | None, state: str
) -> None:
    """One more query (``LIMIT 1``: it stops at the first) over the window, the account sought:
    1 — the trail records data events; 0 — the table holds none (it may not record them); a
    query that fails is "not known", never "none", and the rest of the reading stands."""
    athena = _athena_answers(fake_aws, found)
    act = load_activity(
        access_key=KEY, start="2023-07-10T12:10:00Z", end="2023-07-10T12:30:00Z",
        engine=EngineOptions(kind="athena", athena_database="security", athena_region="us-east-1"),
        account="123837392027",
    )  # fmt: skip
    said = data_events(act)
    assert said.state == state
    (sql,) = [e.sql for e in athena.executions if "data_probe" in e.sql]
    assert "eventcategory = 'Data'" in sql and "LIMIT 1" in sql
    assert "account IN ('123837392027')" in sql
    if state == NOT_KNOWN:
        assert "the data-events query failed" in said.text and not act.issues
    elif state == NONE_RECORDED:
        assert said.text.startswith("the Athena table security.cloudtrail_logs holds no data ")


# --------------------------------------------------------------------------------------------
# the investigation: summary.json, the report's cards, the ticket's answer
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def case_with_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case with the fixture's data events file in its trail."""
    root = tmp_path_factory.mktemp("case") / "case"
    shutil.copytree(sample_case().root, root)
    (root / "cloudtrail" / DAY / (FIXTURE.name + ".gz")).write_bytes(
        gzip.compress(FIXTURE.read_bytes())
    )
    return root


def _investigate(case: Path) -> investigation.Investigation:
    """The finding over ``case``, read for the sample case's regions (Sources.regions:
    sources_from_parameters does not take them with a case folder)."""
    sources = investigation.sources_from_parameters(case_dir=str(case))
    sources = dataclasses.replace(sources, regions=list(SAMPLE_REGIONS))
    return investigation.investigate(FINDING, sources, **COVERED)


def test_a_trail_without_data_events_says_so_wherever_the_result_is() -> None:
    """The sample case's trail records management events only: summary.json's data_events
    says so (schema-checked), and so do the activity and Sources cards, the answer (its
    completeness line and what mattered), the sensitive-calls card and the ticket's answer —
    the reading stays complete (a limit of the source, not a data issue)."""
    inv = _investigate(sample_case().root)
    summary = investigation.summary(inv)
    assert summary["reading"]["state"] == "complete"
    entry = summary["data_events"]
    assert entry["state"] == NONE_RECORDED and entry["count"] == 0
    assert not summary_problems(orjson_round(summary))
    said = entry["text"]
    assert "hold no data events: the trail may not record them" in said
    for card in (display.activity_status(inv), display.sources_card(inv)):
        assert said in _text(card)
    answer = _text(display.answer_html(inv, {"status": "pending"}))
    assert answer.count(said) >= 2  # the completeness line, and the sensitive calls it lists
    assert "Data events (S3 object reads/writes" in _text(display.sensitive_table(inv))
    text = build_answer(summary).text
    assert f"Data events: {said}" in text


def orjson_round(data: dict[str, Any]) -> Any:
    import orjson

    return orjson.loads(orjson.dumps(data))


def test_a_trail_recording_data_events_loads_the_keys_s3_reads_and_says_so(
    case_with_data: Path,
) -> None:
    inv = _investigate(case_with_data)
    assert {"GetObject", "ListObjects"} <= set(inv.events["event_name"].astype(str))
    summary = investigation.summary(inv)
    assert summary["data_events"]["state"] == RECORDED and summary["data_events"]["count"] == 3
    assert "Data events (" not in _text(display.sensitive_table(inv))  # nothing missing to say
    assert "the trail records data events (3 in the " in _text(display.sources_card(inv))


def test_summary_json_data_events_is_checked_and_optional() -> None:
    """A state torinvest does not write breaks the contract; a summary written before the
    field has none, and reading it back says nothing (no line in the answer)."""
    summary = investigation.summary(_investigate(sample_case().root))
    data = orjson_round(summary)
    data["data_events"]["state"] = "all good"
    assert any("data_events" in p for p in summary_problems(data))
    del data["data_events"]
    assert not summary_problems(data)
    assert summary_data_events(data) is None
    assert "Data events:" not in build_answer(data).text


# --------------------------------------------------------------------------------------------
# a case folder: every kind of source it can hold
# --------------------------------------------------------------------------------------------
def _day_records(*, with_data: bool = False) -> list[dict[str, Any]]:
    recs = []
    for f in sorted((sample_case().cloudtrail / DAY).glob("*.json.gz")):
        recs += json.loads(gzip.decompress(f.read_bytes()))["Records"]
    if with_data:
        recs += json.loads(FIXTURE.read_bytes())["Records"]
    return recs


def _answer(records: list[dict[str, Any]]) -> bytes:
    """``aws cloudtrail lookup-events --output json`` as saved (indented, as the CLI writes)."""
    events = [lookup_event(r) for r in records if r.get("eventCategory") != "Data"]
    return json.dumps({"Events": events}, indent=4).encode()


def _write_kind(cloudtrail: Path, kind: str) -> None:
    """``cloudtrail`` holding one kind of source (or a mix) with the sample day's records."""
    recs = _day_records(with_data=kind.endswith("+data"))
    if kind.startswith(("log files", "mixed")):
        day = cloudtrail / DAY
        day.mkdir(parents=True)
        for f in (sample_case().cloudtrail / DAY).glob("*.json.gz"):
            shutil.copy(f, day / f.name)
        if kind.endswith("+data"):
            (day / (FIXTURE.name + ".gz")).write_bytes(gzip.compress(FIXTURE.read_bytes()))
    if kind.startswith(("answer", "mixed")):
        (cloudtrail / "lookup-us-east-1.json").write_bytes(_answer(recs))
    if kind == "answer, gzipped":
        (cloudtrail / "lookup-us-east-1.json.gz").write_bytes(
            gzip.compress((cloudtrail / "lookup-us-east-1.json").read_bytes())
        )
        (cloudtrail / "lookup-us-east-1.json").unlink()
    if kind == "answer pages, JSON lines":
        (cloudtrail / "lookup-us-east-1.json").unlink()
        pages = [recs[i : i + 50] for i in range(0, len(recs), 50)]
        lines = b"\n".join(_answer(p).replace(b"\n", b"") for p in pages)
        (cloudtrail / "lookup-pages.jsonl").write_bytes(lines)
    if kind == "records, JSON lines":  # a trail's records (from its files): may hold data events
        lines = b"\n".join(json.dumps(r).encode() for r in recs)
        (cloudtrail / "records.jsonl").write_bytes(lines)


#: Each kind of source a case folder's cloudtrail/ can hold → the data-events state it gives.
CASE_KINDS = {
    "log files": NONE_RECORDED,
    "log files+data": RECORDED,
    "records, JSON lines": NONE_RECORDED,
    "answer": NOT_SEARCHED,
    "answer, gzipped": NOT_SEARCHED,
    "answer pages, JSON lines": NOT_SEARCHED,
    "mixed": NONE_RECORDED,
    "mixed+data": RECORDED,
}


@pytest.mark.parametrize(("kind", "state"), list(CASE_KINDS.items()), ids=list(CASE_KINDS))
@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_every_kind_of_case_folder_source_says_its_data_events(
    tmp_path: Path, kind: str, state: str, engine: str
) -> None:
    """Saved LookupEvents answers are LookupEvents': "not searched", as a live lookup, never
    "none recorded: the trail may not record them" (a log file's); log files and a trail's
    records say what the files hold; a mix counts the log files and says the answers beside
    them hold none. The file loader and DuckDB say the same."""
    cloudtrail = tmp_path / "cloudtrail"
    cloudtrail.mkdir()
    _write_kind(cloudtrail, kind)
    act = load_activity(
        logs=[cloudtrail], access_key=KEY, start=START, end=END,
        engine=EngineOptions(kind=engine),
    )  # fmt: skip
    assert len(act.frame) and act.file_counts is not None
    said = data_events(act)
    assert said.state == state, said.text
    answers = 1 if kind.startswith(("answer", "mixed")) else 0
    assert act.file_counts.lookup_answers == answers
    if state == NOT_SEARCHED:
        assert said.count is None
        assert said.text.startswith(
            "data events not searched: the 1 file(s) read are saved LookupEvents answers"
        )
        assert "may not record" not in said.text
    else:
        assert said.count == (3 if state == RECORDED else 0)
        beside = "1 saved LookupEvents answer(s) read beside them hold none"
        assert (beside in said.text) == kind.startswith("mixed")


def test_a_case_folder_of_saved_lookup_answers_says_not_searched_everywhere(
    tmp_path: Path,
) -> None:
    """A case folder whose cloudtrail/ holds a saved LookupEvents answer: summary.json's
    data_events, the report's activity and Sources cards, the ticket's answer and the terminal
    note of `events` and `investigate` all say "not searched" (LookupEvents), as a live lookup."""
    root = tmp_path / "case"
    shutil.copytree(sample_case().root / "findings", root / "findings")
    (root / "cloudtrail").mkdir()
    _write_kind(root / "cloudtrail", "answer")
    inv = _investigate(root)
    summary = investigation.summary(inv)
    entry = summary["data_events"]
    assert entry["state"] == NOT_SEARCHED and entry["count"] is None
    assert not summary_problems(orjson_round(summary))
    said = entry["text"]
    assert "saved LookupEvents answers" in said
    for card in (display.activity_status(inv), display.sources_card(inv)):
        assert said in _text(card)
    assert f"Data events: {said}" in build_answer(summary).text
    err, out = io.StringIO(), io.StringIO()
    argv = ["events", "--case", str(root), "--access-key", KEY]
    assert main([*argv, "--out", str(tmp_path / "e.parquet")], out=out, err=err) == 0
    notes = [line for line in err.getvalue().splitlines() if "data events" in line]
    assert notes == [f"torinvest: note: {said}"]
    # the summary line names what was read: saved answers, not a trail's log files
    assert " from 1 saved LookupEvents answer file(s)" in out.getvalue(), out.getvalue()
    assert "log file(s)" not in out.getvalue()


def test_a_saved_lookup_answer_is_told_as_records_in_reads_documents() -> None:
    """A file is a saved LookupEvents answer when every document in it is one, as
    :func:`records_in` reads it (``Records`` first; the key spelled with an escape; JSON lines
    of pages, a bad line left out); a log file, a plain record or a mix is not one."""
    recs = _day_records()[:3]
    answer = _answer(recs)
    assert is_lookup_answer(answer)
    assert is_lookup_answer(answer.replace(b'"Events"', b'"\\u0045vents"'))
    assert is_lookup_answer(answer.replace(b"\n", b"") + b"\n{not json\n" + _answer(recs[:1]))
    assert not is_lookup_answer(_records({"Records": recs}))
    assert not is_lookup_answer(_records({"Records": recs, "Events": []}))
    assert not is_lookup_answer(json.dumps([{"Events": []}, *recs]).encode())  # a list
    assert not is_lookup_answer(b"\n".join(json.dumps(r).encode() for r in recs))
    assert not is_lookup_answer(answer.replace(b"\n", b"") + b"\n" + _records(recs[0]))
    assert not is_lookup_answer(b'{"Events": ')  # nothing parses: not read at all
