"""targets: what a CloudTrail call acted on, from its requestParameters and responseElements
(the shapes CloudTrail records), and that the plans use the same extractor."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from torinvest import actions
from torinvest.targets import (
    MAX_TARGET_CHARS,
    MAX_TARGETS,
    Target,
    call_targets,
    json_object,
    read_names,
    row_targets,
    targets_text,
)

ROLE = "arn:aws:iam::123837392027:role/ops-admin"
ASIA = "ASIATFQR7NSCNGEI5QNT"


@pytest.mark.parametrize(
    ("name", "source", "req", "resp", "expected"),
    [
        (
            "CreateUser",
            "iam.amazonaws.com",
            {"path": "/", "userName": "svc-backup-sync"},
            {"user": {"path": "/", "userName": "svc-backup-sync", "userId": "AIDA…"}},
            [("user", "svc-backup-sync")],  # the path "/" is not a target
        ),
        (
            "CreateAccessKey",
            "iam.amazonaws.com",
            {"userName": "svc-backup-sync"},
            {"accessKey": {"accessKeyId": "AKIATFQR7NSCXLGMGTIH", "status": "Active"}},
            [("user", "svc-backup-sync"), ("new key", "AKIATFQR7NSCXLGMGTIH")],
        ),
        (
            "AttachRolePolicy",
            "iam.amazonaws.com",
            {"roleName": "ops", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            None,
            [("role", "ops"), ("policy", "arn:aws:iam::aws:policy/AdministratorAccess")],
        ),
        (
            "PutUserPolicy",
            "iam.amazonaws.com",
            {"userName": "bob", "policyName": "inline", "policyDocument": '{"Statement": []}'},
            None,
            [("user", "bob"), ("policy", "inline")],
        ),
        (
            "CreatePolicy",
            "iam.amazonaws.com",
            {"policyName": "backdoor", "policyDocument": "{}"},
            {"policy": {"arn": "arn:aws:iam::123837392027:policy/backdoor"}},
            [("policy", "backdoor"), ("new policy", "arn:aws:iam::123837392027:policy/backdoor")],
        ),
        (
            "AssumeRole",
            "sts.amazonaws.com",
            {"roleArn": ROLE, "roleSessionName": "x"},
            {"credentials": {"accessKeyId": ASIA, "sessionToken": "IQo…"}},
            [("role", ROLE), ("new temporary key", ASIA)],
        ),
        (
            "GetSessionToken",
            "sts.amazonaws.com",
            {"durationSeconds": 129600},
            {"credentials": {"accessKeyId": ASIA}},
            [("new temporary key", ASIA)],
        ),
        (
            "GetSecretValue",
            "secretsmanager.amazonaws.com",
            {"secretId": "prod/db/credentials"},
            None,
            [("secret", "prod/db/credentials")],
        ),
        (
            "BatchGetSecretValue",
            "secretsmanager.amazonaws.com",
            {"secretIdList": ["a", "b", "a"]},
            None,
            [("secret", "a"), ("secret", "b")],
        ),
        (
            "GetParameters",
            "ssm.amazonaws.com",
            {"names": ["/app/db", "/app/key"], "withDecryption": True},
            None,
            [("parameter", "/app/db"), ("parameter", "/app/key")],
        ),
        (
            "GetParameter",
            "ssm.amazonaws.com",
            {"name": "/app/db", "withDecryption": True},
            None,
            [("parameter", "/app/db")],
        ),
        (
            "GetParametersByPath",
            "ssm.amazonaws.com",
            {"path": "/app/", "recursive": True},
            None,
            [("parameter path", "/app/")],
        ),
        (
            "StopLogging",
            "cloudtrail.amazonaws.com",
            {"name": "arn:aws:cloudtrail:us-east-1:123837392027:trail/main"},
            None,
            [("trail", "arn:aws:cloudtrail:us-east-1:123837392027:trail/main")],
        ),
        (
            "PutBucketPolicy",
            "s3.amazonaws.com",
            {"bucketName": "logs", "bucketPolicy": {"Statement": []}, "Host": "logs.s3"},
            None,
            [("bucket", "logs")],
        ),
        (
            "CreateFunction20150331",
            "lambda.amazonaws.com",
            {"functionName": "exfil", "role": ROLE},
            {"functionArn": "arn:aws:lambda:us-east-1:123837392027:function:exfil"},
            [("function", "exfil")],
        ),
        (
            "RunInstances",
            "ec2.amazonaws.com",
            {"instanceType": "t3.micro"},
            {"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}},
            [("new instance", "i-1"), ("new instance", "i-2")],
        ),
        ("ListUsers", "iam.amazonaws.com", None, None, []),
        ("GetAccountAuthorizationDetails", "iam.amazonaws.com", {}, {}, []),
    ],
)
def test_call_targets_of_cloudtrail_shapes(
    name: str, source: str, req: object, resp: object, expected: list[tuple[str, str]]
) -> None:
    as_dicts = call_targets(name, source, req, resp)
    assert [tuple(t) for t in as_dicts] == expected
    # the events frame holds JSON text: the same answer
    as_text = call_targets(
        name,
        source,
        None if req is None else orjson.dumps(req).decode(),
        None if resp is None else orjson.dumps(resp).decode(),
    )
    assert as_text == as_dicts
    text = targets_text(as_dicts)
    assert text == (", ".join(f"{k} {v}" for k, v in expected) or None)


def test_what_is_not_an_object_names_nothing() -> None:
    for value in (None, pd.NA, "", "not json {", "[1, 2]", "42", b"\xff", 3.5):
        assert json_object(value) == {}
        assert call_targets("CreateUser", "iam.amazonaws.com", value, value) == ()
    # booleans, floats, nested objects in a named field are not names
    weird = {"userName": True, "roleName": 1.5, "policyArn": {"a": 1}, "groupName": "  "}
    assert call_targets("X", "iam.amazonaws.com", weird) == ()
    assert call_targets("X", "iam.amazonaws.com", {"accessKeyId": 12}) == (Target("key", "12"),)


def test_targets_are_cut_and_capped() -> None:
    long = "x" * (MAX_TARGET_CHARS * 4)
    (one,) = call_targets("CreateUser", "iam.amazonaws.com", {"userName": long})
    assert len(one.value) == MAX_TARGET_CHARS and one.value.endswith("…")
    many = [f"secret-{i}" for i in range(MAX_TARGETS * 3)]
    found = call_targets(
        "BatchGetSecretValue", "secretsmanager.amazonaws.com", {"secretIdList": many}
    )
    assert [t.value for t in found] == [
        *many[:MAX_TARGETS],
        f"{MAX_TARGETS * 2} more (see the event)",
    ]
    assert targets_text(found).endswith(f", and {MAX_TARGETS * 2} more (see the event)")


def test_row_targets_and_read_names() -> None:
    row = {
        "event_name": "GetParameters",
        "event_source": "ssm.amazonaws.com",
        "request_parameters": '{"names": ["/a", "/b"]}',
        "response_elements": pd.NA,
    }
    assert row_targets(row) == (Target("parameter", "/a"), Target("parameter", "/b"))
    assert read_names("GetParameters", {"names": ["/a", "/b", "/a"]}) == ["/a", "/b"]
    assert read_names("BatchGetSecretValue", {"filters": [{"key": "name", "values": ["p"]}]}) == [
        '(secrets matching [{"key":"name","values":["p"]}])'
    ]
    assert read_names("ListSecrets", {"secretId": "x"}) == []


def test_the_plans_manual_steps_name_the_same_targets() -> None:
    """A write no call undoes becomes a manual step naming every target the extractor finds."""
    when = pd.Timestamp("2023-07-10 12:30:00", tz="UTC")
    trail = "arn:aws:cloudtrail:us-east-1:123837392027:trail/main"
    request = {"name": trail}
    events = pd.DataFrame(
        {
            "event_time": pd.Series([when], dtype="datetime64[us, UTC]"),
            "event_id": ["e1"],
            "event_name": ["StopLogging"],
            "event_source": ["cloudtrail.amazonaws.com"],
            "aws_region": ["us-east-1"],
            "source_ip": ["185.220.101.34"],
            "error_code": pd.Series([pd.NA], dtype="string"),
            "read_only": [False],
            "request_parameters": [orjson.dumps(request).decode()],
            "response_elements": pd.Series([pd.NA], dtype="string"),
        }
    )
    (step,) = actions.undo_persistence(events)
    assert step.manual and step.targets == (trail,)
    assert f"StopLogging in us-east-1 on trail {trail}" in step.manual
