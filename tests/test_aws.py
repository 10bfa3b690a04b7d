"""torinvest.aws: the one client factory honours the AWS configuration chain."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from tests.fake_aws import FakeAws
from torinvest import __version__
from torinvest.aws import (
    DEFAULT_MAX_ATTEMPTS,
    Aws,
    AwsConfig,
    arn_partition,
    global_events_region,
    global_regions_missing,
    iam_action,
    parse_regions,
    translate_error,
)
from torinvest.errors import (
    EXIT_COULD_NOT_LOOK,
    AccessDeniedError,
    AwsError,
    EndpointError,
    InputError,
    InvalidRegionError,
    NotEnabledError,
)


def test_clients_carry_the_user_agent_and_default_retries() -> None:
    client = Aws().client("guardduty", "eu-west-1")
    assert f"torinvest/{__version__}" in client.meta.config.user_agent_extra
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] == DEFAULT_MAX_ATTEMPTS
    assert client.meta.region_name == "eu-west-1"


def test_retry_settings_from_the_chain_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    client = Aws().client("guardduty", "eu-west-1")
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] == 3


def test_region_and_endpoint_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_GUARDDUTY", "http://127.0.0.1:9")
    aws = Aws()
    assert aws.home_region == "eu-north-1"
    assert aws.client("guardduty").meta.endpoint_url == "http://127.0.0.1:9"


def test_clients_are_cached_per_service_and_region() -> None:
    aws = Aws()
    assert aws.client("guardduty", "us-east-1") is aws.client("guardduty", "us-east-1")
    assert aws.client("guardduty", "us-east-1") is not aws.client("guardduty", "us-west-2")


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="profile 'nope' not found"):
        _ = Aws(AwsConfig(profile="nope")).session


def test_an_unknown_profile_from_aws_profile_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """No --profile, AWS_PROFILE names one that does not exist: the error names it (it said
    "profile None") and where it came from."""
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(InputError, match=r"profile 'nope' not found \(named by AWS_PROFILE\)"):
        _ = Aws(AwsConfig()).session


def test_enabled_regions_from_ec2(moto: str) -> None:
    regions = Aws().regions("guardduty")
    assert regions.source == "ec2:DescribeRegions"
    assert "us-east-1" in regions.names and "eu-west-1" in regions.names
    assert regions.note is None


def test_regions_fall_back_to_the_partition_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    regions = Aws().regions("guardduty")
    assert regions.source == "partition"
    assert "us-east-1" in regions.names and len(regions.names) > 10
    assert "enabled regions unknown" in regions.note


def test_requested_regions_are_used_as_given() -> None:
    assert Aws().regions("guardduty", ["eu-west-1"]).names == ["eu-west-1"]


def test_assume_role_in_a_member_account(moto: str) -> None:
    role = "arn:aws:iam::210987654321:role/torinvest-investigator"
    aws = Aws(AwsConfig(role_arn=role, role_session_name="case-42"))
    ident = aws.client("sts").get_caller_identity()
    assert ident["Account"] == "210987654321"
    assert ident["Arn"].endswith("assumed-role/torinvest-investigator/case-42")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("all", None),
        ("us-east-1, eu-west-1,us-east-1", ["us-east-1", "eu-west-1"]),
        (["ap-southeast-5"], ["ap-southeast-5"]),
        ("us-gov-west-1", ["us-gov-west-1"]),
    ],
)
def test_parse_regions(value: object, expected: object) -> None:
    assert parse_regions(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("region", "home"),
    [
        ("eu-west-3", "us-east-1"),
        ("us-east-1", "us-east-1"),
        ("us-gov-east-1", "us-gov-west-1"),
        ("us-gov-west-1", "us-gov-west-1"),
        ("cn-northwest-1", "cn-north-1"),
        ("us-iso-west-1", "us-iso-east-1"),
        ("xx-future-1", "us-east-1"),  # unknown to botocore: commercial, as botocore resolves it
    ],
)
def test_global_events_region_is_the_partitions(region: str, home: str) -> None:
    assert global_events_region(region) == home


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-3", "aws"),
        (None, "aws"),
        ("us-gov-west-1", "aws-us-gov"),
        ("cn-northwest-1", "aws-cn"),
        ("us-iso-east-1", "aws-iso"),
        ("xx-future-1", "aws"),
    ],
)
def test_arn_partition_is_the_regions(region: str | None, partition: str) -> None:
    assert arn_partition(region) == partition


@pytest.mark.parametrize(
    ("region", "arn"), [("us-gov-west-1", "arn:aws-us-gov:"), ("cn-north-1", "arn:aws-cn:")]
)
def test_role_arn_hints_are_of_the_findings_partition(region: str, arn: str) -> None:
    """Every hint that writes a --role-arn out for the analyst writes it in the partition of
    the finding (or of the regions asked): an ``arn:aws:`` role in GovCloud or China is no role
    there, and the hint would send the analyst to a refusal."""
    from torinvest.events import Activity
    from torinvest.runner.gate import credentials_hint
    from torinvest.sources.records import empty_frame

    hint = credentials_hint("111122223333", None, region)
    assert f"--role-arn {arn}iam::111122223333:role/ROLE" in hint
    act = Activity(
        frame=empty_frame(),
        sources=[f"lookup:{region}"],
        lookup_asked=[region],
        account="111122223333",
        lookup_account="444455556666",
    )
    gap = act.account_gap or ""
    assert f"--role-arn {arn}iam::111122223333:role/ROLE" in gap
    assert "arn:aws:" not in gap and "arn:aws:" not in hint
    assert "arn:aws:iam::111122223333:role/ROLE" in credentials_hint("111122223333")


@pytest.mark.parametrize(
    ("asked", "added"),
    [
        (["eu-west-1"], ["us-east-1"]),
        (["us-east-1", "eu-west-1"], []),
        (["us-gov-east-1"], ["us-gov-west-1"]),
        (["cn-northwest-1"], ["cn-north-1"]),
        (["cn-north-1", "us-gov-west-1"], []),
        (["us-gov-east-1", "eu-west-1"], ["us-gov-west-1", "us-east-1"]),
    ],
)
def test_regions_gain_their_partitions_global_events_region(
    asked: list[str], added: list[str]
) -> None:
    from torinvest.events import with_global_region

    assert global_regions_missing(asked) == added
    assert with_global_region(asked) == ([*added, *asked], added)
    assert with_global_region(None) == (None, [])


@pytest.mark.parametrize("bad", ["moon-base-1x", "US-EAST-1", "us-east", "all,us-east-1", "../x"])
def test_parse_regions_refuses_bad_names(bad: str) -> None:
    with pytest.raises(InvalidRegionError):
        parse_regions(bad)


def _client_error(code: str, op: str = "ListFindings", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        op,
    )


def test_translate_access_denied_names_the_iam_action() -> None:
    err = translate_error(
        _client_error("AccessDeniedException"), service="guardduty", region="eu-west-1"
    )
    assert isinstance(err, AccessDeniedError)
    assert "guardduty:ListFindings" in str(err)
    assert err.region == "eu-west-1"


def test_translate_other_errors() -> None:
    assert isinstance(
        translate_error(_client_error("UnrecognizedClientException"), service="guardduty"),
        NotEnabledError,
    )
    endpoint = EndpointConnectionError(endpoint_url="https://guardduty.eu-west-1.amazonaws.com")
    assert isinstance(translate_error(endpoint, service="guardduty"), EndpointError)
    no_creds = translate_error(NoCredentialsError(), service="guardduty")
    assert type(no_creds) is AwsError and "aws sso login" in str(no_creds)
    expired = translate_error(_client_error("ExpiredTokenException"), service="cloudtrail")
    assert "expired" in str(expired)


def test_iam_action_names() -> None:
    assert iam_action("cloudtrail", "LookupEvents") == "cloudtrail:LookupEvents"
    assert iam_action("s3", "ListObjectsV2") == "s3:ListBucket"


def test_answer_checks_the_fields_the_api_promises() -> None:
    from torinvest.aws import answer

    page = {"DetectorIds": ["d1"], "NextToken": ""}
    assert answer(page, "DetectorIds", list, service="guardduty", operation="ListDetectors") == [
        "d1"
    ]
    with pytest.raises(EndpointError, match="ListDetectors on guardduty in eu-west-1: the answer "
                       "has no DetectorIds") as caught:  # fmt: skip
        answer({}, "DetectorIds", list, service="guardduty", region="eu-west-1",
               operation="ListDetectors")  # fmt: skip
    assert caught.value.operation == "ListDetectors" and caught.value.code == "IncompleteResponse"
    with pytest.raises(EndpointError, match="Findings in the answer is a str"):
        answer({"Findings": "x"}, "Findings", list, service="guardduty", operation="GetFindings")


def test_a_client_error_of_assume_role_names_assume_role() -> None:
    """A profile's role is assumed by botocore inside another call: the error is AssumeRole's."""
    denied = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "User: arn:aws:iam::123456789012:user/a "
                   "is not authorized to perform: sts:AssumeRole on resource: "
                   "arn:aws:iam::210987654321:role/r"}},
        "AssumeRole",
    )  # fmt: skip
    err = translate_error(denied, service="guardduty", region="us-east-1", operation="ListFindings")
    assert err.operation == "AssumeRole" and err.service == "sts"
    assert str(err).startswith("access denied: sts:AssumeRole on arn:aws:iam::210987654321:role/r")
    assert "trust policy" in str(err) and "guardduty:ListFindings" not in str(err)


def test_assume_role_asks_sts_in_the_region_aws_region_names(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_REGION alone (no AWS_DEFAULT_REGION, no profile region): sts:AssumeRole goes to that
    region's STS, as every other client — it went to us-east-1, which fails in another partition
    and where only a regional STS endpoint can be reached."""
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_aws.url)
    fake_aws.fail("sts", "*", "AccessDenied")
    code, _, err = _cli(
        "findings", "--regions", "eu-central-1", "--role-arn", "arn:aws:iam::210987654321:role/R"
    )
    assert code == EXIT_COULD_NOT_LOOK and "sts:AssumeRole" in err
    assert {c.region for c in fake_aws.calls("AssumeRole")} == {"eu-central-1"}


KEY = "AKIATFQR7NSCUXC3DDDP"


def test_an_sso_profile_without_a_token_is_one_line_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SSO profile whose token is missing or expired (--profile, AWS_PROFILE): one line naming
    the profile and `aws sso login --profile X` — botocore.tokens logged its refresh traceback
    before it; the line said "run `aws sso login` for this profile", naming none."""
    config = tmp_path / "config"
    config.write_text(
        "[profile ir]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = Audit\nregion = eu-west-1\n"
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))  # no SSO token cache
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    for argv, env in (
        (["findings", "--profile", "ir"], {}),
        (["findings", "--regions", "eu-west-1", "--profile", "ir"], {}),
        (
            ["events", "--lookup", "--access-key", KEY, "--out", str(tmp_path / "events.csv")],
            {"AWS_PROFILE": "ir"},
        ),
    ):
        proc = subprocess.run(  # the command's own logging (pytest's would catch the records)
            [sys.executable, "-m", "torinvest.cli", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, **env},
        )
        assert proc.returncode == EXIT_COULD_NOT_LOOK and proc.stdout == ""
        # the profile named, and the command that renews its session (not "for this profile")
        assert "SSO session of profile 'ir' not usable" in proc.stderr
        assert "run `aws sso login --profile ir`, then run this command again" in proc.stderr
        assert "Traceback" not in proc.stderr and "botocore.tokens" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _cli(*argv: str) -> tuple[int, str, str]:
    from torinvest.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_region_throttled_on_every_attempt_says_so_and_what_to_do(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GuardDuty throttled one region on every attempt: the issue says throttled, the attempts
    and what to do (it read 'failed: TooManyRequestsException' with no hint); a server error
    alike says to re-run later. The other region's findings are listed."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.fail("guardduty", "eu-west-1", "TooManyRequestsException")
    fake_aws.fail("guardduty", "eu-north-1", "InternalServerErrorException")
    code, _, err = _cli("findings", "--regions", "us-east-1,eu-west-1,eu-north-1")
    assert code == 0
    throttled = next(ln for ln in err.splitlines() if "guardduty:eu-west-1" in ln)
    assert "ListDetectors on guardduty in eu-west-1 was throttled after 2 attempt(s)" in throttled
    assert "lower --max-workers" in throttled and "AWS_MAX_ATTEMPTS" in throttled
    server = next(ln for ln in err.splitlines() if "guardduty:eu-north-1" in ln)
    assert "failed after 2 attempt(s) with a server error" in server and "re-run later" in server
    assert "partial result: 2 region(s) could not be searched" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AWS_REGION", "eu-west-1 "),
        ("AWS_REGION", "eu-west-1\r"),  # an env file written on Windows
        ("AWS_REGION", "EU-WEST-1"),
        ("AWS_DEFAULT_REGION", "eu west 1"),
        ("profile", "eu-west-1 # ireland"),
    ],
)
def test_a_configured_region_that_is_no_region_name_is_one_line_naming_it(
    fake_aws: FakeAws,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
    value: str,
) -> None:
    """AWS_REGION, AWS_DEFAULT_REGION or a profile's region that is no region name: one line
    naming the setting, before any call, with or without --regions — it was `internal error:
    UnknownRegionError … (this is a bug …)`."""
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    profile: list[str] = []
    if variable == "profile":
        config = tmp_path / "config"
        config.write_text(f"[profile audit]\nregion = {value}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        profile = ["--profile", "audit"]
    else:
        monkeypatch.setenv(variable, value)
    fake_aws.guardduty("us-east-1").add_detector()
    for regions in ([], ["--regions", "us-east-1"]):
        code, out, err = _cli("findings", *profile, *regions)
        assert (code, out) == (1, "")
        assert "internal error" not in err and "UnknownRegionError" not in err
        where = "region of profile audit" if variable == "profile" else variable
        assert err.startswith("torinvest: error: the configured region ") and where in err
        assert len(err.strip().splitlines()) == 1, err
    assert fake_aws.requests == []


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ({"AWS_MAX_ATTEMPTS": "three"}, "AWS_MAX_ATTEMPTS: not a number of attempts: 'three'"),
        ({"AWS_MAX_ATTEMPTS": "0"}, "AWS_MAX_ATTEMPTS: not a number of attempts: '0'"),
        ({"AWS_RETRY_MODE": "fast"}, "AWS_RETRY_MODE: not a retry mode: 'fast'"),
        (
            {"profile": "[default]\nmax_attempts = ten\n"},
            "max_attempts of profile 'default' in the AWS config file: not a number of "
            "attempts: 'ten'",
        ),
        (
            {"profile": "[profile ir]\nretry_mode = Standard\n", "AWS_PROFILE": "ir"},
            "retry_mode of profile 'ir' in the AWS config file: not a retry mode: 'Standard'",
        ),
    ],
    ids=["env-word", "env-zero", "env-mode", "profile-attempts", "profile-mode"],
)
def test_a_retry_setting_botocore_cannot_use_is_named(
    setting: dict[str, str], said: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A retry setting botocore refuses: one InputError naming the setting and its value, before
    any call — botocore's ValueError was an internal error, its "Invalid value provided to
    mode" every region's failure ("no region could be searched (34 of 34 failed)")."""
    for name, value in setting.items():
        if name == "profile":
            config = tmp_path / "config"
            config.write_text(value)
            monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(InputError) as refused:
        Aws().client("sts")
    assert str(refused.value).startswith(said)


def test_reading_aws_models_needs_no_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_PROFILE naming a profile that does not exist: what reads botocore's own data outside
    a session — an access key's shape (parsing --access-key), the partitions, athena-ddl's
    regions — still reads it, so that the command says the profile in one line (exit 1). It was
    botocore's ProfileNotFound traceback from parsing ``events --access-key``."""
    from torinvest.aws import ids, regions
    from torinvest.sources.sql import ddl

    monkeypatch.setenv("AWS_PROFILE", "nope")
    ids.id_shape.cache_clear()
    regions._partitions.cache_clear()
    try:
        assert ids.is_access_key_id("AKIATFQR7NSCUXC3DDDP")
        assert regions.arn_partition("cn-north-1") == "aws-cn"
        assert "eu-west-1" in ddl._cloudtrail_regions()
        with pytest.raises(InputError, match="AWS profile 'nope' not found"):
            Aws()
    finally:
        ids.id_shape.cache_clear()
        regions._partitions.cache_clear()


@pytest.mark.parametrize(
    ("profile", "said"),
    [
        (
            "[profile ir]\nrole_arn = arn:aws:iam::123456789012:role/ir\nsource_profile = gone\n",
            'The source_profile "gone" referenced in the profile "ir" does not exist.',
        ),
        (
            "[profile ir]\nrole_arn = arn:aws:iam::123456789012:role/ir\nsource_profile = bare\n"
            "[profile bare]\nregion = us-east-1\n",
            'The source profile "bare" must have credentials.',
        ),
        ("[profile ir]\naws_access_key_id = AKIAEXAMPLE\n", "Partial credentials found"),
    ],
    ids=["source-profile-gone", "source-profile-bare", "half-a-key-pair"],
)
def test_a_profile_botocore_cannot_use_is_one_line_naming_it(
    profile: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role profile whose source_profile does not exist or holds no credentials, half a key
    pair: one line naming the profile and the file to fix, exit 3, no call made — it was each
    region's "guardduty call failed in us-east-1: The source_profile …" (a guardduty failure),
    or "GetCallerIdentity on sts call failed in home region: …"."""
    config = tmp_path / "config"
    config.write_text(profile)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ir")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    out_csv = tmp_path / "events.csv"
    for argv in (["findings"], ["events", "--lookup", "--access-key", KEY, "--out", str(out_csv)]):
        code, out, err = _cli(*argv)
        assert (code, out) == (EXIT_COULD_NOT_LOOK, ""), err
        assert len(err.strip().splitlines()) == 1, err
        assert "the AWS configuration of profile 'ir' is not usable: " in err and said in err
        assert "guardduty call failed" not in err and "sts call failed" not in err


def _role_profile_ir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Profile ``ir`` (a role over profile ``base``'s keys) in force, one attempt a call, no
    credentials in the environment."""
    config = tmp_path / "config"
    config.write_text(
        "[profile ir]\nrole_arn = arn:aws:iam::123456789012:role/ir\nsource_profile = base\n"
        "[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ir")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)


def test_a_profile_role_that_could_not_be_reached_names_assume_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile with role_arn/source_profile whose AssumeRole could not connect (STS
    unreachable: AWS_ENDPOINT_URL_STS, a firewall): the role of the profile is named, with the
    STS call — it was "could not reach the guardduty endpoint in us-east-1: Could not connect
    to …", a GuardDuty failure, at the STS endpoint's URL."""
    _role_profile_ir(tmp_path, monkeypatch)
    with socket.socket() as closed:  # bound, never listening: a connection is refused
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{closed.getsockname()[1]}")
        said = [_cli("findings", *regions) for regions in ([], ["--regions", "us-east-1"])]
    for code, out, err in said:
        assert (code, out) == (EXIT_COULD_NOT_LOOK, ""), err
        assert "could not assume the role of profile 'ir' (sts:AssumeRole): " in err, err
        assert "guardduty" not in err and "ec2" not in err


def test_a_profile_role_on_a_shared_endpoint_that_is_down_names_assume_role_as_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every service on one AWS_ENDPOINT_URL that refuses connections, and a profile's role:
    the connection tried was the profile's sts AssumeRole (made inside ec2 DescribeRegions or
    guardduty ListDetectors), and the hint says so — it said "once ec2 DescribeRegions could
    not connect"."""
    _role_profile_ir(tmp_path, monkeypatch)
    with socket.socket() as closed:  # bound, never listening: a connection is refused
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed.getsockname()[1]}")
        said = [_cli("findings", *regions) for regions in ([], ["--regions", "us-east-1"])]
    for code, out, err in said:
        assert (code, out) == (EXIT_COULD_NOT_LOOK, ""), err
        assert "could not assume the role of profile 'ir' (sts:AssumeRole): " in err, err
        assert "once sts AssumeRole could not connect" in err, err
        assert "DescribeRegions" not in err and "ListDetectors" not in err


def test_a_role_without_a_configured_region_names_assume_role(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--role-arn and --regions with no region configured: the call that needs the configured
    region is the role's sts:AssumeRole, and the message names it and the role — it read
    "guardduty call failed in eu-west-1: no AWS region is configured", as if eu-west-1 (given)
    were the region missing."""
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_aws.url)
    fake_aws.guardduty("eu-west-1").add_detector()
    role = "arn:aws:iam::210987654321:role/R"
    code, out, err = _cli("findings", "--regions", "eu-west-1", "--role-arn", role)
    assert (code, out) == (EXIT_COULD_NOT_LOOK, ""), err
    assert f"could not assume {role} (sts:AssumeRole): no AWS region is configured " in err
    assert "the role is asked of that region's STS" in err and "export AWS_REGION=" in err
    assert "guardduty call failed" not in err and len(err.strip().splitlines()) == 1
    assert fake_aws.requests == []


def test_no_region_configured_is_said_not_guessed(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No AWS_REGION, AWS_DEFAULT_REGION or profile region: a command whose calls need the
    configured region (EC2 DescribeRegions to list the enabled regions, STS, S3, Athena…) says
    so in one line naming where to set it, exit 1, no call made — as the AWS CLI does. Its
    calls went to us-east-1, a region of torinvest's own (another partition's for GovCloud or
    China credentials; an Athena table or a case elsewhere). The regions named with --regions
    are still searched."""
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    fake_aws.guardduty("eu-west-1").add_detector()
    code, out, err = _cli("findings")
    assert (code, out) == (1, ""), err
    assert err.startswith("torinvest: error: no AWS region is configured (AWS_REGION, ")
    assert "export AWS_REGION=" in err and len(err.strip().splitlines()) == 1
    assert fake_aws.requests == []
    with pytest.raises(InvalidRegionError, match="no AWS region is configured"):
        Aws().client("sts")
    code, _, err = _cli("findings", "--regions", "eu-west-1")
    assert code == 0, err
    assert {c.region for c in fake_aws.requests} == {"eu-west-1"}


class _Sts:
    """An STS client whose GetCallerIdentity gives ``answers`` in turn (an exception: raised),
    each once ``release`` is set, and notes the thread each call ran in."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.threads: list[str] = []
        self.asked = threading.Event()
        self.release = threading.Event()

    def get_caller_identity(self) -> Any:
        self.threads.append(threading.current_thread().name)
        self.asked.set()
        assert self.release.wait(30)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def test_account_id_soon_asks_sts_in_the_background_and_account_id_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``events --lookup`` asks the account while it makes the regions' clients: the call runs
    in a thread of its own, and ``account_id`` takes its answer (STS asked once)."""
    sts = _Sts({"Account": "123456789012"})
    monkeypatch.setattr(Aws, "client", lambda self, service, region=None, **kw: sts)
    aws = Aws(AwsConfig(region="us-east-1"))
    aws.account_id_soon()
    assert sts.asked.wait(30)  # under way while this thread goes on (it is held there)
    assert sts.threads == ["torinvest-account"]
    sts.release.set()
    assert aws.account_id() == "123456789012"
    aws.account_id_soon()  # known: nothing asked
    assert aws.account_id() == "123456789012" and len(sts.threads) == 1


def test_the_error_account_id_soon_got_is_raised_by_account_id_as_if_asked_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    denied = {"Error": {"Code": "AccessDenied", "Message": "not allowed sts:GetCallerIdentity"}}
    direct = _Sts(ClientError(denied, "GetCallerIdentity"))
    direct.release.set()
    monkeypatch.setattr(Aws, "client", lambda self, service, region=None, **kw: direct)
    with pytest.raises(AccessDeniedError) as asked_then:
        Aws(AwsConfig(region="us-east-1")).account_id()
    sts = _Sts(ClientError(denied, "GetCallerIdentity"), {"Account": "123456789012"})
    sts.release.set()
    monkeypatch.setattr(Aws, "client", lambda self, service, region=None, **kw: sts)
    aws = Aws(AwsConfig(region="us-east-1"))
    aws.account_id_soon()
    with pytest.raises(AccessDeniedError) as soon:
        aws.account_id()
    assert str(soon.value) == str(asked_then.value) and soon.value.hint == asked_then.value.hint
    assert aws.account_id() == "123456789012"  # raised once: asked again after it
    assert sts.threads == ["torinvest-account", "MainThread"]
