"""torinvest.findings: shapes → findings frame → located key (offline parts)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from torinvest import findings as fd
from torinvest.errors import (
    FindingNotFoundError,
    InputError,
    InvalidFindingIdError,
    MissingKeyDetailsError,
    NoFindingsError,
    NotATorFindingError,
)
from torinvest.findings.related import make_subject, read_related, related_from_findings
from torinvest.investigation import window_for
from torinvest.schema import FINDINGS_COLUMNS

FIX = Path(__file__).parent.parent / "fixtures" / "guardduty"
RAW = json.loads((FIX / "raw_TorIPCaller_sample_finding.json").read_text())
#: The same finding as a real one: GuardDuty's sample (``additionalInfo.sample``) is left out of
#: every listing and refused by locate_key (test_sample_findings.py).
TOR = copy.deepcopy(RAW)
del TOR["service"]["additionalInfo"]["sample"]
PASCAL = json.loads(
    (FIX / "awscli_example_get-findings_Recon-IAMUser-UserPermissions.json").read_text()
)


def test_raw_finding_normalizes_to_the_documented_frame(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text(json.dumps(RAW))
    result = fd.read_findings(tmp_path)
    frame = result.frame()
    assert list(frame.columns) == [c.name for c in FINDINGS_COLUMNS]
    assert {c.name: str(frame[c.name].dtype) for c in FINDINGS_COLUMNS} == {
        c.name: c.dtype for c in FINDINGS_COLUMNS
    }
    row = frame.iloc[0]
    assert row["id"] == "8eb6396cc2adef8cc8f846c46a920c35"
    assert row["type"] == "UnauthorizedAccess:IAMUser/TorIPCaller"
    assert row["account_id"] == "371522382791"
    assert row["region"] == "us-west-2"
    assert row["severity"] == 5.0
    assert row["first_seen"] == pd.Timestamp("2019-08-08T20:09:13.819Z")
    assert row["last_seen"] == pd.Timestamp("2019-11-13T00:25:31.619Z")
    assert row["count"] == 26
    assert not row["archived"]
    assert row["access_key_id"] == "GeneratedFindingAccessKeyId"
    assert row["key_kind"] == "other"
    assert row["user_type"] == "IAMUser"
    assert row["tor_ip"] == "198.51.100.0"
    assert row["asn_org"] == "GeneratedFindingASNOrg"
    assert row["api"] == "GeneratedFindingAPIName"
    assert bool(row["sample"]) is True
    assert row["shape"] == "raw"
    assert row["raw"] == RAW
    assert result.issues == []


def test_pascal_case_get_findings_response_is_camelized() -> None:
    found, issues = fd.extract_findings(PASCAL, "x.json")
    assert issues == []
    (f,) = found
    assert f.shape == "get-findings"
    assert f.original == PASCAL["Findings"][0]
    assert f.data["resource"]["accessKeyDetails"]["accessKeyId"] == "ASIASZ4SI7REEEXAMPLE"
    ip = f.data["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["ipAddressV4"]
    assert ip == "52.94.36.7"


def test_other_types_are_skipped_and_counted() -> None:
    found, _ = fd.extract_findings([TOR, PASCAL["Findings"][0]], "mixed.json")
    result = fd.FindingsResult(findings=found).tor_only()
    assert [f.id for f in result.findings] == [TOR["id"]]
    assert result.skipped == {"Recon:IAMUser/UserPermissions": 1}


def test_locate_key_of_a_tor_finding() -> None:
    tor = copy.deepcopy(TOR)
    tor["resource"]["accessKeyDetails"].update(
        accessKeyId="AKIAIOSFODNN7EXAMPLE", userName="alice", principalId="AIDAEXAMPLE"
    )
    loc = fd.locate_key(tor)
    assert loc.to_dict() == {
        "finding_id": "8eb6396cc2adef8cc8f846c46a920c35",
        "finding_type": "UnauthorizedAccess:IAMUser/TorIPCaller",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "kind": "long-term",
        "principal_id": "AIDAEXAMPLE",
        "user_name": "alice",
        "user_type": "IAMUser",
        "account_id": "371522382791",
        "region": "us-west-2",
        "tor_ip": "198.51.100.0",
        "api": "GeneratedFindingAPIName",
        "service_name": "GeneratedFindingAPIServiceName",
        "first_seen": "2019-08-08T20:09:13.819000Z",
        "last_seen": "2019-11-13T00:25:31.619000Z",
        "seen_from": None,
    }
    # The same from a row of the findings frame and from the boto3 (PascalCase) shape.
    row = fd.normalize_findings([fd.Finding(tor, "t", "raw")]).iloc[0]
    assert fd.locate_key(row) == loc


@pytest.mark.parametrize(
    ("key", "kind"),
    [("AKIAIOSFODNN7EXAMPLE", "long-term"), ("ASIAXXXXXXXXXXXXXXXX", "temporary"), ("x", "other")],
)
def test_key_kind(key: str, kind: str) -> None:
    assert fd.key_kind(key) == kind


def test_a_finding_without_sightings_is_placed_by_when_guardduty_made_it() -> None:
    """No service.eventFirstSeen/eventLastSeen: createdAt/updatedAt place the window, and say
    so; no time at all: the window is refused (never built around today)."""
    unseen = copy.deepcopy(TOR)
    for name in ("eventFirstSeen", "eventLastSeen"):
        del unseen["service"][name]
    loc = fd.locate_key(unseen)
    assert (loc.first_seen, loc.last_seen) == (
        pd.Timestamp(RAW["createdAt"]),
        pd.Timestamp(RAW["updatedAt"]),
    )
    assert loc.seen_from == "createdAt/updatedAt"
    now = pd.Timestamp("2026-12-04T12:00:00Z")
    start, end = window_for(loc, lookback_days=14, lookahead_days=7, now=now)
    assert start == pd.Timestamp(RAW["createdAt"]) - pd.Timedelta(days=14)
    assert end == pd.Timestamp(RAW["updatedAt"]) + pd.Timedelta(days=7)
    one = copy.deepcopy(TOR)
    del one["service"]["eventFirstSeen"]  # created before the last sighting: from creation
    assert fd.locate_key(one).first_seen == pd.Timestamp(RAW["createdAt"])
    assert fd.locate_key(one).seen_from == "createdAt/service.eventLastSeen"
    one["createdAt"] = one["service"]["eventLastSeen"]  # else one sighting stands for both
    assert fd.locate_key(one).first_seen == pd.Timestamp(RAW["service"]["eventLastSeen"])
    assert fd.locate_key(one).seen_from == "service.eventLastSeen alone"
    # the last sighting unusable, the finding updated long after its first: the window
    # reaches the update (GuardDuty kept seeing the key), and says so
    kept = copy.deepcopy(TOR)
    kept["service"]["eventLastSeen"] = "garbage"
    kept["updatedAt"] = "2023-09-01T00:00:00Z"
    loc = fd.locate_key(kept)
    assert (loc.first_seen, loc.last_seen) == (
        pd.Timestamp(RAW["service"]["eventFirstSeen"]),
        pd.Timestamp("2023-09-01T00:00:00Z"),
    )
    assert loc.seen_from == "service.eventFirstSeen/updatedAt"
    assert window_for(loc, lookback_days=14, lookahead_days=7, now=now)[1] == pd.Timestamp(
        "2023-09-08T00:00:00Z"
    )
    for name in ("createdAt", "updatedAt"):
        del unseen[name]
    timeless = fd.locate_key(unseen)
    assert timeless.first_seen is None and timeless.last_seen is None
    with pytest.raises(InputError, match=f"finding {RAW['id']} gives no time") as err:
        window_for(timeless, now=now)
    assert "--start" in (err.value.hint or "")


def test_locate_key_rejects_another_type_naming_the_finding() -> None:
    with pytest.raises(NotATorFindingError, match="1ab92989eaf0e742df4a014d5example"):
        fd.locate_key(PASCAL["Findings"][0])


def test_get_says_a_finding_of_another_type_by_its_type_not_not_found() -> None:
    """tor_only() keeps the type of each finding it leaves out: get() names it."""
    from torinvest.case import sample_case

    found = fd.read_findings(sample_case().root / "findings").tor_only()
    other = "ad9a0d95f206f5fc6188f6c4ffeebe82"
    with pytest.raises(NotATorFindingError) as caught:
        found.get(other)
    assert str(caught.value).startswith(
        f"finding {other} is a PrivilegeEscalation:IAMUser/AdministrativePermissions finding, "
        "not a Tor finding"
    )
    with pytest.raises(FindingNotFoundError, match="not found among 2 findings"):
        found.get("deadbeefdeadbeefdeadbeefdeadbeef")  # a missing one is still "not found"


def test_locate_key_without_access_key_details_names_the_finding() -> None:
    bare = copy.deepcopy(TOR)
    del bare["resource"]["accessKeyDetails"]
    with pytest.raises(MissingKeyDetailsError, match=RAW["id"]) as err:
        fd.locate_key(bare)
    assert "accessKeyDetails" in str(err.value)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "abc", "x" * 200, "id with space"])
def test_invalid_finding_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidFindingIdError):
        fd.check_finding_id(bad)


def test_findings_with_unusable_id_or_region_are_skipped_with_an_issue() -> None:
    bad_id = {**RAW, "id": "../../etc/passwd"}
    bad_region = {**RAW, "id": "0" * 32, "region": "moon-base-1x"}
    found, issues = fd.extract_findings([bad_id, bad_region, RAW], "f.json")
    assert [f.id for f in found] == [RAW["id"]]
    assert [i.source for i in issues] == ["f.json[0]", "f.json[1]"]
    assert "invalid finding id" in issues[0].problem
    assert "moon-base-1x" in issues[1].problem


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NoFindingsError, match=str(tmp_path)):
        fd.read_findings(tmp_path)


def test_duplicates_keep_the_latest_update(tmp_path: Path) -> None:
    newer = {**RAW, "updatedAt": "2020-01-01T00:00:00.000Z"}
    (tmp_path / "a.json").write_text(json.dumps(RAW))
    (tmp_path / "b.json").write_text(json.dumps(newer))
    result = fd.read_findings(tmp_path)
    assert len(result.findings) == 1
    assert result.findings[0].data["updatedAt"] == "2020-01-01T00:00:00.000Z"


def _copies(tmp_path: Path, *versions: tuple[str | None, float]) -> Path:
    """One file per copy of RAW with that updatedAt (None: left out) and severity."""
    for i, (updated, severity) in enumerate(versions):
        doc = {**RAW, "severity": severity}
        doc.pop("updatedAt")
        if updated is not None:
            doc["updatedAt"] = updated
        (tmp_path / f"copy{i}.json").write_text(json.dumps(doc))
    return tmp_path


def test_duplicates_compare_update_times_in_utc_not_as_text(tmp_path: Path) -> None:
    """``…T01:00+09:00`` (16:00 UTC) sorts after ``…T20:00Z`` as text but is older: the copy
    updated last in UTC wins, in the findings and in the related findings read from files."""
    _copies(
        tmp_path,
        ("2023-07-10T12:19:44.556Z", 2.0),
        ("2023-07-11T01:00:00.000+09:00", 3.0),
        ("2023-07-10T20:00:00.000Z", 8.0),
    )
    result = fd.read_findings(tmp_path)
    assert [f.data["severity"] for f in result.findings] == [8.0]
    assert result.issues == []
    key = RAW["resource"]["accessKeyDetails"]["accessKeyId"]
    related = read_related(tmp_path, make_subject([key]))
    assert [r["severity"] for r in related.findings] == [8.0]


def test_a_copy_without_a_usable_update_time_never_wins_and_is_named(tmp_path: Path) -> None:
    _copies(tmp_path, ("2023-07-10T12:19:44.556Z", 8.0), ("not a time", 2.0), (None, 3.0))
    result = fd.read_findings(tmp_path)
    assert [f.data["severity"] for f in result.findings] == [8.0]
    named = [i for i in result.issues if "no usable updatedAt" in i.problem]
    assert [i.source for i in named] == [
        f"finding {RAW['id']} in {tmp_path / 'copy1.json'}",
        f"finding {RAW['id']} in {tmp_path / 'copy2.json'}",
    ]
    assert all("not used (" in i.problem and "copy0.json" in i.problem for i in named)


def test_related_findings_are_newest_first_by_time_not_by_text() -> None:
    """``…:00Z`` sorts after ``…:00.500000Z`` as text but is older: the newest comes first."""
    found = []
    for fid, last in (("a" * 32, "2023-07-10T12:00:00Z"), ("b" * 32, "2023-07-10T12:00:00.5Z")):
        doc = copy.deepcopy(RAW)
        doc["id"] = fid
        doc["service"]["eventLastSeen"] = last
        found.append(fd.Finding(data=doc, origin="x.json", shape="api"))
    key = RAW["resource"]["accessKeyDetails"]["accessKeyId"]
    got = related_from_findings(found, make_subject([key]))
    assert [r["id"] for r in got] == ["b" * 32, "a" * 32]


def test_copies_that_disagree_on_the_key_are_named_not_merged_silently(tmp_path: Path) -> None:
    """Two copies of one finding ID naming other keys/users: which is right cannot be told from
    the copies; the kept copy and every difference are named in an issue. Copies that differ
    only in what updates change (count, times) are one finding's versions: no issue."""
    other = copy.deepcopy(RAW)
    other["resource"]["accessKeyDetails"].update(accessKeyId="AKIAOTHERKEY00000000", userName="x")
    (tmp_path / "a.json").write_text(json.dumps(other))
    (tmp_path / "b.json").write_text(json.dumps(RAW))
    result = fd.read_findings(tmp_path)
    assert len(result.findings) == 1
    (issue,) = result.issues
    assert issue.source == f"finding {RAW['id']}"
    for text in ("access key (AKIAOTHERKEY00000000 in", "user name (x in", "cannot be told"):
        assert text in issue.problem, issue.problem
    assert "a.json" in issue.problem and "b.json" in issue.problem
    newer = {**other, "updatedAt": "2030-01-01T00:00:00.000Z"}
    (tmp_path / "a.json").write_text(json.dumps(newer))
    (issue,) = fd.read_findings(tmp_path).issues
    assert "the copy updated last" in issue.problem and "a.json" in issue.problem
    updated = copy.deepcopy(RAW)
    updated["updatedAt"] = "2030-01-01T00:00:00.000Z"
    updated["service"]["count"] = 99
    (tmp_path / "a.json").write_text(json.dumps(updated))
    assert fd.read_findings(tmp_path).issues == []


def test_finding_criteria_for_a_window() -> None:
    crit = fd.finding_criteria(
        start=pd.Timestamp("2023-07-10T00:00:00Z"),
        end=pd.Timestamp("2023-07-11T00:00:00"),
        account_ids=["218007301253"],
    )
    assert crit == {
        "Criterion": {
            "type": {"Eq": list(fd.TOR_FINDING_TYPES)},
            "service.archived": {"Eq": ["false"]},
            "updatedAt": {"GreaterThanOrEqual": 1688947200000, "LessThanOrEqual": 1689033600000},
            "accountId": {"Eq": ["218007301253"]},
        }
    }
    assert "service.archived" not in fd.finding_criteria(include_archived=True)["Criterion"]


def test_conform_handles_na_booleans_and_empty_categories() -> None:
    from torinvest.schema import conform

    frame = conform([{"archived": pd.NA, "id": "x" * 32}], FINDINGS_COLUMNS)
    assert frame["archived"].isna().all()
    empty = conform([], FINDINGS_COLUMNS)
    assert str(empty["type"].cat.categories.dtype) == "string"


def test_the_findings_frame_is_built_once_for_the_same_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Locating the finding, the investigation and the campaign steps each ask for the frame:
    built once; each caller gets its own copy; findings added or replaced are built again."""
    from torinvest.findings import records

    built: list[int] = []
    normalize = records.normalize_findings

    def counted(findings: object) -> pd.DataFrame:
        frame = normalize(findings)  # type: ignore[arg-type]
        built.append(len(frame))
        return frame

    monkeypatch.setattr(records, "normalize_findings", counted)
    result = fd.FindingsResult(findings=[fd.Finding(data=TOR, origin="f.json", shape="raw")])
    first = result.frame()
    first.loc[0, "id"] = "changed by a caller"
    second = result.frame()
    assert built == [1]
    assert second.loc[0, "id"] == TOR["id"]  # the caller's change stays its own
    other = copy.deepcopy(TOR)
    other["id"] = "0" * 32
    result.findings.append(fd.Finding(data=other, origin="g.json", shape="raw"))
    assert set(result.frame()["id"]) == {TOR["id"], "0" * 32}
    result.findings = [result.findings[1]]
    assert list(result.frame()["id"]) == ["0" * 32]
    assert built == [1, 2, 1]
