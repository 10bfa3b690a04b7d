"""The sample case extended for the campaign tests (related findings, the IP pivot).

:func:`extend_case` copies the embedded sample case and adds, in the sample's own shapes:

- a log file in the trail's layout where a second principal (IAM user ``mallory``, key
  :data:`OTHER_KEY`) calls from the Tor exits ``185.220.101.34`` (3 calls, one denied) and
  ``199.249.230.87`` (1 call) — each record a copy of a real ``ListUsers`` record of the sample,
  re-attributed;
- ``findings/related.json`` (GuardDuty's wire shape, camelCase): a
  ``Discovery:IAMUser/AnomalousBehavior`` finding on the investigated key (archived), an
  ``AttackSequence:IAM/CompromisedCredentials`` whose actor and endpoint carry the key and a Tor
  IP (the shape of botocore's model: ``service.detection.sequence``), a
  ``UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom`` finding on ``mallory``'s key from a
  Tor IP (related by the IP only), and a finding of the key months before the window (not
  related).
"""

from __future__ import annotations

import copy
import gzip
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from torinvest.case import sample_case

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"  # UnauthorizedAccess:IAMUser/TorIPCaller
RECON = "7f176d541deef88b1ad653b9ed646f29"  # Recon:IAMUser/TorIPCaller, same key
KEY = "AKIATFQR7NSCUXC3DDDP"
PRINCIPAL = "AIDATFQR7NSC5U6Q3TMDR"
ACCOUNT = "123837392027"
OTHER_KEY = "AKIATFQR7NSCMALLORY1"
OTHER_USER = "mallory"
OTHER_PRINCIPAL = "AIDATFQR7NSCMALLORY01"
TOR_IPS = ("109.70.100.66", "185.220.101.34", "199.249.230.87")

DISCOVERY = "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a"
SEQUENCE = "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b"
BY_IP = "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c"
OLD = "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d"

TRAIL_DAY = Path("AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10")


def sample_records() -> list[dict[str, Any]]:
    """Every record of the sample case's log files."""
    records: list[dict[str, Any]] = []
    for path in sorted(sample_case().cloudtrail.rglob("*.json.gz")):
        records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def other_principal_records(
    user_name: str = OTHER_USER, key: str = OTHER_KEY
) -> list[dict[str, Any]]:
    """``user_name`` (key ``key``) calling ListUsers from two of the key's Tor exits: 3 calls
    from 185.220.101.34 (the second denied) and 1 from 199.249.230.87, 12:14–12:26Z."""
    base = next(
        r
        for r in sample_records()
        if r.get("eventName") == "ListUsers" and r.get("sourceIPAddress") == "185.220.101.34"
    )
    out = []
    for n, (ip, minute) in enumerate(
        [
            ("185.220.101.34", 14),
            ("185.220.101.34", 15),
            ("185.220.101.34", 16),
            ("199.249.230.87", 26),
        ]
    ):
        r = copy.deepcopy(base)
        r["eventID"] = str(uuid.UUID(int=0xC0FFEE00 + n))
        r["requestID"] = str(uuid.UUID(int=0xBEEF00 + n))
        r["eventTime"] = f"2023-07-10T12:{minute:02d}:05Z"
        r["sourceIPAddress"] = ip
        ident = r["userIdentity"]
        ident.update(
            principalId=OTHER_PRINCIPAL,
            arn=f"arn:aws:iam::{ACCOUNT}:user/{user_name}",
            accessKeyId=key,
            userName=user_name,
        )
        if n == 1:
            r["errorCode"] = "AccessDenied"
            r["errorMessage"] = "not authorized"
            r["responseElements"] = None
        out.append(r)
    return out


def trail_of(tmp_path: Path, records: list[dict[str, Any]], *, compact: bool) -> Path:
    """A CloudTrail folder under ``tmp_path`` holding ``records`` in one log file of
    :data:`TRAIL_DAY` (compact JSON, as CloudTrail writes it, or indented)."""
    day = tmp_path / "cloudtrail" / TRAIL_DAY
    day.mkdir(parents=True)
    body = json.dumps({"Records": records}, separators=(",", ":") if compact else None)
    (day / "x_CloudTrail_us-east-1_20230710T1226Z_f.json.gz").write_bytes(
        gzip.compress(body.encode())
    )
    return tmp_path / "cloudtrail"


def _finding(fid: str, ftype: str, **extra: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "schemaVersion": "2.0",
        "accountId": ACCOUNT,
        "region": "us-east-1",
        "partition": "aws",
        "id": fid,
        "arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/7988b83831262b4086f9b871165220fd/finding/{fid}",
        "type": ftype,
        "severity": 5.0,
        "title": ftype,
        "description": ftype,
        "createdAt": "2023-07-10T12:40:00.000Z",
        "updatedAt": "2023-07-10T12:45:00.000Z",
        "service": {
            "serviceName": "guardduty",
            "detectorId": "7988b83831262b4086f9b871165220fd",
            "archived": False,
            "count": 1,
            "eventFirstSeen": "2023-07-10T12:11:00Z",
            "eventLastSeen": "2023-07-10T12:30:00Z",
        },
    }
    for k, v in extra.items():
        if k == "service":
            f["service"].update(v)
        else:
            f[k] = v
    return f


def _key_resource(key: str, principal: str, user: str) -> dict[str, Any]:
    return {
        "resourceType": "AccessKey",
        "accessKeyDetails": {
            "accessKeyId": key,
            "principalId": principal,
            "userName": user,
            "userType": "IAMUser",
        },
    }


def _api_call(ip: str, api: str = "ListUsers") -> dict[str, Any]:
    return {
        "action": {
            "actionType": "AWS_API_CALL",
            "awsApiCallAction": {
                "api": api,
                "callerType": "Remote IP",
                "serviceName": "iam.amazonaws.com",
                "remoteIpDetails": {"ipAddressV4": ip},
            },
        }
    }


def attack_sequence(fid: str = SEQUENCE, **extra: Any) -> dict[str, Any]:
    """An ``AttackSequence:IAM/CompromisedCredentials`` finding: the credential in an actor's
    ``user.credentialUid`` (principal in ``user.uid``), a Tor exit among its endpoints, a
    TOR_IP signal indicator (shape: botocore's ``Sequence``, ``Actor``, ``User``,
    ``NetworkEndpoint``, ``Signal``)."""
    sequence = {
        "uid": "arn:aws:guardduty:us-east-1:123837392027:detector/x/finding/" + fid,
        "description": "Compromised credentials used from Tor",
        "actors": [
            {
                "id": "actor-1",
                "user": {
                    "name": "benjamin",
                    "uid": PRINCIPAL,
                    "type": "IAMUser",
                    "credentialUid": KEY,
                    "account": {"uid": ACCOUNT},
                },
            }
        ],
        "endpoints": [
            {
                "id": "endpoint-1",
                "ip": "185.220.101.34",
                "autonomousSystem": {"name": "Tor exit", "number": 60729},
            }
        ],
        "signals": [
            {
                "uid": "signal-1",
                "type": "CLOUD_TRAIL",
                "name": "ListUsers",
                "createdAt": "2023-07-10T12:11:19Z",
                "updatedAt": "2023-07-10T12:11:19Z",
                "firstSeenAt": "2023-07-10T12:11:19Z",
                "lastSeenAt": "2023-07-10T12:13:41Z",
                "count": 3,
                "actorIds": ["actor-1"],
                "endpointIds": ["endpoint-1"],
                "signalIndicators": [{"key": "TOR_IP", "values": ["185.220.101.34"]}],
            }
        ],
        "sequenceIndicators": [{"key": "TOR_IP", "values": ["185.220.101.34"]}],
    }
    f = _finding(
        fid,
        "AttackSequence:IAM/CompromisedCredentials",
        severity=9.0,
        service={"detection": {"sequence": sequence}},
    )
    for k, v in extra.items():
        f[k] = v
    return f


def related_findings() -> list[dict[str, Any]]:
    return [
        _finding(
            DISCOVERY,
            "Discovery:IAMUser/AnomalousBehavior",
            resource=_key_resource(KEY, PRINCIPAL, "benjamin"),
            service={"archived": True, **_api_call("185.220.101.34")},
        ),
        attack_sequence(),
        _finding(
            BY_IP,
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
            resource=_key_resource(OTHER_KEY, OTHER_PRINCIPAL, OTHER_USER),
            service=_api_call("199.249.230.87"),
        ),
        _finding(
            OLD,
            "Discovery:IAMUser/AnomalousBehavior",
            resource=_key_resource(KEY, PRINCIPAL, "benjamin"),
            createdAt="2023-01-10T12:40:00.000Z",
            updatedAt="2023-01-10T12:45:00.000Z",
            service={
                "eventFirstSeen": "2023-01-10T12:11:00Z",
                "eventLastSeen": "2023-01-10T12:30:00Z",
            },
        ),
    ]


def extend_case(
    root: Path,
    *,
    records: list[dict[str, Any]] | None = None,
    findings: list[dict[str, Any]] | None = None,
) -> Path:
    """A copy of the sample case in ``root`` with the other principal's log file and the
    related findings (or the ``records``/``findings`` given)."""
    case = root / "case"
    shutil.copytree(sample_case().root, case)
    day = case / "cloudtrail" / TRAIL_DAY
    name = "218007301253_CloudTrail_us-east-1_20230710T1226Z_campaignTestFile1.json.gz"
    body = {"Records": other_principal_records() if records is None else records}
    (day / name).write_bytes(gzip.compress(json.dumps(body).encode()))
    found = related_findings() if findings is None else findings
    (case / "findings" / "related.json").write_text(json.dumps(found), encoding="utf-8")
    return case


def lookup_answer(whole: list[dict[str, Any]], partial: list[dict[str, Any]]) -> bytes:
    """A saved ``aws cloudtrail lookup-events --output json`` answer holding ``whole`` records
    as they are and ``partial`` ones with a CloudTrailEvent lacking ``eventID`` (a field
    LookupEvents lists beside it): torinvest fills it from the fields beside it and, unless
    it holds an ``errorCode``, its outcome is unknown (:mod:`torinvest.outcome`)."""

    def listed(r: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        ident = r["userIdentity"]
        return {
            "EventId": r["eventID"],
            "EventName": r["eventName"],
            "ReadOnly": "true",
            "AccessKeyId": ident.get("accessKeyId"),
            "EventTime": r["eventTime"],
            "EventSource": r["eventSource"],
            "Username": ident.get("userName"),
            "Resources": [],
            "CloudTrailEvent": json.dumps(record),
        }

    events = [listed(r, r) for r in whole]
    events += [listed(r, {k: v for k, v in r.items() if k != "eventID"}) for r in partial]
    return json.dumps({"Events": events}).encode()


def other_principal_unknown_outcome() -> bytes:
    """:func:`lookup_answer` of 3 more ``mallory`` calls from ``185.220.101.34`` (12:20–12:22Z),
    each with a partial record: two without an error code (outcome unknown), one denied."""
    out = []
    for n, r in enumerate(copy.deepcopy(other_principal_records()[:3])):
        r["eventID"] = str(uuid.UUID(int=0xDEC0DE00 + n))
        r["requestID"] = str(uuid.UUID(int=0xFACE00 + n))
        r["eventTime"] = f"2023-07-10T12:2{n}:30Z"
        r.pop("errorCode", None)
        r.pop("errorMessage", None)
        if n == 2:
            r["errorCode"], r["errorMessage"] = "AccessDenied", "not authorized"
        out.append(r)
    return lookup_answer([], out)
