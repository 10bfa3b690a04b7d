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

"Not found" is said only where the search answered: :class:`FindingsResult` knows which sources
(regions, files) answered and which failed (``failed``). :meth:`FindingsResult.require_looked`
raises :class:`~torinvest.errors.CouldNotLookError` when none answered, and
:meth:`FindingsResult.get` says "not in the N region(s) that answered; M could not be searched …,
so it may be there" when some failed.

A field of the wrong JSON type (an ``accessKeyId`` that is a number or a list, a ``count`` that
is an object…) never crashes a load: an essential one (id, type, region, the access key) makes
that one finding a data issue naming the file/index and the field; any other is dropped with a
data issue. Identifiers are trimmed of surrounding whitespace (ASFF exports carry some).
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

from torinvest.aws import AWS_CALL_ERRORS, Aws, answer, translate_error, validate_region
from torinvest.errors import (
    AwsError,
    DataIssue,
    FindingFileError,
    FindingNotFoundError,
    FindingsNotReadError,
    InvalidFindingIdError,
    InvalidRegionError,
    MissingKeyDetailsError,
    NoFindingsError,
    NotATorFindingError,
    NotEnabledError,
    RegionsNotSearchedError,
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

    ``issues`` lists files or regions that could not be read, and findings left out; ``skipped``
    counts findings of other types that were left out, by type; ``sources`` names the files read
    or regions asked; ``failed`` the sources among them that could not be searched at all (a
    region that refused or did not answer, a file from which no finding could be read): a finding
    there is unknown. ``rejected`` maps the ID of a finding that was read but left out (a field
    of the wrong type…) to its issue.
    """

    findings: list[Finding] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)
    note: str | None = None
    failed: list[str] = field(default_factory=list)
    rejected: dict[str, DataIssue] = field(default_factory=dict)

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
            failed=list(self.failed),
            rejected=dict(self.rejected),
        )

    def frame(self) -> pd.DataFrame:
        return normalize_findings(self.findings)

    # -- what was searched --------------------------------------------------------------------
    @property
    def answered(self) -> list[str]:
        """The sources that were searched (a region that answered, a file read)."""
        failed = set(self.failed)
        return [s for s in self.sources if s not in failed]

    @property
    def complete(self) -> bool:
        """Whether every source asked was searched (then "not found" means not there)."""
        return not self.failed

    @property
    def unsearched(self) -> list[DataIssue]:
        """One issue per source that could not be searched, saying why."""
        out = []
        for source in self.failed:
            inside = (source + "[", source + ":")
            issue = next(
                (i for i in self.issues if i.source == source or i.source.startswith(inside)),
                None,
            )
            out.append(
                DataIssue(
                    source,
                    issue.problem if issue.source == source else f"{issue.source}: {issue.problem}",
                )
                if issue is not None
                else DataIssue(source, "could not be searched")
            )
        return out

    @property
    def _noun(self) -> str:
        return "region" if all(s.startswith("guardduty:") for s in self.sources) else "file"

    def gap(self, *, detail: bool = True) -> str:
        """The sources that could not be searched, in words (empty when complete): how many,
        and with ``detail`` which ones and the first one's problem."""
        missing = self.unsearched
        if not missing:
            return ""
        said = (
            f"{len(missing)} {self._noun}(s) could not be "
            f"{'searched' if self._noun == 'region' else 'read'}"
        )
        if not detail:
            return said
        names = [_short_source(i.source) for i in missing]
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"{said}: {listed} ({missing[0].problem})"

    def require_looked(self) -> FindingsResult:
        """``self``, or :class:`~torinvest.errors.CouldNotLookError` when no source answered.

        Every region failed: :class:`~torinvest.errors.RegionsNotSearchedError` (an AwsError);
        every findings file failed: :class:`~torinvest.errors.FindingsNotReadError`. Never an
        empty result that would read as "no finding there".
        """
        if not self.sources or self.answered:
            return self
        missing = self.unsearched
        first = missing[0]
        more = f"; {len(missing) - 1} more failed, see the issues" if len(missing) > 1 else ""
        if self._noun == "region":
            same = len({i.problem.replace(_short_source(i.source), "…") for i in missing}) == 1
            said = (
                f"every one failed the same way: {first.problem}"
                if same and len(missing) > 1
                else f"{_short_source(first.source)}: {first.problem}{more}"
            )
            raise RegionsNotSearchedError(
                f"no region could be searched ({len(missing)} of {len(self.sources)} failed): "
                f"{said}",
                hint="nothing was searched, so this says nothing about the findings: fix the "
                "credentials, permissions or network named above and re-run",
                issues=tuple(missing),
                service="guardduty",
            )
        where = "" if first.problem.startswith(first.source) else f"{first.source}: "
        raise FindingsNotReadError(
            f"no finding could be read ({len(missing)} of {len(self.sources)} file(s) failed): "
            f"{where}{first.problem}{more}",
            hint="re-export the findings (`aws guardduty get-findings … > f.json`) into the folder",
            issues=tuple(missing),
        )

    def get(self, finding_id: str) -> Finding:
        """The finding with this ID.

        Raises :class:`~torinvest.errors.CouldNotLookError` when no source could be searched,
        :class:`~torinvest.errors.FindingFileError` when the finding was read but left out (the
        issue says why), and :class:`~torinvest.errors.FindingNotFoundError` otherwise — saying
        "so it may be there" when some sources could not be searched.
        """
        check_finding_id(finding_id)
        for f in self.findings:
            if f.id == finding_id:
                return f
        if finding_id in self.rejected:
            issue = self.rejected[finding_id]
            raise FindingFileError(
                issue.source,
                f"finding {finding_id} was read but cannot be used: "
                f"{issue.problem.removeprefix('skipped: ')}",
                hint="fix or re-export this finding",
            )
        self.require_looked()
        known = ", ".join(sorted({f.id for f in self.findings})[:5]) or "none"
        if self.failed:
            searched = self.answered
            raise FindingNotFoundError(
                f"finding {finding_id} is not in the {len(searched)} {self._noun}(s) that "
                f"{'answered' if self._noun == 'region' else 'were read'} "
                f"({', '.join(_short_source(s) for s in searched[:5])}"
                f"{', …' if len(searched) > 5 else ''}); {self.gap()}, so it may be there",
                hint="fix access to what could not be searched (or name the finding's region "
                f"with --regions) and re-run; loaded IDs include: {known}",
                unsearched=tuple(self.unsearched),
            )
        raise FindingNotFoundError(
            f"finding {finding_id} not found among {len(self.findings)} findings "
            f"(every one of {len(self.sources)} {self._noun}(s) searched)",
            hint=f"loaded IDs include: {known}; check the ID, region or --include-archived",
        )


def _short_source(source: str) -> str:
    return source.removeprefix("guardduty:")


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
    """Raise an InputError when a finding's id, type or region are unusable."""
    fid = data.get("id")
    if fid is None or fid == "":
        raise InvalidFindingIdError(f"{where}: finding has no id", hint="the finding is incomplete")
    if not isinstance(fid, str):
        raise InvalidFindingIdError(
            f"{where}: finding id is {_json_type(fid)} ({_show(fid)}), not text",
            hint="a GuardDuty finding ID is text: the export is damaged or edited",
        )
    try:
        check_finding_id(fid)
    except InvalidFindingIdError as e:
        raise InvalidFindingIdError(f"{where}: {e.message}", hint=e.hint) from None
    region = data.get("region")
    if region is not None:
        if not isinstance(region, str):
            raise InvalidRegionError(
                f"{where}: finding {fid}: region is {_json_type(region)} ({_show(region)}), "
                "not text",
                hint="the export is damaged or edited",
            )
        try:
            validate_region(region)
        except InvalidRegionError as e:
            raise InvalidRegionError(
                f"{where}: finding {fid}: {e.message}", hint="the export is damaged or edited"
            ) from None
    ftype = data.get("type")
    if not ftype:
        raise FindingFileError(where, f"finding {fid} has no type")
    if not isinstance(ftype, str):
        raise FindingFileError(
            where, f"finding {fid}: type is {_json_type(ftype)} ({_show(ftype)}), not text"
        )


# --------------------------------------------------------------------------------------------
# field types: a wrong-typed field never crashes a load
# --------------------------------------------------------------------------------------------
_TEXT, _TRIMMED, _NUMBER, _WHOLE, _BOOL, _TIME, _ASN = (
    "text",
    "trimmed",
    "number",
    "whole",
    "bool",
    "time",
    "asn",
)
#: Expected JSON types of the fields torinvest reads (camelCase paths). A nested dict is an
#: object whose own fields are checked. Values of the wrong type are dropped with a data issue.
FIELD_TYPES: dict[str, Any] = {
    "accountId": _TRIMMED,
    "severity": _NUMBER,
    "title": _TEXT,
    "createdAt": _TIME,
    "updatedAt": _TIME,
    "resource": {
        "accessKeyDetails": {
            "principalId": _TRIMMED,
            "userName": _TRIMMED,
            "userType": _TRIMMED,
        },
    },
    "service": {
        "eventFirstSeen": _TIME,
        "eventLastSeen": _TIME,
        "count": _WHOLE,
        "archived": _BOOL,
        "detectorId": _TRIMMED,
        "action": {
            "awsApiCallAction": {
                "api": _TRIMMED,
                "serviceName": _TRIMMED,
                "remoteIpDetails": {
                    "ipAddressV4": _TRIMMED,
                    "ipAddressV6": _TRIMMED,
                    "country": {"countryName": _TEXT},
                    "organization": {"asn": _ASN, "asnOrg": _TEXT},
                },
            },
        },
    },
}
_WHAT = {
    _TEXT: "text",
    _TRIMMED: "text",
    _NUMBER: "a number",
    _WHOLE: "a whole number",
    _BOOL: "true or false",
    _TIME: "an ISO 8601 time",
    _ASN: "an AS number",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_value(kind: str, value: Any) -> tuple[bool, Any]:
    """(ok, the value to keep) for one field of kind ``kind``."""
    if kind is _TRIMMED or kind is _TEXT:
        if type(value) is not str:
            return False, None
        return True, (value.strip() or None) if kind is _TRIMMED else value
    if kind == _NUMBER:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int | float):
            return value == value, value  # NaN is not a severity
        if isinstance(value, str):
            try:
                return True, float(value.strip())
            except ValueError:
                return False, None
        return False, None
    if kind == _WHOLE:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        if isinstance(value, str) and value.strip().isdigit():
            return True, int(value.strip())
        return False, None
    if kind == _BOOL:
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return True, value.strip().lower() == "true"
        return False, None
    if kind == _TIME:
        if not isinstance(value, str) or not value.strip():
            return False, None
        text = value.strip()
        try:
            datetime.fromisoformat(text)  # the API's and the exports' shape: fast
        except ValueError:
            ts = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
            return (not pd.isna(ts)), text
        return True, text
    if kind == _ASN:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, str(value)
        if isinstance(value, str):
            return True, value.strip() or None
        return False, None
    raise AssertionError(kind)  # pragma: no cover


def _clean(
    node: Mapping[str, Any], spec: Mapping[str, Any], path: str, problems: list[str]
) -> Mapping[str, Any]:
    """``node`` with its fields in ``spec`` of their type (else dropped, with a problem).

    Copy on write: ``node`` itself when nothing had to change."""
    out: dict[str, Any] | None = None
    for key, kind in spec.items():
        value = node.get(key)
        if value is None:
            continue
        if kind is _TEXT and type(value) is str:  # the common case, first
            continue
        if isinstance(kind, dict):
            if not isinstance(value, Mapping):
                problems.append(f"{path}{key} is {_json_type(value)}, not an object: dropped")
                keep, new = False, None
            else:
                new = _clean(value, kind, f"{path}{key}.", problems)
                keep = True
        else:
            ok, new = _check_value(kind, value)
            if not ok:
                problems.append(
                    f"{path}{key} is {_json_type(value)} ({_show(value)}), "
                    f"not {_WHAT[kind]}: dropped"
                )
            keep = ok and new is not None
        if keep and new is value:
            continue
        if out is None:
            out = dict(node)
        if keep:
            out[key] = new
        else:
            del out[key]
    return node if out is None else out


def sanitize(data: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[DataIssue]]:
    """A finding with usable field types, and the data issues of the values dropped.

    Raises an InputError (:class:`InvalidFindingIdError`, :class:`InvalidRegionError`,
    :class:`FindingFileError`) naming ``where`` and the field when an essential field — id, type,
    region, ``resource``, ``resource.accessKeyDetails`` or its ``accessKeyId`` — has the wrong
    type; other wrong-typed values are dropped, each with a data issue. Identifiers (id, type,
    region, account, key, principal, user, IP…) are trimmed of surrounding whitespace.
    The finding returned is ``data`` itself when nothing had to change.
    """
    out: Mapping[str, Any] = data
    trimmed = {
        k: v.strip()
        for k in ("id", "type", "region")
        if isinstance(v := data.get(k), str) and v != v.strip()
    }
    if trimmed:
        out = {**data, **trimmed}
    _validate(out, where)
    fid = out["id"]
    resource = out.get("resource")
    if resource is not None and not isinstance(resource, Mapping):
        raise FindingFileError(
            where, f"finding {fid}: resource is {_json_type(resource)}, not an object"
        )
    details = resource.get("accessKeyDetails") if resource else None
    if details is not None and not isinstance(details, Mapping):
        raise FindingFileError(
            where,
            f"finding {fid}: resource.accessKeyDetails is {_json_type(details)}, not an object",
        )
    if details:
        akid = details.get("accessKeyId")
        if akid is not None and not isinstance(akid, str):
            raise FindingFileError(
                where,
                f"finding {fid}: resource.accessKeyDetails.accessKeyId is {_json_type(akid)} "
                f"({_show(akid)}), not text",
                hint="an access key ID is text such as AKIA…: the export is damaged or edited",
            )
        if isinstance(akid, str) and akid != akid.strip():
            details = {**details, "accessKeyId": akid.strip() or None}
            out = {**out, "resource": {**resource, "accessKeyDetails": details}}
    problems: list[str] = []
    clean = _clean(out, FIELD_TYPES, "", problems)
    issues = [DataIssue(where, f"finding {fid}: {p}") for p in problems]
    return (clean if isinstance(clean, dict) else dict(clean)), issues


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
    doc: Any, where: str, rejected: dict[str, DataIssue] | None = None
) -> tuple[list[Finding], list[DataIssue]]:
    """Every finding in one parsed JSON document, whatever its export shape.

    Returns the findings and the problems met (a part that is not a finding, a finding with an
    unusable id, region or key, a value of the wrong type dropped); each problem names ``where``
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
            issue = DataIssue(loc, f"skipped: {e}")
            issues.append(issue)
            fid = data.get("id")
            if isinstance(fid, str) and FINDING_ID_RE.match(fid.strip()):
                rejected.setdefault(fid.strip(), issue)
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


def read_findings_file(
    path: Path, rejected: dict[str, DataIssue] | None = None
) -> tuple[list[Finding], list[DataIssue]]:
    """All findings in one file, and the problems met. Never raises for bad content.

    ``rejected`` (when given) gets the ID → issue of each finding read but left out."""
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
        return _read_json_lines(name, lines, rejected)
    return extract_findings(doc, name, rejected)


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


def _read_json_lines(
    name: str, lines: list[bytes], rejected: dict[str, DataIssue] | None = None
) -> tuple[list[Finding], list[DataIssue]]:
    findings: list[Finding] = []
    issues: list[DataIssue] = []
    for lineno, line in enumerate(lines, start=1):
        where = f"{name}:{lineno}"
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            issues.append(DataIssue(where, f"invalid JSON: {e.msg}"))
            continue
        f, i = extract_findings(doc, where, rejected)
        findings.extend(f)
        issues.extend(i)
    return findings, issues


def read_findings(paths: str | Path | Iterable[str | Path]) -> FindingsResult:
    """Read findings from files and folders (every export shape), deduplicated on finding ID.

    Raises :class:`NoFindingsError` when there is no findings file at all; bad files become
    data issues, and a file from which no finding could be read is in ``failed`` (when every file
    failed, :meth:`FindingsResult.require_looked` raises). When the same finding appears twice,
    the most recently updated copy wins.
    """
    roots = [paths] if isinstance(paths, str | Path) else list(paths)
    result = FindingsResult()
    for root in roots:
        for f in finding_files(root, result.issues):
            found, issues = read_findings_file(f, result.rejected)
            result.sources.append(str(f))
            result.findings.extend(found)
            result.issues.extend(issues)
            if not found and issues:
                result.failed.append(str(f))
    result.findings = _dedupe(result.findings)
    for f in result.findings:
        result.rejected.pop(f.id, None)  # a good copy elsewhere wins
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
        detectors = [
            d
            for page in gd.get_paginator("list_detectors").paginate()
            for d in field(page, "DetectorIds")
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
                for fid in field(page, "FindingIds")
            ]
            op = "GetFindings"
            for i in range(0, len(ids), BATCH_SIZE):
                batch = ids[i : i + BATCH_SIZE]
                try:
                    resp = gd.get_findings(DetectorId=detector, FindingIds=batch)
                except _PARSE_ERRORS as e:
                    log.info("GetFindings in %s could not be parsed (%s): one by one", region, e)
                    out.extend(_get_one_by_one(gd, detector, batch, region, problems))
                    continue
                out.extend(field(resp, "Findings"))
            log.info("guardduty %s detector %s: %d findings", region, detector, len(ids))
        return out
    except AWS_CALL_ERRORS as e:
        raise translate_error(e, service="guardduty", region=region, operation=op) from e


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
                    )
                )
            continue
        out.extend(
            answer(
                resp, "Findings", list, service="guardduty", region=region, operation="GetFindings"
            )
        )
    return out


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
    ``failed``; the others are kept. A region where GuardDuty has no detector answered (nothing
    can be there) and is a data issue too. Credentials that no region accepts (none found, a
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
    result = FindingsResult(note=region_list.note)
    problems: dict[str, list[DataIssue]] = {r: [] for r in region_list}
    for region, outcome in aws.map_regions(
        lambda r: fetch_region(aws, r, criteria, problems[r]),
        region_list,
        progress="GuardDuty regions",
    ):
        source = f"guardduty:{region}"
        result.sources.append(source)
        result.issues.extend(problems[region])
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
            if not (isinstance(err, NotEnabledError) and err.code == "NoDetector"):
                result.failed.append(source)
            continue
        for raw in outcome:
            if not isinstance(raw, dict):
                result.issues.append(
                    DataIssue(
                        source, f"skipped: a finding that is {_json_type(raw)}, not an object"
                    )
                )
                continue
            data = camelize(raw)
            try:
                clean, dropped = sanitize(data, source)
            except (InvalidFindingIdError, InvalidRegionError, FindingFileError) as e:
                issue = DataIssue(source, f"skipped: {e}")
                result.issues.append(issue)
                fid = data.get("id")
                if isinstance(fid, str) and FINDING_ID_RE.match(fid.strip()):
                    result.rejected.setdefault(fid.strip(), issue)
                continue
            result.issues.extend(dropped)
            result.findings.append(Finding(data=clean, origin=source, shape="api", original=raw))
    result.findings = _dedupe(result.findings)
    for f in result.findings:
        result.rejected.pop(f.id, None)
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
            data = camelize(data) if _is_pascal(data) else data
            clean, _ = sanitize(data, "input")  # a wrong-typed key or id raises, naming it
            finding = Finding(data=clean, origin="input", shape="raw")
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
