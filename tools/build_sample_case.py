#!/usr/bin/env python3
"""Build the embedded sample case and the GuardDuty shape fixtures (maintainer-only).

Outputs (all committed; this script is NOT run by ``make test`` or by users):

* ``torinvest/data/sample_case/``           the demo/test case folder (findings/, cloudtrail/, tor/,
                                            STORY.md, STORY.json, PROVENANCE.md, licence files)
* ``tests/fixtures/guardduty/shapes/``      one file per GuardDuty export shape + EXPECTED.json
* ``tests/fixtures/guardduty/bad/``         bad-input fixtures for the findings parser
* ``tests/fixtures/guardduty/PROVENANCE.md`` gets (or refreshes) one marked section at its end

Inputs: the shared real-data folder (``../shared/data`` next to the repository, or
``$TORINVEST_SHARED_DATA``), see its README/PROVENANCE files; plus the repository's own
``tests/fixtures/guardduty/*`` (real GuardDuty shapes) and botocore's GuardDuty model (to write
GetFindings output exactly as boto3/aws-cli print it).

Deterministic: one seeded RNG (``SEED``), gzip mtime 0, sorted iteration everywhere. Running it twice
gives byte-identical output. ``--check`` only verifies the committed output.

    .venv/bin/python tools/build_sample_case.py          # rebuild + verify
    .venv/bin/python tools/build_sample_case.py --check  # verify only
"""

from __future__ import annotations

import argparse
import base64
import copy
import csv
import gzip
import importlib.metadata
import io
import json
import os
import random
import shutil
import sys
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TORINVEST_SHARED_DATA", REPO.parent / "shared" / "data"))
CASE = REPO / "torinvest" / "data" / "sample_case"
GD_FIX = REPO / "tests" / "fixtures" / "guardduty"
SHAPES = GD_FIX / "shapes"
BAD = GD_FIX / "bad"

SEED = 20230710
MAX_CASE_BYTES = 3 * 1024 * 1024

# ----------------------------------------------------------------------------------------------
# the story's fixed facts
# ----------------------------------------------------------------------------------------------
PATH_ACCOUNT = "218007301253"  # account in the upstream log-file names (real Invictus account)
ACCOUNT = "123837392027"  # account inside every upstream record (Invictus' sanitised value)
REGION = "us-east-1"
DAY = "2023-07-10"
USER = "benjamin"
PRINCIPAL_ID = "AIDATFQR7NSC5U6Q3TMDR"  # benjamin's real principalId in the logs
KEY = "AKIATFQR7NSCUXC3DDDP"  # benjamin's real long-term key, used from 10.248.16.43
LEGIT_IP = "10.248.16.43"
KEY_PREFIX = "TFQR7NSC"  # account-specific middle of every key / unique id in this account

TOR_A = "185.220.101.34"  # recon + persistence
TOR_B = "109.70.100.66"  # GetSessionToken
TOR_C = "199.249.230.87"  # uses the derived ASIA key
VPS = "167.99.201.43"  # non-Tor public address (the story's "VPS"; arbitrary, in no list)
TOR_DATES = ("2023-07-09", "2023-07-10", "2023-07-11")

BACKDOOR_USER = "svc-backup-sync"
SECRET_NAMES = ("stratus-red-team-retrieve-secret-6", "stratus-red-team-retrieve-secret-13")
MISSING_SECRET = "prod/db/credentials"  # noqa: S105 (a secret name, not a secret)
HYPERLINK = '=HYPERLINK("https://example.com/open","Click to view")'
UA_INJECT = "aws-cli/2.13.0 <script>alert(1)</script>"

# Plausible, SYNTHETIC geo/ASN data for the finding's remoteIpDetails (not looked up).
GEO = {
    TOR_A: {
        "city": "Berlin",
        "country": "Germany",
        "lat": 52.5244,
        "lon": 13.4105,
        "asn": "60729",
        "org": "Stiftung Erneuerbare Freiheit",
    },
    TOR_B: {
        "city": "Vienna",
        "country": "Austria",
        "lat": 48.2049,
        "lon": 16.3662,
        "asn": "208323",
        "org": "Foundation for Applied Privacy",
    },
}


def ua_cli(cmd: str) -> str:
    return f"aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0-10-amd64 exe/x86_64.debian.12 prompt/off command/{cmd}"


UA_BOTO = (
    "Boto3/1.28.1 md/Botocore#1.31.1 ua/2.0 os/linux#6.1.0-10-amd64 md/arch#x86_64 "
    "lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.31.1"
)


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------
def dumps_compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_pretty(obj: Any, indent: int = 2) -> str:
    return json.dumps(obj, indent=indent, ensure_ascii=False) + "\n"


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def ts(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def iso(d: datetime, ms: int | None = None) -> str:
    if ms is None:
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def ct_date(d: datetime, comma: bool) -> str:
    """CloudTrail's Java-style dates: 'Jul 10, 2023 12:23:05 PM' (IAM) / 'Jul 10, 2023, 12:09:47 PM' (STS)."""
    h12 = d.hour % 12 or 12
    ampm = "AM" if d.hour < 12 else "PM"
    sep = ", " if comma else " "
    return f"{d.strftime('%b')} {d.day}, {d.year}{sep}{h12}:{d.strftime('%M:%S')} {ampm}"


class Rng:
    """All randomness of the build, drawn in a fixed order from one seed."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)  # noqa: S311 (fixture data must be reproducible)

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def hex32(self) -> str:
        return f"{self.r.getrandbits(128):032x}"

    def chars(self, n: int, alphabet: str) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def b64(self, nbytes: int) -> str:
        return base64.b64encode(self.r.randbytes(nbytes)).decode()


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


# ----------------------------------------------------------------------------------------------
# real inputs
# ----------------------------------------------------------------------------------------------
def load_invictus() -> list[tuple[Path, bytes, list[dict]]]:
    src = SHARED / "cloudtrail" / "invictus-aws" / "CloudTrail"
    out = []
    for p in sorted(src.glob("*.json")):
        raw = p.read_bytes()
        out.append((p, raw, json.loads(raw)["Records"]))
    if len(out) != 55:
        raise SystemExit(f"expected 55 invictus files in {src}, found {len(out)}")
    return out


def load_tor_lists() -> dict[str, bytes]:
    d = SHARED / "tor" / "secops-danmeuk" / "daily_snapshots"
    return {day: gzip.decompress((d / f"{day}.txt.gz").read_bytes()) for day in TOR_DATES}


def all_listed_ips() -> set[str]:
    """Every address in every Tor list of the shared data (for picking the non-Tor address)."""
    import re

    ips: set[str] = set()
    tor = SHARED / "tor"
    with gzip.open(tor / "secops-danmeuk" / "exit_ip_intervals.csv.gz", "rt") as f:
        ips |= {row["ip"] for row in csv.DictReader(f)}
    for p in sorted(tor.rglob("*")):
        if p.is_file() and p.suffix not in (".gz", ".md", ".csv"):
            ips |= set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", p.read_text(errors="ignore")))
    for p in sorted((tor / "secops-danmeuk" / "daily_snapshots").glob("*.txt.gz")):
        ips |= set(gzip.decompress(p.read_bytes()).decode().split())
    return ips


def intervals_for(ips: set[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    with gzip.open(SHARED / "tor" / "secops-danmeuk" / "exit_ip_intervals.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            if row["ip"] in ips:
                out[row["ip"]].append(row)
    return out


def load_gd_fixtures() -> dict[str, Any]:
    raw_sample = json.loads((GD_FIX / "raw_TorIPCaller_sample_finding.json").read_text())
    panther = [
        json.loads(line)
        for line in (GD_FIX / "panther_guardduty_rule_test_findings.jsonl").read_text().splitlines()
        if line.strip()
    ]
    awscli = json.loads(
        (GD_FIX / "awscli_example_get-findings_Recon-IAMUser-UserPermissions.json").read_text()
    )
    return {"raw_sample": raw_sample, "panther": panther, "awscli": awscli}


# ----------------------------------------------------------------------------------------------
# CloudTrail: templates from real records, then the actor's records
# ----------------------------------------------------------------------------------------------
def find_template(records: list[dict], **cond: Any) -> dict:
    for r in sorted(records, key=lambda r: (r["eventTime"], r["eventID"])):
        ok = True
        for k, v in cond.items():
            if k == "errorCode":
                ok &= r.get("errorCode") == v
            elif k == "keyPrefix":
                ok &= (r.get("userIdentity") or {}).get("accessKeyId", "").startswith(v)
            elif k == "userType":
                ok &= (r.get("userIdentity") or {}).get("type") == v
            elif k == "noVpce":
                ok &= "vpcEndpointId" not in r
            else:
                ok &= r.get(k) == v
        if ok:
            return r
    raise SystemExit(f"no real template record for {cond}")


def templates(records: list[dict]) -> dict[str, dict]:
    """One real record per kind of synthetic event (see STORY.md 'shapes')."""
    akia = {"errorCode": None, "keyPrefix": "AKIA", "userType": "IAMUser"}
    t = {
        "GetCallerIdentity": find_template(records, eventName="GetCallerIdentity", **akia),
        "ListUsers": find_template(records, eventName="ListUsers", **akia),
        "GetAccountAuthorizationDetails": find_template(
            records, eventName="GetAccountAuthorizationDetails", **akia
        ),
        "ListBuckets": find_template(records, eventName="ListBuckets", errorCode=None),
        "DescribeInstances": find_template(records, eventName="DescribeInstances", **akia),
        "CreateUser": find_template(records, eventName="CreateUser", **akia),
        "CreateAccessKey": find_template(records, eventName="CreateAccessKey", **akia),
        "AttachUserPolicy": find_template(records, eventName="AttachUserPolicy", **akia),
        "CreateLoginProfile": find_template(records, eventName="CreateLoginProfile", **akia),
        "AssumeRole": find_template(records, eventName="AssumeRole", **akia),
        "ListSecrets": find_template(records, eventName="ListSecrets", errorCode=None),
        "GetSecretValue": find_template(records, eventName="GetSecretValue", **akia),
    }
    # IAM read calls the real logs lack have the exact shape of ListUsers (same service, read-only,
    # no resources); GetSessionToken has AssumeRole's shape minus the role (resources,
    # assumedRoleUser): documented in STORY.md.
    t["ListRoles"] = t["ListUsers"]
    t["ListAttachedUserPolicies"] = t["ListUsers"]
    return t


def identity_akia(user: str = USER, principal: str = PRINCIPAL_ID, key: str = KEY) -> dict:
    return {
        "type": "IAMUser",
        "principalId": principal,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": user,
    }


def identity_session(key: str, created: str) -> dict:
    """GetSessionToken credentials: still an IAMUser identity, with a sessionContext."""
    d = identity_akia(key=key)
    d["sessionContext"] = {
        "sessionIssuer": {},
        "webIdFederationData": {},
        "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
    }
    return d


def build_actor(rng: Rng, t: dict[str, dict]) -> tuple[list[dict], dict]:
    """The actor's records, in time order, plus the minted identifiers."""
    backdoor_uid = "AIDA" + KEY_PREFIX + rng.chars(9, UPPER_DIGITS)
    backdoor_key = "AKIA" + KEY_PREFIX + rng.chars(8, B32)
    asia_key = "ASIA" + KEY_PREFIX + rng.chars(8, B32)
    # same leading bytes as real STS tokens ("IQoJb3JpZ2luX2Vj…"), random body, valid base64
    session_token = base64.b64encode(b"!\n\torigin_ec" + rng.r.randbytes(599)).decode()

    def tls(host: str, v13: bool = False) -> dict:
        if v13:
            return {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host,
            }
        return {
            "tlsVersion": "TLSv1.2",
            "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
            "clientProvidedHostHeader": host,
        }

    recs: list[dict] = []

    def ev(
        tmpl: str,
        when: str,
        ip: str,
        ua: str,
        *,
        name: str | None = None,
        region: str = REGION,
        ident: dict | None = None,
        req: Any = None,
        resp: Any = None,
        error: tuple[str, str] | None = None,
        host: str | None = None,
        drop: tuple[str, ...] = (),
        actor: str = "",
        tags: tuple[str, ...] = (),
    ) -> dict:
        base = t[tmpl]
        r: dict[str, Any] = {}
        for k, v in base.items():
            if k in drop or k in ("errorCode", "errorMessage"):
                continue
            r[k] = copy.deepcopy(v)
            if k == "userAgent" and error:
                r["errorCode"], r["errorMessage"] = error
        r["userIdentity"] = ident or identity_akia()
        r["eventTime"] = when
        r["eventName"] = name or base["eventName"]
        r["awsRegion"] = region
        r["sourceIPAddress"] = ip
        r["userAgent"] = ua
        r["requestParameters"] = req
        r["responseElements"] = resp
        r["recipientAccountId"] = ACCOUNT
        if r["eventSource"] == "s3.amazonaws.com":
            r["requestID"] = rng.chars(16, UPPER_DIGITS)
        else:
            r["requestID"] = rng.uuid4()
        r["eventID"] = rng.uuid4()
        if "additionalEventData" in r and "x-amz-id-2" in r["additionalEventData"]:
            r["additionalEventData"]["x-amz-id-2"] = rng.b64(56)
        if host and "tlsDetails" in r:
            v13 = r["tlsDetails"].get("tlsVersion") == "TLSv1.3"
            r["tlsDetails"] = tls(host, v13)
        r["_actor"] = actor  # stripped before writing; used for the ground truth
        r["_tags"] = list(tags)
        recs.append(r)
        return r

    d = DAY
    iam_host, sts_host = "iam.amazonaws.com", "sts.us-east-1.amazonaws.com"
    denied_roles = (
        "AccessDenied",
        f"User: arn:aws:iam::{ACCOUNT}:user/{USER} is not authorized to perform: iam:ListRoles "
        f"on resource: arn:aws:iam::{ACCOUNT}:role/ because no identity-based policy allows the "
        "iam:ListRoles action",
    )
    ec2_denied = (
        "Client.UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    )
    empty_di = {"instancesSet": {}, "filterSet": {}}
    A = "benjamin-key"

    # -- 0. the key is tried from a non-Tor VPS ------------------------------------------------
    ev(
        "GetCallerIdentity",
        f"{d}T12:08:51Z",
        VPS,
        ua_cli("sts.get-caller-identity"),
        host=sts_host,
        actor=A,
        tags=("recon",),
    )
    ev(
        "ListBuckets",
        f"{d}T12:09:07Z",
        VPS,
        f"[{ua_cli('s3.ls')}]",
        req={"Host": "s3.amazonaws.com"},
        drop=("vpcEndpointId",),
        host="s3.amazonaws.com",
        actor=A,
        tags=("recon",),
    )
    # -- 1. recon through Tor (exit A) --------------------------------------------------------
    ev(
        "GetCallerIdentity",
        f"{d}T12:11:02Z",
        TOR_A,
        ua_cli("sts.get-caller-identity"),
        host=sts_host,
        actor=A,
        tags=("recon",),
    )
    ev(
        "ListUsers",
        f"{d}T12:11:19Z",
        TOR_A,
        ua_cli("iam.list-users"),
        host=iam_host,
        actor=A,
        tags=("recon",),
    )
    ev(
        "ListRoles",
        f"{d}T12:11:24Z",
        TOR_A,
        ua_cli("iam.list-roles"),
        name="ListRoles",
        error=denied_roles,
        host=iam_host,
        actor=A,
        tags=("recon",),
    )
    ev(
        "ListAttachedUserPolicies",
        f"{d}T12:11:31Z",
        TOR_A,
        ua_cli("iam.list-attached-user-policies"),
        name="ListAttachedUserPolicies",
        req={"userName": USER},
        host=iam_host,
        actor=A,
        tags=("recon",),
    )
    ev(
        "ListAttachedUserPolicies",
        f"{d}T12:11:38Z",
        TOR_A,
        ua_cli("iam.list-attached-user-policies"),
        name="ListAttachedUserPolicies",
        req={"userName": "bert-jan"},
        host=iam_host,
        actor=A,
        tags=("recon",),
    )
    ev(
        "GetAccountAuthorizationDetails",
        f"{d}T12:11:46Z",
        TOR_A,
        ua_cli("iam.get-account-authorization-details"),
        host=iam_host,
        actor=A,
        tags=("recon",),
    )
    ev(
        "ListBuckets",
        f"{d}T12:12:05Z",
        TOR_A,
        f"[{ua_cli('s3api.list-buckets')}]",
        req={"Host": "s3.amazonaws.com"},
        drop=("vpcEndpointId",),
        host="s3.amazonaws.com",
        actor=A,
        tags=("recon",),
    )
    for when, region, err in (
        ("12:12:31", "us-east-1", None),
        ("12:12:37", "eu-west-1", None),
        ("12:12:42", "ap-southeast-1", ec2_denied),
        ("12:12:49", "ap-southeast-1", ec2_denied),
    ):
        ev(
            "DescribeInstances",
            f"{d}T{when}Z",
            TOR_A,
            ua_cli("ec2.describe-instances"),
            region=region,
            req=copy.deepcopy(empty_di),
            error=err,
            host=f"ec2.{region}.amazonaws.com",
            actor=A,
            tags=("recon",),
        )
    ev(
        "DescribeInstances",
        f"{d}T12:13:20Z",
        TOR_A,
        UA_INJECT,
        region="eu-west-1",
        req={
            "instancesSet": {},
            "filterSet": {
                "items": [{"name": "tag:Name", "valueSet": {"items": [{"value": HYPERLINK}]}}]
            },
        },
        host="ec2.eu-west-1.amazonaws.com",
        actor=A,
        tags=("recon", "injection"),
    )
    ev(
        "ListRoles",
        f"{d}T12:13:41Z",
        TOR_A,
        UA_INJECT,
        name="ListRoles",
        error=denied_roles,
        host=iam_host,
        actor=A,
        tags=("recon", "injection"),
    )
    # -- 2. persistence (exit A) ----------------------------------------------------------------
    t_cu = ts(f"{d}T12:17:08Z")
    ev(
        "CreateUser",
        iso(t_cu),
        TOR_A,
        ua_cli("iam.create-user"),
        req={"path": "/", "userName": BACKDOOR_USER},
        resp={
            "user": {
                "path": "/",
                "userName": BACKDOOR_USER,
                "userId": backdoor_uid,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/{BACKDOOR_USER}",
                "createDate": ct_date(t_cu, comma=False),
            }
        },
        host=iam_host,
        actor=A,
        tags=("persistence",),
    )
    t_ak = ts(f"{d}T12:17:11Z")
    ev(
        "CreateAccessKey",
        iso(t_ak),
        TOR_A,
        ua_cli("iam.create-access-key"),
        req={"userName": BACKDOOR_USER},
        resp={
            "accessKey": {
                "accessKeyId": backdoor_key,
                "status": "Active",
                "userName": BACKDOOR_USER,
                "createDate": ct_date(t_ak, comma=False),
            }
        },
        host=iam_host,
        actor=A,
        tags=("persistence",),
    )
    ev(
        "AttachUserPolicy",
        f"{d}T12:17:15Z",
        TOR_A,
        ua_cli("iam.attach-user-policy"),
        req={"userName": BACKDOOR_USER, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        host=iam_host,
        actor=A,
        tags=("persistence", "privilege_escalation"),
    )
    t_lp = ts(f"{d}T12:17:19Z")
    ev(
        "CreateLoginProfile",
        iso(t_lp),
        TOR_A,
        ua_cli("iam.create-login-profile"),
        req={"userName": BACKDOOR_USER, "passwordResetRequired": False},
        resp={
            "loginProfile": {
                "userName": BACKDOOR_USER,
                "createDate": ct_date(t_lp, comma=False),
                "passwordResetRequired": False,
            }
        },
        host=iam_host,
        actor=A,
        tags=("persistence",),
    )
    # -- 3. temporary credentials (exit B) ------------------------------------------------------
    ev(
        "AssumeRole",
        f"{d}T12:19:58Z",
        TOR_B,
        ua_cli("sts.get-session-token"),
        name="GetSessionToken",
        req={"durationSeconds": 172800},
        error=(
            "ValidationError",
            "1 validation error detected: Value '172800' at "
            "'durationSeconds' failed to satisfy constraint: Member must have value less than "
            "or equal to 129600",
        ),
        drop=("resources",),
        host=sts_host,
        actor=A,
        tags=("credential_access",),
    )
    t_gst = ts(f"{d}T12:20:04Z")
    ev(
        "AssumeRole",
        iso(t_gst),
        TOR_B,
        ua_cli("sts.get-session-token"),
        name="GetSessionToken",
        req={"durationSeconds": 129600},
        resp={
            "credentials": {
                "accessKeyId": asia_key,
                "sessionToken": session_token,
                "expiration": ct_date(t_gst + timedelta(seconds=129600), comma=True),
            }
        },
        drop=("resources",),
        host=sts_host,
        actor=A,
        tags=("credential_access",),
    )
    # -- 4. the derived ASIA key from exit C ----------------------------------------------------
    sess = identity_session(asia_key, iso(t_gst))
    S = "asia-key"
    ev(
        "ListBuckets",
        f"{d}T12:24:12Z",
        TOR_C,
        f"[{UA_BOTO}]",
        ident=copy.deepcopy(sess),
        req={"Host": "s3.amazonaws.com"},
        drop=("vpcEndpointId",),
        host="s3.amazonaws.com",
        actor=S,
        tags=("recon",),
    )
    ev(
        "ListSecrets",
        f"{d}T12:24:19Z",
        TOR_C,
        UA_BOTO,
        ident=copy.deepcopy(sess),
        req=None,
        host="secretsmanager.us-east-1.amazonaws.com",
        actor=S,
        tags=("recon",),
    )
    for when, name in (("12:24:27", SECRET_NAMES[0]), ("12:24:33", SECRET_NAMES[1])):
        ev(
            "GetSecretValue",
            f"{d}T{when}Z",
            TOR_C,
            UA_BOTO,
            ident=copy.deepcopy(sess),
            req={"secretId": name},
            host="secretsmanager.us-east-1.amazonaws.com",
            actor=S,
            tags=("collection",),
        )
    ev(
        "GetSecretValue",
        f"{d}T12:24:52Z",
        TOR_C,
        UA_BOTO,
        ident=copy.deepcopy(sess),
        req={"secretId": MISSING_SECRET},
        error=("ResourceNotFoundException", "Secrets Manager can't find the specified secret."),
        host="secretsmanager.us-east-1.amazonaws.com",
        actor=S,
        tags=("collection",),
    )
    # -- 5. the backdoor user's new key, from the VPS -------------------------------------------
    bd = identity_akia(user=BACKDOOR_USER, principal=backdoor_uid, key=backdoor_key)
    P = "backdoor-key"
    ev(
        "GetCallerIdentity",
        f"{d}T12:33:15Z",
        VPS,
        ua_cli("sts.get-caller-identity"),
        ident=copy.deepcopy(bd),
        host=sts_host,
        actor=P,
        tags=("recon",),
    )
    ev(
        "ListUsers",
        f"{d}T12:33:39Z",
        VPS,
        ua_cli("iam.list-users"),
        ident=copy.deepcopy(bd),
        host=iam_host,
        actor=P,
        tags=("recon",),
    )

    minted = {"backdoor_user_id": backdoor_uid, "backdoor_key": backdoor_key, "asia_key": asia_key}
    return recs, minted


def file_time(d: datetime) -> datetime:
    """CloudTrail writes a file about every 5 minutes; its name carries the delivery time."""
    m = (d.minute // 5 + 1) * 5
    return d.replace(minute=0, second=0) + timedelta(minutes=m)


def strip_private(r: dict) -> dict:
    return {k: v for k, v in r.items() if not k.startswith("_")}


def write_cloudtrail(rng: Rng, invictus, actor_recs) -> list[dict]:
    base = CASE / "cloudtrail" / "AWSLogs" / PATH_ACCOUNT / "CloudTrail"
    manifest = []
    for src, raw, records in invictus:
        dest = base / REGION / "2023" / "07" / "10" / (src.name + ".gz")
        write(dest, gzip_bytes(raw))  # upstream bytes, unchanged, gzipped
        manifest.append(
            {
                "file": str(dest.relative_to(CASE)),
                "records": len(records),
                "origin": "invictus-aws (real)",
            }
        )
    groups: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
    for r in actor_recs:
        groups[(r["awsRegion"], file_time(ts(r["eventTime"])))].append(r)
    for (region, ft), recs in sorted(groups.items()):
        rng.r.shuffle(recs)  # records within a delivered file are unordered
        name = (
            f"{PATH_ACCOUNT}_CloudTrail_{region}_{ft.strftime('%Y%m%dT%H%MZ')}_"
            f"{rng.chars(16, ALNUM)}.json.gz"
        )
        dest = base / region / ft.strftime("%Y/%m/%d") / name
        write(dest, gzip_bytes(dumps_compact({"Records": [strip_private(r) for r in recs]})))
        manifest.append(
            {
                "file": str(dest.relative_to(CASE)),
                "records": len(recs),
                "origin": "synthetic (actor)",
            }
        )
    return manifest


# ----------------------------------------------------------------------------------------------
# GuardDuty findings
# ----------------------------------------------------------------------------------------------
RECON_APIS = {
    "GetCallerIdentity",
    "ListUsers",
    "ListRoles",
    "ListAttachedUserPolicies",
    "GetAccountAuthorizationDetails",
    "ListBuckets",
    "DescribeInstances",
}


def api_calls(recs: list[dict]) -> list[dict]:
    by: dict[str, list[datetime]] = defaultdict(list)
    for r in recs:
        by[r["eventName"]].append(ts(r["eventTime"]))
    out = []
    for name, times in by.items():
        out.append(
            {
                "count": len(times),
                "firstSeen": int(min(times).timestamp()),
                "lastSeen": int(max(times).timestamp()),
                "name": name,
            }
        )
    return sorted(out, key=lambda c: (-c["lastSeen"], c["name"]))


def make_tor_finding(
    rng: Rng,
    sample: dict,
    detector: str,
    ftype: str,
    severity: float,
    recs: list[dict],
    created_delay: timedelta,
) -> tuple[dict, dict]:
    """A raw (camelCase) GuardDuty finding with the real sample's field set and order."""
    recs = sorted(recs, key=lambda r: r["eventTime"])
    last = recs[-1]
    ip = last["sourceIPAddress"]
    geo = GEO[ip]
    fid = rng.hex32()
    first_seen, last_seen = ts(recs[0]["eventTime"]), ts(last["eventTime"])
    created = last_seen + created_delay
    created_s = iso(created, ms=rng.r.randrange(1000))
    f = copy.deepcopy(sample)
    f["accountId"] = ACCOUNT
    f["arn"] = f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector}/finding/{fid}"
    f["createdAt"] = created_s
    f["description"] = f"API {last['eventName']} was invoked from a Tor exit node IP address {ip}."
    f["id"] = fid
    f["partition"] = "aws"
    f["region"] = REGION
    f["resource"] = {
        "accessKeyDetails": {
            "accessKeyId": KEY,
            "principalId": PRINCIPAL_ID,
            "userName": USER,
            "userType": "IAMUser",
        },
        "resourceType": "AccessKey",
    }
    svc = f["service"]
    call = svc["action"]["awsApiCallAction"]
    call["affectedResources"] = {}
    call["api"] = last["eventName"]
    call["callerType"] = "Remote IP"
    call["remoteIpDetails"] = {
        "city": {"cityName": geo["city"]},
        "country": {"countryName": geo["country"]},
        "geoLocation": {"lat": geo["lat"], "lon": geo["lon"]},
        "ipAddressV4": ip,
        "organization": {
            "asn": geo["asn"],
            "asnOrg": geo["org"],
            "isp": geo["org"],
            "org": geo["org"],
        },
    }
    call["serviceName"] = last["eventSource"]
    svc["additionalInfo"] = {"apiCalls": api_calls(recs)}
    svc["archived"] = False
    svc["count"] = len(recs)
    svc["detectorId"] = detector
    svc["eventFirstSeen"] = iso(first_seen)
    svc["eventLastSeen"] = iso(last_seen)
    svc.pop("evidence", None)  # the sample's is a placeholder; see PROVENANCE.md
    svc["featureName"] = "CloudTrailManagementEvent"
    svc["resourceRole"] = "TARGET"
    svc["serviceName"] = "guardduty"
    f["severity"] = int(severity) if severity == int(severity) else severity
    f["title"] = f"API {last['eventName']} was invoked from a Tor exit node."
    f["type"] = ftype
    f["updatedAt"] = created_s
    truth = {
        "id": fid,
        "type": ftype,
        "severity": severity,
        "account_id": ACCOUNT,
        "region": REGION,
        "access_key_id": KEY,
        "principal_id": PRINCIPAL_ID,
        "user_name": USER,
        "user_type": "IAMUser",
        "tor_ip": ip,
        "count": len(recs),
        "api": last["eventName"],
        "service_name": last["eventSource"],
        "first_seen": iso(first_seen),
        "last_seen": iso(last_seen),
        "created_at": created_s,
        "detector_id": detector,
        "event_ids": [r["eventID"] for r in recs],
    }
    return f, truth


def make_other_finding(rng: Rng, panther: list[dict], detector: str) -> dict:
    """Panther's real 'High Sev Finding' (PrivilegeEscalation:IAMUser/AdministrativePermissions),
    moved to this account/region/detector and to the day before (unrelated to the story)."""
    src = next(p["finding"] for p in panther if p["_panther_test"] == "High Sev Finding")
    f = copy.deepcopy(src)
    fid = rng.hex32()
    first = ts(f["service"]["eventFirstSeen"])
    shift = ts("2023-07-09T16:02:41Z") - first

    def move(s: str) -> str:
        if s.endswith("Z") and "." in s:
            d = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) + shift
            return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
        return iso(ts(s) + shift)

    f["accountId"] = ACCOUNT
    f["region"] = REGION
    f["id"] = fid
    f["arn"] = f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector}/finding/{fid}"
    f["service"]["detectorId"] = detector
    f["service"]["action"]["awsApiCallAction"]["affectedResources"] = {
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/IAMRole"
    }
    for k in ("eventFirstSeen", "eventLastSeen"):
        f["service"][k] = move(f["service"][k])
    for k in ("createdAt", "updatedAt"):
        f[k] = move(f[k])
    return f


def wire_form(finding: dict) -> dict:
    """The finding as the GetFindings HTTP response carries it: ``additionalInfo`` is a
    ServiceAdditionalInfo {value: JSON text, type}, and null members are absent."""

    def drop_none(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: drop_none(v) for k, v in o.items() if v is not None}
        if isinstance(o, list):
            return [drop_none(v) for v in o]
        return o

    f = drop_none(copy.deepcopy(finding))
    ai = f.get("service", {}).get("additionalInfo")
    if isinstance(ai, dict) and "value" not in ai:
        f["service"]["additionalInfo"] = {
            "value": json.dumps(ai, separators=(",", ":")),
            "type": "default",
        }
    return f


def get_findings_output(findings: list[dict]) -> dict:
    """What ``aws guardduty get-findings`` prints: botocore parses the wire JSON with the
    service model (PascalCase member names, unmodelled keys dropped, map keys untouched)."""
    import botocore.session
    from botocore.parsers import create_parser

    model = botocore.session.get_session().get_service_model("guardduty")
    shape = model.operation_model("GetFindings").output_shape
    body = json.dumps({"findings": [wire_form(f) for f in findings]}).encode()
    parsed = create_parser("rest-json").parse(
        {"body": body, "headers": {"content-type": "application/json"}, "status_code": 200}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def eventbridge(rng: Rng, finding: dict) -> dict:
    t = datetime.strptime(finding["updatedAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return {
        "version": "0",
        "id": rng.uuid4(),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": finding["accountId"],
        "time": iso(t.replace(microsecond=0) + timedelta(seconds=1)),
        "region": finding["region"],
        "resources": [],
        "detail": finding,
    }


# ----------------------------------------------------------------------------------------------
# Security Hub ASFF (see tests/fixtures/guardduty/shapes/ASFF_MAPPING.md for every field's source)
# ----------------------------------------------------------------------------------------------
ASFF_TYPES = {
    "UnauthorizedAccess:IAMUser/TorIPCaller": "TTPs/Command and Control/UnauthorizedAccess:IAMUser-TorIPCaller",
    "Recon:IAMUser/TorIPCaller": "TTPs/Discovery/Recon:IAMUser-TorIPCaller",
}


def severity_label(s: float) -> str:
    # GuardDuty bands: Low 1.0-3.9, Medium 4.0-6.9, High 7.0-8.9, Critical 9.0-10.0
    return "LOW" if s < 4 else "MEDIUM" if s < 7 else "HIGH" if s < 9 else "CRITICAL"


def ms(s: str) -> str:
    """'2023-07-10T12:11:02Z' → '2023-07-10T12:11:02.000Z' (Security Hub's form)."""
    return s if "." in s else s[:-1] + ".000Z"


def to_asff(f: dict, processed_delay_s: int) -> dict:
    svc, call = f["service"], f["service"]["action"]["awsApiCallAction"]
    rip, key = call["remoteIpDetails"], f["resource"]["accessKeyDetails"]
    region, acct = f["region"], f["accountId"]
    p = "aws/guardduty/service/"
    a = p + "action/awsApiCallAction/"
    product_arn = f"arn:aws:securityhub:{region}::product/aws/guardduty"
    wire_ai = wire_form(f)["service"]["additionalInfo"]
    pf = {
        p + "archived": str(svc["archived"]).lower(),
        a + "remoteIpDetails/organization/asnOrg": rip["organization"]["asnOrg"],
        a + "remoteIpDetails/organization/org": rip["organization"]["org"],
        p + "additionalInfo/value": wire_ai["value"],
        p + "resourceRole": svc["resourceRole"],
        a + "remoteIpDetails/organization/isp": rip["organization"]["isp"],
        a + "remoteIpDetails/geoLocation/lat": str(rip["geoLocation"]["lat"]),
        p + "featureName": svc["featureName"],
        p + "count": str(svc["count"]),
        a + "remoteIpDetails/ipAddressV4": rip["ipAddressV4"],
        a + "callerType": call["callerType"],
        a + "remoteIpDetails/country/countryName": rip["country"]["countryName"],
        a + "serviceName": call["serviceName"],
        p + "additionalInfo/type": wire_ai["type"],
        a + "remoteIpDetails/city/cityName": rip["city"]["cityName"],
        a + "api": call["api"],
        p + "serviceName": svc["serviceName"],
        a + "remoteIpDetails/geoLocation/lon": str(rip["geoLocation"]["lon"]),
        p + "detectorId": svc["detectorId"],
        a + "remoteIpDetails/organization/asn": rip["organization"]["asn"],
        a + "affectedResources": "",
        p + "eventFirstSeen": ms(svc["eventFirstSeen"]),
        p + "eventLastSeen": ms(svc["eventLastSeen"]),
        p + "action/actionType": svc["action"]["actionType"],
        "aws/securityhub/FindingId": f"{product_arn}/{f['arn']}",
        "aws/securityhub/ProductName": "GuardDuty",
        "aws/securityhub/CompanyName": "Amazon",
    }
    created = datetime.strptime(f["updatedAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    processed = created + timedelta(seconds=processed_delay_s, milliseconds=229)
    country_code = {"Germany": "DE", "Austria": "AT"}[rip["country"]["countryName"]]
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f["arn"],
        "ProductArn": product_arn,
        "ProductName": "GuardDuty",
        "CompanyName": "Amazon",
        "Region": region,
        "GeneratorId": f["arn"].split("/finding/")[0],
        "AwsAccountId": acct,
        "Types": [ASFF_TYPES[f["type"]]],
        "FirstObservedAt": ms(svc["eventFirstSeen"]),
        "LastObservedAt": ms(svc["eventLastSeen"]),
        "CreatedAt": f["createdAt"],
        "UpdatedAt": f["updatedAt"],
        "Severity": {
            "Product": float(f["severity"]),
            "Label": severity_label(f["severity"]),
            "Normalized": 40,
        },
        "Title": f["title"],
        "Description": f["description"],
        "SourceUrl": (
            f"https://{region}.console.aws.amazon.com/guardduty/home?region={region}"
            f"#/findings?macros=current&fId={f['id']}"
        ),
        "ProductFields": pf,
        "Resources": [
            {
                "Type": "AwsIamAccessKey",
                "Id": f"AWS::IAM::AccessKey:{key['accessKeyId']}",
                "Partition": f["partition"],
                "Region": region,
                "Details": {
                    "AwsIamAccessKey": {
                        "PrincipalId": key["principalId"],
                        "PrincipalType": key["userType"],
                        "PrincipalName": key["userName"],
                    }
                },
            }
        ],
        "WorkflowState": "NEW",
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Action": {
            "ActionType": "AWS_API_CALL",
            "AwsApiCallAction": {
                "Api": call["api"],
                "ServiceName": call["serviceName"],
                "CallerType": "remoteIp",
                "RemoteIpDetails": {
                    "IpAddressV4": rip["ipAddressV4"],
                    "Organization": {
                        "Asn": int(rip["organization"]["asn"]),
                        "AsnOrg": rip["organization"]["asnOrg"],
                        "Isp": rip["organization"]["isp"],
                        "Org": rip["organization"]["org"],
                    },
                    "Country": {
                        "CountryCode": country_code,
                        "CountryName": rip["country"]["countryName"],
                    },
                    "City": {"CityName": rip["city"]["cityName"]},
                    "GeoLocation": {
                        "Lon": rip["geoLocation"]["lon"],
                        "Lat": rip["geoLocation"]["lat"],
                    },
                },
            },
        },
        "FindingProviderFields": {
            "Severity": {"Label": severity_label(f["severity"])},
            "Types": [ASFF_TYPES[f["type"]]],
        },
        "Sample": False,
        "ProcessedAt": processed.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{processed.microsecond // 1000:03d}Z",
    }


def asff_eventbridge(rng: Rng, asff: dict) -> dict:
    return {
        "version": "0",
        "id": rng.uuid4(),
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "account": asff["AwsAccountId"],
        "time": asff["ProcessedAt"][:19] + "Z",
        "region": asff["Region"],
        "resources": [asff["ProductFields"]["aws/securityhub/FindingId"]],
        "detail": {"findings": [asff]},
    }


# ----------------------------------------------------------------------------------------------
# documents
# ----------------------------------------------------------------------------------------------
def story_md(truth: dict) -> str:
    g = truth
    ipc = g["events_by_ip"]
    lines = [
        "# The sample case: a stolen access key used through Tor",
        "",
        "Machine-readable ground truth: `STORY.json` (same facts; tests should read that one).",
        "Built by `tools/build_sample_case.py` (deterministic); do not edit by hand.",
        "",
        "## Background (real)",
        "",
        f"All {g['background']['records']} records of the Invictus IR AWS dataset (Stratus Red Team run, "
        f"{g['background']['start']} → {g['background']['end']}, us-east-1) are kept unchanged. "
        f"In them, IAM user `{USER}` (principalId `{PRINCIPAL_ID}`) uses the long-term key "
        f"`{KEY}` from `{LEGIT_IP}` with `Boto3/1.26.165 Python/3.10.6 …` "
        f"({g['background']['key_events_from_legit_ip']} events), and the console (other keys).",
        "",
        "**Two account IDs.** The upstream log-file names (and so the S3 path "
        f"`AWSLogs/{PATH_ACCOUNT}/…`) carry account `{PATH_ACCOUNT}`; every record inside says "
        f"`{ACCOUNT}` (Invictus rewrote the IDs in the records; a session token in the data still "
        f"encodes `{PATH_ACCOUNT}`). The synthetic records and the findings use `{ACCOUNT}` so that "
        "findings and records join; the synthetic files sit next to the real ones under the same "
        "path. A tool must take the account from the finding/records, never from the path.",
        "",
        "## What the actor did (synthetic, placed on real Tor exits)",
        "",
        "| time (UTC) | source IP | what | key |",
        "|---|---|---|---|",
    ]
    for e in g["timeline"]:
        err = f" → **{e['error_code']}**" if e["error_code"] else ""
        lines.append(
            f"| {e['time'][11:19]} | `{e['ip']}`{' (Tor)' if e['tor'] else ''} | "
            f"{e['source'].split('.')[0]} {e['event']} ({e['region']}){err} | "
            f"`{e['access_key_id']}` |"
        )
    lines += [
        "",
        "1. The key is first tried from a non-Tor public address (`" + VPS + "`, the story's VPS; "
        "the address is arbitrary and in no Tor list — no claim about who really uses it).",
        f"2. Recon through Tor exit `{TOR_A}`: identity, IAM users/roles/policies, buckets, EC2 in "
        "us-east-1, eu-west-1 and ap-southeast-1. `iam:ListRoles` is denied (no identity-based policy "
        "allows it) and ap-southeast-1 answers `Client.UnauthorizedOperation` (the organisation's "
        "region SCP).",
        f"3. Persistence from `{TOR_A}`: user `{BACKDOOR_USER}` with an access key "
        f"(`{g['derived']['backdoor_key']}`), `AdministratorAccess` and a console password.",
        f"4. From `{TOR_B}`: `sts:GetSessionToken` (first attempt fails validation), which mints "
        f"`{g['derived']['asia_key']}` (in `responseElements.credentials.accessKeyId`).",
        f"5. From `{TOR_C}` the ASIA key lists buckets and secrets and reads two secrets that exist "
        "in the background data; a guessed third secret does not exist.",
        "6. From the VPS the backdoor user's key calls `GetCallerIdentity` and `ListUsers`.",
        "",
        "Report-safety bait: the user agent `"
        + UA_INJECT
        + "` (2 events) and a DescribeInstances filter value beginning `=HYPERLINK(` must be shown "
        "as text, never run or evaluated.",
        "",
        "## What an analyst should find",
        "",
        f"- Suspect key: `{KEY}` (long-term, IAMUser `{USER}`, principalId `{PRINCIPAL_ID}`, "
        f"account `{ACCOUNT}`).",
        f"- Tor exits (listed on 2023-07-09, -10 and -11): `{TOR_A}`, `{TOR_B}`, `{TOR_C}`. "
        f"Not Tor: `{VPS}` (actor) and `{LEGIT_IP}` (benjamin's usual address).",
        f"- Derived temporary key: `{g['derived']['asia_key']}` (same actor). Persistence: user "
        f"`{BACKDOOR_USER}` (`{g['derived']['backdoor_user_id']}`) and key "
        f"`{g['derived']['backdoor_key']}`.",
        "- Verdict: malicious. Remediate benjamin's key, the ASIA session (revoke), the backdoor "
        "user (key, login profile, policy).",
        "",
        "Events by key and source IP (all days in the case):",
        "",
        "| key | IP | events | failed | Tor |",
        "|---|---|---|---|---|",
    ]
    for row in ipc:
        lines.append(
            f"| `{row['access_key_id']}` | `{row['ip']}` | {row['events']} | "
            f"{row['failed']} | {row['tor']} |"
        )
    lines += [
        "",
        "## Findings in `findings/`",
        "",
        "| file | shape | finding id | type | severity | Tor IP | count | first → last seen |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in g["findings"]:
        seen = f"{f['first_seen']} → {f['last_seen']}" if "first_seen" in f else "— (unrelated)"
        lines.append(
            f"| `{f['file']}` | {f['shape']} | `{f['id']}` | {f['type']} | {f['severity']} | "
            f"{'`' + f['tor_ip'] + '`' if f.get('tor_ip') else '—'} | {f.get('count', '—')} | "
            f"{seen} |"
        )
    lines += [
        "",
        "GuardDuty is regional and its finding counts one detector's view: the two Tor findings "
        "are the us-east-1 detector's and count only the actor's calls with benjamin's key that "
        "were recorded in us-east-1 (IAM/STS/S3 global calls and us-east-1 EC2). The Recon finding "
        "counts the discovery calls; the UnauthorizedAccess finding the others (IAM writes, "
        "GetSessionToken). The eu-west-1/ap-southeast-1 calls and the ASIA/backdoor keys' calls "
        "would raise findings in other detectors or under other keys; they are not in the case, "
        "which is why the tool must search every region and follow derived keys.",
        "",
        "## Shapes",
        "",
        "Each synthetic record copies the structure (key order, nested objects, eventVersion, "
        "tlsDetails, additionalEventData…) of a real record of the same eventName in the "
        "background data. Exceptions: `ListRoles` and `ListAttachedUserPolicies` use `ListUsers`' "
        "shape; `GetSessionToken` uses `AssumeRole`'s minus `resources` and `assumedRoleUser`; "
        "internet (non-VPC-endpoint) `ListBuckets` drops the console's `vpcEndpointId`; error "
        "records add `errorCode`/`errorMessage` after `userAgent` as CloudTrail does.",
        "",
    ]
    return "\n".join(lines)


def provenance_md(tor_meta: dict, manifest: list[dict], sizes: dict) -> str:
    n_real = sum(1 for m in manifest if m["origin"].startswith("invictus"))
    n_syn = len(manifest) - n_real
    rows = "\n".join(
        f"| `tor/danmeuk-exit-{d}.txt` | {m['commit']} | {m['commit_utc']} | {m['n_ips']} |"
        for d, m in tor_meta.items()
    )
    return f"""# Sample case: provenance

Built by `tools/build_sample_case.py` from `../shared/data` (see that folder's PROVENANCE files).
Real data is copied unchanged; everything about the actor is synthetic and listed below.

## Real data copied

| what | source | licence |
|---|---|---|
| `cloudtrail/AWSLogs/{PATH_ACCOUNT}/CloudTrail/us-east-1/2023/07/10/*` — {n_real} files whose names match the upstream files (`.gz` added) | invictus-ir/aws_dataset @ 4667aa9c26330bc3317ed8bd526f4b83cff13602, `CloudTrail/*.json`: each file's bytes unchanged, gzipped (mtime 0) | MIT, © 2023 Invictus Incident Response — `LICENSE.invictus-aws.txt` |
| `tor/danmeuk-exit-YYYY-MM-DD.txt` — the dan.me.uk exit list as last committed on that UTC day (exact bytes, ungzipped) | SecOps-Institute/Tor-IP-Addresses, `tor-exit-nodes.lst` at the commits below | MIT, © 2023 SecOps – Institute of Information Security — `tor/LICENSE.upstream.md` (and `LICENSE.secops-danmeuk.md`) |
| `findings/get-findings.json`, 2nd finding: the `PrivilegeEscalation:IAMUser/AdministrativePermissions` finding of Panther's rule test "High Sev Finding" | panther-labs/panther-analysis @ daa10c888566839e9918dfba1cd652743781e5fe, `rules/aws_guardduty_rules/aws_guardduty_high_sev_findings.yml` | Apache-2.0 — `LICENSE.panther-analysis-Apache-2.0.txt`. **Modified**: accountId/region/arn/detector/id set to this case's, role ARN moved to this account, `null` members dropped, all times shifted to 2023-07-09 (same offsets). Panther's sample has no `resource`; kept so. |

Tor lists (one address per line, no header; the date is in the file name and is the UTC day of the
last valid list of that day; the exact fetch time is the commit time below):

| file | commit | commit time (UTC) | addresses |
|---|---|---|---|
{rows}

## Structure sources (field sets and formats, no content copied)

- CloudTrail records: each synthetic record is built from a real record of the same kind in the
  Invictus data (see STORY.md "Shapes").
- GuardDuty findings: the field set and order of the real GuardDuty sample finding in
  `tests/fixtures/guardduty/raw_TorIPCaller_sample_finding.json` (from mozilla/MozDef, MPL-2.0;
  only the format is reused). `evidence` (placeholder threat-list values in the sample) is left out,
  `additionalInfo.sample` is dropped and `additionalInfo.apiCalls` rebuilt from the synthetic events,
  `featureName: CloudTrailManagementEvent` added (present in current findings).
- `findings/get-findings.json` is what `aws guardduty get-findings` prints: the wire JSON parsed by
  botocore's GuardDuty model (PascalCase members, map keys such as `AWS::IAM::Role` untouched,
  `AdditionalInfo` as the API's `ServiceAdditionalInfo` `{{Value: JSON text, Type: "default"}}`),
  then printed with aws-cli's JSON formatting (indent 4).
- `findings/eventbridge-recon.json`: EventBridge "GuardDuty Finding" envelope around the raw
  camelCase finding.

## Synthetic (invented for the story)

- {n_syn} log files (`*_CloudTrail_<region>_<time>_<16 random chars>.json.gz`, same path layout and
  naming as the real ones, file time = next 5-minute mark after their events) holding every actor
  record; all IDs (eventID, requestID, x-amz-id-2, finding/detector ids, access keys, user id,
  session token) come from one seeded RNG.
- The actor's IPs are real Tor exits at that time (`{TOR_A}`, `{TOR_B}`, `{TOR_C}` are in the
  2023-07-09/10/11 lists and in `exit_ip_intervals.csv.gz` runs covering 2023-07-10); `{VPS}` was
  picked arbitrarily and is in none of the shared Tor lists (no claim about its real owner).
- **`remoteIpDetails` geo/ASN values in the findings (city, country, lat/lon, ASN, org, ISP) are
  SYNTHETIC** — plausible for those exits but not looked up.
- Error texts: `AccessDenied` for `iam:ListRoles` follows IAM's "… because no identity-based policy
  allows …" form; `Client.UnauthorizedOperation` "You are not authorized to perform this
  operation." for EC2; STS `ValidationError` and Secrets Manager `ResourceNotFoundException` use
  those services' standard messages.

## Sizes

Total {sizes["total"]:,} bytes (limit {MAX_CASE_BYTES:,}); cloudtrail {sizes["cloudtrail"]:,}, tor
{sizes["tor"]:,}, findings {sizes["findings"]:,}.
"""


# ----------------------------------------------------------------------------------------------
# build
# ----------------------------------------------------------------------------------------------
def safe_reset(path: Path, must_end: str) -> None:
    if not str(path).endswith(must_end):
        raise SystemExit(f"refusing to delete {path}")
    if path.exists():
        shutil.rmtree(path)


def build() -> None:
    rng = Rng(SEED)
    invictus = load_invictus()
    background = [r for _, _, recs in invictus for r in recs]
    tor_raw = load_tor_lists()
    lists = {d: set(b.decode().split()) for d, b in tor_raw.items()}
    for ip in (TOR_A, TOR_B, TOR_C):
        missing = [d for d in TOR_DATES if ip not in lists[d]]
        if missing:
            raise SystemExit(f"{ip} is not in the exit lists of {missing}")
    if VPS in all_listed_ips():
        raise SystemExit(f"{VPS} appears in a Tor list; pick another non-Tor address")
    gd = load_gd_fixtures()

    t = templates(background)
    actor, minted = build_actor(rng, t)
    existing_ids = {r["eventID"] for r in background}
    assert not existing_ids & {r["eventID"] for r in actor}

    safe_reset(CASE, "torinvest/data/sample_case")
    manifest = write_cloudtrail(rng, invictus, actor)

    # -- findings ------------------------------------------------------------------------------
    detector = rng.hex32()
    tor_ips = {TOR_A, TOR_B, TOR_C}
    mine = [
        r
        for r in actor
        if r["userIdentity"]["accessKeyId"] == KEY
        and r["sourceIPAddress"] in tor_ips
        and r["awsRegion"] == REGION
    ]
    recon = [r for r in mine if r["eventName"] in RECON_APIS]
    unauth = [r for r in mine if r["eventName"] not in RECON_APIS]
    f_unauth, t_unauth = make_tor_finding(
        rng,
        gd["raw_sample"],
        detector,
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        5.0,
        unauth,
        timedelta(minutes=6, seconds=27),
    )
    f_recon, t_recon = make_tor_finding(
        rng,
        gd["raw_sample"],
        detector,
        "Recon:IAMUser/TorIPCaller",
        2.0,
        recon,
        timedelta(minutes=6, seconds=3),
    )
    f_other = make_other_finding(rng, gd["panther"], detector)
    gf = get_findings_output([f_unauth, f_other])
    write(CASE / "findings" / "get-findings.json", dumps_pretty(gf, indent=4))
    eb_recon = eventbridge(rng, f_recon)
    write(CASE / "findings" / "eventbridge-recon.json", dumps_pretty(eb_recon))

    # -- tor lists + licences ------------------------------------------------------------------
    idx = {}
    with open(SHARED / "tor" / "secops-danmeuk" / "daily_snapshots_index.csv") as fh:
        for row in csv.DictReader(fh):
            if row["utc_date"] in TOR_DATES:
                idx[row["utc_date"]] = {
                    "commit": row["commit"],
                    "n_ips": int(row["n_ips"]),
                    "commit_utc": iso(datetime.fromtimestamp(int(row["commit_unix_ts"]), UTC)),
                }
    for d, b in tor_raw.items():
        write(CASE / "tor" / f"danmeuk-exit-{d}.txt", b)
    secops_lic = (SHARED / "tor" / "secops-danmeuk" / "LICENSE.upstream.md").read_bytes()
    write(CASE / "tor" / "LICENSE.upstream.md", secops_lic)
    write(CASE / "LICENSE.secops-danmeuk.md", secops_lic)
    write(CASE / "tor" / "PROVENANCE.md", tor_provenance(idx))
    write(
        CASE / "LICENSE.invictus-aws.txt",
        (SHARED / "cloudtrail" / "invictus-aws" / "LICENSE.upstream.txt").read_bytes(),
    )
    apache = importlib.metadata.distribution("boto3").read_text("LICENSE")
    if not apache or "Apache License" not in apache:
        raise SystemExit("could not read the Apache-2.0 licence text from boto3's metadata")
    write(
        CASE / "LICENSE.panther-analysis-Apache-2.0.txt",
        "Applies to the PrivilegeEscalation finding copied (modified) from "
        "panther-labs/panther-analysis (Copyright Panther Labs Inc.).\n\n" + apache,
    )

    # -- ground truth --------------------------------------------------------------------------
    truth = ground_truth(
        background,
        actor,
        minted,
        lists,
        idx,
        [
            ("findings/get-findings.json", "GetFindings (PascalCase)", t_unauth),
            ("findings/eventbridge-recon.json", "EventBridge (camelCase)", t_recon),
        ],
        f_other,
    )
    write(CASE / "STORY.json", dumps_pretty(truth))
    write(CASE / "STORY.md", story_md(truth))
    sizes = case_sizes()
    # PROVENANCE's size line counts itself approximately: write twice
    write(CASE / "PROVENANCE.md", provenance_md(idx, manifest, sizes))
    write(CASE / "PROVENANCE.md", provenance_md(idx, manifest, case_sizes()))

    # -- Task B: shapes + bad inputs -----------------------------------------------------------
    build_shapes(rng, f_unauth, f_recon, f_other, t_unauth, t_recon, background)
    append_fixture_provenance()


def tor_provenance(idx: dict) -> str:
    rows = "\n".join(
        f"| `danmeuk-exit-{d}.txt` | `{m['commit']}` | {m['commit_utc']} | {m['n_ips']} |"
        for d, m in sorted(idx.items())
    )
    return f"""# Tor exit lists of the sample case

Plain lists, one address per line (IPv4 and IPv6), **no header or comment lines**; the file name
carries the UTC date. Each file is the exact content of `tor-exit-nodes.lst` in
SecOps-Institute/Tor-IP-Addresses (downloaded hourly from https://www.dan.me.uk/torlist/?exit) at
the last valid commit of that UTC day, i.e. the list as fetched at the commit time below.

| file | commit | commit time (UTC) | addresses |
|---|---|---|---|
{rows}

Licence: MIT, © 2023 SecOps – Institute of Information Security (`LICENSE.upstream.md`).
Caveat (from the shared data's PROVENANCE): dan.me.uk lists relays with the Exit flag by OR address,
not measured exit addresses; it misses ~6–9 % of measured exits and lists more relays than exit.
"""


def ground_truth(background, actor, minted, lists, idx, tor_findings, f_other) -> dict:
    tor_ips = {TOR_A, TOR_B, TOR_C}
    bg_key = [r for r in background if (r.get("userIdentity") or {}).get("accessKeyId") == KEY]
    rows: dict[tuple[str, str], dict] = {}
    for r in bg_key + actor:
        k = (r["userIdentity"]["accessKeyId"], r["sourceIPAddress"])
        row = rows.setdefault(
            k,
            {
                "access_key_id": k[0],
                "ip": k[1],
                "events": 0,
                "failed": 0,
                "tor": k[1] in tor_ips,
                "first_seen": r["eventTime"],
                "last_seen": r["eventTime"],
                "user_agents": set(),
                "regions": set(),
            },
        )
        row["events"] += 1
        row["failed"] += bool(r.get("errorCode"))
        row["first_seen"] = min(row["first_seen"], r["eventTime"])
        row["last_seen"] = max(row["last_seen"], r["eventTime"])
        row["user_agents"].add(r["userAgent"])
        row["regions"].add(r["awsRegion"])
    by_ip = []
    for k in sorted(rows, key=lambda k: (rows[k]["first_seen"], k)):
        row = rows[k]
        row["user_agents"] = sorted(row["user_agents"])
        row["regions"] = sorted(row["regions"])
        by_ip.append(row)
    timeline = [
        {
            "time": r["eventTime"],
            "ip": r["sourceIPAddress"],
            "tor": r["sourceIPAddress"] in tor_ips,
            "source": r["eventSource"],
            "event": r["eventName"],
            "region": r["awsRegion"],
            "access_key_id": r["userIdentity"]["accessKeyId"],
            "user_name": r["userIdentity"]["userName"],
            "error_code": r.get("errorCode"),
            "read_only": r["readOnly"],
            "event_id": r["eventID"],
            "actor_part": r["_actor"],
            "tags": r["_tags"],
            "user_agent": r["userAgent"],
        }
        for r in sorted(actor, key=lambda r: r["eventTime"])
    ]
    times = [r["eventTime"] for r in background]
    findings = []
    for file, shape, tf in tor_findings:
        findings.append({"file": file, "shape": shape, **tf})
    findings.append(
        {
            "file": "findings/get-findings.json",
            "shape": "GetFindings (PascalCase)",
            "id": f_other["id"],
            "type": f_other["type"],
            "severity": f_other["severity"],
            "account_id": ACCOUNT,
            "region": REGION,
            "note": "unrelated; must be skipped",
        }
    )
    return {
        "case": "torinvest sample case",
        "account_id": ACCOUNT,
        "log_path_account_id": PATH_ACCOUNT,
        "region": REGION,
        "suspect_key": {
            "access_key_id": KEY,
            "kind": "long-term",
            "principal_id": PRINCIPAL_ID,
            "user_name": USER,
            "user_type": "IAMUser",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{USER}",
        },
        "legit_ip": LEGIT_IP,
        "tor_ips": sorted(tor_ips),
        "tor_ip_roles": {
            TOR_A: "recon + persistence",
            TOR_B: "GetSessionToken",
            TOR_C: "uses the derived ASIA key",
        },
        "non_tor_actor_ip": VPS,
        "tor_lists": {d: {"file": f"tor/danmeuk-exit-{d}.txt", **m} for d, m in idx.items()},
        "tor_ips_listed": {
            ip: [d for d in TOR_DATES if ip in lists[d]] for ip in sorted(tor_ips | {VPS, LEGIT_IP})
        },
        "derived": {
            "asia_key": minted["asia_key"],
            "backdoor_user": BACKDOOR_USER,
            "backdoor_user_id": minted["backdoor_user_id"],
            "backdoor_key": minted["backdoor_key"],
        },
        "derived_keys": [minted["asia_key"]],
        "created_keys": [minted["backdoor_key"]],
        "injection": {"user_agent": UA_INJECT, "request_parameter_value": HYPERLINK},
        "verdict": "malicious",
        "background": {
            "records": len(background),
            "start": min(times),
            "end": max(times),
            "files": 55,
            "key_events_from_legit_ip": len(bg_key),
        },
        "actor_events": {
            "total": len(actor),
            "failed": sum(bool(r.get("errorCode")) for r in actor),
            "from_tor": sum(r["sourceIPAddress"] in tor_ips for r in actor),
            "by_key": dict(
                sorted(Counter(r["userIdentity"]["accessKeyId"] for r in actor).items())
            ),
            "by_region": dict(sorted(Counter(r["awsRegion"] for r in actor).items())),
        },
        "events_by_ip": by_ip,
        "timeline": timeline,
        "findings": findings,
        "skipped_other_findings": {f_other["type"]: 1},
    }


def case_sizes() -> dict:
    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0

    return {
        "total": size(CASE),
        "cloudtrail": size(CASE / "cloudtrail"),
        "tor": size(CASE / "tor"),
        "findings": size(CASE / "findings"),
    }


# ----------------------------------------------------------------------------------------------
# Task B: one file per export shape, bad inputs, EXPECTED.json
# ----------------------------------------------------------------------------------------------
def expected_entry(tf: dict) -> dict:
    keys = (
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
        "first_seen",
        "last_seen",
        "api",
    )
    return {k: tf[k] for k in keys}


def build_shapes(rng, f_unauth, f_recon, f_other, t_unauth, t_recon, background) -> None:
    SHAPES.mkdir(parents=True, exist_ok=True)
    BAD.mkdir(parents=True, exist_ok=True)
    eu, er = expected_entry(t_unauth), expected_entry(t_recon)
    exp: dict[str, Any] = {}

    def put(name: str, data: bytes | str, tor: list[dict], shape: str, others: int = 0) -> None:
        write(SHAPES / name, data)
        exp[name] = {"shape": shape, "tor_findings": tor, "other_findings": others}

    put(
        "single_raw.json",
        dumps_pretty(f_unauth),
        [eu],
        "one raw camelCase finding (EventBridge detail / S3 export form: additionalInfo is an object)",
    )
    put(
        "list_raw.json",
        dumps_pretty([wire_form(f_unauth), wire_form(f_recon)]),
        [eu, er],
        "JSON list of raw camelCase findings in the GetFindings wire form "
        "(additionalInfo = {value: JSON text, type: default})",
    )
    put(
        "get_findings_pascal.json",
        dumps_pretty(get_findings_output([f_unauth, f_recon]), 4),
        [eu, er],
        "aws guardduty get-findings / boto3 get_findings output (PascalCase)",
    )
    put(
        "eventbridge.json",
        dumps_pretty(eventbridge(rng, f_unauth)),
        [eu],
        "EventBridge 'GuardDuty Finding' event (detail = raw camelCase finding)",
    )
    lines = "".join(
        json.dumps(f, separators=(",", ":"), ensure_ascii=False) + "\n"
        for f in (f_unauth, f_other, f_recon)
    )
    put(
        "findings.jsonl",
        lines,
        [eu, er],
        "JSON lines, one raw camelCase finding per line (includes 1 finding of another type)",
        others=1,
    )
    put(
        "s3_export.jsonl.gz",
        gzip_bytes(lines.encode()),
        [eu, er],
        "GuardDuty S3 export: gzip JSON lines (includes 1 finding of another type)",
        others=1,
    )
    a_unauth, a_recon = to_asff(f_unauth, 93), to_asff(f_recon, 88)
    put(
        "asff.json",
        dumps_pretty({"Findings": [a_unauth, a_recon]}, 4),
        [eu, er],
        "aws securityhub get-findings output: ASFF (GuardDuty product findings)",
    )
    put(
        "asff_eventbridge.json",
        dumps_pretty(asff_eventbridge(rng, a_unauth)),
        [eu],
        "EventBridge 'Security Hub Findings - Imported' (detail.findings[] = ASFF)",
    )
    exp["_note"] = (
        "For each shape file: the Tor findings it holds, with the values a parser must return "
        "(same findings as torinvest/data/sample_case). tor_ip is remoteIpDetails.ipAddressV4; "
        "first_seen/last_seen are service.eventFirstSeen/eventLastSeen as written in the raw "
        "finding (ASFF writes them with .000Z). Built by tools/build_sample_case.py."
    )
    write(SHAPES / "EXPECTED.json", dumps_pretty(dict(sorted(exp.items()))))

    # -- bad inputs ----------------------------------------------------------------------------
    write(BAD / "empty.json", b"")
    full = dumps_pretty(f_unauth)
    write(BAD / "invalid.json", full[: len(full) // 2])
    first_file = sorted((SHARED / "cloudtrail" / "invictus-aws" / "CloudTrail").glob("*.json"))
    small = min(first_file, key=lambda p: p.stat().st_size)
    write(BAD / "not_a_finding.json", small.read_bytes())
    panther = load_gd_fixtures()["panther"]
    other_src = next(p["finding"] for p in panther if p["_panther_test"] == "High Sev Finding")
    write(BAD / "other_type.json", dumps_pretty(other_src))
    nokey = copy.deepcopy(f_unauth)
    nokey["resource"] = {"resourceType": "AccessKey"}
    write(BAD / "no_access_key_details.json", dumps_pretty(nokey))
    badid = copy.deepcopy(f_unauth)
    badid["id"] = "../../etc/passwd"
    badid["arn"] = badid["arn"].rsplit("/finding/", 1)[0] + "/finding/../../etc/passwd"
    write(BAD / "invalid_id.json", dumps_pretty(badid))
    badreg = copy.deepcopy(f_unauth)
    badreg["region"] = "moon-base-1x"
    badreg["arn"] = badreg["arn"].replace(f":{REGION}:", ":moon-base-1x:")
    write(BAD / "invalid_region.json", dumps_pretty(badreg))
    write(
        BAD / "README.md",
        f"""# Bad inputs for the findings parser

Built by `tools/build_sample_case.py`. Each file must be reported as a data issue naming the
file (or, for other_type.json, skipped and counted), while valid files beside it still load.

| file | what is wrong | expected handling |
|---|---|---|
| `empty.json` | 0 bytes | file-level error ("empty") |
| `invalid.json` | the first half of `../shapes/single_raw.json` (truncated JSON) | file-level error (invalid JSON) |
| `not_a_finding.json` | a real CloudTrail log file (`{small.name}`, invictus-aws, MIT) | no finding in it: error or "0 findings" issue |
| `other_type.json` | Panther's real `PrivilegeEscalation:IAMUser/AdministrativePermissions` test finding, unwrapped from `finding` (Apache-2.0; no `resource`; `arn` region/id differ from `region`/`id` upstream) | loads, but is not a Tor finding: skipped, counted by type |
| `no_access_key_details.json` | the Tor finding of `single_raw.json` with `resource` = `{{"resourceType": "AccessKey"}}` only | Tor finding without a key: MissingKeyDetails-style error when locating the key |
| `invalid_id.json` | same finding, `id` = `../../etc/passwd` | rejected (invalid finding id), never used in a path |
| `invalid_region.json` | same finding, `region` = `moon-base-1x` | rejected (invalid region) |
""",
    )


FIXTURE_MARK_BEGIN = "<!-- BEGIN derived-shapes (tools/build_sample_case.py) -->"
FIXTURE_MARK_END = "<!-- END derived-shapes -->"


def append_fixture_provenance() -> None:
    p = GD_FIX / "PROVENANCE.md"
    text = p.read_text()
    section = f"""{FIXTURE_MARK_BEGIN}
## Derived shape fixtures (`shapes/`, `bad/`)

Generated by `tools/build_sample_case.py` (deterministic) from the same findings as the embedded
sample case (`torinvest/data/sample_case`, see its STORY.md/PROVENANCE.md): the field set and order
of `raw_TorIPCaller_sample_finding.json` (real GuardDuty sample finding) with the story's values
(account 123837392027, key AKIATFQR7NSCUXC3DDDP of user benjamin, real Tor exit addresses;
**geo/ASN values synthetic**), plus Panther's real `PrivilegeEscalation` finding as the "other type".
`shapes/EXPECTED.json` lists, per file, the exact values a parser must return.

| file | shape | how it is made |
|---|---|---|
| `shapes/single_raw.json` | one raw camelCase finding | as EventBridge `detail` / S3 export carry it (`additionalInfo` an object) |
| `shapes/list_raw.json` | JSON list of 2 | the GetFindings *wire* form: `additionalInfo` = `{{value: JSON text, type: "default"}}` (API model `ServiceAdditionalInfo`), null members absent |
| `shapes/get_findings_pascal.json` | `{{"Findings": [...]}}` PascalCase | the wire JSON parsed by botocore's GuardDuty model (member names from the model, map keys untouched, unmodelled keys dropped) and printed like aws-cli (indent 4) |
| `shapes/eventbridge.json` | EventBridge "GuardDuty Finding" | envelope version/id/detail-type/source/account/time/region/resources[]/detail |
| `shapes/findings.jsonl`, `shapes/s3_export.jsonl.gz` | JSON lines / gzip JSON lines (GuardDuty S3 export) | 2 Tor findings + 1 PrivilegeEscalation finding |
| `shapes/asff.json`, `shapes/asff_eventbridge.json` | Security Hub ASFF (`aws securityhub get-findings`; EventBridge "Security Hub Findings - Imported") | field names and value forms from a real GuardDuty-in-ASFF finding (read, not copied: MrRedhu/aws-cloud-security-baseline @ d5c42350ef87c8a3af32b6eca0501c3941481e57, `evidence/03-detection-findings.md`, no licence stated) and the GuardDuty user guide's type table / example (awsdocs/amazon-guardduty-user-guide @ 6d05eb780c280518bc165111e439c2804e8d007d, `doc_source/securityhub-integration.md`, CC BY-SA 4.0); see `shapes/ASFF_MAPPING.md` |
| `bad/*` | bad inputs | see `bad/README.md` |
{FIXTURE_MARK_END}
"""
    if FIXTURE_MARK_BEGIN in text:
        head = text.split(FIXTURE_MARK_BEGIN)[0]
        tail = text.split(FIXTURE_MARK_END, 1)[1] if FIXTURE_MARK_END in text else ""
        new = head + section + tail.lstrip("\n")
    else:
        new = text.rstrip("\n") + "\n\n" + section
    p.write_text(new)


# ----------------------------------------------------------------------------------------------
# verification
# ----------------------------------------------------------------------------------------------
def check() -> list[str]:
    problems: list[str] = []
    truth = json.loads((CASE / "STORY.json").read_text())

    # every JSON file loads
    for root in (CASE, SHAPES, BAD):
        for p in sorted(root.rglob("*")):
            if not p.is_file():
                continue
            try:
                if p.name.endswith(".json.gz"):
                    json.loads(gzip.decompress(p.read_bytes()))
                elif p.name.endswith(".jsonl.gz"):
                    for line in gzip.decompress(p.read_bytes()).decode().splitlines():
                        json.loads(line)
                elif p.suffix == ".jsonl":
                    for line in p.read_text().splitlines():
                        json.loads(line)
                elif p.suffix == ".json" and root is not BAD:
                    json.loads(p.read_text())
            except Exception as e:
                problems.append(f"{p}: does not load: {e}")
    for name, should_load in (
        ("empty.json", False),
        ("invalid.json", False),
        ("not_a_finding.json", True),
        ("other_type.json", True),
        ("no_access_key_details.json", True),
        ("invalid_id.json", True),
        ("invalid_region.json", True),
    ):
        try:
            json.loads((BAD / name).read_text())
            ok = True
        except ValueError:
            ok = False
        if ok != should_load:
            problems.append(f"bad/{name}: loads={ok}, expected {should_load}")

    # log files: gzip + {"Records": [...]}, real ones byte-identical, synthetic key sets = real
    real_src = {
        p.name: p.read_bytes()
        for p in (SHARED / "cloudtrail" / "invictus-aws" / "CloudTrail").glob("*.json")
    }
    real_records = [r for b in real_src.values() for r in json.loads(b)["Records"]]
    shapes_by_name: dict[str, set] = defaultdict(set)
    for r in real_records:
        shapes_by_name[r["eventName"]].add(
            (
                frozenset(k for k in r if k not in ("errorCode", "errorMessage")),
                frozenset(r["userIdentity"]) if r.get("userIdentity") else None,
            )
        )
    alias = {
        "ListRoles": "ListUsers",
        "ListAttachedUserPolicies": "ListUsers",
        "GetSessionToken": "AssumeRole",
    }
    optional = {"ListBuckets": {"vpcEndpointId"}, "GetSessionToken": {"resources"}}
    n_records = synthetic = 0
    seen_ids: set[str] = set()
    for p in sorted((CASE / "cloudtrail").rglob("*.json.gz")):
        parts = p.relative_to(CASE / "cloudtrail").parts
        if parts[:3] != ("AWSLogs", PATH_ACCOUNT, "CloudTrail") or len(parts) != 8:
            problems.append(f"{p}: not in S3 key layout")
        region = parts[3]
        if not p.name.startswith(f"{PATH_ACCOUNT}_CloudTrail_{region}_2023"):
            problems.append(f"{p}: bad file name")
        doc = json.loads(gzip.decompress(p.read_bytes()))
        recs = doc["Records"]
        n_records += len(recs)
        src_name = p.name[:-3]
        if src_name in real_src:
            if gzip.decompress(p.read_bytes()) != real_src[src_name]:
                problems.append(f"{p}: real file content changed")
            continue
        for r in recs:
            synthetic += 1
            if r["eventID"] in seen_ids:
                problems.append(f"duplicate eventID {r['eventID']}")
            seen_ids.add(r["eventID"])
            if r["awsRegion"] != region:
                problems.append(f"{p}: record of {r['awsRegion']} in {region} file")
            name = r["eventName"]
            ref = shapes_by_name.get(alias.get(name, name))
            keys = frozenset(k for k in r if k not in ("errorCode", "errorMessage"))
            ui = frozenset(r["userIdentity"])
            opt = optional.get(name, set())
            if not ref or not any(keys == rk or keys | opt == rk for rk, _ in ref):
                problems.append(
                    f"{p}: {name} key set matches no real {alias.get(name, name)} record"
                )
            if ("errorCode" in r) != ("errorMessage" in r):
                problems.append(f"{p}: {name} has errorCode without errorMessage")
            if ui not in (
                {"type", "principalId", "arn", "accountId", "accessKeyId", "userName"},
                {
                    "type",
                    "principalId",
                    "arn",
                    "accountId",
                    "accessKeyId",
                    "userName",
                    "sessionContext",
                },
            ):
                problems.append(f"{p}: unexpected userIdentity keys {sorted(ui)}")
    if n_records != truth["background"]["records"] + truth["actor_events"]["total"]:
        problems.append(f"record count {n_records} != background + actor")
    if synthetic != truth["actor_events"]["total"]:
        problems.append(f"synthetic records {synthetic} != {truth['actor_events']['total']}")

    # Tor IPs are really in the 2023-07-10 list (and 07-09, 07-11); the VPS is in none
    lists = {
        d: set(
            gzip.decompress(
                (SHARED / "tor" / "secops-danmeuk" / "daily_snapshots" / f"{d}.txt.gz").read_bytes()
            )
            .decode()
            .split()
        )
        for d in TOR_DATES
    }
    for ip in truth["tor_ips"]:
        for d in TOR_DATES:
            if ip not in lists[d]:
                problems.append(f"{ip} not in the {d} list")
        case_list = set((CASE / "tor" / f"danmeuk-exit-{DAY}.txt").read_text().split())
        if ip not in case_list:
            problems.append(f"{ip} not in the case's {DAY} list")
    runs = intervals_for(set(truth["tor_ips"]))
    for ip in truth["tor_ips"]:
        if not any(
            r["first_seen_utc"] <= f"{DAY}T12:00:00Z" <= r["last_seen_utc"] for r in runs[ip]
        ):
            problems.append(f"{ip}: no exit_ip_intervals run covers {DAY}")
    if VPS in all_listed_ips():
        problems.append(f"{VPS} is in a Tor list")

    # findings agree with the records
    recs_by_id = {}
    for p in sorted((CASE / "cloudtrail").rglob("*.json.gz")):
        for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]:
            recs_by_id[r["eventID"]] = r
    for f in truth["findings"]:
        if "event_ids" not in f:
            continue
        evs = [recs_by_id[e] for e in f["event_ids"]]
        if len(evs) != f["count"]:
            problems.append(f"finding {f['id']}: count mismatch")
        if (
            min(e["eventTime"] for e in evs) != f["first_seen"]
            or max(e["eventTime"] for e in evs) != f["last_seen"]
        ):
            problems.append(f"finding {f['id']}: first/last seen mismatch")
        if any(e["userIdentity"].get("accessKeyId") != f["access_key_id"] for e in evs):
            problems.append(f"finding {f['id']}: events of another key")
    gf = json.loads((CASE / "findings" / "get-findings.json").read_text())
    eb = json.loads((CASE / "findings" / "eventbridge-recon.json").read_text())
    ids = [x["Id"] for x in gf["Findings"]] + [eb["detail"]["id"]]
    if sorted(ids) != sorted(f["id"] for f in truth["findings"]):
        problems.append("finding ids in findings/ differ from STORY.json")
    for fid in ids:
        if len(fid) != 32 or any(c not in "0123456789abcdef" for c in fid):
            problems.append(f"finding id {fid} is not 32 hex")

    # every shape's EXPECTED ids are present in the file
    exp = json.loads((SHAPES / "EXPECTED.json").read_text())
    for name, e in exp.items():
        if name.startswith("_"):
            continue
        raw = (SHAPES / name).read_bytes()
        text = gzip.decompress(raw).decode() if name.endswith(".gz") else raw.decode()
        for tf in e["tor_findings"]:
            for k in ("id", "access_key_id", "tor_ip", "account_id"):
                if tf[k] not in text:
                    problems.append(f"shapes/{name}: {k} {tf[k]} not in file")

    total = case_sizes()["total"]
    if total >= MAX_CASE_BYTES:
        problems.append(f"sample case is {total} bytes (limit {MAX_CASE_BYTES})")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="verify the committed output only")
    args = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"shared data not found at {SHARED} (set TORINVEST_SHARED_DATA)", file=sys.stderr)
        return 2
    if not args.check:
        build()
    problems = check()
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    if not problems:
        print(f"ok: sample case {case_sizes()['total']:,} bytes; shapes and bad fixtures verified")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
