"""Reading findings files: every export shape, and every kind of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from torinvest import findings as fd
from torinvest.errors import MissingKeyDetailsError, NoFindingsError

GD = Path(__file__).parent.parent / "fixtures" / "guardduty"
SHAPES = GD / "shapes"
BAD = GD / "bad"
EXPECTED = {
    k: v for k, v in json.loads((SHAPES / "EXPECTED.json").read_text()).items() if k != "_note"
}
KEYS = [
    "id",
    "type",
    "access_key_id",
    "user_name",
    "tor_ip",
    "region",
    "account_id",
    "principal_id",
    "user_type",
    "severity",
    "count",
    "api",
]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_export_shape_locates_the_key(name: str) -> None:
    result = fd.read_findings(SHAPES / name).tor_only()
    assert result.issues == []
    assert sum(result.skipped.values()) == EXPECTED[name]["other_findings"]
    frame = result.frame()
    got = {}
    for row, loc in fd.iter_located(frame):
        assert isinstance(loc, fd.KeyLocation), loc
        got[loc.finding_id] = {
            "id": loc.finding_id,
            "type": loc.finding_type,
            "access_key_id": loc.access_key_id,
            "user_name": loc.user_name,
            "tor_ip": loc.tor_ip,
            "region": loc.region,
            "account_id": loc.account_id,
            "principal_id": loc.principal_id,
            "user_type": loc.user_type,
            "severity": float(row["severity"]),
            "count": int(row["count"]),
            "api": loc.api,
            "kind": loc.kind,
            "first_seen": loc.first_seen,
            "last_seen": loc.last_seen,
        }
    want = {
        e["id"]: {k: e[k] for k in KEYS}
        | {
            "kind": "long-term",
            "first_seen": pd.Timestamp(e["first_seen"]),
            "last_seen": pd.Timestamp(e["last_seen"]),
        }
        for e in EXPECTED[name]["tor_findings"]
    }
    assert got == want


def test_location_fields_come_from_the_frame_row() -> None:
    frame = fd.read_findings(SHAPES / "asff.json").frame()
    row = frame.iloc[0]
    loc = fd.locate_key(row)
    assert (loc.finding_id, loc.access_key_id, loc.tor_ip) == (
        row["id"],
        row["access_key_id"],
        row["tor_ip"],
    )


def test_all_shapes_together_dedupe_to_the_case_findings() -> None:
    result = fd.read_findings(SHAPES).tor_only()
    ids = sorted(f.id for f in result.findings)
    assert ids == ["6dde0a8f8d46f6acad893b30f905e97c", "7f176d541deef88b1ad653b9ed646f29"]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder with one valid export beside every bad file."""
    shutil.copy(SHAPES / "single_raw.json", tmp_path / "good.json")
    for f in BAD.glob("*.json"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _issues_by_file(result: fd.FindingsResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for issue in result.issues:
        name = Path(issue.source.split("[")[0].split(":")[0]).name
        out.setdefault(name, []).append(issue.problem)
    return out


def test_bad_files_are_reported_one_each_and_the_valid_rest_loads(mixed: Path) -> None:
    result = fd.read_findings(mixed)
    issues = _issues_by_file(result)
    assert sorted(issues) == [
        "empty.json",
        "invalid.json",
        "invalid_id.json",
        "invalid_region.json",
        "not_a_finding.json",
    ]
    assert all(len(v) == 1 for v in issues.values()), issues
    assert "empty" in issues["empty.json"][0]
    assert "invalid JSON" in issues["invalid.json"][0]
    assert "CloudTrail log file" in issues["not_a_finding.json"][0]
    assert "invalid finding id" in issues["invalid_id.json"][0]
    assert "moon-base-1x" in issues["invalid_region.json"][0]
    tor = result.tor_only()
    assert tor.skipped == {"PrivilegeEscalation:IAMUser/AdministrativePermissions": 1}
    # good.json and no_access_key_details.json hold the same finding id: one is kept.
    assert {f.id for f in tor.findings} == {"6dde0a8f8d46f6acad893b30f905e97c"}


def test_tor_finding_without_access_key_details() -> None:
    result = fd.read_findings(BAD / "no_access_key_details.json").tor_only()
    (finding,) = result.findings
    with pytest.raises(MissingKeyDetailsError, match=finding.id):
        fd.locate_key(finding)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("trunc.json.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00"),
        ("list.json", b"[]"),
        ("scalar.json", b"42"),
    ],
)
def test_more_unreadable_content_becomes_one_issue(
    tmp_path: Path, name: str, content: bytes
) -> None:
    (tmp_path / name).write_bytes(content)
    result = fd.read_findings(tmp_path)
    assert result.findings == []
    assert len(result.issues) == 1
    assert result.issues[0].source.startswith(str(tmp_path / name))


def test_json_lines_with_one_bad_line_keep_the_others(tmp_path: Path) -> None:
    lines = (SHAPES / "findings.jsonl").read_bytes().splitlines()
    (tmp_path / "f.jsonl").write_bytes(b"\n".join([lines[0], b"{not json", *lines[1:]]))
    result = fd.read_findings(tmp_path)
    assert [i.source for i in result.issues] == [f"{tmp_path / 'f.jsonl'}:2"]
    assert len(result.findings) == len(lines)


def test_folder_without_findings_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(NoFindingsError, match="no findings files"):
        fd.read_findings(tmp_path)


def test_missing_path() -> None:
    with pytest.raises(NoFindingsError, match="no such file"):
        fd.read_findings("/nonexistent/case/findings")


@pytest.mark.parametrize(
    ("doc", "said"),
    [
        (
            {
                "FindingIds": [
                    "6dde0a8f8d46f6acad893b30f905e97c",
                    "7f176d541deef88b1ad653b9ed646f29",
                ]
            },
            "`aws guardduty list-findings` output: 2 finding ID(s), no finding; get the findings "
            "with `aws guardduty get-findings",
        ),
        (
            # Security Hub's OCSF finding (get-findings-v2): a Detection Finding, class 2004
            {
                "Findings": [
                    {
                        "class_uid": 2004,
                        "class_name": "Detection Finding",
                        "finding_info": {
                            "uid": "arn:aws:guardduty:us-east-1:1:detector/d/finding/f"
                        },
                        "metadata": {"product": {"name": "GuardDuty"}, "version": "1.6.0"},
                    }
                ]
            },
            "a finding in OCSF (Security Hub's `get-findings-v2`, Security Lake), which "
            "torinvest does not read",
        ),
    ],
)
def test_exports_near_a_finding_say_what_they_are(
    tmp_path: Path, doc: dict[str, object], said: str
) -> None:
    """What an analyst saves instead of findings: IDs only, or another schema's findings. Each is
    named and how to export the findings said, not only its keys."""
    (tmp_path / "saved.json").write_text(json.dumps(doc))
    result = fd.read_findings(tmp_path)
    assert result.findings == []
    (issue,) = result.issues
    assert issue.problem.startswith("not a GuardDuty finding (") and said in issue.problem
