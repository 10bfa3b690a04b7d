"""analysis: per-IP table, baseline, sensitive actions, signals and triage score.

The sample case's STORY.json is the ground truth; the ``tor`` column is built from its exit-list
facts (which IPs each daily list holds), as torinvest.tor would compute it.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from torinvest import analysis as an
from torinvest import tor
from torinvest.case import sample_case
from torinvest.errors import InputError
from torinvest.findings import read_findings
from torinvest.schema import EVENTS_COLUMNS, conform, iso_utc
from torinvest.sources.logs import load_logs

CASE = sample_case()
STORY = json.loads((CASE.root / "STORY.json").read_text())
SUSPECT = STORY["suspect_key"]["access_key_id"]
DERIVED = STORY["derived"]["asia_key"]
LEGIT_IP = STORY["legit_ip"]
TOR_IPS = set(STORY["tor_ips"])
#: Time budget for one analysis over a million events (seconds; generous for loaded CI).
MILLION_BUDGET_S = 10.0


def tor_from_story(frame: pd.DataFrame) -> pd.Series:
    """The ``tor`` column as torinvest.tor computes it, from STORY.json's daily exit lists."""
    day = frame["event_time"].dt.strftime("%Y-%m-%d")
    covered = day.isin(list(STORY["tor_lists"])).to_numpy()
    listed = np.array(
        [
            d in STORY["tor_ips_listed"].get(str(ip), [])
            for ip, d in zip(frame["source_ip"], day, strict=True)
        ],
        dtype=bool,
    )
    return pd.Series(pd.array(np.where(covered, listed, None), dtype="boolean"), index=frame.index)


def synthetic_events(n: int, *, seed: int = 0, ips: int = 2000, agents: int = 3000) -> pd.DataFrame:
    """An events frame of ``n`` random calls over 90 days, built with numpy in well under a second.

    Agent 0 is the XSS bait ``<img src=x onerror=alert(1)>``; 20 % of the IPs are Tor.
    """
    rng = np.random.default_rng(seed)

    def cat(labels: list[str], codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="string"))

    def pick(labels: list[str]) -> pd.Categorical:
        return cat(labels, rng.integers(0, len(labels), n))

    ip_labels = [f"{10 + i // 65536}.{i // 256 % 256}.{i % 256}.{1 + i % 200}" for i in range(ips)]
    names = [
        f"{verb}{noun}"
        for verb in ("List", "Describe", "Get", "Put", "Delete")
        for noun in ("Users", "Roles", "Buckets", "Instances", "Secrets", "Policies", "Trails")
    ] + ["CreateUser", "CreateAccessKey", "AttachUserPolicy", "StopLogging", "GetSecretValue"]
    agent_labels = ["<img src=x onerror=alert(1)>"] + [
        f"aws-cli/2.{i % 20}.{i % 7} Python/3.11 Linux/6.1 command/{i} " + "x" * (i % 300)
        for i in range(1, agents)
    ]
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 1000
    micros = np.sort(rng.integers(0, 90 * 86_400 * 1_000_000, n)) + start
    errors = np.where(rng.random(n) < 0.1, rng.integers(0, 3, n), -1)
    ip_codes = rng.integers(0, ips, n)
    tor_ip = rng.random(ips) < 0.2
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime(micros, unit="us", utc=True),
            "event_id": pd.array(np.arange(n).astype(str), dtype="string"),
            "event_name": pick(names),
            "event_source": pick(["iam.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com"]),
            "aws_region": pick(["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"]),
            "source_ip": cat(ip_labels, ip_codes),
            "user_agent": pick(agent_labels),
            "error_code": cat(
                ["AccessDenied", "Client.UnauthorizedOperation", "Throttling"], errors
            ),
            "read_only": pd.array(rng.random(n) < 0.7, dtype="boolean"),
            "access_key_id": pick([f"AKIA{i:016d}" for i in range(20)]),
            "user_name": pick(["alice", "bob"]),
            "derived": pd.array(rng.random(n) < 0.05, dtype="boolean"),
            "tor": pd.array(tor_ip[ip_codes], dtype="boolean"),
        }
    )


def make_events(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A small events frame from row dicts (defaults for what a row leaves out)."""
    base = {
        "event_source": "iam.amazonaws.com",
        "aws_region": "us-east-1",
        "user_agent": "aws-cli/2",
        "access_key_id": SUSPECT,
    }
    return conform([{**base, **r} for r in rows], EVENTS_COLUMNS)


@pytest.fixture(scope="module")
def loaded() -> Any:
    return load_logs(CASE.cloudtrail, access_keys=SUSPECT, follow_derived=True, workers=1)


@pytest.fixture(scope="module")
def events(loaded: Any) -> pd.DataFrame:
    frame = loaded.frame.copy()
    frame["tor"] = tor_from_story(frame)
    return frame


@pytest.fixture(scope="module")
def findings() -> pd.DataFrame:
    return read_findings(CASE.findings).tor_only().frame()


@pytest.fixture(scope="module")
def window(findings: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    w = an.window_of(findings)
    assert w is not None
    return w


@pytest.fixture(scope="module")
def million() -> pd.DataFrame:
    return synthetic_events(1_000_000)


def expected_by_ip() -> dict[str, dict[str, Any]]:
    """STORY.json's events_by_ip for the keys the load covers, merged per IP."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"events": 0, "failed": 0, "user_agents": set(), "regions": set(), "keys": set()}
    )
    for row in STORY["events_by_ip"]:
        if row["access_key_id"] not in (SUSPECT, DERIVED):
            continue  # the backdoor user's key is not minted by the suspect key: not loaded
        e = out[row["ip"]]
        e["events"] += row["events"]
        e["failed"] += row["failed"]
        e["tor"] = row["tor"]
        e["user_agents"] |= set(row["user_agents"])
        e["regions"] |= set(row["regions"])
        e["keys"].add(row["access_key_id"])
        e["first_seen"] = min(e.get("first_seen", row["first_seen"]), row["first_seen"])
        e["last_seen"] = max(e.get("last_seen", row["last_seen"]), row["last_seen"])
    return dict(out)


# --------------------------------------------------------------------------------------------
# per IP
# --------------------------------------------------------------------------------------------
def test_per_ip_is_exactly_the_story(events: pd.DataFrame, findings: pd.DataFrame) -> None:
    table = an.per_ip(events, findings=findings)
    assert tuple(table.columns) == an.PER_IP_COLUMNS
    got = {
        r.source_ip: {
            "events": r.events,
            "failed": r.failed,
            "tor": bool(r.tor),
            "user_agents": r.user_agents,
            "regions": r.regions,
            "keys": r.access_keys,
            "first_seen": iso_utc(r.first_seen),
            "last_seen": iso_utc(r.last_seen),
        }
        for r in table.itertuples()
    }
    want = {
        ip: {
            "events": e["events"],
            "failed": e["failed"],
            "tor": e["tor"],
            "user_agents": sorted(e["user_agents"]),
            "regions": sorted(e["regions"]),
            "keys": sorted(e["keys"]),
            "first_seen": e["first_seen"],
            "last_seen": e["last_seen"],
        }
        for ip, e in expected_by_ip().items()
    }
    assert got == want
    assert table["first_seen"].is_monotonic_increasing
    assert table["tor_events"].sum() == STORY["actor_events"]["from_tor"]  # all are loaded


def test_tor_status_from_the_case_lists_agrees(events: pd.DataFrame) -> None:
    """The real tor column (torinvest.tor on the case's exit lists) is the one the tests build."""
    status = tor.tor_status(events, tor.load_exit_lists(CASE.tor, bundled=False))
    pd.testing.assert_series_equal(status, events["tor"], check_names=False)
    table = an.per_ip(events.assign(tor=status)).set_index("source_ip")
    assert set(table.index[table["tor"]]) == TOR_IPS


def test_per_ip_new_geo_and_derived(events: pd.DataFrame, findings: pd.DataFrame) -> None:
    table = an.per_ip(events, findings=findings).set_index("source_ip")
    # window start = earliest finding first_seen (12:11:02): the VPS called at 12:08, before it
    assert table["new"].to_dict() == {
        LEGIT_IP: False,
        STORY["non_tor_actor_ip"]: False,
        **dict.fromkeys(TOR_IPS, True),
    }
    geo = findings.set_index("tor_ip")
    for ip in geo.index:
        assert table.loc[ip, "country"] == geo.loc[ip, "country"]
        assert table.loc[ip, "asn_org"] == geo.loc[ip, "asn_org"]
        assert table.loc[ip, "geo_source"] == "guardduty"
    assert table.loc[LEGIT_IP, ["country", "asn", "geo_source"]].isna().all()
    assert table["derived"].to_dict() == {ip: ip == "199.249.230.87" for ip in table.index}
    assert table.loc["185.220.101.34", "event_names"]["DescribeInstances"] == 5


def test_per_ip_takes_a_geoip_lookup(events: pd.DataFrame, findings: pd.DataFrame) -> None:
    def lookup(ip: str) -> dict[str, str] | None:
        return (
            {"country": "Testland", "asn": "64500", "asn_org": "Example"}
            if ip == LEGIT_IP
            else None
        )

    table = an.per_ip(events, findings=findings, geoip=lookup).set_index("source_ip")
    assert table.loc[LEGIT_IP, ["country", "asn", "geo_source"]].tolist() == [
        "Testland",
        "64500",
        "geoip",
    ]
    assert table.loc["185.220.101.34", "geo_source"] == "guardduty"  # the finding wins


def test_geoip_database_without_geoip2_is_a_clear_error(
    events: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "geoip2", None)
    with pytest.raises(InputError, match="geoip2 package is not installed") as err:
        an.per_ip(events, geoip=tmp_path / "GeoLite2-ASN.mmdb")
    assert "pip install geoip2" in str(err.value)


def test_per_ip_without_tor_column_says_unknown(events: pd.DataFrame) -> None:
    table = an.per_ip(events.drop(columns=["tor"]))
    assert table["tor"].isna().all()
    assert (table["tor_events"] == 0).all()
    assert table["new"].isna().all()  # no window start given


def test_summary_source_ips_follows_the_contract(
    events: pd.DataFrame, findings: pd.DataFrame
) -> None:
    items = an.summary_source_ips(an.per_ip(events, findings=findings))
    json.dumps(items)  # JSON-ready
    assert {tuple(sorted(i)) for i in items} == {
        ("events", "failed", "first_seen", "ip", "last_seen", "new", "tor", "user_agents")
    }
    tor = next(i for i in items if i["ip"] == "185.220.101.34")
    assert tor["tor"] is True and tor["new"] is True and tor["first_seen"] == "2023-07-10T12:11:02Z"


# --------------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------------
def test_baseline_new_ips_and_user_agents(events: pd.DataFrame, window: tuple) -> None:
    base = an.baseline(events, window[0])
    assert base.has_history and base.note is None
    assert base.history_start == pd.Timestamp(STORY["background"]["start"])
    assert base.new_values("source_ip") == ["185.220.101.34", "109.70.100.66", "199.249.230.87"]
    assert STORY["injection"]["user_agent"] in base.new_values("user_agent")
    usual = base.flags("user_agent")
    assert not any(usual[ua] for ua in expected_by_ip()[LEGIT_IP]["user_agents"])
    assert tuple(base.frame.columns) == an.BASELINE_COLUMNS


def test_baseline_asns(events: pd.DataFrame, window: tuple) -> None:
    asn = {"185.220.101.34": "60729", "109.70.100.66": "208323", LEGIT_IP: "64512"}
    base = an.baseline(events, window[0], ip_asn=asn)
    assert base.new_values("asn") == ["60729", "208323"]
    assert not base.flags("asn")["64512"]


def test_baseline_without_history_is_na_with_a_note(events: pd.DataFrame) -> None:
    base = an.baseline(events, events["event_time"].min())
    assert not base.has_history
    assert base.frame["new"].isna().all()
    assert "cannot tell new" in (base.note or "")
    sig = an.signals(
        events, finding_window=(events["event_time"].min(), events["event_time"].max())
    )
    assert [s for s in sig if s.name.startswith("new_")] == []
    assert any(s.name == "no_baseline" and s.weight == 0 for s in sig)


# --------------------------------------------------------------------------------------------
# sensitive actions
# --------------------------------------------------------------------------------------------
def test_sensitive_events_of_the_case(events: pd.DataFrame) -> None:
    found = an.sensitive_events(events)
    assert tuple(found.columns) == an.SENSITIVE_COLUMNS
    by_name = {n: set(g) for n, g in found.groupby("event_name", observed=True)["category"]}
    assert by_name == {
        "CreateUser": {"persistence"},
        "CreateAccessKey": {"persistence"},
        "CreateLoginProfile": {"persistence"},
        "AttachUserPolicy": {"privilege-escalation"},
        "GetSessionToken": {"credential-access"},
        "GetSecretValue": {"credential-access"},
        "GetAccountAuthorizationDetails": {"discovery"},
    }
    actor = found[found["source_ip"] != LEGIT_IP]
    assert actor["tor"].all()
    assert found.loc[found["source_ip"] == LEGIT_IP, "tor"].eq(False).all()
    failed = found[found["failed"]]
    assert sorted(failed["error_code"]) == ["ResourceNotFoundException", "ValidationError"]
    assert found.loc[found["event_name"] == "GetSecretValue", "derived"].all()
    assert found["mitre_technique"].str.match(r"^T\d{4}").all()
    assert found["event_time"].is_monotonic_increasing
    items = an.summary_sensitive_events(found)
    json.dumps(items)
    assert set(items[0]) == {
        "event_name",
        "event_source",
        "event_time",
        "source_ip",
        "tor",
        "category",
        "error_code",
        "target",
        "targets",
    }
    assert all(i["target"] is None and i["targets"] == [] for i in items)  # not asked for


def test_sensitive_events_name_their_targets(events: pd.DataFrame) -> None:
    """What each sensitive call created, changed or read, from its request and response."""
    found = an.sensitive_events(events, targets=True)
    assert tuple(found.columns) == an.SENSITIVE_COLUMNS + an.SENSITIVE_TARGET_COLUMNS
    backdoor, new_key = STORY["derived"]["backdoor_user"], STORY["derived"]["backdoor_key"]
    by_name = {
        n: sorted(set(g.dropna())) for n, g in found.groupby("event_name", observed=True)["target"]
    }
    assert by_name == {
        "CreateUser": [f"user {backdoor}"],
        "CreateAccessKey": [f"user {backdoor}, new key {new_key}"],
        "AttachUserPolicy": [
            f"user {backdoor}, policy arn:aws:iam::aws:policy/AdministratorAccess"
        ],
        "CreateLoginProfile": [f"user {backdoor}"],
        "GetSessionToken": [f"new temporary key {DERIVED}"],  # the failed one names nothing
        "GetSecretValue": [
            "secret prod/db/credentials",
            "secret stratus-red-team-retrieve-secret-13",
            "secret stratus-red-team-retrieve-secret-6",
        ],
        "GetAccountAuthorizationDetails": [],  # the whole account: no target
    }
    # the same rows and order as without targets
    plain = an.sensitive_events(events)
    pd.testing.assert_frame_equal(found[list(an.SENSITIVE_COLUMNS)], plain)
    items = an.summary_sensitive_events(found)
    json.dumps(items)
    (made,) = [i for i in items if i["event_name"] == "CreateAccessKey"]
    assert made["targets"] == [
        {"kind": "user", "value": backdoor},
        {"kind": "new key", "value": new_key},
    ]
    (missing,) = [i for i in items if i["error_code"] == "ResourceNotFoundException"]
    assert missing["target"] == "secret prod/db/credentials"
    empty = an.sensitive_events(events.iloc[:0], targets=True)
    assert tuple(empty.columns) == an.SENSITIVE_COLUMNS + an.SENSITIVE_TARGET_COLUMNS


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


# --------------------------------------------------------------------------------------------
# signals and score
# --------------------------------------------------------------------------------------------
def test_signals_of_the_case(events: pd.DataFrame, window: tuple, loaded: Any) -> None:
    found = an.signals(events, finding_window=window, derived_keys=loaded.derived)
    by_name = {s.name: s for s in found}
    assert {
        "tor_use",
        "tor_after_finding",
        "tor_and_non_tor",
        "derived_key_in_use",
        "recon_burst",
        "recon_breadth",
        "recon_denied",
        "sensitive:persistence",
        "sensitive:privilege-escalation",
        "sensitive:credential-access",
        "new_source_ip",
        "concurrent_ips",
        "failed_then_succeeded",
    } <= set(by_name)
    assert "tor_unknown" not in by_name  # the lists cover the whole day
    assert [s.weight for s in found] == sorted((s.weight for s in found), reverse=True)
    persistence = by_name["sensitive:persistence"].detail
    assert all(n in persistence for n in ("CreateUser", "CreateAccessKey", "CreateLoginProfile"))
    derived = by_name["derived_key_in_use"].detail
    assert DERIVED in derived and "199.249.230.87 (Tor)" in derived and "GetSessionToken" in derived
    assert "185.220.101.34" in by_name["recon_denied"].detail
    assert "185.220.101.34" in by_name["recon_breadth"].detail
    assert "3 regions" in by_name["recon_breadth"].detail
    assert DERIVED in by_name["tor_after_finding"].detail  # 12:24, after the finding's 12:20:04
    assert by_name["new_source_ip"].detail.count("(Tor)") == 3
    assert "GetSessionToken" in by_name["failed_then_succeeded"].detail
    assert "24 calls from 3 Tor exit(s)" in by_name["tor_use"].detail
    json.dumps([s.to_dict() for s in found])


def test_triage_score_high_for_the_case_low_for_benign(events: pd.DataFrame, window: tuple) -> None:
    score = an.triage_score(an.signals(events, finding_window=window))
    assert score.score >= 80 and score.band == "high"
    assert len(score.reasons) == an.TOP_REASONS
    assert "not a verdict" in score.note
    assert "not a verdict" in (an.triage_score.__doc__ or "").replace("NOT", "not")
    benign = events[events["source_ip"] == LEGIT_IP]
    low = an.triage_score(an.signals(benign, finding_window=window))
    assert low.band == "low" and low.score < 30
    assert {s.name for s in an.signals(benign, finding_window=window)}.isdisjoint(
        {"tor_use", "derived_key_in_use", "new_source_ip", "sensitive:persistence"}
    )
    assert an.triage_score(an.signals(benign, finding_window=window)).to_dict()["note"]


def test_signals_without_tor_column(events: pd.DataFrame) -> None:
    found = {s.name: s for s in an.signals(events.drop(columns=["tor"]))}
    assert "tor_use" not in found
    assert found["tor_unknown"].weight == 0
    assert "no exit lists" in found["tor_unknown"].detail


def t(minute: float) -> pd.Timestamp:
    return pd.Timestamp("2024-05-01T10:00:00Z") + pd.Timedelta(minutes=minute)


def test_recon_burst_threshold() -> None:
    calls = [f"List{x}" for x in "ABCDE"] * 2  # 10 calls, 5 distinct names, within 2 min
    rows = [
        {"event_time": t(i * 0.2), "event_name": n, "source_ip": "203.0.113.9", "event_id": str(i)}
        for i, n in enumerate(calls)
    ]
    assert "recon_burst" in {s.name for s in an.signals(make_events(rows))}
    assert "recon_burst" not in {s.name for s in an.signals(make_events(rows[:-1]))}
    same = [{**r, "event_name": "ListA"} for r in rows]  # polling one call is not recon
    assert "recon_burst" not in {s.name for s in an.signals(make_events(same))}
    spread = [{**r, "event_time": t(i * 3)} for i, r in enumerate(rows)]
    assert "recon_burst" not in {s.name for s in an.signals(make_events(spread))}


def test_recon_denied_and_retry() -> None:
    rows = [
        {"event_time": t(i), "event_name": "ListRoles", "error_code": "AccessDenied"}
        for i in range(an.RECON_MIN_DENIED)
    ] + [{"event_time": t(9), "event_name": "ListRoles"}]
    rows = [{**r, "source_ip": "203.0.113.9", "event_id": str(i)} for i, r in enumerate(rows)]
    names = {s.name for s in an.signals(make_events(rows))}
    assert {"recon_denied", "failed_then_succeeded"} <= names
    assert "recon_denied" not in {s.name for s in an.signals(make_events(rows[1:]))}
    absent = [{**r, "error_code": "NoSuchBucketPolicy"} if r.get("error_code") else r for r in rows]
    assert "failed_then_succeeded" not in {s.name for s in an.signals(make_events(absent))}


def test_sensitive_all_failed_weighs_half() -> None:
    rows = [
        {"event_time": t(0), "event_name": "StopLogging", "event_source": "cloudtrail.amazonaws.com",
         "error_code": "AccessDenied", "source_ip": "203.0.113.9", "event_id": "1"},
    ]  # fmt: skip
    (sig,) = [s for s in an.signals(make_events(rows)) if s.name == "sensitive:defense-evasion"]
    assert sig.weight == int(an.SENSITIVE_WEIGHTS["defense-evasion"] * an.FAILED_ONLY_FACTOR)
    assert "all failed" in sig.detail


def test_concurrent_ips_ignore_service_sources() -> None:
    rows = [
        {"event_time": t(0), "source_ip": "203.0.113.9"},
        {"event_time": t(1), "source_ip": "ec2.amazonaws.com"},
        {"event_time": t(2), "source_ip": "203.0.113.9"},
    ]
    rows = [{**r, "event_name": "GetObject", "event_id": str(i)} for i, r in enumerate(rows)]
    assert "concurrent_ips" not in {s.name for s in an.signals(make_events(rows))}
    rows[1]["source_ip"] = "198.51.100.7"
    assert "concurrent_ips" in {s.name for s in an.signals(make_events(rows))}


def test_attacker_text_in_details_is_neutralised(events: pd.DataFrame, window: tuple) -> None:
    bait = "aws-cli/2 \x1b[31mred\u202e" + "A" * 200
    frame = events.copy()
    frame["user_agent"] = frame["user_agent"].cat.add_categories([bait])
    frame.loc[frame["source_ip"] == "199.249.230.87", "user_agent"] = bait
    (sig,) = [s for s in an.signals(frame, finding_window=window) if s.name == "new_user_agent"]
    assert "\x1b" not in sig.detail and "\u202e" not in sig.detail
    assert "A" * 100 not in sig.detail


# --------------------------------------------------------------------------------------------
# empty frames and scale
# --------------------------------------------------------------------------------------------
def test_empty_frame_gives_empty_results(events: pd.DataFrame) -> None:
    empty = events.iloc[:0]
    table = an.per_ip(empty, window_start=pd.Timestamp("2024-01-01", tz="UTC"))
    assert table.empty and tuple(table.columns) == an.PER_IP_COLUMNS
    found = an.sensitive_events(empty)
    assert found.empty and tuple(found.columns) == an.SENSITIVE_COLUMNS
    assert an.signals(empty, finding_window=(pd.Timestamp(0, tz="UTC"),) * 2) == []
    base = an.baseline(empty, pd.Timestamp("2024-01-01", tz="UTC"))
    assert base.frame.empty and not base.has_history
    score = an.triage_score([])
    assert (score.score, score.band, score.reasons) == (0, "low", ())
    assert an.summary_source_ips(table) == [] and an.summary_sensitive_events(found) == []
    assert an.per_ip(conform([], EVENTS_COLUMNS)).empty


def test_missing_columns_are_an_input_error() -> None:
    with pytest.raises(InputError, match="source_ip"):
        an.per_ip(pd.DataFrame({"event_time": []}))


def test_a_million_events_in_seconds(million: pd.DataFrame) -> None:
    window = (pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC"))
    timings: dict[str, float] = {}
    table = pd.DataFrame()
    for name, run in {
        "per_ip": lambda: an.per_ip(million, window_start=window[0]),
        "sensitive_events": lambda: an.sensitive_events(million),
        "signals": lambda: an.signals(million, finding_window=window),
    }.items():
        start = time.perf_counter()
        result = run()
        timings[name] = time.perf_counter() - start
        assert len(result)
        if name == "per_ip":
            table = result
    assert max(timings.values()) < MILLION_BUDGET_S, timings
    assert table["events"].sum() == len(million)
    assert table["user_agents"].map(len).max() <= an.MAX_LIST_ITEMS
