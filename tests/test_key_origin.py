"""Who minted the finding's key (the credential upstream): torinvest.sources.records.origin.

A TorIPCaller finding on a temporary key (ASIA…) was answered "revoke the role's sessions" with
nothing said of who minted the key: if that principal (an IAM user's key used from Tor, an EC2
instance role's credentials taken from IMDS) is what the actor holds, they mint a new one. The
record that minted the key holds its ID in ``responseElements``: the reading finds it and the
report, summary.json and the plan name the principal — or say why it is not known ("not in
window", "not searched"), never "none". Real records: the sample case's.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
import shutil

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest import actions, display, investigation
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.events import load_activity
from torinvest.outcome import OUTCOME_UNKNOWN_MARK
from torinvest.report.summary import summary_problems
from torinvest.sources.logs import load_logs
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.records import normalize_records
from torinvest.sources.records.origin import key_origin, mints_of

SAMPLE = sample_case().root
LOGS = SAMPLE / "cloudtrail"
BENJAMIN = "AKIATFQR7NSCUXC3DDDP"
#: benjamin's GetSessionToken from Tor exit 109.70.100.66 (synthetic story, real shape)
SESSION_KEY = "ASIATFQR7NSCNGEI5QNT"
#: an EC2 instance role session (Invictus' real records): minted by ec2.amazonaws.com
EC2_KEY = "ASIATFQR7NSC36DZQP7P"
#: bert-jan's AssumeRole from 192.168.10.20 (Invictus' real records)
ROLE_KEY = "ASIATFQR7NSC7E2ZIBM2"
#: the backdoor key benjamin's key created from Tor (CreateAccessKey)
BACKDOOR = "AKIATFQR7NSCXLGMGTIH"


def test_get_session_token_mint_is_found_and_not_activity() -> None:
    res = load_logs(LOGS, access_keys=SESSION_KEY, workers=1)
    (m,) = res.mints
    assert (m.access_key_id, m.event_name, m.source_ip) == (
        SESSION_KEY,
        "GetSessionToken",
        "109.70.100.66",
    )
    assert (m.principal_type, m.principal_key, m.principal_user) == (
        "IAMUser",
        BENJAMIN,
        "benjamin",
    )
    assert m.principal_arn == "arn:aws:iam::123837392027:user/benjamin"
    assert m.event_time == pd.Timestamp("2023-07-10T12:20:04Z")
    # the mint is benjamin's call, not the session key's: the activity holds only the key's 5
    assert set(res.frame["access_key_id"]) == {SESSION_KEY} and len(res.frame) == 5


def test_ec2_instance_role_session() -> None:
    (m,) = load_logs(LOGS, access_keys=EC2_KEY, workers=1).mints
    assert (m.event_name, m.principal_type, m.service) == (
        "AssumeRole",
        "AWSService",
        "ec2.amazonaws.com",
    )
    assert m.instance_id == m.session_name == "i-0dbc91f429e48eeed"
    assert m.principal_key is None
    assert "EC2 instance i-0dbc91f429e48eeed" in m.principal
    assert (
        m.role_arn == "arn:aws:iam::123837392027:role/stratus-red-team-ec2-steal-credentials-role"
    )


def test_iam_user_assume_role_and_create_access_key() -> None:
    res = load_logs(LOGS, access_keys=[ROLE_KEY, BACKDOOR], workers=1)
    by_key = {m.access_key_id: m for m in res.mints}
    role, created = by_key[ROLE_KEY], by_key[BACKDOOR]
    assert (role.event_name, role.principal_user, role.principal_key) == (
        "AssumeRole",
        "bert-jan",
        "AKIATFQR7NSC8Q4X20BJ",
    )
    assert role.session_name == "aws-go-sdk-1688990082523310002" and role.instance_id is None
    assert (created.event_name, created.principal_key, created.source_ip) == (
        "CreateAccessKey",
        BENJAMIN,
        "185.220.101.34",
    )
    # only the two keys' own calls are rows
    assert set(res.frame["access_key_id"].dropna()) <= {ROLE_KEY, BACKDOOR}


def test_following_derived_keys_is_unchanged() -> None:
    """Benjamin's key with its minted keys: the same 71 rows; its own mint is not in the logs."""
    res = load_logs(LOGS, access_keys=BENJAMIN, follow_derived=True, workers=1)
    assert len(res.frame) == 71 and res.mints == []
    assert {d.access_key_id for d in res.derived} == {SESSION_KEY, BACKDOOR}


@pytest.mark.parametrize("key", [SESSION_KEY, EC2_KEY, BACKDOOR])
def test_duckdb_finds_the_same_mint_in_the_same_query(key: str) -> None:
    """The DuckDB engine: one more predicate in the events query (no query more), the same
    mints and the same rows as the file loader."""
    from torinvest.options import EngineOptions
    from torinvest.sources.sql import load_sql
    from torinvest.sources.sql.engine import engine_for

    eng = engine_for(EngineOptions(kind="duckdb"), [LOGS], None)
    try:
        res = load_sql(eng, access_keys=key, follow_derived=True)
    finally:
        eng.close()
    files = load_logs(LOGS, access_keys=key, follow_derived=True, workers=1)
    assert len(res.mints) == 1 and res.mints == files.mints
    assert [q.kind for q in res.queries] == ["events"]
    assert set(res.frame["access_key_id"]) == {key} and len(res.frame) == len(files.frame)


def test_mint_before_the_window_is_not_none() -> None:
    start = pd.Timestamp("2023-07-10T12:21:00Z")  # after the mint at 12:20:04
    res = load_logs(LOGS, access_keys=SESSION_KEY, start=start, workers=1)
    assert res.mints == []
    origin = key_origin(
        SESSION_KEY,
        res.mints,
        searched=True,
        start=start,
        first_use=res.frame["event_time"].min(),
    )
    assert origin.status == "not in window"
    assert "may have been minted before the window" in (origin.why or "")
    assert "read from 2023-07-09T00:24:12Z" in (origin.why or "")  # first use - 36 h
    # a window reaching 36 h before the first use: "not found" is then an answer
    early = pd.Timestamp("2023-07-08T00:00:00Z")
    assert key_origin(SESSION_KEY, [], searched=True, start=early, first_use=start).status == (
        "not found"
    )


def test_lookup_events_only_is_not_searched() -> None:
    origin = key_origin(
        SESSION_KEY,
        [],
        searched=False,
        start=None,
        first_use=None,
        why_not_searched="LookupEvents cannot",
    )
    assert origin.status == "not searched" and origin.why == "LookupEvents cannot"


def test_lookup_events_activity_is_not_searched(
    fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An activity read from LookupEvents alone (it cannot search responses) cannot have found
    the mint, though LookupEvents holds the key's calls: "not searched", never "none"."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    for f in sorted(LOGS.rglob("*.json.gz")):
        for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]:
            fake_aws.cloudtrail(r["awsRegion"]).add_records([r])
    act = load_activity(
        lookup=Aws(),
        access_key=SESSION_KEY,
        start=pd.Timestamp("2023-07-10T00:00:00Z"),
        end=pd.Timestamp("2023-07-11T00:00:00Z"),
        regions=["us-east-1"],
        cache_dir=False,
        now=pd.Timestamp("2023-07-12T00:00:00Z"),
    )
    assert len(act.frame) == 5  # the key's calls were read
    assert act.mints_searched is False and act.mints == []


# --------------------------------------------------------------------------------------------
# the investigation: summary.json, the plan
# --------------------------------------------------------------------------------------------
TOR_FINDING = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.fixture(scope="module")
def tor_inv(tmp_path_factory: pytest.TempPathFactory) -> investigation.Investigation:
    """The sample case plus a finding on benjamin's GetSessionToken key (the sample finding's
    shape, its ID and key changed), investigated."""
    root = tmp_path_factory.mktemp("origin") / "case"
    shutil.copytree(SAMPLE, root)
    path = root / "findings" / "get-findings.json"
    data = json.loads(path.read_text())
    f = copy.deepcopy(data["Findings"][0])
    f["Arn"] = f["Arn"].replace(f["Id"], TOR_FINDING)
    f["Id"] = TOR_FINDING
    f["Resource"]["AccessKeyDetails"]["AccessKeyId"] = SESSION_KEY
    data["Findings"].append(f)
    path.write_text(json.dumps(data))
    sources = investigation.sources_from_parameters(case_dir=str(root))
    return investigation.investigate(TOR_FINDING, sources)


def _as_key(
    inv: investigation.Investigation, kid: str, kind: str, user_type: str
) -> investigation.Investigation:
    """``inv`` as if its finding named ``kid`` (its mints read from the sample's logs)."""
    key = dataclasses.replace(inv.key, access_key_id=kid, kind=kind, user_type=user_type)
    mints = load_logs(LOGS, access_keys=kid, workers=1).mints
    return dataclasses.replace(
        inv, key=key, activity=dataclasses.replace(inv.activity, mints=mints)
    )


def test_summary_and_plan_name_the_upstream_from_tor(tor_inv: investigation.Investigation) -> None:
    inv = tor_inv
    data = investigation.summary(inv)
    assert summary_problems(data) == []
    origin = data["key_origin"]
    assert origin["status"] == "found" and origin["why"] is None
    (m,) = origin["mints"]
    assert (m["principal_key"], m["source_ip"], m["tor"]) == (BENJAMIN, "109.70.100.66", True)
    assert m["event_time"] == "2023-07-10T12:20:04Z"
    assert "benjamin" in investigation.key_origin_phrase(data)
    plan = actions.plan_remediation(inv.key, inv.events, origin=inv.key_origin())
    (note,) = [n for n in plan.notes if n.startswith(f"{SESSION_KEY} was minted by")]
    assert "GetSessionToken at 2023-07-10T12:20:04Z from 109.70.100.66 (a Tor exit then" in note
    assert f"`torinvest events --access-key={BENJAMIN} --follow-derived …`" in note
    assert "does not stop arn:aws:iam::123837392027:user/benjamin minting new ones" in note
    # read-only: no step acts on the upstream key
    assert not any(BENJAMIN in a.targets for a in plan.actions)
    html = display.derived_keys(inv).data
    assert "Where the key came from" in html and "109.70.100.66" in html


def test_ec2_role_and_not_tor_assume_role(tor_inv: investigation.Investigation) -> None:
    ec2 = _as_key(tor_inv, EC2_KEY, "temporary", "AssumedRole")
    (m,) = investigation.summary(ec2)["key_origin"]["mints"]
    assert m["instance_id"] == "i-0dbc91f429e48eeed" and m["service"] == "ec2.amazonaws.com"
    notes = actions.plan_remediation(ec2.key, ec2.events, origin=ec2.key_origin()).notes
    assert any("investigate instance i-0dbc91f429e48eeed" in n for n in notes)
    role = _as_key(tor_inv, ROLE_KEY, "temporary", "AssumedRole")
    (m,) = investigation.summary(role)["key_origin"]["mints"]
    assert (m["principal_user"], m["source_ip"], m["tor"]) == ("bert-jan", "192.168.10.20", False)
    notes = actions.plan_remediation(role.key, role.events, origin=role.key_origin()).notes
    (note,) = [n for n in notes if n.startswith(f"{ROLE_KEY} was minted by")]
    assert "(not a Tor exit then)" in note and "revoking the role's sessions does not stop" in note


def test_long_term_key_created_before_the_window(tor_inv: investigation.Investigation) -> None:
    """benjamin's AKIA key: created before any log read — "not in window", never "none"."""
    inv = _as_key(tor_inv, BENJAMIN, "long-term", "IAMUser")
    origin = investigation.summary(inv)["key_origin"]
    assert origin["status"] == "not in window" and origin["mints"] == []
    assert "created at any time before" in origin["why"]


def test_attacker_written_names_are_inert(tor_inv: investigation.Investigation) -> None:
    """A session or user name with markup (a forged or damaged record: IAM allows none) is
    shown as text in the report's card and the plan's notes."""
    (mint,) = tor_inv.activity.mints
    bad = dataclasses.replace(
        mint, session_name="<script>alert(1)</script>", principal_arn="<img src=x onerror=1>"
    )
    inv = dataclasses.replace(tor_inv, activity=dataclasses.replace(tor_inv.activity, mints=[bad]))
    html = display.derived_keys(inv).data
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html


def test_a_mint_of_unknown_outcome_is_said_so() -> None:
    """The minting record rebuilt or found partial (torinvest's mark, no errorCode): it may not
    have succeeded — the mint is kept, flagged, never said to be certain."""
    records = [
        r
        for f in sorted(LOGS.rglob("*.json.gz"))
        for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]
        if r["eventName"] == "GetSessionToken" and not r.get("errorCode")
    ]
    (record,) = records
    whole = normalize_records([record])
    partial = normalize_records([{**record, OUTCOME_UNKNOWN_MARK: "cut"}])
    assert [m.unknown_outcome for m in mints_of(whole, {SESSION_KEY})] == [False]
    (m,) = mints_of(partial, {SESSION_KEY})
    assert m.unknown_outcome and m.principal_key == BENJAMIN
    origin = key_origin(SESSION_KEY, [m], searched=True, start=None, first_use=None)
    assert "(outcome unknown)" in origin.sentence()
