"""AWS: ListFindings/GetFindings in every region asked, in parallel; a region that fails is
a data issue and the others go on (:func:`fetch_findings`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from botocore import xform_name

from torinvest.aws import (
    AWS_CALL_ERRORS,
    Aws,
    answer,
    answer_repairs,
    repair_issue,
    translate_error,
)
from torinvest.aws.ids import account_id
from torinvest.aws.pages import restarting_pages
from torinvest.errors import (
    AwsError,
    DataIssue,
    FindingFileError,
    InvalidFindingIdError,
    InvalidRegionError,
    NotEnabledError,
    RegionsNotSearchedError,
)
from torinvest.findings.checks import (
    BATCH_SIZE,
    FINDING_ID_RE,
    TOR_FINDING_TYPES,
    _json_type,
    log,
    sanitize,
)
from torinvest.findings.files import _dedupe
from torinvest.findings.records import Finding, FindingsResult
from torinvest.findings.shapes import camelize


# --------------------------------------------------------------------------------------------
# AWS
# --------------------------------------------------------------------------------------------
def finding_criteria(
    *,
    types: Sequence[str] = TOR_FINDING_TYPES,
    include_archived: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
    account_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """ListFindings ``FindingCriteria`` for Tor findings updated in [start, end]."""
    criterion: dict[str, Any] = {"type": {"Eq": list(types)}}
    if not include_archived:
        criterion["service.archived"] = {"Eq": ["false"]}
    window: dict[str, int] = {}
    if start is not None:
        window["GreaterThanOrEqual"] = _epoch_ms(start)
    if end is not None:
        window["LessThanOrEqual"] = _epoch_ms(end)
    if window:
        criterion["updatedAt"] = window
    if account_ids:
        criterion["accountId"] = {"Eq": [account_id(a, name="account_ids") for a in account_ids]}
    return {"Criterion": criterion}


def _epoch_ms(t: datetime) -> int:
    """Epoch milliseconds of ``t``; a naive time is taken as UTC."""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return int(ts.timestamp() * 1000)


#: What botocore's parser raises for a value of the wrong type in an answer (a number field
#: holding text, a structure holding a list…): not a botocore error class.
_PARSE_ERRORS = (ValueError, TypeError, AttributeError, KeyError)


def fetch_region(
    aws: Aws,
    region: str,
    criteria: Mapping[str, Any],
    problems: list[DataIssue] | None = None,
) -> list[dict[str, Any]]:
    """Every finding matching ``criteria`` in one region (raw boto3 dicts). Raises AwsError,
    also for an answer without the fields the API promises.

    A GetFindings answer that botocore cannot parse (a finding with a field of the wrong type)
    is asked again one finding at a time, so that only the bad finding is lost: it is added to
    ``problems`` as ``guardduty:<region>`` naming its ID."""
    gd = aws.client("guardduty", region)
    op = "ListDetectors"

    def field(page: Any, key: str) -> list[Any]:
        return answer(page, key, list, service="guardduty", region=region, operation=op)

    try:
        detectors = detector_ids(aws, region)
        if not detectors:
            raise NotEnabledError(
                f"GuardDuty has no detector in {region}: not looked at",
                hint="GuardDuty is not enabled in this region for the account whose "
                "credentials searched: nothing of its own to search there (a member account "
                "that enabled GuardDuty there itself is seen only with that account's "
                "credentials, or once the administrator enables it there too)",
                service="guardduty",
                region=region,
                operation=op,
                code="NoDetector",
            )
        out: list[dict[str, Any]] = []
        for detector in detectors:
            op = "ListFindings"
            listed = _pages(
                gd,
                op,
                region,
                DetectorId=detector,
                FindingCriteria=dict(criteria),
                SortCriteria={"AttributeName": "updatedAt", "OrderBy": "DESC"},
                PaginationConfig={"PageSize": BATCH_SIZE},
            )
            seen: set[str] = set()  # each once: a listing whose token expired starts over
            pages = 0  # the pages whose findings were all read (GetFindings)
            try:
                for page in listed:
                    ids = list(dict.fromkeys(f for f in field(page, "FindingIds") if f not in seen))
                    op = "GetFindings"
                    out.extend(_get_findings(gd, detector, ids, region, problems))
                    seen.update(ids)
                    pages += 1
                    op = "ListFindings"
            except AWS_CALL_ERRORS as e:
                if (not out and not pages) or problems is None:  # nothing read: the region failed
                    raise
                # the findings already read are kept; the region says it was read in part
                err = translate_error(e, service="guardduty", region=region, operation=op)
                problems.append(read_in_part(region, pages, len(out), op, err))
                return out
            log.info("guardduty %s detector %s: %d findings", region, detector, len(seen))
        return out
    except AWS_CALL_ERRORS as e:
        raise translate_error(e, service="guardduty", region=region, operation=op) from e


def detector_ids(aws: Aws, region: str) -> list[str]:
    """The GuardDuty detector IDs of ``region`` for ``aws``'s credentials (ListDetectors, every
    page), asked once per (account, region) for the life of ``aws`` (:meth:`Aws.remembered`):
    the Tor findings fetch, each related-findings link and the type lookup of a finding share
    one answer. Raises what the call raises (an error is not kept: asked again next time)."""

    def ask() -> list[str]:
        gd = aws.client("guardduty", region)
        return list(  # each once: a listing started over lists them again
            dict.fromkeys(
                d
                for page in _pages(gd, "ListDetectors", region)
                for d in answer(
                    page, "DetectorIds", list, service="guardduty", region=region,
                    operation="ListDetectors",
                )
            )
        )  # fmt: skip

    return list(aws.remembered(("guardduty", "ListDetectors", region), ask))


def _pages(gd: Any, operation: str, region: str, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    """The pages of a GuardDuty list (its paginator), stopped as incomplete (EndpointError) at
    a next token already followed or past the operation's page cap, started over once when its
    next token expired (:mod:`torinvest.aws.pages`): the caller keeps each ID once."""
    paginator = gd.get_paginator(xform_name(operation))
    return restarting_pages(
        lambda: paginator.paginate(**kwargs), "NextToken", "guardduty", operation, region=region
    )


def _get_findings(
    gd: Any, detector: str, ids: Sequence[str], region: str, problems: list[DataIssue] | None
) -> list[dict[str, Any]]:
    """GetFindings of ``ids`` in batches; a batch botocore cannot parse (a finding with a field
    of the wrong type) is asked again one finding at a time (:func:`_get_one_by_one`)."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(ids), BATCH_SIZE):
        batch = list(ids[i : i + BATCH_SIZE])
        try:
            resp = gd.get_findings(DetectorId=detector, FindingIds=batch)
        except _PARSE_ERRORS as e:
            log.info("GetFindings in %s could not be parsed (%s): one by one", region, e)
            out.extend(_get_one_by_one(gd, detector, batch, region, problems))
            continue
        out.extend(_read(resp, region, problems))
    return out


#: The start of the problem of a region read in part (:func:`read_in_part`).
READ_IN_PART = "read in part"


def read_in_part(region: str, pages: int, found: int, operation: str, err: AwsError) -> DataIssue:
    """The issue of a region whose listing stopped after ``pages`` pages of ListFindings were
    read (``found`` findings kept): which page stopped, why, and that the findings past it are
    not listed (``unread``: any of them may be the one sought)."""
    stopped = (
        f"ListFindings page {pages + 1}"
        if operation == "ListFindings"
        else f"GetFindings of the findings of ListFindings page {pages + 1}"
    )
    return DataIssue(
        f"guardduty:{region}",
        f"{READ_IN_PART}: {found} finding(s) from {pages} page(s) of ListFindings were read, "
        f"then {stopped} stopped: {err} — the findings from that page on are not listed",
        unread=True,
    )


def _get_one_by_one(
    gd: Any, detector: str, ids: Sequence[str], region: str, problems: list[DataIssue] | None
) -> list[dict[str, Any]]:
    """GetFindings for each ID alone; a finding whose answer cannot be parsed is a problem."""
    out: list[dict[str, Any]] = []
    for fid in ids:
        try:
            resp = gd.get_findings(DetectorId=detector, FindingIds=[fid])
        except _PARSE_ERRORS as e:
            if problems is not None:
                problems.append(
                    DataIssue(
                        f"guardduty:{region}",
                        f"skipped: finding {fid}: GuardDuty's answer for it has a field of the "
                        f"wrong type and could not be read ({type(e).__name__}: {e})",
                        unread=True,  # it matched the search: it may be one of those sought
                    )
                )
            continue
        out.extend(_read(resp, region, problems))
    return out


def _read(resp: Any, region: str, problems: list[DataIssue] | None) -> list[Any]:
    """A GetFindings answer's findings; when its text had to be made valid (a lone surrogate
    escape in text an attacker wrote: :func:`torinvest.aws.answers.repair_answer`), an issue
    in ``problems`` naming the findings that hold U+FFFD in its place."""
    found = answer(
        resp, "Findings", list, service="guardduty", region=region, operation="GetFindings"
    )
    repairs = answer_repairs(resp)
    if repairs and problems is not None:
        names = [
            f"finding {f.get('Id') if isinstance(f, dict) else '(not an object)'}" for f in found
        ]
        issue = repair_issue(
            f"guardduty:{region}", "GuardDuty's GetFindings answer", repairs, found, names
        )
        if issue is not None:
            problems.append(issue)
    return list(found)


def fetch_findings(
    aws: Aws,
    regions: Sequence[str] | None = None,
    *,
    include_archived: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
    account_ids: Sequence[str] | None = None,
    types: Sequence[str] = TOR_FINDING_TYPES,
) -> FindingsResult:
    """Tor findings from GuardDuty in every region asked (default: every enabled region).

    Regions are searched in parallel; each one that fails (access denied, endpoint unreachable,
    an answer that is not AWS's) becomes a data issue ``guardduty:<region>`` and is listed in
    ``failed``; the others are kept. A region where GuardDuty has no detector for these
    credentials is not looked at (``not_looked``, a data issue too): not a region that answered,
    never "0 findings" there. A region whose listing stopped part-way (credentials that expired
    on page 2 of ListFindings…) keeps the findings read and is listed in ``partial``, its issue
    saying which page stopped and why (:func:`read_in_part`). Credentials that no region accepts (none found, a
    role that cannot be assumed) raise :class:`~torinvest.errors.RegionsNotSearchedError`.
    """
    try:
        region_list = aws.regions("guardduty", regions)
    except AwsError as e:
        raise RegionsNotSearchedError(
            f"no region could be searched: {e.message}",
            hint=e.hint,
            issues=(DataIssue.from_error("guardduty", e),),
            service=e.service,
            operation=e.operation,
            code=e.code,
        ) from e
    criteria = finding_criteria(
        types=types,
        include_archived=include_archived,
        start=start,
        end=end,
        account_ids=account_ids,
    )
    result = FindingsResult(note=region_list.note, open_only=not include_archived)
    problems: dict[str, list[DataIssue]] = {r: [] for r in region_list}
    for region, outcome in aws.map_regions(
        lambda r: fetch_region(aws, r, criteria, problems[r]),
        region_list,
        progress="GuardDuty regions",
    ):
        source = f"guardduty:{region}"
        result.sources.append(source)
        result.issues.extend(problems[region])
        if any(i.source == source and i.problem.startswith(READ_IN_PART) for i in problems[region]):
            result.partial.append(source)  # the findings read are kept: not "could not search"
        for issue in problems[region]:
            found_id = re.search(r"finding ([A-Za-z0-9]{8,128}):", issue.problem)
            if found_id:
                result.rejected.setdefault(found_id.group(1), issue)
        if isinstance(outcome, BaseException):
            err = (
                outcome
                if isinstance(outcome, AwsError)
                else translate_error(outcome, service="guardduty", region=region)
            )
            result.issues.append(DataIssue.from_error(source, err))
            if isinstance(err, NotEnabledError) and err.code == "NoDetector":
                result.not_looked.append(source)  # nothing to search: not "0 findings"
            else:
                result.failed.append(source)
            continue
        for raw in outcome:
            if not isinstance(raw, dict):
                result.issues.append(
                    DataIssue(
                        source,
                        f"skipped: a finding that is {_json_type(raw)}, not an object",
                        unread=True,
                    )
                )
                continue
            data = camelize(raw)
            try:
                clean, dropped = sanitize(data, source)
            except (InvalidFindingIdError, InvalidRegionError, FindingFileError) as e:
                issue = DataIssue(source, f"skipped: {e}", unread=True)
                result.issues.append(issue)
                fid = data.get("id")
                if isinstance(fid, str) and FINDING_ID_RE.match(fid.strip().lower()):
                    result.rejected.setdefault(fid.strip().lower(), issue)
                continue
            result.issues.extend(dropped)
            result.findings.append(Finding(data=clean, origin=source, shape="api", original=raw))
    result.findings = _dedupe(result.findings, result.issues)
    for f in result.findings:
        result.rejected.pop(f.id, None)
    return result


def finding_types(
    aws: Aws,
    regions: Sequence[str],
    finding_id: str,
    unasked: list[DataIssue] | None = None,
) -> dict[str, str]:
    """The type of ``finding_id`` in each region of ``regions`` that holds it (GetFindings by
    ID, whatever its type): region → type. Asked when a search for Tor findings did not find
    an ID, so that a finding of another type is said as such, not as "not found". A region
    that cannot be asked is left out, and added to ``unasked`` (``guardduty:<region>`` and
    why): the regions asked answered the search before, so what is missing is this check
    only (an endpoint that stopped in between: ``— it answered earlier in this run``)."""

    def one(region: str) -> str | None:
        gd = aws.client("guardduty", region)
        for detector in detector_ids(aws, region):
            found = gd.get_findings(DetectorId=detector, FindingIds=[finding_id])
            for raw in found.get("Findings") or []:
                if isinstance(raw, Mapping) and raw.get("Id") == finding_id:
                    kind = raw.get("Type")
                    return kind[:200] if isinstance(kind, str) and kind else "(no type)"
        return None

    types: dict[str, str] = {}
    for region, outcome in aws.map_regions(one, regions):
        if isinstance(outcome, str):
            types[region] = outcome
        elif isinstance(outcome, BaseException) and unasked is not None:
            err = (
                outcome
                if isinstance(outcome, AwsError)
                else translate_error(
                    outcome, service="guardduty", region=region, operation="GetFindings"
                )
            )
            unasked.append(DataIssue.from_error(f"guardduty:{region}", err))
    return types
