"""A local trail copy that leaves regions out is not read as the whole trail.

``aws s3 sync s3://trail/AWSLogs/ACCT/CloudTrail/us-east-1/ case/cloudtrail/…`` copies the
finding's region only. Read offline with no ``--regions``, the copy read ``67 events``,
complete, while the key's calls in eu-west-1 and ap-southeast-1 had never been copied: local
folders were not judged by regions at all. Now they are judged by the regions enabled in every
account of their partition (:data:`torinvest.aws.DEFAULT_REGIONS`), as a trail on S3 is by the
account's enabled regions: each one with no folder (nor digest folder) is the "no folder" issue.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_run import run
from torinvest.aws import DEFAULT_REGIONS
from torinvest.case import sample_case

KEY = "AKIATFQR7NSCUXC3DDDP"
TRAIL = sample_case().root / "cloudtrail" / "AWSLogs" / "218007301253" / "CloudTrail"


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _copy(tmp_path: Path, regions: list[str]) -> Path:
    root = tmp_path / "cloudtrail"
    for region in regions:
        target = root / "AWSLogs" / "218007301253" / "CloudTrail" / region
        shutil.copytree(TRAIL / region, target)
    return root


def _no_folder(err: str) -> list[str]:
    return [x for x in err.splitlines() if "issue:" in x and "no folder for region(s)" in x]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_copy_of_one_region_is_incomplete_and_names_the_regions_not_copied(
    tmp_path: Path, engine: str
) -> None:
    logs = _copy(tmp_path, ["us-east-1"])
    code, out, err = run(
        "events", "--logs", str(logs), "--access-key", KEY, "--engine", engine,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0 and out.startswith("60 events"), err
    (line,) = _no_folder(err)
    missing = sorted(DEFAULT_REGIONS["aws"] - {"us-east-1"})
    assert f"no folder for region(s) {', '.join(missing)}: no log file of those regions" in line
    assert "the regions enabled in every account of the aws partition" in line
    assert "not known offline" in line and "partial result" in err


def test_the_regions_asked_are_judged_instead(tmp_path: Path) -> None:
    logs = _copy(tmp_path, ["us-east-1"])
    args = ("events", "--logs", str(logs), "--access-key", KEY, "--start", "2023-07-10")
    code, _out, err = run(*args, "--end", "2023-07-10", "--regions", "us-east-1", "--out", "e.csv")
    assert code == 0 and _no_folder(err) == [] and "partial result" not in err, err
    _code, _out, err = run(*args, "--end", "2023-07-10", "--regions", "us-east-1,eu-west-1",
                           "--out", "e.csv")  # fmt: skip
    (line,) = _no_folder(err)
    assert "no folder for region(s) eu-west-1:" in line


def test_a_region_whose_digest_folder_was_copied_is_judged_by_its_digests(tmp_path: Path) -> None:
    logs = _copy(tmp_path, ["us-east-1"])
    digest = logs / "AWSLogs" / "218007301253" / "CloudTrail-Digest"
    for region in sorted(DEFAULT_REGIONS["aws"] - {"us-east-1"}):
        (digest / region / "2023" / "07" / "10").mkdir(parents=True)
    _code, _out, err = run(
        "events", "--logs", str(logs), "--access-key", KEY, "--start", "2023-07-10",
        "--end", "2023-07-10", "--out", "ev.csv",
    )  # fmt: skip
    assert _no_folder(err) == []  # logged: its days are the digests' to judge
