"""Shapes: any export (GetFindings, one finding, a list, EventBridge, Security Hub ASFF;
camelCase or PascalCase) → raw camelCase findings (:func:`extract_findings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from torinvest.errors import DataIssue, FindingFileError, InvalidFindingIdError, InvalidRegionError
from torinvest.findings.checks import FINDING_ID_RE, _json_type, _show, sanitize
from torinvest.findings.records import Finding, _row, finding_facts
from torinvest.paged import next_token_problem


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


def api_finding_facts(finding: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`~torinvest.findings.records.finding_facts` of one finding of a GuardDuty
    ``GetFindings`` answer (boto3's PascalCase, or raw camelCase)."""
    return finding_facts(api_finding_row(finding))


def api_finding_row(finding: Mapping[str, Any]) -> dict[str, Any]:
    """The findings-frame row of one finding of a GuardDuty ``GetFindings`` answer (boto3's
    PascalCase, or raw camelCase)."""
    data = camelize(dict(finding)) if _is_pascal(finding) else dict(finding)
    return _row(Finding(data=data, origin="guardduty", shape="raw"))


def _is_asff(d: Mapping[str, Any]) -> bool:
    return "ProductArn" in d and "AwsAccountId" in d


def _is_finding(d: Mapping[str, Any]) -> bool:
    keys = d.keys()
    has_core = ("id" in keys and "type" in keys) or ("Id" in keys and "Type" in keys)
    has_body = any(k in keys for k in ("service", "Service", "resource", "Resource"))
    return has_core and has_body and not _is_asff(d)


def _is_pascal(d: Mapping[str, Any]) -> bool:
    return "Id" in d and "Type" in d


def asff_to_finding(asff: Mapping[str, Any], problems: list[str] | None = None) -> dict[str, Any]:
    """Security Hub ASFF (a GuardDuty product finding) → the fields of a raw GuardDuty finding.

    Security Hub keeps GuardDuty's own values in ``ProductFields`` (``aws/guardduty/service/...``),
    the key in ``Resources[].Details.AwsIamAccessKey`` and the caller in ``Action``; the type is the
    last ``Types`` entry with ``/`` written as ``-``. Values are trimmed; an ASFF part of the wrong
    JSON type is ignored and named in ``problems`` (when given).
    """
    said = problems if problems is not None else []

    def obj(node: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = node.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            said.append(f"{path} is {_json_type(value)}, not an object: ignored")
            return {}
        return value

    pf = obj(asff, "ProductFields", "ProductFields")
    arn_value = asff.get("Id")
    if arn_value is not None and not isinstance(arn_value, str):
        said.append(f"Id is {_json_type(arn_value)} ({_show(arn_value)}), not text: ignored")
    arn = arn_value.strip() if isinstance(arn_value, str) else ""
    pf_id = pf.get("aws/guardduty/service/findingId")
    fid = (pf_id.strip() if isinstance(pf_id, str) else "") or (
        arn.rsplit("/finding/", 1)[1] if "/finding/" in arn else arn
    )
    gd_type = _asff_type(asff, said)
    key: dict[str, Any] = {}
    resources = asff.get("Resources")
    if resources is not None and not isinstance(resources, list):
        said.append(f"Resources is {_json_type(resources)}, not a list: ignored")
        resources = []
    for i, res in enumerate(resources or []):
        if not isinstance(res, Mapping):
            said.append(f"Resources[{i}] is {_json_type(res)}, not an object: ignored")
            continue
        details = obj(obj(res, "Details", f"Resources[{i}].Details"), "AwsIamAccessKey", "")
        if res.get("Type") == "AwsIamAccessKey" or details:
            rid = res.get("Id")
            if not isinstance(rid, str):
                if rid is not None:
                    said.append(f"Resources[{i}].Id is {_json_type(rid)} ({_show(rid)}), not text")
                key = {"accessKeyId": rid}  # sanitize() names the wrong type
            else:
                rid = rid.strip()
                key = {
                    "accessKeyId": rid.rsplit(":", 1)[-1]
                    if rid.startswith("AWS::IAM::AccessKey:")
                    else rid
                }
            key |= {
                "principalId": details.get("PrincipalId"),
                "userName": details.get("PrincipalName") or details.get("UserName"),
                "userType": details.get("PrincipalType"),
            }
            break
    call = camelize(
        obj(obj(asff, "Action", "Action"), "AwsApiCallAction", "Action.AwsApiCallAction")
    )
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
    severity = obj(asff, "Severity", "Severity")
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
            "archived": _asff_archived(asff, pf),
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
                "value": _asff_info(asff, pf.get("aws/guardduty/service/additionalInfo/value")),
                "type": pf.get("aws/guardduty/service/additionalInfo/type"),
            },
        },
    }


def _asff_info(asff: Mapping[str, Any], value: Any) -> Any:
    """GuardDuty's ``additionalInfo`` text, marked ``"sample": true`` when Security Hub's record
    says the finding is a sample (ASFF ``Sample``) and the text does not already."""
    if asff.get("Sample") is not True or (isinstance(value, str) and '"sample"' in value):
        return value
    try:
        info = orjson.loads(value) if isinstance(value, str) else {}
    except orjson.JSONDecodeError:
        info = {}
    return orjson.dumps({**(info if isinstance(info, dict) else {}), "sample": True}).decode()


def _asff_archived(asff: Mapping[str, Any], pf: Mapping[str, Any]) -> Any:
    """GuardDuty's ``archived`` value, or ``"true"`` when Security Hub's record is archived
    (``RecordState`` ARCHIVED): GuardDuty does not update the Security Hub copy when it archives
    a finding, so its own ``"false"`` there may be stale, and a record Security Hub archived is
    never listed as open."""
    state = asff.get("RecordState")
    if isinstance(state, str) and state.strip().upper() == "ARCHIVED":
        return "true"
    return pf.get("aws/guardduty/service/archived")


def _asff_type(asff: Mapping[str, Any], problems: list[str] | None = None) -> str | None:
    types = asff.get("Types")
    if types is not None and not isinstance(types, list):
        if problems is not None:
            problems.append(f"Types is {_json_type(types)}, not a list: ignored")
        return None
    for t in reversed(types or []):
        if not isinstance(t, str):
            continue
        last = t.strip().rsplit("/", 1)[-1]
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


def extract_findings(
    doc: Any,
    where: str,
    rejected: dict[str, DataIssue] | None = None,
    *,
    last_page: bool = True,
) -> tuple[list[Finding], list[DataIssue]]:
    """Every finding in one parsed JSON document, whatever its export shape.

    Returns the findings and the problems met (a part that is not a finding, a finding with an
    unusable id, region or key, a value of the wrong type dropped, an export cut after a page:
    :func:`torinvest.paged.next_token_problem`, an unread record — unless ``last_page`` is False:
    a page of several in one file, whose next page may follow it); each problem names ``where``
    and, inside lists, the index. ``rejected`` (when given) gets the ID → issue of each finding
    that was read but left out.
    """
    found: list[Finding] = []
    issues: list[DataIssue] = []
    rejected = rejected if rejected is not None else {}

    def add(data: dict[str, Any], loc: str, shape: str, original: dict[str, Any] | None) -> None:
        try:
            clean, dropped = sanitize(data, loc)
        except (InvalidFindingIdError, InvalidRegionError, FindingFileError) as e:
            issue = DataIssue(loc, f"skipped: {e}", unread=True)
            issues.append(issue)
            fid = data.get("id")
            if isinstance(fid, str) and FINDING_ID_RE.match(fid.strip().lower()):
                rejected.setdefault(fid.strip().lower(), issue)
            return
        issues.extend(dropped)
        if original is None and clean is not data:
            original = data  # keep the document as read
        found.append(Finding(data=clean, origin=loc, shape=shape, original=original))

    def walk(node: Any, loc: str, top: bool) -> bool:
        if isinstance(node, list):
            if not node and top:
                issues.append(DataIssue(loc, "an empty list: no finding in it"))
            for i, item in enumerate(node):
                if not walk(item, f"{loc}[{i}]", False):
                    issues.append(DataIssue(f"{loc}[{i}]", _not_a_finding(item), unread=True))
            return True
        if not isinstance(node, dict):
            return False
        if isinstance(node.get("Findings"), list) or isinstance(node.get("findings"), list):
            items = node.get("Findings") if "Findings" in node else node.get("findings")
            for i, item in enumerate(items):
                if not walk(item, f"{loc}[{i}]", False):
                    issues.append(DataIssue(f"{loc}[{i}]", _not_a_finding(item), unread=True))
            cut = findings_cut(node) if top and last_page else None
            if cut:  # the findings after this page were not exported: any may be the one sought
                issues.append(DataIssue(loc, cut, unread=True))
            return True
        if isinstance(node.get("detail-type"), str) and isinstance(node.get("detail"), dict):
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
                inner = node["detail"].get("findings", [])
                if not isinstance(inner, list):
                    issues.append(
                        DataIssue(loc, f"detail.findings is {_json_type(inner)}, not a list")
                    )
                    return True
                return walk(inner, loc, False) or True
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
            said: list[str] = []
            converted = asff_to_finding(node, said)
            fid = converted.get("id") or "(no id)"
            issues.extend(DataIssue(loc, f"finding {fid}: {p}") for p in said)
            add(converted, loc, "asff", node)
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


def findings_cut(doc: Any) -> str | None:
    """The problem of a findings export ``doc`` that says it is cut after a page (a
    ``NextToken`` beside its ``Findings``), or None."""
    if not isinstance(doc, dict):
        return None
    return next_token_problem(doc, "Findings" if "Findings" in doc else "findings")


def _not_a_finding(node: Any) -> str:
    if isinstance(node, dict):
        if "Records" in node:
            hint = "it looks like a CloudTrail log file: put it in CASE/cloudtrail/"
        elif "Events" in node:
            hint = "it looks like lookup-events output: put it in CASE/cloudtrail/"
        elif isinstance(ids := node.get("FindingIds", node.get("findingIds")), list):
            hint = (
                f"`aws guardduty list-findings` output: {len(ids):,} finding ID(s), no finding; "
                "get the findings with `aws guardduty get-findings --detector-id DETECTOR "
                "--finding-ids ID …` into the folder"
            )
        elif "class_uid" in node or "finding_info" in node:
            hint = (
                "a finding in OCSF (Security Hub's `get-findings-v2`, Security Lake), which "
                "torinvest does not read: export it with `aws guardduty get-findings` or as "
                "ASFF (`aws securityhub get-findings`)"
            )
        else:
            keys = ", ".join(list(node)[:6])
            hint = f"keys: {keys}" if keys else "an empty object"
        return f"not a GuardDuty finding ({hint})"
    return f"not a GuardDuty finding (a JSON {type(node).__name__})"
