"""GuardDuty Tor findings: fetch from AWS or read from files, normalize, locate the access key.

Step one of AWS's procedure for ``UnauthorizedAccess:IAMUser/TorIPCaller`` and
``Recon:IAMUser/TorIPCaller``: find the finding and note the access key ID in it.

* :func:`fetch_findings` pages through ListFindings/GetFindings in every region asked, in parallel;
  a region that fails is reported as a :class:`~torinvest.errors.DataIssue` and the others go on.
* :func:`read_findings` reads every export shape (GetFindings response, one finding, a list, JSON
  lines, gzip, EventBridge envelopes, Security Hub ASFF; camelCase or PascalCase keys). A bad file
  becomes a data issue naming the file; every valid finding beside it still loads.
* :func:`normalize_findings` is pure and returns the findings frame
  (:data:`torinvest.schema.FINDINGS_COLUMNS`).
* :func:`locate_key` returns the :class:`KeyLocation` of one Tor finding.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd

from torinvest.aws import AWS_CALL_ERRORS, Aws, translate_error, validate_region
from torinvest.errors import (
    AwsError,
    DataIssue,
    FindingFileError,
    FindingNotFoundError,
    InvalidFindingIdError,
    InvalidRegionError,
    MissingKeyDetailsError,
    NoFindingsError,
    NotATorFindingError,
    NotEnabledError,
)
from torinvest.schema import FINDINGS_COLUMNS, conform, iso_utc

log = logging.getLogger(__name__)

TOR_FINDING_TYPES: tuple[str, ...] = (
    "UnauthorizedAccess:IAMUser/TorIPCaller",
    "Recon:IAMUser/TorIPCaller",
)
#: GetFindings and ArchiveFindings take at most 50 IDs; ListFindings returns at most 50 a page.
BATCH_SIZE = 50
FINDING_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
FINDING_ID_RE = re.compile(r"^[A-Za-z0-9]{8,128}$")

KeyKind = Literal["long-term", "temporary", "other"]


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Finding:
    """One GuardDuty finding as raw camelCase JSON (the API's wire shape), and where it came from.

    ``original`` is the document exactly as read (PascalCase, ASFF, …) when it differs from ``data``.
    """

    data: dict[str, Any]
    origin: str
    shape: str
    original: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return str(self.data.get("id") or "")

    @property
    def type(self) -> str:
        return str(self.data.get("type") or "")

    @property
    def is_tor(self) -> bool:
        return self.type in TOR_FINDING_TYPES


@dataclass(slots=True)
class FindingsResult:
    """Findings plus everything that kept the result from being complete.

    ``issues`` lists files or regions that could not be read; ``skipped`` counts findings of other
    types that were left out, by type; ``sources`` names the files read or regions searched.
    """

    findings: list[Finding] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)
    note: str | None = None

    def tor_only(self) -> FindingsResult:
        """The Tor findings only; the others are counted in ``skipped`` by type."""
        skipped = Counter(self.skipped)
        skipped.update(f.type or "(no type)" for f in self.findings if not f.is_tor)
        return FindingsResult(
            findings=[f for f in self.findings if f.is_tor],
            issues=list(self.issues),
            skipped=skipped,
            sources=list(self.sources),
            note=self.note,
        )

    def frame(self) -> pd.DataFrame:
        return normalize_findings(self.findings)

    def get(self, finding_id: str) -> Finding:
        """The finding with this ID, or FindingNotFoundError listing what there is."""
        check_finding_id(finding_id)
        for f in self.findings:
            if f.id == finding_id:
                return f
        known = ", ".join(sorted({f.id for f in self.findings})[:5]) or "none"
        raise FindingNotFoundError(
            f"finding {finding_id} not found among {len(self.findings)} findings",
            hint=f"loaded IDs include: {known}; check the ID, region or --include-archived",
        )


@dataclass(frozen=True, slots=True)
class KeyLocation:
    """The access key a Tor finding names, and what the finding says about its use."""

    finding_id: str
    finding_type: str
    access_key_id: str
    kind: KeyKind
    principal_id: str | None
    user_name: str | None
    user_type: str | None
    account_id: str | None
    region: str | None
    tor_ip: str | None
    api: str | None
    service_name: str | None
    first_seen: pd.Timestamp | None
    last_seen: pd.Timestamp | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("first_seen", "last_seen"):
            d[k] = iso_utc(d[k])
        return d


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def check_finding_id(finding_id: str) -> str:
    """Return ``finding_id`` if it is shaped like a GuardDuty finding ID, else raise."""
    if not isinstance(finding_id, str) or not FINDING_ID_RE.match(finding_id):
        raise InvalidFindingIdError(
            f"invalid finding id {str(finding_id)[:80]!r}",
            hint="a GuardDuty finding ID is 8–128 letters and digits (32 hex characters in "
            "practice); copy it from the console or `torinvest findings`",
        )
    return finding_id


def key_kind(access_key_id: str | None) -> KeyKind:
    """AKIA → long-term key of a user (or root); ASIA → temporary STS credentials."""
    if access_key_id and access_key_id.startswith("AKIA"):
        return "long-term"
    if access_key_id and access_key_id.startswith("ASIA"):
        return "temporary"
    return "other"


def _validate(data: Mapping[str, Any], where: str) -> None:
    """Raise an InputError when a finding's id or region are unusable."""
    fid = data.get("id")
    if not fid:
        raise InvalidFindingIdError(f"{where}: finding has no id", hint="the finding is incomplete")
    try:
        check_finding_id(str(fid))
    except InvalidFindingIdError as e:
        raise InvalidFindingIdError(f"{where}: {e.message}", hint=e.hint) from None
    region = data.get("region")
    if region is not None:
        try:
            validate_region(str(region))
        except InvalidRegionError as e:
            raise InvalidRegionError(
                f"{where}: finding {fid}: {e.message}", hint="the export is damaged or edited"
            ) from None
    if not data.get("type"):
        raise FindingFileError(where, f"finding {fid} has no type")


# --------------------------------------------------------------------------------------------
# shapes: any export → raw camelCase finding
# --------------------------------------------------------------------------------------------
def camelize(obj: Any) -> Any:
    """boto3's PascalCase keys → GuardDuty's raw camelCase keys (first letter lower-cased)."""
    if isinstance(obj, dict):
        return {
            (k[:1].lower() + k[1:] if isinstance(k, str) else k): camelize(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [camelize(v) for v in obj]
    return obj


def _is_asff(d: Mapping[str, Any]) -> bool:
    return "ProductArn" in d and "AwsAccountId" in d


def _is_finding(d: Mapping[str, Any]) -> bool:
    keys = d.keys()
    has_core = ("id" in keys and "type" in keys) or ("Id" in keys and "Type" in keys)
    has_body = any(k in keys for k in ("service", "Service", "resource", "Resource"))
    return has_core and has_body and not _is_asff(d)


def _is_pascal(d: Mapping[str, Any]) -> bool:
    return "Id" in d and "Type" in d


def asff_to_finding(asff: Mapping[str, Any]) -> dict[str, Any]:
    """Security Hub ASFF (a GuardDuty product finding) → the fields of a raw GuardDuty finding.

    Security Hub keeps GuardDuty's own values in ``ProductFields`` (``aws/guardduty/service/...``),
    the key in ``Resources[].Details.AwsIamAccessKey`` and the caller in ``Action``; the type is the
    last ``Types`` entry with ``/`` written as ``-``.
    """
    pf: Mapping[str, str] = asff.get("ProductFields") or {}
    arn = str(asff.get("Id") or "")
    fid = pf.get("aws/guardduty/service/findingId") or (
        arn.rsplit("/finding/", 1)[1] if "/finding/" in arn else arn
    )
    gd_type = _asff_type(asff)
    key: dict[str, Any] = {}
    for res in asff.get("Resources") or []:
        details = (res.get("Details") or {}).get("AwsIamAccessKey")
        if res.get("Type") == "AwsIamAccessKey" or details:
            details = details or {}
            rid = str(res.get("Id") or "")
            key = {
                "accessKeyId": rid.rsplit(":", 1)[-1]
                if rid.startswith("AWS::IAM::AccessKey:")
                else rid,
                "principalId": details.get("PrincipalId"),
                "userName": details.get("PrincipalName") or details.get("UserName"),
                "userType": details.get("PrincipalType"),
            }
            break
    call = camelize((asff.get("Action") or {}).get("AwsApiCallAction") or {})
    remote = call.get("remoteIpDetails") or {}
    prefix = "aws/guardduty/service/action/awsApiCallAction/"
    if not remote:
        remote = {
            "ipAddressV4": pf.get(prefix + "remoteIpDetails/ipAddressV4"),
            "country": {"countryName": pf.get(prefix + "remoteIpDetails/country/countryName")},
            "organization": {
                "asn": pf.get(prefix + "remoteIpDetails/organization/asn"),
                "asnOrg": pf.get(prefix + "remoteIpDetails/organization/asnOrg"),
            },
        }
    severity = asff.get("Severity") or {}
    return {
        "id": fid,
        "arn": arn or None,
        "type": gd_type,
        "accountId": asff.get("AwsAccountId"),
        "region": asff.get("Region") or _arn_region(arn),
        "partition": _arn_partition(arn),
        "severity": severity.get("Product", severity.get("Normalized")),
        "title": asff.get("Title"),
        "description": asff.get("Description"),
        "createdAt": asff.get("CreatedAt"),
        "updatedAt": asff.get("UpdatedAt"),
        "resource": {"resourceType": "AccessKey" if key else None, "accessKeyDetails": key or None},
        "service": {
            "serviceName": pf.get("aws/guardduty/service/serviceName", "guardduty"),
            "detectorId": pf.get("aws/guardduty/service/detectorId"),
            "archived": pf.get("aws/guardduty/service/archived"),
            "count": pf.get("aws/guardduty/service/count"),
            "eventFirstSeen": pf.get("aws/guardduty/service/eventFirstSeen")
            or asff.get("FirstObservedAt"),
            "eventLastSeen": pf.get("aws/guardduty/service/eventLastSeen")
            or asff.get("LastObservedAt"),
            "action": {
                "actionType": pf.get("aws/guardduty/service/action/actionType", "AWS_API_CALL"),
                "awsApiCallAction": {
                    "api": call.get("api") or pf.get(prefix + "api"),
                    "serviceName": call.get("serviceName") or pf.get(prefix + "serviceName"),
                    "callerType": call.get("callerType"),
                    "remoteIpDetails": remote,
                },
            },
            "additionalInfo": {
                "value": pf.get("aws/guardduty/service/additionalInfo/value"),
                "type": pf.get("aws/guardduty/service/additionalInfo/type"),
            },
        },
    }


def _asff_type(asff: Mapping[str, Any]) -> str | None:
    for t in reversed(asff.get("Types") or []):
        last = str(t).rsplit("/", 1)[-1]
        if ":" in last:
            purpose, rest = last.split(":", 1)
            return f"{purpose}:{rest.replace('-', '/', 1)}"
    return None


def _arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 5 else None


def _arn_partition(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[1] or None if len(parts) > 5 else None


def extract_findings(doc: Any, where: str) -> tuple[list[Finding], list[DataIssue]]:
    """Every finding in one parsed JSON document, whatever its export shape.

    Returns the findings and the problems met (a part that is not a finding, a finding with an
    unusable id or region); each problem names ``where`` and, inside lists, the index.
    """
    found: list[Finding] = []
    issues: list[DataIssue] = []

    def add(data: dict[str, Any], loc: str, shape: str, original: dict[str, Any] | None) -> None:
        try:
            _validate(data, loc)
        except (InvalidFindingIdError, InvalidRegionError, FindingFileError) as e:
            issues.append(DataIssue(loc, f"skipped: {e}"))
            return
        found.append(Finding(data=data, origin=loc, shape=shape, original=original))

    def walk(node: Any, loc: str, top: bool) -> bool:
        if isinstance(node, list):
            if not node and top:
                issues.append(DataIssue(loc, "an empty list: no finding in it"))
            for i, item in enumerate(node):
                if not walk(item, f"{loc}[{i}]", False):
                    issues.append(DataIssue(f"{loc}[{i}]", _not_a_finding(item)))
            return True
        if not isinstance(node, dict):
            return False
        if isinstance(node.get("Findings"), list) or isinstance(node.get("findings"), list):
            items = node.get("Findings") if "Findings" in node else node.get("findings")
            for i, item in enumerate(items):
                if not walk(item, f"{loc}[{i}]", False):
                    issues.append(DataIssue(f"{loc}[{i}]", _not_a_finding(item)))
            return True
        if "detail-type" in node and isinstance(node.get("detail"), dict):
            dt = node["detail-type"]
            if dt == "GuardDuty Finding":
                add(
                    camelize(node["detail"]) if _is_pascal(node["detail"]) else node["detail"],
                    loc,
                    "eventbridge",
                    node,
                )
                return True
            if dt.startswith("Security Hub Findings"):
                return walk(node["detail"].get("findings", []), loc, False) or True
            return False
        if _is_asff(node):
            if "guardduty" not in str(node.get("ProductArn", "")):
                issues.append(
                    DataIssue(
                        loc,
                        f"skipped: Security Hub finding from {node.get('ProductArn')}, "
                        "not GuardDuty",
                    )
                )
                return True
            add(asff_to_finding(node), loc, "asff", node)
            return True
        if _is_finding(node):
            if _is_pascal(node):
                add(camelize(node), loc, "get-findings", node)
            else:
                add(node, loc, "raw", None)
            return True
        return False

    if not walk(doc, where, True):
        issues.append(DataIssue(where, _not_a_finding(doc)))
    return found, issues


def _not_a_finding(node: Any) -> str:
    if isinstance(node, dict):
        if "Records" in node:
            hint = "it looks like a CloudTrail log file: put it in CASE/cloudtrail/"
        elif "Events" in node:
            hint = "it looks like lookup-events output: put it in CASE/cloudtrail/"
        else:
            keys = ", ".join(list(node)[:6])
            hint = f"keys: {keys}" if keys else "an empty object"
        return f"not a GuardDuty finding ({hint})"
    return f"not a GuardDuty finding (a JSON {type(node).__name__})"


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def finding_files(path: str | Path, issues: list[DataIssue] | None = None) -> list[Path]:
    """The findings files at ``path``: the file itself, or every findings file below a folder
    (:func:`torinvest.paths.walk_files`: symbolic links followed). A path below it that cannot
    be looked at (a link to a missing target or that loops, a folder that cannot be listed, a
    named pipe…) is appended to ``issues``; without that list, it raises like a folder with no
    findings file would, naming it."""
    from torinvest.paths import walk_files

    p = Path(path)
    try:
        walk = walk_files(
            p, wanted=lambda rel: rel.rpartition("/")[2].lower().endswith(FINDING_FILE_SUFFIXES)
        )
    except OSError as e:
        raise NoFindingsError(
            f"{p}: {'no such file or folder' if not p.exists() else e.strerror or e}",
            hint="check the path of the case folder or export",
        ) from None
    files = sorted(Path(f.path) for f in walk.files)
    if not files and walk.issues:
        first = walk.issues[0]
        raise NoFindingsError(
            f"{p}: no findings file could be read ({first.source}: {first.problem})",
            hint="fix or remove that path, or export the findings again",
        )
    if not files:
        raise NoFindingsError(
            f"{p}: no findings files (*.json, *.jsonl, *.json.gz) in this folder",
            hint="export findings with `aws guardduty get-findings` or from the console into it",
        )
    if walk.issues and issues is None:
        first = walk.issues[0]
        raise NoFindingsError(f"{first.source}: {first.problem}", hint="fix or remove that path")
    if issues is not None:
        issues += walk.issues
    return files


def read_findings_file(path: Path) -> tuple[list[Finding], list[DataIssue]]:
    """All findings in one file, and the problems met. Never raises for bad content."""
    name = str(path)
    try:
        data = path.read_bytes()
        if path.name.lower().endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        return [], [DataIssue(name, f"cannot read the file: {e}")]
    if not data.strip():
        return [], [DataIssue(name, "the file is empty: re-export the findings")]
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as whole_error:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(lines) < 2 or not _is_json(lines[0]):
            # One document (pretty-printed or not) that does not parse: one issue for the file.
            return [], [_json_issue(name, whole_error)]
        return _read_json_lines(name, lines)
    return extract_findings(doc, name)


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _json_issue(name: str, e: orjson.JSONDecodeError) -> DataIssue:
    return DataIssue(
        name,
        f"invalid JSON (line {e.lineno}, column {e.colno}: {e.msg}); the file may be truncated",
    )


def _read_json_lines(name: str, lines: list[bytes]) -> tuple[list[Finding], list[DataIssue]]:
    findings: list[Finding] = []
    issues: list[DataIssue] = []
    for lineno, line in enumerate(lines, start=1):
        where = f"{name}:{lineno}"
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            issues.append(DataIssue(where, f"invalid JSON: {e.msg}"))
            continue
        f, i = extract_findings(doc, where)
        findings.extend(f)
        issues.extend(i)
    return findings, issues


def read_findings(paths: str | Path | Iterable[str | Path]) -> FindingsResult:
    """Read findings from files and folders (every export shape), deduplicated on finding ID.

    Raises :class:`NoFindingsError` when there is no findings file at all; bad files become
    data issues. When the same finding appears twice, the most recently updated copy wins.
    """
    roots = [paths] if isinstance(paths, str | Path) else list(paths)
    result = FindingsResult()
    for root in roots:
        for f in finding_files(root, result.issues):
            found, issues = read_findings_file(f)
            result.sources.append(str(f))
            result.findings.extend(found)
            result.issues.extend(issues)
    result.findings = _dedupe(result.findings)
    return result


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    best: dict[str, Finding] = {}
    for f in findings:
        prev = best.get(f.id)
        if prev is None or str(f.data.get("updatedAt") or "") > str(
            prev.data.get("updatedAt") or ""
        ):
            best[f.id] = f
    return list(best.values())


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
        criterion["accountId"] = {"Eq": list(account_ids)}
    return {"Criterion": criterion}


def _epoch_ms(t: datetime) -> int:
    """Epoch milliseconds of ``t``; a naive time is taken as UTC."""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return int(ts.timestamp() * 1000)


def fetch_region(aws: Aws, region: str, criteria: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every finding matching ``criteria`` in one region (raw boto3 dicts). Raises AwsError."""
    gd = aws.client("guardduty", region)
    op = "ListDetectors"
    try:
        detectors = [
            d for page in gd.get_paginator("list_detectors").paginate() for d in page["DetectorIds"]
        ]
        if not detectors:
            raise NotEnabledError(
                f"GuardDuty has no detector in {region}",
                hint="GuardDuty is not enabled in this region; nothing to search there",
                service="guardduty",
                region=region,
                operation=op,
                code="NoDetector",
            )
        out: list[dict[str, Any]] = []
        for detector in detectors:
            op = "ListFindings"
            ids = [
                fid
                for page in gd.get_paginator("list_findings").paginate(
                    DetectorId=detector,
                    FindingCriteria=dict(criteria),
                    SortCriteria={"AttributeName": "updatedAt", "OrderBy": "DESC"},
                    PaginationConfig={"PageSize": BATCH_SIZE},
                )
                for fid in page["FindingIds"]
            ]
            op = "GetFindings"
            for i in range(0, len(ids), BATCH_SIZE):
                resp = gd.get_findings(DetectorId=detector, FindingIds=ids[i : i + BATCH_SIZE])
                out.extend(resp["Findings"])
            log.info("guardduty %s detector %s: %d findings", region, detector, len(ids))
        return out
    except AWS_CALL_ERRORS as e:
        raise translate_error(e, service="guardduty", region=region, operation=op) from e


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

    Regions are searched in parallel; each one that fails (access denied, no detector, endpoint
    unreachable) becomes a data issue ``guardduty:<region>`` and the others are kept.
    """
    region_list = aws.regions("guardduty", regions)
    criteria = finding_criteria(
        types=types,
        include_archived=include_archived,
        start=start,
        end=end,
        account_ids=account_ids,
    )
    result = FindingsResult(note=region_list.note)
    for region, outcome in aws.map_regions(
        lambda r: fetch_region(aws, r, criteria), region_list, progress="GuardDuty regions"
    ):
        source = f"guardduty:{region}"
        result.sources.append(source)
        if isinstance(outcome, BaseException):
            err = (
                outcome
                if isinstance(outcome, AwsError)
                else translate_error(outcome, service="guardduty", region=region)
            )
            result.issues.append(DataIssue.from_error(source, err))
            continue
        for raw in outcome:
            data = camelize(raw)
            try:
                _validate(data, source)
            except (InvalidFindingIdError, InvalidRegionError, FindingFileError) as e:
                result.issues.append(DataIssue(source, f"skipped: {e}"))
                continue
            result.findings.append(Finding(data=data, origin=source, shape="api", original=raw))
    result.findings = _dedupe(result.findings)
    return result


# --------------------------------------------------------------------------------------------
# normalize
# --------------------------------------------------------------------------------------------
def _get(d: Mapping[str, Any] | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def _row(f: Finding) -> dict[str, Any]:
    d = f.data
    svc = d.get("service") or {}
    key = _get(d, "resource", "accessKeyDetails") or {}
    call = _get(svc, "action", "awsApiCallAction") or {}
    remote = call.get("remoteIpDetails") or {}
    akid = key.get("accessKeyId")
    return {
        "id": d.get("id"),
        "type": d.get("type"),
        "account_id": d.get("accountId"),
        "region": d.get("region"),
        "severity": d.get("severity"),
        "title": d.get("title"),
        "created_at": d.get("createdAt"),
        "updated_at": d.get("updatedAt"),
        "first_seen": svc.get("eventFirstSeen"),
        "last_seen": svc.get("eventLastSeen"),
        "count": svc.get("count"),
        "archived": svc.get("archived"),
        "access_key_id": akid,
        "key_kind": key_kind(akid) if akid else None,
        "principal_id": key.get("principalId"),
        "user_name": key.get("userName"),
        "user_type": key.get("userType"),
        "tor_ip": remote.get("ipAddressV4") or remote.get("ipAddressV6"),
        "country": _get(remote, "country", "countryName"),
        "asn": _get(remote, "organization", "asn"),
        "asn_org": _get(remote, "organization", "asnOrg"),
        "api": call.get("api"),
        "service_name": call.get("serviceName"),
        "detector_id": svc.get("detectorId"),
        "sample": _is_sample(svc.get("additionalInfo")),
        "shape": f.shape,
        "origin": f.origin,
        "raw": f.original if f.original is not None else f.data,
    }


def _is_sample(info: Any) -> bool:
    """additionalInfo.sample: an object in raw findings, JSON text in ``value`` on the wire."""
    if not isinstance(info, Mapping):
        return False
    if "sample" in info:
        return str(info["sample"]).lower() == "true"
    value = info.get("value")
    if isinstance(value, str) and '"sample"' in value:
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return False
        return isinstance(decoded, dict) and decoded.get("sample") is True
    return False


def normalize_findings(findings: Iterable[Finding]) -> pd.DataFrame:
    """The findings frame (:data:`~torinvest.schema.FINDINGS_COLUMNS`), newest update first.

    Columns: id, type, account_id, region, severity, title, created_at, updated_at, first_seen,
    last_seen (UTC), count, archived, access_key_id, key_kind, principal_id, user_name, user_type,
    tor_ip, country, asn, asn_org, api, service_name, detector_id, sample, shape, origin, raw.
    """
    frame = conform([_row(f) for f in findings], FINDINGS_COLUMNS)
    if len(frame):
        frame = frame.sort_values(["updated_at", "id"], ascending=[False, True], na_position="last")
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# locate the key
# --------------------------------------------------------------------------------------------
def locate_key(finding: Finding | Mapping[str, Any] | pd.Series) -> KeyLocation:
    """The access key named by a Tor finding: a Finding, a raw/PascalCase dict or a frame row.

    Raises NotATorFindingError for another finding type and MissingKeyDetailsError when the
    finding names no access key; both errors name the finding ID.
    """
    if isinstance(finding, pd.Series):
        row = finding.to_dict()
    else:
        if not isinstance(finding, Finding):
            data = dict(finding)
            finding = Finding(
                data=camelize(data) if _is_pascal(data) else data, origin="input", shape="raw"
            )
        row = _row(finding)
    fid = str(row.get("id") or "(no id)")
    ftype = row.get("type")
    if ftype not in TOR_FINDING_TYPES:
        raise NotATorFindingError(
            f"finding {fid} is of type {ftype!r}, not a Tor finding",
            hint=f"torinvest investigates {' and '.join(TOR_FINDING_TYPES)}",
        )
    akid = _na(row.get("access_key_id"))
    if not akid:
        raise MissingKeyDetailsError(
            f"finding {fid} has no resource.accessKeyDetails.accessKeyId",
            hint="the finding does not name the access key: read the principal from "
            "resource.accessKeyDetails in the console, or search CloudTrail by user name",
        )
    return KeyLocation(
        finding_id=fid,
        finding_type=str(ftype),
        access_key_id=str(akid),
        kind=key_kind(str(akid)),
        principal_id=_na(row.get("principal_id")),
        user_name=_na(row.get("user_name")),
        user_type=_na(row.get("user_type")),
        account_id=_na(row.get("account_id")),
        region=_na(row.get("region")),
        tor_ip=_na(row.get("tor_ip")),
        api=_na(row.get("api")),
        service_name=_na(row.get("service_name")),
        first_seen=_ts(row.get("first_seen")),
        last_seen=_ts(row.get("last_seen")),
    )


def _na(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "":
        return None
    return str(v)


def _ts(v: Any) -> pd.Timestamp | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    ts = pd.to_datetime(v, utc=True, format="ISO8601", errors="coerce")
    return None if pd.isna(ts) else ts


def iter_located(frame: pd.DataFrame) -> Iterator[tuple[pd.Series, KeyLocation | Exception]]:
    """Each row of a findings frame with its KeyLocation, or the error that prevented it."""
    for _, row in frame.iterrows():
        try:
            yield row, locate_key(row)
        except (NotATorFindingError, MissingKeyDetailsError) as e:
            yield row, e
