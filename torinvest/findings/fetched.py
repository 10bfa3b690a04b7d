"""The findings a command fetched from GuardDuty, kept in a file for the notebook it then runs
(:func:`write_fetched`, :func:`read_fetched`): ``investigate FINDING_ID`` and ``notebook
FINDING_ID`` fetch once, check the finding there, and the notebook reads what was checked.

The file holds every finding as GuardDuty answered it (GetFindings' PascalCase shape) with the
region it came from, and what kept the search from being complete (the regions asked, those that
failed, the issues): read back, it is the :class:`FindingsResult` of the fetch, each finding made
usable by the same steps as a fetch (:func:`~torinvest.findings.shapes.camelize`,
:func:`~torinvest.findings.checks.sanitize`). Its sources stay ``guardduty:<region>``: a report
says the findings came from GuardDuty, never from a file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from torinvest.errors import DataIssue, InputError, TorinvestError
from torinvest.findings.checks import sanitize
from torinvest.findings.records import Finding, FindingsResult
from torinvest.findings.shapes import camelize
from torinvest.jsonread import loads as read_json
from torinvest.paths import write_atomic
from torinvest.safety import json_inert_bytes
from torinvest.schema import iso_utc

#: The entry of a finding's row (:func:`torinvest.investigation.locate`) that says when the
#: findings read from a kept file were fetched (:func:`fetched_words`), shown on its card.
FETCHED_AS_OF = "fetched_as_of"
#: The ``format`` of a fetched-findings file.
FETCHED_FORMAT = "torinvest/guardduty-findings/1"


def _issue(issue: DataIssue) -> dict[str, Any]:
    """An issue as kept in the file: a record that could not be read says so (``unread``), so
    that the list read back is as partial as the fetch was."""
    return {**issue.to_dict(), "unread": True} if issue.unread else issue.to_dict()


def _content(result: FindingsResult) -> dict[str, Any]:
    """What a fetch found, as a fetched-findings document (without when it was fetched)."""
    if not all(s.startswith("guardduty:") for s in result.sources):
        raise ValueError("only a GuardDuty fetch is kept this way")
    return {
        "format": FETCHED_FORMAT,
        "sources": result.sources,
        "failed": result.failed,
        "not_looked": result.not_looked,
        **({"partial": result.partial} if result.partial else {}),
        "note": result.note,
        "issues": [_issue(i) for i in result.issues],
        "rejected": {fid: _issue(i) for fid, i in result.rejected.items()},
        "skipped": dict(result.skipped),
        "other_types": result.other_types,
        **({"samples": result.samples} if result.samples else {}),
        "findings": [
            {"origin": f.origin, "finding": f.original if f.original is not None else f.data}
            for f in result.findings
        ],
    }


def fetched_name(result: FindingsResult) -> str:
    """``findings-<hash>.json``: a name of its own for what this fetch found (a working copy
    made from another fetch keeps its file)."""
    digest = hashlib.sha256(orjson.dumps(_content(result), option=orjson.OPT_SORT_KEYS))
    return f"findings-{digest.hexdigest()[:12]}.json"


def fetched_with(
    profile: str | None, role_arn: str | None, regions: Sequence[str] | None
) -> dict[str, Any]:
    """The AWS access a fetch was made with, as kept in its file and compared when it is read:
    the profile, the role assumed and the regions asked (None: every enabled one)."""
    return {
        "profile": profile or "",
        "role_arn": role_arn or "",
        "regions": sorted(regions) if regions else "all",
    }


def fetched_access(options: Any) -> dict[str, Any]:
    """:func:`fetched_with` of a run's options (``RunOptions``: profile, role_arn, regions)."""
    from torinvest.aws import parse_regions

    return fetched_with(options.profile, options.role_arn, parse_regions(options.regions or "all"))


def write_fetched(
    result: FindingsResult, path: Path, access: Mapping[str, Any] | None = None
) -> Path:
    """``result`` (a GuardDuty fetch) into ``path``, atomically, with when it was written and
    the access it was made with (``access``: :func:`fetched_with`). Raises OSError (the caller
    names the file) and ValueError for a result that did not come from GuardDuty."""
    doc = {**_content(result), "fetched_at": iso_utc(pd.Timestamp.now(tz="UTC"))}
    if access is not None:
        doc["fetched_with"] = dict(access)
    write_atomic(path, json_inert_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2)) + b"\n")
    return path


def read_fetched(path: str | Path, access: Mapping[str, Any] | None = None) -> FindingsResult:
    """The :class:`FindingsResult` :func:`write_fetched` kept in ``path``; an InputError naming
    the file when it cannot be read or is not one, or when it was fetched with another access
    than ``access`` (:func:`fetched_with`: another profile, role or regions — the findings of
    another account or region would be investigated with this one's logs)."""
    path = Path(path).expanduser()
    try:
        doc, repairs = read_json(path.read_bytes())
        result = _result(doc)
        _check_access(path, doc, access)
        result.kept_in = str(path)
        result.fetched_at = _fetched_at(doc.get("fetched_at"))
        if repairs:  # not as orjson wrote it: edited, or written by another tool
            values = [f.original for f in result.findings]
            names = [f"finding {f.id or '(no id)'}" for f in result.findings]
            result.issues.append(DataIssue(str(path), repairs.issue_text(values, names)))
        return result
    except OSError as e:
        raise InputError(
            f"fetched findings {path}: cannot read it: {e.strerror or e}",
            hint="leave the fetched_findings parameter empty to fetch the findings again",
        ) from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(
            f"fetched findings {path}: not a file of findings fetched by torinvest ({e})",
            hint="leave the fetched_findings parameter empty to fetch the findings again",
        ) from None


def _check_access(path: Path, doc: Mapping[str, Any], access: Mapping[str, Any] | None) -> None:
    """InputError when the file says it was fetched with another access than ``access`` (a
    file written before the access was kept says nothing: not compared)."""
    kept = doc.get("fetched_with")
    if access is None or not isinstance(kept, Mapping):
        return
    differ = [k for k in ("profile", "role_arn", "regions") if kept.get(k) != access.get(k)]
    if not differ:
        return
    shown = "; ".join(f"{k}: {_said(kept.get(k))}, now {_said(access.get(k))}" for k in differ)
    raise InputError(
        f"fetched findings {path}: fetched with other AWS access than this notebook's ({shown}): "
        "its findings would be investigated with the other access's logs",
        hint="leave the fetched_findings parameter empty to fetch the findings with this access",
    )


def _said(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return repr(value) if value else "(none)"


def _issue_from(value: Any) -> DataIssue:
    return DataIssue(str(value["source"]), str(value["problem"]), value.get("unread") is True)


def _result(doc: Any) -> FindingsResult:
    if not isinstance(doc, dict) or doc.get("format") != FETCHED_FORMAT:
        raise ValueError(f"format is not {FETCHED_FORMAT}")
    sources = [str(s) for s in doc["sources"]]
    if not all(s.startswith("guardduty:") for s in sources):
        raise ValueError("a source that is not a GuardDuty region")
    result = FindingsResult(
        issues=[_issue_from(i) for i in doc["issues"]],
        skipped=Counter({str(k): int(v) for k, v in doc["skipped"].items()}),
        sources=sources,
        note=doc["note"] if isinstance(doc["note"], str) else None,
        failed=[str(s) for s in doc["failed"]],
        not_looked=[str(s) for s in doc.get("not_looked") or []],  # absent: kept before it was
        partial=[str(s) for s in doc.get("partial") or []],
        rejected={str(k): _issue_from(v) for k, v in doc["rejected"].items()},
        other_types={str(k): str(v) for k, v in doc["other_types"].items()},
        samples={str(k): str(v) for k, v in (doc.get("samples") or {}).items()},
    )
    for item in doc["findings"]:
        origin, raw = str(item["origin"]), item["finding"]
        if origin not in sources or not isinstance(raw, dict):
            raise ValueError(f"a finding from {origin[:60]!r}, not one of its regions")
        try:  # as the fetch made it usable; what it dropped is among the issues already
            clean, _dropped = sanitize(camelize(raw), origin)
        except TorinvestError as e:
            raise ValueError(str(e)) from None
        result.findings.append(Finding(data=clean, origin=origin, shape="api", original=raw))
    return result


def _fetched_at(value: Any) -> pd.Timestamp | None:
    """The ``fetched_at`` a file keeps, in UTC; None when it has none or not a time."""
    if not isinstance(value, str):
        return None
    try:
        at = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if at is pd.NaT or at.tzinfo is None:
        return None
    return at.tz_convert("UTC")


def age_words(seconds: float) -> str:
    """``seconds`` as a person says an age: ``less than a minute``, ``12 minutes``,
    ``5 hours``, ``3 days 4 hours``."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days, rest = divmod(hours, 24)
    return f"{days} days" + (f" {rest} hour{'s' if rest != 1 else ''}" if rest else "")


def fetched_words(
    result: FindingsResult, finding_id: str, now: pd.Timestamp | None = None
) -> str | None:
    """What a finding read from a kept file (:attr:`FindingsResult.kept_in`) is as of: when it
    was fetched from GuardDuty and how long ago (or that the file does not say), that its status,
    archived state and count are as they were then, and how to see them as they are now; None
    for findings fetched in this run or read from export files."""
    if result.kept_in is None:
        return None
    name = Path(result.kept_in).name
    if result.fetched_at is None:
        when = f"fetched from GuardDuty at a time the kept file {name} does not say"
    else:
        now = now if now is not None else pd.Timestamp.now(tz="UTC")
        age = max(0.0, (now - result.fetched_at).total_seconds())
        when = (
            f"fetched from GuardDuty at {result.fetched_at:%Y-%m-%dT%H:%M:%SZ} ({age_words(age)} ago), "
            f"kept in {name}"
        )
    return (
        f"{when}: its status, archived state and count are as they were then, not necessarily "
        "now; to see them as GuardDuty has them now, fetch them again: in a working copy, "
        f"leave the fetched_findings parameter empty and re-run it (it fetches finding "
        f"{finding_id} again); for a report, run its `torinvest investigate` command again"
    )
