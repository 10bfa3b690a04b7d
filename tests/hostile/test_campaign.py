"""Hostile inputs and faults for the campaign sections (related findings, who else used these
addresses): each case asserts the outcome and that nothing valid beside it was lost.
docs/hostile-inputs.md, "Related findings and the IP pivot", lists them.
"""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pandas as pd
import pytest

from tests.campaign_case import (
    BY_IP,
    DISCOVERY,
    FINDING,
    KEY,
    OTHER_KEY,
    PRINCIPAL,
    RECON,
    SEQUENCE,
    TOR_IPS,
    attack_sequence,
    extend_case,
    other_principal_records,
    related_findings,
)
from tests.fake_aws.server import HTML_PAGE, FakeAws
from torinvest import campaign, display, investigation
from torinvest.aws import Aws, AwsConfig
from torinvest.cli import build_parser
from torinvest.findings.related import (
    COULD_NOT_LOOK,
    LOOKED,
    PARTIAL,
    fetch_related,
    make_subject,
)
from torinvest.pivot import NOT_LOOKED, load_ip_pivot, pivot_addresses
from torinvest.report.summary import check_summary_data, summary_data

WINDOW = (pd.Timestamp("2023-06-26T12:17:08Z"), pd.Timestamp("2023-07-17T12:20:04Z"))
HOSTILE_NAME = "<img src=x onerror=alert(1)>$(touch /tmp/pwned);'`id`"


def run(case: Path) -> investigation.Investigation:
    src = investigation.sources_from_parameters(case_dir=str(case))
    findings = investigation.load_findings(src)
    inv = investigation.investigate(FINDING, src, findings=findings)
    return campaign.look_around(inv, findings)


def test_related_findings_with_missing_and_wrong_typed_fields(tmp_path: Path) -> None:
    bad_sequence = attack_sequence("5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e", severity="high")
    seq = bad_sequence["service"]["detection"]["sequence"]
    seq["actors"] = {"user": {"credentialUid": KEY}}  # an object, not a list: not read
    seq["endpoints"] = ["185.220.101.34", {"ip": 185}, {"ip": "185.220.101.34"}]
    no_times = copy.deepcopy(attack_sequence("6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f"))
    no_times["service"]["detection"]["sequence"]["actors"][0]["user"]["credentialUid"] = 12345
    for k in ("eventFirstSeen", "eventLastSeen"):
        no_times["service"].pop(k)
    no_times.pop("createdAt"), no_times.pop("updatedAt")
    case = extend_case(tmp_path, findings=[*related_findings(), bad_sequence, no_times])
    inv = run(case)
    rel = inv.related
    assert rel is not None and rel.status == LOOKED
    links = {r["id"]: r["link"] for r in rel.findings}
    # the valid ones, all kept
    assert {DISCOVERY, SEQUENCE, RECON, BY_IP} <= set(links)
    # the bad sequence: its actor list unreadable, its one good endpoint still links it
    assert links["5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"] == ["ip"]
    # a numeric credentialUid is not the key; its principal is; no time: kept (not outside)
    assert links["6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f"] == ["principal", "ip"]
    by_id = {r["id"]: r for r in rel.findings}
    assert by_id["5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"]["severity"] is None  # dropped, said so
    assert any("severity" in i.problem for i in rel.issues)
    check_summary_data(summary_data(inv, {}))


def test_an_unreadable_findings_file_beside_good_ones_is_partial(tmp_path: Path) -> None:
    case = extend_case(tmp_path)
    torn = case / "findings" / "torn.json"
    torn.write_text('{"Findings": [{"Id": "abc', encoding="utf-8")
    inv = run(case)
    rel = inv.related
    assert rel is not None and rel.status == PARTIAL
    assert [i.source for i in rel.failed] == [str(torn)]
    assert {DISCOVERY, SEQUENCE, RECON, BY_IP} <= {r["id"] for r in rel.findings}
    assert "could not search" in rel.describe() and "torn.json" in rel.describe()
    data = check_summary_data(summary_data(inv, {}))
    assert data["related_findings_search"]["status"] == PARTIAL
    assert data["related_findings_search"]["not_searched"][0]["source"] == str(torn)


def test_a_findings_record_that_cannot_be_read_makes_the_search_partial(tmp_path: Path) -> None:
    """A JSON-lines file whose second line (a related finding) is cut short, and one whose every
    line is: the search is partial (never "looked"), naming the line and the file; the whole
    lines' findings are kept."""
    case = extend_case(tmp_path)
    lines = [json.dumps(f) for f in related_findings()[:2]]
    cut = case / "findings" / "analyst-b.jsonl"
    cut.write_text(f"{lines[0]}\n{lines[1][:200]}\n", encoding="utf-8")
    torn = case / "findings" / "torn.jsonl"
    torn.write_text(f"{lines[1][:100]}\n", encoding="utf-8")
    inv = run(case)
    rel = inv.related
    assert rel is not None and rel.status == PARTIAL
    assert sorted(i.source for i in rel.failed) == sorted([f"{cut}:2", str(torn)])
    assert {DISCOVERY, SEQUENCE, RECON, BY_IP} <= {r["id"] for r in rel.findings}
    said = rel.describe()
    assert f"could not search {torn}" in said and f"could not read {cut}:2" in said
    data = check_summary_data(summary_data(inv, {}))
    assert data["related_findings_search"]["status"] == PARTIAL
    assert {i["source"] for i in data["related_findings_search"]["not_searched"]} == {
        f"{cut}:2",
        str(torn),
    }


def test_a_principal_name_with_markup_and_shell_metacharacters(tmp_path: Path) -> None:
    hostile_key = "AKIA;rm -rf ~ #"  # not an access key ID: never put in a command as one
    records = [
        *other_principal_records(user_name=HOSTILE_NAME),
        *other_principal_records(user_name=HOSTILE_NAME, key=hostile_key)[:1],
    ]
    for n, r in enumerate(records):
        r["eventID"] = f"00000000-0000-0000-0000-00000000000{n}"
    case = extend_case(tmp_path, records=records)
    inv = run(case)
    assert inv.pivot is not None
    table = inv.pivot.table
    assert list(table["user_name"]) == [HOSTILE_NAME, HOSTILE_NAME]  # kept exactly, as data
    by_key = {r["access_key_id"]: r for r in table.to_dict("records")}
    parser = build_parser()  # each command as printed parses back, each value whole
    args = parser.parse_args(shlex.split(by_key[OTHER_KEY]["command"])[1:])
    assert args.access_key == OTHER_KEY
    args = parser.parse_args(shlex.split(by_key[hostile_key]["command"])[1:])
    assert args.access_key is None
    assert args.username == HOSTILE_NAME  # one argument, inert
    html = display.ip_pivot(inv).data
    assert "<img" not in html and "&lt;img src=x" in html
    summary = check_summary_data(summary_data(inv, {}))
    assert {r["user_name"] for r in summary["ip_pivot"]} == {HOSTILE_NAME}


def test_guardduty_denied_in_one_region_and_html_in_another(fake_aws: FakeAws) -> None:
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    gd.add_findings(related_findings())
    for region in ("eu-west-1", "ap-southeast-1"):
        fake_aws.guardduty(region).add_detector()
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException")
    fake_aws.fail("guardduty", "ap-southeast-1", 200, body=HTML_PAGE, content_type="text/html")
    subject = make_subject([KEY], principal=PRINCIPAL, ips=TOR_IPS, start=WINDOW[0], end=WINDOW[1])
    got = fetch_related(Aws(AwsConfig()), ["us-east-1", "eu-west-1", "ap-southeast-1"], subject)
    assert got.status == PARTIAL
    problems = {i.source: i.problem for i in got.failed}
    assert set(problems) == {"guardduty:eu-west-1", "guardduty:ap-southeast-1"}
    assert "guardduty:ListDetectors" in problems["guardduty:eu-west-1"] or "denied" in (
        problems["guardduty:eu-west-1"].lower()
    )
    assert "HTML" in problems["guardduty:ap-southeast-1"]
    assert {r["id"] for r in got.findings} == {DISCOVERY, SEQUENCE, BY_IP}


def test_no_region_answers_reads_could_not_look_not_none(fake_aws: FakeAws) -> None:
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.fail("guardduty", "*", "AccessDeniedException")
    got = fetch_related(Aws(AwsConfig()), ["us-east-1"], make_subject([KEY], ips=TOR_IPS))
    assert got.status == COULD_NOT_LOOK
    assert "No related finding" not in got.describe()
    assert got.describe().startswith("Could not look")


@pytest.mark.parametrize(
    "source",
    ["AWS Internal", "iam.amazonaws.com", "1.2.3.4' OR 1=1 --", "", None],
)
def test_a_source_ip_that_is_not_an_address_is_not_looked_for(source: object) -> None:
    per_ip = pd.DataFrame(
        {
            "source_ip": [source, "185.220.101.34"],
            "tor": pd.array([pd.NA, True], dtype="boolean"),
            "new": pd.array([True, True], dtype="boolean"),
        }
    )
    assert pivot_addresses(per_ip) == ["185.220.101.34"]


def test_no_address_to_look_for_is_not_looked_not_none() -> None:
    pivot = load_ip_pivot(["AWS Internal"], logs=["/nonexistent"])
    assert pivot.status == NOT_LOOKED
    assert pivot.describe().startswith("Other callers of these addresses not looked for")


def test_log_files_that_cannot_be_read_is_could_not_look(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "111122223333_CloudTrail_us-east-1_20230710T1200Z_x.json.gz").write_bytes(b"\x1f\x8b")
    pivot = load_ip_pivot(list(TOR_IPS), logs=[str(folder)], start=WINDOW[0], end=WINDOW[1])
    assert pivot.status == COULD_NOT_LOOK
    assert pivot.issues and "decompress" in pivot.issues[0].problem
    assert json.dumps(pivot.search_summary())  # serializable, status says it
