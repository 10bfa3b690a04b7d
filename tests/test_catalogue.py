"""catalogue: the shipped sensitive-actions catalogue is valid; a malformed one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from torinvest import analysis as an
from torinvest.errors import InputError


def test_shipped_catalogue_is_valid() -> None:
    cat = an.load_catalogue()
    assert tuple(cat.columns) == an.CATALOGUE_COLUMNS
    assert not cat.duplicated(["event_name", "event_source"]).any()
    assert set(cat["category"]) <= set(an.CATEGORIES)
    assert cat["mitre_technique"].str.match(r"^T\d{4}(\.\d{3})? \S").all()
    assert cat[["event_name", "event_source", "category", "mitre_technique"]].notna().all().all()
    required = {
        "CreateUser", "CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile",
        "AttachUserPolicy", "PutUserPolicy", "CreateRole", "UpdateAssumeRolePolicy",
        "AttachRolePolicy", "CreatePolicyVersion", "GetSessionToken", "AssumeRole",
        "GetFederationToken", "StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors",
        "DeleteDetector", "UpdateDetector", "CreateIPSet", "GetSecretValue", "RunInstances",
        "PutBucketPolicy", "PutBucketAcl", "DeactivateMFADevice", "DeleteFlowLogs",
        "ModifySnapshotAttribute", "ModifyImageAttribute",
    }  # fmt: skip
    assert required <= set(cat["event_name"])
    assert cat["event_source"].str.fullmatch(r"[a-z0-9-]+\.amazonaws\.com").all()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("CreateUser,iam.amazonaws.com,backdoor,T1136.003 Create Account,x", "unknown category"),
        ("CreateUser,iam.amazonaws.com,persistence,Create Account,x", "technique"),
        ("CreateUser,iam.amazonaws.com,persistence,,x", "empty values"),
    ],
)
def test_bad_catalogue_is_rejected(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(",".join(an.CATALOGUE_COLUMNS) + "\n" + line + "\n")
    with pytest.raises(InputError, match=problem):
        an.load_catalogue(path)


def test_duplicate_catalogue_rows_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cat.csv"
    row = "CreateUser,iam.amazonaws.com,persistence,T1136.003 Create Account: Cloud Account,x"
    path.write_text(",".join(an.CATALOGUE_COLUMNS) + f"\n{row}\n{row}\n")
    with pytest.raises(InputError, match="duplicate"):
        an.load_catalogue(path)
