"""Digest files are checked as AWS documents ("Validating CloudTrail log file integrity"): an
attacker who can write to the trail's bucket can delete log files and rewrite the digests that
name them. On S3 each digest's signature (its object's ``x-amz-meta-signature``) is verified
with the region's public key from ``ListPublicKeys``: a digest whose signature does not verify
is a sharp issue and is not used; an unsigned one, or one signed with a key CloudTrail does not
list, proves nothing; when the keys cannot be listed (or the trail is a local copy, which has no
S3 metadata) the digests are read as the trail's word and the reading note says "not verified"
and why. Catalogue: docs/hostile-inputs.md, "Regions and days not there".
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fake_aws import FakeAws
from tests.hostile.test_digests import (
    ACCOUNT,
    CASE,
    DELETED,
    FOLDER,
    GAP,
    REGIONS,
    SEAL_ALGORITHM,
    digested,
    events,
    issues,
    key_events,
    on_s3,
    present,
    publish_key,
    sign,
    write_digests,
)
from torinvest.sources.logs.signatures import string_to_sign

#: A log file of 2023-07-09 (a day without any left) the attacker deleted; the digest of its
#: hour names it.
GONE = f"{FOLDER}us-east-1/2023/07/09/{ACCOUNT}_CloudTrail_us-east-1_20230709T0305Z_x1.json.gz"
#: That hour's digest (03:01:31–04:01:31), the one the attacker rewrites.
HOUR = "20230709T040131Z"
ALTERED = (
    "signature does not verify: this digest may have been altered; the files it names cannot be "
    "trusted (it was not used: the hours it covers are not proven quiet, the log files it names "
    "not compared)"
)
US_GAP = "no log file for 2023-07-09 (1 of the window's 4 UTC day(s))"


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """The sample case's trail (log files on 2023-07-10 only) with no digest yet."""
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    return tmp_path / "ct"


def deleted(trail: Path) -> Path:
    """Digests of every region; us-east-1's name GONE (deleted: never in the folder). Returns
    the digest of GONE's hour."""
    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    written = write_digests(trail, "us-east-1", [*present(trail, "us-east-1"), GONE])
    return next(p for p in written if HOUR in p.name)


def rewrite(path: Path) -> bytes:
    """The attacker's digest: the same, GONE's name dropped; returns the original's bytes."""
    original = gzip.decompress(path.read_bytes())
    doc = json.loads(original)
    doc["logFiles"] = [f for f in doc["logFiles"] if f["s3Object"] != GONE]
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return original


def s3_key(path: Path, trail: Path) -> str:
    return f"s3://trail/{path.relative_to(trail).as_posix()}"


def test_a_genuine_chain_verifies_and_the_deleted_file_is_named(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest, fake_aws: FakeAws
) -> None:
    """Every digest signed by CloudTrail's key, each naming its predecessor's signature; other
    keys of the region listed beside it (more than one page): no digest issue, the deleted
    file is the sharp issue, the note says the signatures verified."""
    deleted(trail)
    previous: dict[str, str | None] = dict.fromkeys(REGIONS)
    for path in sorted(trail.rglob("*_CloudTrail-Digest_*"), key=lambda p: p.name):
        region = path.parent.parent.parent.parent.name
        doc = json.loads(gzip.decompress(path.read_bytes()))
        doc["previousDigestSignature"] = previous[region]
        body = json.dumps(doc).encode()
        path.write_bytes(gzip.compress(body))
        previous[region] = sign(body)
    for n in range(3):  # keys of other periods, listed beside it
        other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        publish_key(fake_aws, other, f"{n:032x}")
    source = on_s3(request, trail)
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: the trail delivered 1 log file(s) here "
        f"on 2023-07-09 that are not in this folder (digest files name them, e.g. {GONE}): their "
        "events were not read"
    ]
    assert "(their signatures verified)" in err
    asked = fake_aws.calls("ListPublicKeys")
    assert {r.region for r in asked} == {"eu-west-1", "us-east-1"}
    assert len(asked) == 2 * 2  # once per region, every page (4 keys, 2 a page)


def test_a_rewritten_digest_is_a_sharp_issue_and_proves_nothing(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The attacker drops the deleted file's name from its digest and keeps the signature:
    without the check the day read quiet, the reading complete."""
    hour = deleted(trail)
    original = rewrite(hour)
    seals = {hour.name: {"signature": sign(original), **SEAL_ALGORITHM}}
    source = on_s3(request, trail, seals)
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: {US_GAP}: {GAP}",
        f"torinvest: issue: {s3_key(hour, trail)}: {ALTERED}",
    ]


def test_a_digest_signed_with_another_key_is_a_sharp_issue(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The attacker signs the rewritten digest with a key of their own, its fingerprint
    CloudTrail's: it does not verify with CloudTrail's key."""
    hour = deleted(trail)
    rewrite(hour)
    theirs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = gzip.decompress(hour.read_bytes())
    seals = {hour.name: {"signature": sign(body, theirs), **SEAL_ALGORITHM}}
    source = on_s3(request, trail, seals)
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    assert issues(err)[-1] == f"torinvest: issue: {s3_key(hour, trail)}: {ALTERED}"
    assert US_GAP in issues(err)[0]


@pytest.mark.parametrize(
    ("seal", "why"),
    [
        ({}, "it has no signature (S3 metadata x-amz-meta-signature), which CloudTrail gives "
             "every digest it delivers: copied without its metadata, or replaced"),
        ({"signature": "ab" * 256, "signature-algorithm": "none"},
         "its signature algorithm 'none' is not SHA256withRSA"),
    ],
)  # fmt: skip
def test_a_forged_digest_without_a_signature_proves_nothing(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest, seal: dict[str, str], why: str
) -> None:
    """An unsigned digest (or one whose algorithm is not CloudTrail's): the attacker's to
    write, so the hour it covers is not proven quiet — the day stays an issue naming it."""
    hour = deleted(trail)
    rewrite(hour)
    source = on_s3(request, trail, {hour.name: seal})
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: {US_GAP}: {GAP} (1 digest file(s) there "
        f"could not be read, so they prove nothing: {s3_key(hour, trail)}: not verified: {why})"
    ]


def test_a_digest_naming_a_key_cloudtrail_does_not_list_proves_nothing(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    hour = deleted(trail)
    rewrite(hour)
    doc = json.loads(gzip.decompress(hour.read_bytes()))
    doc["digestPublicKeyFingerprint"] = "f" * 32
    hour.write_bytes(gzip.compress(json.dumps(doc).encode()))
    source = on_s3(request, trail)  # signed (with CloudTrail's key, under another fingerprint)
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    [issue] = issues(err)
    assert issue.endswith(
        f"{s3_key(hour, trail)}: not verified: no public key of fingerprint '{'f' * 32}' in "
        "us-east-1 (cloudtrail:ListPublicKeys) for its time)"
    )


def test_public_keys_not_listed_leave_the_digests_unverified_said_in_the_note(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest, fake_aws: FakeAws
) -> None:
    """ListPublicKeys denied: nothing says a digest was altered (no issue), the days they show
    quiet are lifted as before, and the note says the digests were not verified and why; the
    keys are asked once per region."""
    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    write_digests(trail, "us-east-1", present(trail, "us-east-1"))
    fake_aws.fail("cloudtrail", "*", "AccessDeniedException", operation="ListPublicKeys")
    source = on_s3(request, trail)
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    assert issues(err) == []
    [note] = [line for line in err.splitlines() if "digest files show no log file" in line]
    assert "eu-west-1 (3 day(s)), us-east-1 (3 day(s)): nothing was logged there those days" in note
    assert "(not verified: the trail's public keys could not be listed in " in note
    assert "access denied: ListPublicKeys on cloudtrail in " in note
    assert "the principal needs cloudtrail:ListPublicKeys" in note
    assert "and 1 more reason(s)" in note  # the other region's refusal
    assert note.endswith("digest file(s), read as the trail's word))")
    assert len(fake_aws.calls("ListPublicKeys")) == 2


def test_a_local_copy_is_read_unverified_and_says_so(trail: Path, tmp_path: Path) -> None:
    """A local folder holds no S3 metadata: the digests are read as before, the note says they
    were not verified (never silently trusted), no issue (never crying wolf)."""
    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    write_digests(trail, "us-east-1", present(trail, "us-east-1"))
    code, _out, err = events(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == []
    assert (
        "nothing was logged there those days (not verified: a local copy has no S3 metadata, "
        "where the signature is ("
    ) in err


def test_the_string_to_sign_is_the_documented_one() -> None:
    """``digestEndTime``, ``bucket/key``, the hex SHA-256 of the decompressed digest and the
    previous signature, one a line; a trail's first digest has ``null`` there."""
    body = b'{"x": 1}'
    doc = {
        "digestEndTime": "2015-08-17T15:01:31Z",
        "digestS3Bucket": "amzn-s3-demo-bucket",
        "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/d.json.gz",
        "previousDigestSignature": None,
    }
    assert string_to_sign(doc, body) == (
        b"2015-08-17T15:01:31Z\namzn-s3-demo-bucket/AWSLogs/111122223333/CloudTrail-Digest/"
        b"us-east-2/2015/08/17/d.json.gz\n"
        b"613fe5aa65343dbb1b9abe6abac6773f5c91bd60d3f2ffb7e2eae69e1db8b227\nnull"
    )


# --------------------------------------------------------------------------------------------
# a log file's content against the hash its digest gives
# --------------------------------------------------------------------------------------------
def tamper(trail: Path) -> Path:
    """Digests of every region, then the attacker drops a record from one of the log files of
    185.220.101.34's calls (the digest's hashValue is of what CloudTrail delivered)."""
    digested(trail)
    path = trail / DELETED[0]
    doc = json.loads(gzip.decompress(path.read_bytes()))
    doc["Records"] = doc["Records"][1:]
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return path


@pytest.mark.parametrize("engine", ["files", "duckdb"])
@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_log_file_whose_content_is_not_its_digests_hash_is_an_issue(
    trail: Path, tmp_path: Path, where: str, engine: str, request: pytest.FixtureRequest
) -> None:
    """Every engine compares the files it reads with the digests' SHA-256 (DuckDB as it
    inflates them: it said in a note that it did not, and read an altered file as complete)."""
    path = tamper(trail)
    source = on_s3(request, trail) if where == "s3" else str(trail)
    code, out, err = key_events(source, tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith("63 events from 62 log file(s)")  # what is there is still read
    [issue] = issues(err)
    digest = f"{source}/{FOLDER.replace('CloudTrail/', 'CloudTrail-Digest/')}us-east-1/2023/07/10/"
    assert issue.startswith(
        f"torinvest: issue: {source}/{DELETED[0]}: hash does not match the trail's digest file "
        f"({digest}{ACCOUNT}_CloudTrail-Digest_us-east-1_"
    )
    assert issue.endswith(
        "…): this log file may have been altered since CloudTrail delivered it; its events "
        "cannot be trusted"
    )
    assert path.is_file()


def test_log_files_as_delivered_match_their_digests(trail: Path, tmp_path: Path) -> None:
    digested(trail)
    code, out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert out.startswith("64 events from 62 log file(s)")
    assert issues(err) == []
