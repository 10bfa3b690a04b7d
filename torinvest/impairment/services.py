"""What GuardDuty's calls (a detector disabled or deleted, a trusted IP list, a suppression
rule, the account taken from its administrator) take away from the related-findings search, and
the calls on what torinvest does not read (CloudWatch Logs, AWS Config): notes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torinvest.impairment.model import (
    Call,
    Impaired,
    as_bool,
    issue_of,
    made,
    shown_name,
)


def log_group_calls(call: Call) -> list[Impaired]:
    group = shown_name(call.request.get("logGroupName") or "a log group not named")
    t = call.at()
    what = "deleted" if call.name == "DeleteLogGroup" else "given a shorter retention"
    return [
        made(
            call,
            f"log group {group}",
            "",
            False,
            f"CloudWatch Logs log group {group} {what} at {t} ({call.said()}): if a trail "
            "delivered there, that copy of its events is gone or shortened; torinvest reads "
            "the trail's log files, not CloudWatch Logs (this reading is not changed)",
        )
    ]


def config_calls(call: Call) -> list[Impaired]:
    name = shown_name(call.request.get("configurationRecorderName") or "a recorder not named")
    return [
        made(
            call,
            f"configuration recorder {name}",
            "",
            False,
            f"AWS Config recorder {name} {'stopped' if call.name.startswith('Stop') else 'deleted'} "
            f"at {call.at()} ({call.said()}): resource changes after it are not recorded by "
            "Config; torinvest does not read Config (this reading is not changed)",
        )
    ]


# --------------------------------------------------------------------------------------------
# GuardDuty: the related-findings search after T
# --------------------------------------------------------------------------------------------
_FINDINGS_BLIND = "the related-findings search and 'no other finding' are not complete after {t}"


def guardduty_calls(call: Call) -> list[Impaired]:
    region = call.region or "its region"
    detector = shown_name(call.request.get("detectorId") or "not named")
    t = call.at()
    blind = _FINDINGS_BLIND.format(t=t)
    head = f"{call.said()} at {t}"
    if call.name == "DeleteDetector":
        return [
            issue_of(
                call,
                f"detector {detector}",
                f"GuardDuty detector {detector} in {region} deleted ({head}): GuardDuty raises "
                f"no finding in {region} after {t} — {blind} (a finding that was never raised "
                "cannot be found)",
            )
        ]
    if call.name == "UpdateDetector":
        if as_bool(call.request.get("enable")) is False:
            return [
                issue_of(
                    call,
                    f"detector {detector}",
                    f"GuardDuty detector {detector} in {region} disabled ({head}): GuardDuty "
                    f"raises no finding in {region} after {t} until it is enabled again — "
                    f"{blind}",
                )
            ]
        off = _features_off(call.request)
        if not off:
            return []
        return [
            made(
                call,
                f"detector {detector}",
                "",
                False,
                f"GuardDuty detector {detector} in {region}: {', '.join(off)} turned off "
                f"({head}): findings from those sources are not raised after {t}; the Tor "
                "findings come from CloudTrail management events, which cannot be turned off "
                "(this reading is not changed)",
            )
        ]
    if call.name in ("CreateIPSet", "UpdateIPSet"):
        if as_bool(call.request.get("activate")) is False:
            return []
        ipset = shown_name(call.request.get("name") or call.request.get("ipSetId") or "not named")
        location = shown_name(call.request.get("location") or "not recorded")
        return [
            issue_of(
                call,
                f"trusted IP list {ipset}",
                f"GuardDuty trusted IP list {ipset} ({location}) on detector {detector} in "
                f"{region} ({head}): GuardDuty raises no finding for the addresses in it after "
                f"{t} — {blind}: read the list (aws guardduty get-ip-set) and treat its "
                "addresses as unsearched",
            )
        ]
    if call.name in ("CreateFilter", "UpdateFilter"):
        if str(call.request.get("action") or "").upper() != "ARCHIVE":
            return []
        name = shown_name(call.request.get("name") or call.request.get("filterName") or "not named")
        return [
            made(
                call,
                f"suppression rule {name}",
                "",
                False,
                f"GuardDuty suppression rule {name} (action ARCHIVE) on detector {detector} in "
                f"{region} ({head}): findings matching it are archived as they are raised after "
                f"{t} — the related-findings search includes archived findings, so they are "
                "listed here (archived); a batch of open findings (--all-open) does not see "
                "them: list archived findings too (aws guardduty get-filter shows its criteria)",
            )
        ]
    # DisassociateFromAdministratorAccount / …MasterAccount
    return [
        issue_of(
            call,
            f"detector {detector}",
            f"GuardDuty detector {detector} in {region} left its administrator account "
            f"({head}): findings of this account after {t} no longer reach the administrator "
            f"— a related-findings search made with the administrator's credentials misses "
            f"them: {blind}; search with the member account's own access",
        )
    ]


def _features_off(request: Mapping[str, Any]) -> list[str]:
    off = []
    sources = request.get("dataSources")
    if isinstance(sources, Mapping):
        for k, v in sources.items():
            flat = v
            if isinstance(v, Mapping) and "enable" not in v:
                flat = next((x for x in v.values() if isinstance(x, Mapping)), v)
            if isinstance(flat, Mapping) and as_bool(flat.get("enable")) is False:
                off.append(shown_name(k))
    features = request.get("features")
    if isinstance(features, list):
        for f in features:
            if isinstance(f, Mapping) and str(f.get("status") or "").upper() == "DISABLED":
                off.append(shown_name(f.get("name") or "a feature"))
    return off
