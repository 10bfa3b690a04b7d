"""What a versioned bucket's listing says of each key (:func:`torinvest.sources.logs.versions.
entries`), from ListObjectVersions pages as S3 answers them (a key's versions newest first, the
delete markers apart), and the issues' words (:func:`version_issues`). No AWS call: the listing
end to end is tests/hostile/test_versioned_trail.py's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from torinvest.sources.logs.versions import (
    MAX_COMPARED,
    Compared,
    Found,
    entries,
    version_issues,
)

DIR = "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/"
A = f"{DIR}111122223333_CloudTrail_us-east-1_20230710T1215Z_a.json.gz"
B = f"{DIR}111122223333_CloudTrail_us-east-1_20230710T1220Z_b.json.gz"
C = f"{DIR}111122223333_CloudTrail_us-east-1_20230710T1225Z_c.json.gz"
D = f"{DIR}111122223333_CloudTrail_us-east-1_20230710T1230Z_d.json.gz"


def at(minute: int) -> datetime:
    return datetime(2023, 7, 10, 12, minute, tzinfo=UTC)


def version(key: str, vid: str, minute: int, latest: bool, size: int = 10) -> dict[str, Any]:
    return {
        "Key": key,
        "VersionId": vid,
        "IsLatest": latest,
        "LastModified": at(minute),
        "Size": size,
        "StorageClass": "STANDARD",
    }


def marker(key: str, vid: str, minute: int, latest: bool) -> dict[str, Any]:
    return {"Key": key, "VersionId": vid, "IsLatest": latest, "LastModified": at(minute)}


PAGES = [
    {
        "Versions": [
            version(A, "a1", 16, True),  # written once: as ListObjectsV2 gives it
            version(B, "b2", 50, True, size=7),  # rewritten: newest first, as S3 lists them
            version(B, "b1", 21, False),
            version(C, "null", 26, False),  # put before versioning was enabled
        ],
        "DeleteMarkers": [marker(C, "m1", 55, True), marker(D, "m2", 58, True)],
    }
]


def test_each_key_says_which_version_to_read_and_what_happened_to_it() -> None:
    got = {e.key: e for e in entries(PAGES)}
    assert got[A].version is None and got[A].history is None and got[A].written == at(16)
    b = got[B]
    assert (b.version, b.written, b.size) == ("b1", at(21), 10)  # the first version
    assert b.history is not None
    assert (b.history.versions, b.history.rewritten, b.history.deleted) == (2, at(50), None)
    assert (b.history.newest, b.history.newest_current, b.history.newest_size) == ("b2", True, 7)
    c = got[C]
    assert c.version == "null" and c.history is not None  # deleted: its version read
    assert (c.history.deleted, c.history.versions, c.history.newest_current) == (at(55), 1, False)
    d = got[D]
    assert d.lost and d.history is not None and d.history.deleted == at(58)


def test_versions_of_one_write_time_keep_s3s_order() -> None:
    """Write times to the second can tie: S3 lists a key's versions newest first."""
    pages = [{"Versions": [version(B, "new", 21, True), version(B, "old", 21, False)]}]
    [e] = entries(pages)
    assert e.version == "old" and e.history is not None and e.history.newest == "new"


def test_the_issues_say_what_the_comparison_found_or_could_not_do() -> None:
    found = Found(
        recovered={},
        rewritten={
            f"s3://t/{B}": (entries(PAGES)[1].history, Compared()),  # type: ignore[dict-item]
        },
        lost={},
    )
    [same] = version_issues(found)
    assert same.source == f"s3://t/{DIR.rsplit('2023/', 1)[0]}"
    assert same.problem.endswith(
        "; the newest holds the same events as the first (by eventID and content)"
    )
    history = entries(PAGES)[1].history
    assert history is not None
    found.rewritten = {
        f"s3://t/{B}": (history, Compared(why="its newest version: not JSON (…)")),
        f"s3://t/{C}": (history, None),
    }
    [issue] = version_issues(found)
    assert issue.problem.startswith("2 log file(s) here were written more than once (")
    assert "; 1 could not be compared (its newest version: not JSON (…))" in issue.problem
    assert issue.problem.endswith(f"; 1 not compared (past {MAX_COMPARED} per source)")


def test_a_reader_of_current_versions_is_told_what_it_did_not_read() -> None:
    """``reader`` (Athena: a table over the bucket reads current objects only): the deleted
    files were not read, the rewritten ones were read in their newest version, and reading the
    earlier versions refused is said beside what to do."""
    got = {e.key: e for e in entries(PAGES)}
    b, c = got[B].history, got[C].history
    assert b is not None and c is not None
    found = Found(
        recovered={f"s3://t/{C}": c},
        rewritten={f"s3://t/{B}": (b, None)},
        lost={},
        refused="AccessDenied: Access Denied",
    )
    deleted, rewritten = version_issues(found, reader="Athena")
    assert "but Athena reads only each object's current version: the table does not hold " in (
        deleted.problem
    )
    assert "Athena reads only each object's current version: the events the rewrite removed " in (
        rewritten.problem
    )
    refused = (
        "; reading earlier versions is refused to these credentials (s3:GetObjectVersion: "
        "AccessDenied: Access Denied): grant s3:GetObjectVersion on the trail's bucket to read "
        "them so"
    )
    assert deleted.problem.endswith(refused) and rewritten.problem.endswith(refused)
    assert "was read as the trail's file" not in deleted.problem
    assert "first version of each — what CloudTrail delivered — was read" not in rewritten.problem
