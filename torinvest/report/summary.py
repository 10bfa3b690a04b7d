"""summary.json: its contract (:data:`SUMMARY_SCHEMA`, JSON Schema 2020-12), checked before it
is written and after the run, and the CSV exports beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from torinvest.data_events import SUMMARY_PROPERTIES as DATA_EVENTS_SUMMARY
from torinvest.errors import DataIssue, InputError, ReportError
from torinvest.findings import TOR_FINDING_TYPES, FindingsResult
from torinvest.findings.related import SUMMARY_PROPERTIES as RELATED_SUMMARY
from torinvest.geo import IP_KINDS
from torinvest.impairment import SUMMARY_PROPERTIES as IMPAIRED_SUMMARY
from torinvest.investigation import (
    BASELINE_STATUSES,
    DERIVED_SEARCH_STATUSES,
    Investigation,
    reading_of,
    reading_text,
    report_issues,
)
from torinvest.investigation import summary as _summary
from torinvest.last_used import SUMMARY_PROPERTIES as LAST_USED_SUMMARY
from torinvest.options import ENGINES
from torinvest.passwords import SIGN_IN_STATUSES
from torinvest.pivot import SUMMARY_PROPERTIES as PIVOT_SUMMARY
from torinvest.report.folders import EVENTS_CSV, PER_IP_CSV, _write_bytes
from torinvest.safety import json_inert_bytes
from torinvest.schema import PER_IP_LIST_COUNTS
from torinvest.shown import cut_prose_fields
from torinvest.sources.records.origin import ORIGIN_STATUSES
from torinvest.verdict import STATUSES, read_ledger

# --------------------------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------------------------
_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_TIME_OR_NULL: dict[str, Any] = {"type": ["string", "null"], "pattern": _TIME}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}


def _object(properties: Mapping[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly ``properties``, each required but the ``optional`` ones (keys
    added since: a summary written before them has none)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [k for k in properties if k not in optional],
        "properties": dict(properties),
    }


#: Keys added to the objects of ``summary.json`` since its first version, always written now and
#: optional to the contract (a summary written before them has none): the calls whose outcome
#: is not known (:mod:`torinvest.outcome`).
OUTCOME_KEYS = ("outcome_unknown", "outcome")
#: Entries of ``lists`` added since (a summary written before them lists those lists whole).
LATER_LISTS = ("derived_keys", "ip_pivot_search.ips", "ip_pivot")
_PART: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["listed", "total", "all_in"],
    "properties": {"listed": _COUNT, "total": _COUNT, "all_in": _STR_OR_NULL},
}
#: One record that minted the key (``key_origin.mints[]``: origin.Mint.to_dict).
_MINT: dict[str, Any] = _object(
    {
        "access_key_id": {"type": "string"},
        "event_name": {"type": "string"},
        "event_time": _TIME_OR_NULL,
        "event_id": _STR_OR_NULL,
        "region": _STR_OR_NULL,
        "source_ip": _STR_OR_NULL,
        "tor": {"type": ["boolean", "null"]},
        "principal": {"type": "string"},
        "principal_type": _STR_OR_NULL,
        "principal_arn": _STR_OR_NULL,
        "principal_key": _STR_OR_NULL,
        "principal_user": _STR_OR_NULL,
        "session_issuer_arn": _STR_OR_NULL,
        "service": _STR_OR_NULL,
        "role_arn": _STR_OR_NULL,
        "session_name": _STR_OR_NULL,
        "instance_id": _STR_OR_NULL,
        "unknown_outcome": {"type": "boolean"},
        # optional (added since): as source_ips[].tor_caveat, for the minting call's IP
        "tor_caveat": {"enum": ["or_addresses_only", None]},
    },
    optional=("tor_caveat",),
)
#: One console password set for a user the call does not name (``console_passwords_unnamed[]``:
#: torinvest.passwords.unnamed_dict).
_UNNAMED_PASSWORD: dict[str, Any] = _object(
    {
        "event_name": {"type": "string"},
        "event_time": _TIME_OR_NULL,
        "event_id": _STR_OR_NULL,
        "set_by": _STR_OR_NULL,
        "caller_type": _STR_OR_NULL,
        "caller_arn": _STR_OR_NULL,
        "outcome": {"enum": ["succeeded", "unknown"]},
        "said": {"type": "string"},
    }
)
#: One console password the key set and its sign-ins read (``console_passwords[]``:
#: torinvest.passwords.PasswordUse.to_dict).
_PASSWORD: dict[str, Any] = _object(
    {
        "user_name": {"type": "string"},
        "event_name": {"type": "string"},
        "event_time": _TIME_OR_NULL,
        "event_id": _STR_OR_NULL,
        "set_by": _STR_OR_NULL,
        "source_ip": _STR_OR_NULL,
        "outcome": {"enum": ["succeeded", "unknown"]},
        # ``until`` (added since: optional): the window's end the sign-ins were read to
        "sign_ins_search": _object(
            {
                "status": {"enum": list(SIGN_IN_STATUSES)},
                "why": _STR_OR_NULL,
                "until": _TIME_OR_NULL,
            },
            optional=("until",),
        ),
        "sign_ins": {
            "type": "array",
            "items": _object(
                {
                    "event_time": _TIME_OR_NULL,
                    "event_id": _STR_OR_NULL,
                    "source_ip": _STR_OR_NULL,
                    "tor": {"type": ["boolean", "null"]},
                    # optional (added since): as source_ips[].tor_caveat, for the sign-in's IP
                    "tor_caveat": {"enum": ["or_addresses_only", None]},
                    "result": _STR_OR_NULL,
                    "mfa_used": _STR_OR_NULL,
                    "aws_region": _STR_OR_NULL,
                },
                optional=("tor_caveat",),
            ),
        },
        "signed_in": _COUNT,
        "sessions_read": {"type": "boolean"},
        "sessions": {"type": "array", "items": {"type": "string"}},
    }
)
#: Keys of ``source_ips[]`` added since: how many distinct regions, user agents and keys the IP
#: had (``user_agents`` keeps the most frequent).
LIST_COUNT_KEYS = tuple(PER_IP_LIST_COUNTS.values())


#: JSON Schema (2020-12) of ``summary.json``, as docs/DESIGN.md's report contract writes it.
SUMMARY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "torinvest summary.json",
    **_object(
        {
            "torinvest_version": {"type": "string"},
            "generated": _object(
                {
                    "at": {"type": "string", "pattern": _TIME},
                    "by": {"type": "string", "minLength": 1},
                    "sources": {"type": "array", "items": {"type": "string"}},
                }
            ),
            "finding": _object(
                {
                    "id": {"type": "string", "pattern": r"^[A-Za-z0-9]{8,128}$"},
                    "type": {"enum": list(TOR_FINDING_TYPES)},
                    "account_id": _STR_OR_NULL,
                    "region": _STR_OR_NULL,
                    "severity": {"type": ["number", "null"]},
                    "first_seen": _TIME_OR_NULL,
                    "last_seen": _TIME_OR_NULL,
                    "count": {"type": ["integer", "null"], "minimum": 0},
                    "tor_ip": _STR_OR_NULL,
                }
            ),
            "key": _object(
                {
                    "access_key_id": {"type": "string", "minLength": 1},
                    "kind": {"enum": ["long-term", "temporary", "other"]},
                    "principal_id": _STR_OR_NULL,
                    "user_name": _STR_OR_NULL,
                    "user_type": _STR_OR_NULL,
                }
            ),
            "window": _object(
                {
                    "start": {"type": "string", "pattern": _TIME},
                    "end": {"type": "string", "pattern": _TIME},
                }
            ),
            "events": _object(
                {
                    "total": _COUNT,
                    "failed": _COUNT,
                    "outcome_unknown": _COUNT,
                    "from_tor": _COUNT,
                    "tor_unknown": _COUNT,
                },
                OUTCOME_KEYS,
            ),
            "source_ips": {
                "type": "array",
                "items": _object(
                    {
                        "ip": _STR_OR_NULL,
                        "events": _COUNT,
                        "failed": _COUNT,
                        "outcome_unknown": _COUNT,
                        "tor": {"type": ["boolean", "null"]},
                        # optional (added since): or_addresses_only where "not Tor" rests
                        # only on lists naming relays by OR address (torinvest.tor.or_only)
                        "tor_caveat": {"enum": ["or_addresses_only", None]},
                        "first_seen": _TIME_OR_NULL,
                        "last_seen": _TIME_OR_NULL,
                        "user_agents": {"type": "array", "items": {"type": "string"}},
                        **dict.fromkeys(LIST_COUNT_KEYS, _COUNT),
                        "new": {"type": ["boolean", "null"]},
                        # where the IP is (analysis.places.place_ips)
                        "ip_kind": {"enum": list(IP_KINDS)},
                        "country": {"type": ["string", "null"], "pattern": "^[A-Z]{2}$"},
                        "country_source": {"enum": ["geoip", "rir", None]},
                        "asn": {"type": ["string", "null"], "pattern": "^[0-9]{1,10}$"},
                        "asn_org": _STR_OR_NULL,
                        "asn_source": {"enum": ["geoip", "guardduty", None]},
                    },
                    (*OUTCOME_KEYS, *LIST_COUNT_KEYS, "tor_caveat"),
                ),
            },
            "sensitive_events": {
                "type": "array",
                "items": _object(
                    {
                        "event_name": _STR_OR_NULL,
                        "event_source": _STR_OR_NULL,
                        "event_time": _TIME_OR_NULL,
                        "source_ip": _STR_OR_NULL,
                        "tor": {"type": ["boolean", "null"]},
                        # optional (added since): as source_ips[].tor_caveat, for the call
                        "tor_caveat": {"enum": ["or_addresses_only", None]},
                        "category": _STR_OR_NULL,
                        "error_code": _STR_OR_NULL,
                        "outcome": {"enum": ["succeeded", "failed", "unknown"]},
                        "target": _STR_OR_NULL,
                        "targets": {
                            "type": "array",
                            "items": _object(
                                {"kind": {"type": "string"}, "value": {"type": "string"}}
                            ),
                        },
                    },
                    (*OUTCOME_KEYS, "tor_caveat"),
                ),
            },
            # what source_ips, sensitive_events, derived_keys, ip_pivot_search.ips and ip_pivot are parts
            # of (torinvest.shown): a busy key's lists hold the first of them; the totals and
            # where all of them are (null: no file holds them all)
            "lists": _object(
                {
                    "source_ips": _object(
                        {
                            "listed": _COUNT,
                            "total": _COUNT,
                            "all_in": _STR_OR_NULL,
                            "tor": _COUNT,
                            "tor_unknown": _COUNT,
                        }
                    ),
                    "sensitive_events": _PART,
                    "derived_keys": _PART,
                    "ip_pivot_search.ips": _PART,
                    "ip_pivot": _PART,
                },
                LATER_LISTS,
            ),
            "derived_keys": {"type": "array", "items": {"type": "string"}},
            # whether derived_keys is the whole answer: "not followed" is not "none"
            "derived_keys_search": _object(
                {"status": {"enum": list(DERIVED_SEARCH_STATUSES)}, "why": _STR_OR_NULL}
            ),
            # console passwords the key set and their sign-ins (torinvest.passwords): "not
            # read" is not "no sign-in"
            "console_passwords": {"type": "array", "items": _PASSWORD},
            # console passwords set for a user the call does not name: whose sign-ins to
            # search is not known (torinvest.passwords.unnamed_said)
            "console_passwords_unnamed": {"type": "array", "items": _UNNAMED_PASSWORD},
            # who minted the key (docs/DESIGN.md): "not searched"/"not in window" are not "none"
            "key_origin": _object(
                {
                    "access_key_id": {"type": "string"},
                    "status": {"enum": list(ORIGIN_STATUSES)},
                    "why": _STR_OR_NULL,
                    "mints": {"type": "array", "items": _MINT},
                }
            ),
            "signals": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string"},
                        "detail": {"type": "string"},
                        "weight": {"type": "integer"},
                    }
                ),
            },
            # what the new-value signals compared with ("none": not evaluated, a floor)
            "baseline": _object(
                {
                    "status": {"enum": list(BASELINE_STATUSES)},
                    "from": _TIME_OR_NULL,
                    "to": _TIME_OR_NULL,
                    "history_start": _TIME_OR_NULL,
                    "why": _STR_OR_NULL,
                }
            ),
            "verdict": {
                **_object(
                    {
                        "status": {"enum": list(STATUSES)},
                        "analyst": _STR_OR_NULL,
                        "rationale": _STR_OR_NULL,
                        "recorded_at": _TIME_OR_NULL,
                    }
                ),
                # optional (summaries written before it have none): what recording this run's
                # verdict superseded, or why it was NOT recorded (the verdict above is current)
                "properties": {
                    "status": {"enum": list(STATUSES)},
                    "analyst": _STR_OR_NULL,
                    "rationale": _STR_OR_NULL,
                    "recorded_at": _TIME_OR_NULL,
                    "note": _STR_OR_NULL,
                    # the finding read again when the verdict was recorded (optional)
                    "finding_check": {
                        "type": "object",
                        "required": ["state"],
                        "properties": {
                            "state": {"enum": ["unchanged", "changed", "not re-read"]},
                            "at": _TIME_OR_NULL,
                            "where": {"type": "string"},
                            "changes": {"type": "array", "items": {"type": "string"}},
                            "why": {"type": "string"},
                            "accepted": {"type": "string"},
                        },
                    },
                },
            },
            "data_issues": {
                "type": "array",
                "items": _object({"source": {"type": "string"}, "problem": {"type": "string"}}),
            },
            "reading_notes": {"type": "array", "items": {"type": "string"}},
            # the reading in words (torinvest.investigation.reading_text)
            "reading": _object(
                {
                    "state": {"enum": ["complete", "incomplete", "could not look", "no events"]},
                    "text": {"type": "string"},
                }
            ),
            "activity_issues": {
                "type": "array",
                "items": _object({"source": {"type": "string"}, "problem": {"type": "string"}}),
            },
            # the access the run was given (torinvest.commands.Access.summary): the commands
            # built from this file name it; whether an external ID was used, never its value
            "access": _object(
                {
                    "case": _STR_OR_NULL,
                    "profile": _STR_OR_NULL,
                    "role_arn": _STR_OR_NULL,
                    "external_id": {"type": "boolean"},
                    "regions": {"type": ["array", "null"], "items": {"type": "string"}},
                    "logs": {"type": "array", "items": {"type": "string"}},
                    "engine": {"enum": list(ENGINES)},
                    "athena_database": _STR_OR_NULL,
                    "athena_table": _STR_OR_NULL,
                    "athena_workgroup": _STR_OR_NULL,
                    "athena_output": _STR_OR_NULL,
                }
            ),
            **RELATED_SUMMARY,  # related_findings, related_findings_search
            **PIVOT_SUMMARY,  # ip_pivot, ip_pivot_search
            **DATA_EVENTS_SUMMARY,  # data_events: searched, recorded by the trail, or not
            **LAST_USED_SUMMARY,  # key_last_used: IAM's last use against the activity read
            **IMPAIRED_SUMMARY,  # impaired_logging: what the key (or anyone) turned off (torinvest.impairment)
        }
    ),
}


#: Keys a summary written by an earlier torinvest may lack (``reading_notes``: written before
#: the notes were; none said then; ``baseline``: its ``no_baseline`` signal, if any, says it;
#: ``access``: the commands built from it name no access and say so; ``lists``: its lists are
#: whole, :func:`list_counts` counts them).
OPTIONAL_SUMMARY_KEYS = (
    "reading_notes",
    "activity_issues",
    "baseline",
    "reading",
    "access",
    "lists",
    "data_events",
    "key_last_used",
    "impaired_logging",
    "key_origin",
    "console_passwords",
    "console_passwords_unnamed",
)
SUMMARY_SCHEMA["required"] = [
    k for k in SUMMARY_SCHEMA["required"] if k not in OPTIONAL_SUMMARY_KEYS
]


def summary_problems(data: Any) -> list[str]:
    """Every way ``data`` breaks :data:`SUMMARY_SCHEMA` (empty when it conforms)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(SUMMARY_SCHEMA)
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        problems.append(f"{where}: {err.message}")
    return problems


def check_summary_data(data: Any) -> dict[str, Any]:
    """``data`` if it conforms to the summary contract, else ReportError naming the problems."""
    problems = summary_problems(data)
    if problems:
        raise ReportError(
            f"summary.json breaks its contract: {'; '.join(problems[:3])}"
            + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""),
            hint="this is a torinvest bug: report it with the notebook",
        )
    return data


def summary_data(
    inv: Investigation,
    verdict: Mapping[str, Any] | None = None,
    *,
    findings: FindingsResult | None = None,
) -> dict[str, Any]:
    """The summary (:func:`torinvest.investigation.summary`) with the report's data issues:
    the findings files' issues and the ledger's unreadable lines (a torn record may be a lost
    verdict) beside the investigation's, grouped as the report's cards show them
    (:func:`torinvest.investigation.report_issues`), and ``reading`` counted over that list —
    the count the report's answer and the terminal's line say."""
    data = _summary(inv, dict(verdict or {}))
    torn: list[DataIssue] = []
    if (verdict or {}).get("ledger_issues") is not None:  # read when the verdict was decided
        torn = [
            DataIssue(str(i.get("source")), str(i.get("problem")))
            for i in verdict["ledger_issues"]  # type: ignore[index]
        ]
    elif (verdict or {}).get("ledger"):
        torn = read_ledger(verdict["ledger"])[1]  # type: ignore[index]
    issues = report_issues(inv, findings, torn)
    data["data_issues"] = cut_prose_fields([i.to_dict() for i in issues])  # as summary's
    state, why = reading_of(issues, inv.totals()["total"])
    data["reading"] = {"state": state, "text": reading_text(state, len(issues), why)}
    return data


def write_summary(
    inv: Investigation,
    verdict: Mapping[str, Any] | None,
    path: str | Path | None,
    *,
    findings: FindingsResult | None = None,
) -> Path | None:
    """Write ``summary.json`` (checked against the contract) at ``path``; None writes nothing."""
    if not path:
        return None
    data = check_summary_data(summary_data(inv, verdict, findings=findings))
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputError(
            f"summary_path {p} is a folder, not a file",
            hint=f"name the file to write, e.g. {p / 'summary.json'} (empty: don't write it)",
        )
    try:
        _write_bytes(p, json_inert_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2)) + b"\n")
    except OSError as e:  # the notebook's parameter (torinvest investigate sets it in --out)
        raise InputError(
            f"summary_path: cannot write {p}: {e.strerror or e}",
            hint="set summary_path to a file in a folder you can write to, on a disk with space "
            "(empty: don't write it; torinvest investigate: choose another --out)",
        ) from None
    return p


def check_summary(path: Path) -> dict[str, Any]:
    """Read ``summary.json`` back and check it against the contract."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise ReportError(
            f"the notebook ran but wrote no {path}",
            hint="the investigation notebook's last cell writes it: is it the torinvest one?",
        ) from e
    except orjson.JSONDecodeError as e:
        raise ReportError(f"{path} is not JSON: {e}") from e
    return check_summary_data(data)


#: Columns ``events.csv`` adds after the events table's: what identifies a call in CloudTrail
#: and says who made it and why it failed (the table leaves them out for width).
#: ``tor_caveat`` (added since, last): what a "not Tor" rests on, as in ``per_ip.csv``.
EVENTS_CSV_EXTRA: tuple[str, ...] = (
    "event_id",
    "error_message",
    "user_name",
    "arn",
    "tor_caveat",
)
#: Columns ``per_ip.csv`` adds after the per-IP table's: how many distinct regions, user agents
#: and keys each IP had (its lists keep the most frequent: "50 of N"), and
#: ``tor_caveat``: what a "not Tor" rests on (``or_addresses_only``: lists of relays' OR
#: addresses only; empty otherwise).
PER_IP_CSV_EXTRA: tuple[str, ...] = (*PER_IP_LIST_COUNTS.values(), "tor_caveat")


def export_tables(inv: Investigation, folder: str | Path | None) -> dict[str, Path | None]:
    """``events.csv`` and ``per_ip.csv`` in ``folder`` (the columns the report's tables show;
    ``events.csv`` also :data:`EVENTS_CSV_EXTRA`, ``per_ip.csv`` :data:`PER_IP_CSV_EXTRA`),
    written as every export is (:mod:`torinvest.export`: empty cells for missing values, times
    ISO 8601 UTC with ``Z``, true/false, formula-safe text); nothing when ``folder`` is empty."""
    from torinvest import display
    from torinvest.export import write_frame

    if not folder:
        return {EVENTS_CSV: None, PER_IP_CSV: None}
    base = Path(folder)
    columns = (*display.EVENT_COLUMNS, *EVENTS_CSV_EXTRA)
    events = inv.events[[c for c in columns if c in inv.events.columns]]
    per_ip_columns = (*display.PER_IP_SHOWN, *PER_IP_CSV_EXTRA)
    per_ip = inv.per_ip[[c for c in per_ip_columns if c in inv.per_ip.columns]]
    try:
        return {
            EVENTS_CSV: write_frame(events, base / EVENTS_CSV),
            PER_IP_CSV: write_frame(per_ip, base / PER_IP_CSV),
        }
    except InputError as e:  # the notebook's parameter (torinvest investigate sets it: --out)
        raise InputError(
            f"export_dir: {e.message}",
            hint="set export_dir to a folder you can write to, on a disk with space (empty: "
            "don't write the tables; torinvest investigate: choose another --out)",
        ) from None
