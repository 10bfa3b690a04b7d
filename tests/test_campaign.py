"""The campaign around the key (issue 15, items 1–2): related findings and who else used the
key's addresses — on the sample case and on the case extended with a second principal calling
from the Tor exits and related findings of other types (tests/campaign_case.py); the same
answers from the file loader, DuckDB and Athena; GuardDuty through the fake endpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.campaign_case import (
    BY_IP,
    DISCOVERY,
    FINDING,
    KEY,
    OLD,
    OTHER_KEY,
    OTHER_USER,
    PRINCIPAL,
    RECON,
    SEQUENCE,
    TOR_IPS,
    extend_case,
    other_principal_unknown_outcome,
    related_findings,
)
from tests.fake_aws.server import AthenaRegion, FakeAws
from tests.offline_regions import SAMPLE_REGIONS
from tests.sample_window import COVERED
from tests.sources.sql.helpers import athena_results
from torinvest import campaign, investigation
from torinvest.aws import Aws, AwsConfig
from torinvest.case import sample_case
from torinvest.cli import build_parser, main
from torinvest.events import EngineOptions
from torinvest.findings.related import (
    ATTACK_SEQUENCE_IAM,
    COULD_NOT_LOOK,
    LOOKED,
    PARTIAL,
    fetch_related,
    make_subject,
    related_criteria,
)
from torinvest.pivot import LOOKUP_CANNOT, ip_calls, load_ip_pivot, pivot_table
from torinvest.report.summary import check_summary_data, summary_data
from torinvest.sources.logs import load_logs
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.queries import ip_pivot_query, make_scope
from torinvest.sources.sql.run import ip_pivot_sql

DERIVED = "ASIATFQR7NSCNGEI5QNT"  # minted by KEY (GetSessionToken): the same actor
#: The investigation's window (:data:`tests.sample_window.COVERED`: the day the trail holds).
WINDOW = (pd.Timestamp("2023-07-10T00:17:08Z"), pd.Timestamp("2023-07-10T21:56:04Z"))


def investigate(case: Path) -> investigation.Investigation:
    """The sample finding and its campaign over ``case``, read for the sample trail's regions
    (named on Sources: sources_from_parameters does not take them with a case folder)."""
    src = investigation.sources_from_parameters(case_dir=str(case))
    src = dataclasses.replace(src, regions=list(SAMPLE_REGIONS))
    findings = investigation.load_findings(src)
    inv = investigation.investigate(FINDING, src, findings=findings, **COVERED)
    return campaign.look_around(inv, findings)


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extend_case(tmp_path_factory.mktemp("campaign"))


@pytest.fixture(scope="module")
def extended_inv(extended: Path) -> investigation.Investigation:
    return investigate(extended)


# --------------------------------------------------------------------------------------------
# the Python API
# --------------------------------------------------------------------------------------------
def test_sample_case_the_recon_finding_is_related_and_nobody_else_called() -> None:
    inv = investigate(sample_case().root)
    assert inv.related is not None and inv.pivot is not None
    assert inv.related.status == LOOKED
    # the other Tor finding of the key; the PrivilegeEscalation finding names neither
    assert [(r["id"], r["link"]) for r in inv.related.findings] == [
        (RECON, ["access_key", "principal", "ip"])
    ]
    assert inv.pivot.status == LOOKED
    assert inv.pivot.ips == sorted(TOR_IPS)
    assert inv.pivot.table.empty
    assert inv.pivot.describe().startswith("No other key or principal called from the 3")
    assert not [i for i in inv.data_issues if i.source in ("ip pivot", "related findings")]


def test_extended_case_both_found_in_the_python_api(
    extended_inv: investigation.Investigation,
) -> None:
    rel, pivot = extended_inv.related, extended_inv.pivot
    assert rel is not None and pivot is not None
    links = {r["id"]: r["link"] for r in rel.findings}
    assert links == {
        DISCOVERY: ["access_key", "principal", "ip"],
        SEQUENCE: ["access_key", "principal", "ip"],  # from the sequence's actor and endpoint
        RECON: ["access_key", "principal", "ip"],
        BY_IP: ["ip"],  # another key's finding, from one of the key's Tor exits
    }
    assert OLD not in links and FINDING not in links  # out of the window; the subject itself
    by_id = {r["id"]: r for r in rel.findings}
    assert by_id[DISCOVERY]["archived"] is True
    assert by_id[SEQUENCE]["type"] == ATTACK_SEQUENCE_IAM
    assert [r["link"] for r in rel.findings][-1] == ["ip"]  # strongest link first

    assert len(pivot.table) == 1
    row = pivot.table.iloc[0]
    assert (row["access_key_id"], row["user_name"]) == (OTHER_KEY, OTHER_USER)
    assert row["source_ips"] == ["185.220.101.34", "199.249.230.87"]
    assert (int(row["calls"]), int(row["failed"])) == (4, 1)
    assert row["first_seen"] == pd.Timestamp("2023-07-10T12:14:05Z")
    assert row["last_seen"] == pd.Timestamp("2023-07-10T12:26:05Z")
    args = build_parser().parse_args(shlex.split(row["command"])[1:])  # parses as printed
    assert args.command == "events" and args.access_key == OTHER_KEY
    assert args.case == [str(extended_inv.sources.case.root)]  # type: ignore[union-attr]


def test_extended_case_in_the_summary(extended_inv: investigation.Investigation) -> None:
    data = check_summary_data(summary_data(extended_inv, {}))
    assert {r["id"] for r in data["related_findings"]} == {DISCOVERY, SEQUENCE, RECON, BY_IP}
    assert data["related_findings_search"]["status"] == LOOKED
    (other,) = data["ip_pivot"]
    assert other["access_key_id"] == OTHER_KEY and other["calls"] == 4 and other["failed"] == 1
    assert other["source_ips"] == ["185.220.101.34", "199.249.230.87"]
    assert other["first_seen"] == "2023-07-10T12:14:05Z"
    assert other["command"].startswith("torinvest events ")
    assert data["ip_pivot_search"]["status"] == LOOKED
    assert data["ip_pivot_search"]["ips"] == sorted(TOR_IPS)


def test_not_asked_for_reads_not_looked_in_the_summary() -> None:
    src = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    inv = investigation.investigate(FINDING, src)
    data = check_summary_data(summary_data(inv, {}))
    assert data["related_findings"] == [] and data["ip_pivot"] == []
    assert data["related_findings_search"]["status"] == "not looked"
    assert data["ip_pivot_search"]["status"] == "not looked"


def test_the_command_names_the_tor_finding_of_a_caller_when_there_is_one() -> None:
    src = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    row = {"access_key_id": OTHER_KEY, "user_name": OTHER_USER}
    cmd = campaign.command_for(row, src, WINDOW, {OTHER_KEY: "f" * 32})
    assert shlex.split(cmd or "")[:3] == ["torinvest", "investigate", "f" * 32]
    no_key = campaign.command_for({"user_name": "a b"}, src, WINDOW, {})
    assert build_parser().parse_args(shlex.split(no_key or "")[1:]).username == "a b"
    assert campaign.command_for({}, src, WINDOW, {}) is None


# --------------------------------------------------------------------------------------------
# one query, three engines
# --------------------------------------------------------------------------------------------
def test_the_log_loader_keeps_only_the_addresses_asked_for(extended: Path) -> None:
    logs = str(extended / "cloudtrail")
    everything = load_logs(logs).frame
    picked = load_logs(logs, source_ips=["185.220.101.34"]).frame
    expected = everything[everything["source_ip"] == "185.220.101.34"]
    assert len(picked) == len(expected) == 17 + 3
    assert sorted(picked["event_id"]) == sorted(expected["event_id"])
    assert set(picked["access_key_id"]) == {KEY, OTHER_KEY}


def test_files_duckdb_and_athena_give_the_same_callers(
    extended: Path, fake_athena: AthenaRegion
) -> None:
    logs = [str(extended / "cloudtrail")]
    common = {
        "start": WINDOW[0],
        "end": WINDOW[1],
        "exclude_keys": [KEY, DERIVED],
        "regions": list(SAMPLE_REGIONS),  # the case's trail regions: none missing
    }
    files = load_ip_pivot(list(TOR_IPS), logs=logs, **common)  # type: ignore[arg-type]
    duck = load_ip_pivot(
        list(TOR_IPS),
        logs=logs,
        engine=EngineOptions(kind="duckdb"),
        **common,  # type: ignore[arg-type]
    )
    assert files.status == duck.status == LOOKED
    pd.testing.assert_frame_equal(files.table, duck.table)
    assert list(files.table["access_key_id"]) == [OTHER_KEY]

    # Athena: the same query translated to Trino, its rows served as Athena serves them
    scope = make_scope(start=WINDOW[0], end=WINDOW[1])
    query = ip_pivot_query(scope, TOR_IPS)
    with DuckDBEngine(logs[0]) as engine:
        rows = engine.run(query).table
        reference = ip_pivot_sql(engine, source_ips=TOR_IPS, start=WINDOW[0], end=WINDOW[1]).frame
    fake_athena.add_answers(athena_results(rows, dict(query.columns)))
    athena = AthenaEngine(database="security", sleep=lambda _: None)
    got = ip_pivot_sql(athena, source_ips=TOR_IPS, start=WINDOW[0], end=WINDOW[1])
    (stats,) = got.queries
    assert '"date"' in stats.sql  # partitions pruned to the window
    pd.testing.assert_frame_equal(got.frame, reference)
    from_athena = pivot_table(got.frame, exclude_keys=[KEY, DERIVED])
    pd.testing.assert_frame_equal(from_athena, files.table)
    # and the rows the file loader's frame gives
    ref_calls = ip_calls(load_logs(logs, start=WINDOW[0], end=WINDOW[1]).frame, TOR_IPS)
    key = ["access_key_id", "source_ip"]
    pd.testing.assert_frame_equal(
        ref_calls.sort_values(key).reset_index(drop=True),
        reference.sort_values(key).reset_index(drop=True),
    )


@pytest.fixture(scope="module")
def unknown_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extended case with a saved lookup-events answer of 3 more ``mallory`` calls from a
    Tor exit whose records are partial: 2 of unknown outcome, 1 denied
    (:func:`tests.campaign_case.other_principal_unknown_outcome`)."""
    case = extend_case(tmp_path_factory.mktemp("unknown"))
    (case / "cloudtrail" / "lookup-events.json").write_bytes(other_principal_unknown_outcome())
    return case


#: mallory's row with the saved answer: 4 + 3 calls, 1 + 1 failed, 2 of unknown outcome.
UNKNOWN_ROW = {"calls": 7, "failed": 2, "outcome_unknown": 2}


def test_calls_of_unknown_outcome_are_counted_apart_by_every_engine(
    unknown_case: Path, fake_athena: AthenaRegion
) -> None:
    """Calls whose outcome is unknown (a LookupEvents answer's partial records) are neither
    "failed" nor "not failed" in the pivot: files, DuckDB and Athena count them apart (they
    were read as not failed: 7 calls, 2 failed, as if 5 succeeded)."""
    logs = [str(unknown_case / "cloudtrail")]
    common = {"start": WINDOW[0], "end": WINDOW[1], "exclude_keys": [KEY, DERIVED]}
    files = load_ip_pivot(list(TOR_IPS), logs=logs, **common)  # type: ignore[arg-type]
    duck = load_ip_pivot(
        list(TOR_IPS),
        logs=logs,
        engine=EngineOptions(kind="duckdb"),
        **common,  # type: ignore[arg-type]
    )
    (row,) = files.table.to_dict("records")
    assert {c: int(row[c]) for c in UNKNOWN_ROW} == UNKNOWN_ROW
    assert "7 call(s): 2 failed, 2 of unknown outcome" in files.describe()
    pd.testing.assert_frame_equal(files.table, duck.table)
    # Athena: the query's Trino text (it counts the calls of unknown outcome apart) and its
    # answer read back as DuckDB's rows
    scope = make_scope(start=WINDOW[0], end=WINDOW[1])
    query = ip_pivot_query(scope, TOR_IPS)
    assert "outcome_unknown" in AthenaEngine(database="security").sql(query)
    with DuckDBEngine(logs[0]) as engine:
        rows = engine.run(query).table
        reference = ip_pivot_sql(engine, source_ips=TOR_IPS, start=WINDOW[0], end=WINDOW[1]).frame
    fake_athena.add_answers(athena_results(rows, dict(query.columns)))
    athena = AthenaEngine(database="security", sleep=lambda _: None)
    got = ip_pivot_sql(athena, source_ips=TOR_IPS, start=WINDOW[0], end=WINDOW[1])
    pd.testing.assert_frame_equal(got.frame, reference)
    pd.testing.assert_frame_equal(pivot_table(got.frame, exclude_keys=[KEY, DERIVED]), files.table)
    # per (caller, IP), the file loader's frame gives the engine's rows
    ref_calls = ip_calls(load_logs(logs, start=WINDOW[0], end=WINDOW[1]).frame, TOR_IPS)
    key = ["access_key_id", "source_ip"]
    pd.testing.assert_frame_equal(
        ref_calls.sort_values(key).reset_index(drop=True),
        reference.sort_values(key).reset_index(drop=True),
    )


def test_the_pivot_card_and_summary_say_the_calls_of_unknown_outcome(unknown_case: Path) -> None:
    """summary.json's ``ip_pivot[]`` and the report's card carry the count apart (the card's
    table showed "7 calls, 2 failed"); a summary written before the key still conforms."""
    from torinvest import display

    inv = investigate(unknown_case)
    data = check_summary_data(summary_data(inv, {}))
    (other,) = data["ip_pivot"]
    assert {c: other[c] for c in UNKNOWN_ROW} == UNKNOWN_ROW
    older = copy.deepcopy(data)
    del older["ip_pivot"][0]["outcome_unknown"]
    check_summary_data(older)
    card = display.ip_pivot(inv).data
    assert '<th class="ti-id">outcome_unknown</th>' in card
    assert "7 call(s): 2 failed, 2 of unknown outcome" in card


def test_lookup_events_cannot_filter_by_ip_and_says_so() -> None:
    pivot = load_ip_pivot(list(TOR_IPS), lookup=True, start=WINDOW[0], end=WINDOW[1])
    assert pivot.status == COULD_NOT_LOOK
    assert [i.problem for i in pivot.issues] == [LOOKUP_CANNOT]
    assert pivot.describe().startswith("Could not look")
    # beside log files: what the files hold, flagged partial
    beside = load_ip_pivot(
        list(TOR_IPS),
        lookup=True,
        logs=[str(sample_case().cloudtrail)],
        start=WINDOW[0],
        end=WINDOW[1],
        exclude_keys=[KEY],
    )
    assert beside.status == PARTIAL and LOOKUP_CANNOT in beside.describe() + str(beside.issues)


# --------------------------------------------------------------------------------------------
# GuardDuty
# --------------------------------------------------------------------------------------------
def test_related_findings_from_guardduty_archived_too_one_region_denied(
    fake_aws: FakeAws,
) -> None:
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    tor = json.loads((sample_case().findings / "eventbridge-recon.json").read_text())["detail"]
    gd.add_findings([*related_findings(), tor])
    fake_aws.guardduty("eu-west-1").add_detector()
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException")
    subject = make_subject(
        [KEY],
        principal=PRINCIPAL,
        ips=TOR_IPS,
        start=WINDOW[0],
        end=WINDOW[1],
        exclude=[FINDING],
    )
    got = fetch_related(Aws(AwsConfig()), ["us-east-1", "eu-west-1"], subject)
    assert got.status == PARTIAL
    assert [i.source for i in got.failed] == ["guardduty:eu-west-1"]
    assert {r["id"] for r in got.findings} == {DISCOVERY, SEQUENCE, RECON, BY_IP}
    assert "could not search guardduty:eu-west-1" in got.describe()
    # one ListFindings per link (criteria are ANDed), each validated against botocore's model
    sent = [
        tuple(sorted(c.params["FindingCriteria"]["Criterion"]))
        for c in fake_aws.calls("ListFindings", region="us-east-1")
    ]
    assert sent == [tuple(sorted(c["Criterion"])) for c in related_criteria(subject)]
    assert all(c.status == 200 for c in fake_aws.calls("ListFindings", region="us-east-1"))
    assert not any(
        "service.archived" in c.params["FindingCriteria"]["Criterion"]
        for c in fake_aws.calls("ListFindings")
    )


def test_a_related_finding_guardduty_answers_unreadably_makes_the_search_partial(
    fake_aws: FakeAws,
) -> None:
    """GuardDuty lists a finding for a link (the key, an IP) but its answer cannot be parsed,
    or its ID is unusable: it may be a related one, so the search is partial, naming the
    region and how many findings could not be read (as a findings file's unreadable record
    is) — never "No related finding in 1 of 1 source(s)" —, each said once however many links
    listed it; the findings read are kept, and the region still counts as searched."""
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    discovery, _sequence, by_ip, _old = related_findings()
    unparsable = {**copy.deepcopy(discovery), "severity": "critical"}
    unusable = {**copy.deepcopy(by_ip), "id": "not a finding id"}
    gd.add_findings([unparsable, unusable])
    subject = make_subject(
        [KEY], principal=PRINCIPAL, ips=TOR_IPS, start=WINDOW[0], end=WINDOW[1], exclude=[FINDING]
    )
    got = fetch_related(Aws(AwsConfig()), ["us-east-1"], subject)
    assert got.status == PARTIAL and got.findings == []
    assert got.describe() == (
        "No related finding in 1 of 1 source(s); could not read guardduty:us-east-1 "
        "(2 finding(s)), so others may be there"
    )
    problems = [i.problem for i in got.failed]
    assert len(problems) == len(set(problems)) == 2
    assert any(DISCOVERY in p for p in problems) and not got.issues
    assert len(got.search_summary()["not_searched"]) == 2

    gd.add_findings([by_ip])  # a readable related finding beside them is kept
    got = fetch_related(Aws(AwsConfig()), ["us-east-1"], subject)
    assert got.status == PARTIAL and [r["id"] for r in got.findings] == [BY_IP]
    assert got.describe().startswith("1 related finding(s) in 1 of 1 source(s); could not read")


def test_credentials_that_expire_after_the_first_link_keep_its_findings_read_in_part(
    fake_aws: FakeAws,
) -> None:
    """The reproduction: credentials that expired after the key's search (the first link)
    made the region's next link fail, and the whole region read "Could not look" — the key's
    related finding, already listed, thrown away; and a listing stopped on page 2 read as
    "could not read guardduty:us-east-1 (1 finding(s))", as if one finding were unreadable.
    Now the findings listed are kept and the region says it was searched in part: which links
    were not searched, and why. Expired on the first link (nothing answered), the region could
    not be searched — never searched with nothing found."""
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    gd.add_findings(related_findings())
    subject = make_subject(
        [KEY], principal=PRINCIPAL, ips=TOR_IPS, start=WINDOW[0], end=WINDOW[1], exclude=[FINDING]
    )
    expired = "The security token included in the request is expired"
    fake_aws.fail("guardduty", "us-east-1", "ExpiredTokenException", operation="ListFindings",
                  message=expired, after=1)  # fmt: skip
    got = fetch_related(Aws(AwsConfig(max_workers=1)), ["us-east-1"], subject)
    assert got.status == PARTIAL and [r["id"] for r in got.findings] == [DISCOVERY]
    (issue,) = got.failed
    assert issue.source == "guardduty:us-east-1" and issue.unread
    links = len(related_criteria(subject))
    assert issue.problem.startswith(
        f"read in part: 1 finding(s) listed by 1 of the {links} searches (one per link), then "
        "the search on the principal stopped: credentials expired calling ListFindings"
    )
    assert issue.problem.endswith(
        "the links from that search on (the principal, the Tor IP(s), attack sequences "
        "(AttackSequence:IAM/CompromisedCredentials)) were not searched: their findings are not "
        "listed"
    )
    assert got.describe() == (
        "1 related finding(s) in 1 of 1 source(s); searched guardduty:us-east-1 only in part "
        "(the search stopped), so others may be there"
    )
    assert got.search_summary()["not_searched"] == [issue.to_dict()]

    fake_aws.reset()  # expired from the first call: the region could not be searched
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(related_findings())
    fake_aws.fail("guardduty", "us-east-1", "ExpiredTokenException", operation="ListFindings",
                  message=expired)  # fmt: skip
    got = fetch_related(Aws(AwsConfig(max_workers=1)), ["us-east-1"], subject)
    assert got.status == COULD_NOT_LOOK and got.findings == []
    assert got.describe().startswith(
        "Could not look for related findings: guardduty:us-east-1: credentials expired"
    )


def test_detectors_are_listed_once_per_region_for_the_run(fake_aws: FakeAws) -> None:
    """One run (one Aws: one account's credentials) lists each region's detectors once: the
    Tor findings fetch, then every related-findings link (key, principal, each IP), share the
    answer — it was one ListDetectors per link and region. An error is not kept: the next
    search of that region asks again."""
    from torinvest.findings import fetch_findings

    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    gd.add_findings(related_findings())
    fake_aws.guardduty("eu-west-1").add_detector()
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException", operation="ListDetectors",
                  times=1)  # fmt: skip
    subject = make_subject([KEY], principal=PRINCIPAL, ips=TOR_IPS, start=WINDOW[0])
    assert len(related_criteria(subject)) >= 3  # several links
    aws = Aws(AwsConfig(max_workers=1))
    first = fetch_findings(aws, ["us-east-1", "eu-west-1"])
    assert first.failed == ["guardduty:eu-west-1"]  # denied once: not kept
    got = fetch_related(aws, ["us-east-1", "eu-west-1"], subject)
    assert got.status == LOOKED and {r["id"] for r in got.findings} >= {DISCOVERY, SEQUENCE}
    listed = [c.region for c in fake_aws.calls("ListDetectors")]
    assert listed.count("us-east-1") == 1  # for the fetch and every link
    assert listed.count("eu-west-1") == 2  # denied, then asked again and kept
    assert len(fake_aws.calls("ListFindings", region="us-east-1")) == 1 + len(
        related_criteria(subject)
    )
    fetch_related(Aws(AwsConfig(max_workers=1)), ["us-east-1"], subject)  # another run
    assert [c.region for c in fake_aws.calls("ListDetectors")].count("us-east-1") == 2


def test_guardduty_denied_everywhere_is_could_not_look(fake_aws: FakeAws) -> None:
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.fail("guardduty", "*", "AccessDeniedException")
    subject = make_subject([KEY], principal=PRINCIPAL, ips=TOR_IPS, start=WINDOW[0])
    got = fetch_related(Aws(AwsConfig()), ["us-east-1"], subject)
    assert got.status == COULD_NOT_LOOK and got.findings == []
    assert got.describe().startswith("Could not look for related findings: guardduty:us-east-1")


# --------------------------------------------------------------------------------------------
# the report (one notebook run)
# --------------------------------------------------------------------------------------------
def test_report_shows_both_sections_and_summary_carries_them(
    extended: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    err = io.StringIO()
    code = main(
        ["investigate", FINDING, "--case", str(extended), "--out", str(out)],
        out=io.StringIO(),
        err=err,
    )
    assert code == 0, err.getvalue()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Who else used these addresses (1)" in html
    assert "Related findings (4)" in html
    assert OTHER_KEY in html and ATTACK_SEQUENCE_IAM in html
    assert "torinvest events --case" in html
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [r["access_key_id"] for r in summary["ip_pivot"]] == [OTHER_KEY]
    assert {r["id"] for r in summary["related_findings"]} == {DISCOVERY, SEQUENCE, RECON, BY_IP}


def test_a_finding_without_sightings_is_investigated_over_its_own_days_and_says_so(
    tmp_path: Path,
) -> None:
    """The sample finding without service.eventFirstSeen/eventLastSeen: the window is built
    from createdAt/updatedAt (the finding's days, not today's), the activity is found, and the
    report says where the window came from."""
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    for path in (case / "findings").glob("*.json"):
        text = path.read_text()
        doc = json.loads(text)
        for f in doc.get("Findings", []) or [doc.get("detail", {})]:
            if f.get("Id", f.get("id")) == FINDING:
                svc = f.get("Service") or f.get("service")
                for name in ("EventFirstSeen", "EventLastSeen", "eventFirstSeen", "eventLastSeen"):
                    svc.pop(name, None)
        path.write_text(json.dumps(doc))
    inv = investigate(case)
    assert inv.key.seen_from == "createdAt/updatedAt"
    assert inv.window[0] < pd.Timestamp("2023-07-10T12:00:00Z") < inv.window[1]
    assert inv.totals()["total"] == 71
    said = [i.problem for i in inv.data_issues if i.source == f"finding {FINDING}"]
    assert len(said) == 1 and "built from createdAt/updatedAt" in said[0]


def test_a_finding_with_inverted_sightings_is_investigated_over_both_and_says_so(
    tmp_path: Path,
) -> None:
    """eventFirstSeen a month after eventLastSeen (an edited or damaged export): the window runs
    from the earlier to the later (not empty: "0 events"), and the report says they are
    inverted."""
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    for path in (case / "findings").glob("*.json"):
        doc = json.loads(path.read_text())
        for f in doc.get("Findings", []) or [doc.get("detail", {})]:
            if f.get("Id", f.get("id")) == FINDING:
                svc = f.get("Service") or f.get("service")
                first = "EventFirstSeen" if "EventFirstSeen" in svc else "eventFirstSeen"
                last = "EventLastSeen" if "EventLastSeen" in svc else "eventLastSeen"
                svc[last] = svc[first]
                svc[first] = "2023-08-20T00:00:00Z"
        path.write_text(json.dumps(doc))
    inv = investigate(case)
    assert inv.window[0] < pd.Timestamp("2023-07-10T12:00:00Z") < inv.window[1]
    assert inv.window[1] >= pd.Timestamp("2023-08-20T00:00:00Z")
    assert inv.totals()["total"] == 71
    said = [i.problem for i in inv.data_issues if i.source == f"finding {FINDING}"]
    assert len(said) == 1 and "sightings are inverted" in said[0]
    assert "2023-08-20T00:00:00Z is later than last seen 2023-07-10" in said[0]


def test_related_findings_show_times_as_every_table(
    extended_inv: investigation.Investigation,
) -> None:
    from torinvest import display

    html = display.related_findings(extended_inv).data
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", html)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", html)  # not the summary's ISO form


def test_a_finding_whose_last_sighting_is_unusable_is_read_up_to_its_last_update(
    tmp_path: Path,
) -> None:
    """The sample finding with eventLastSeen not a time and updatedAt two months later
    (GuardDuty kept seeing the key): the window reaches that update — not the first sighting
    plus the look-ahead, which would miss the later use without a word — and says why."""
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    for path in (case / "findings").glob("*.json"):
        doc = json.loads(path.read_text())
        for f in doc.get("Findings", []) or [doc.get("detail", {})]:
            if f.get("Id", f.get("id")) == FINDING:
                svc = f.get("Service") or f.get("service")
                svc["EventLastSeen" if "EventLastSeen" in svc else "eventLastSeen"] = "garbage"
                f["UpdatedAt" if "UpdatedAt" in f else "updatedAt"] = "2023-09-01T00:00:00Z"
        path.write_text(json.dumps(doc))
    inv = investigate(case)
    assert inv.window[1] >= pd.Timestamp("2023-09-01T00:00:00Z")
    said = [i.problem for i in inv.data_issues if i.source == f"finding {FINDING}"]
    assert len(said) == 1 and "no usable service.eventLastSeen" in said[0]
    assert "service.eventFirstSeen/updatedAt" in said[0]
