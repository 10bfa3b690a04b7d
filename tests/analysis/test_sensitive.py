"""analysis.sensitive: the sensitive calls of the sample case and their targets."""

from __future__ import annotations

import json

import pandas as pd

from tests.analysis.helpers import DERIVED, LEGIT_IP, STORY
from torinvest import analysis as an


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
    assert {i["outcome"] for i in items} == {"succeeded", "failed"}
    assert [i["outcome"] == "failed" for i in items] == [i["error_code"] is not None for i in items]
    assert set(items[0]) == {
        "outcome",
        "event_name",
        "event_source",
        "event_time",
        "source_ip",
        "tor",
        "tor_caveat",
        "category",
        "error_code",
        "target",
        "targets",
    }
    assert all(i["target"] is None and i["targets"] == [] for i in items)  # not asked for
    # what a "not Tor" rests on: investigate adds it (torinvest.investigation.call_caveats)
    assert all(i["tor_caveat"] is None for i in items)


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
