"""Related findings: every GuardDuty finding, of any type and archived or not, that names the
investigated key (or a key it minted), its principal, or one of its Tor IPs, in the window.

* :func:`related_criteria` — the ListFindings ``FindingCriteria`` that ask GuardDuty for them:
  one per link (criteria within one ``Criterion`` are ANDed, so each link is its own request),
  on the attributes GuardDuty documents as filterable (``resource.accessKeyDetails.accessKeyId``,
  ``…principalId``, ``service.action.awsApiCallAction.remoteIpDetails.ipAddressV4``,
  ``service.action.networkConnectionAction.remoteIpDetails.ipAddressV4``, and their
  ``ipAddressV6`` for IPv6 addresses), each narrowed to
  findings updated since the window's start; attack sequences
  (``AttackSequence:IAM/CompromisedCredentials``) carry the credential in
  ``service.detection.sequence`` (actors' ``user.credentialUid``/``user.uid``, endpoints'
  ``ip``), which no documented criterion reaches: they are asked for by type and matched here.
* :func:`links_of` (pure) — why one finding is related: ``access_key``, ``principal``, ``ip``
  (a list, strongest first; empty: not related). Fields of the wrong type are not read.
* :func:`related_from_findings` (pure) — the related records of findings already read.
* :func:`fetch_related` (GuardDuty, every region asked) and :func:`read_related` (a case
  folder's ``findings/``) — a :class:`RelatedFindings` that says whether it looked.

"None related", "could not look" and "not looked" never read the same: :attr:`RelatedFindings.
status` is ``looked`` (every region or file answered), ``partial`` (some could not be
searched: ``failed`` names them), ``could not look`` (none could) or ``not looked`` (no source
of findings to look in; ``why`` says so).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from torinvest.addresses import canonical_ips
from torinvest.aws import Aws, translate_error
from torinvest.errors import (
    AwsError,
    DataIssue,
    FindingFileError,
    InvalidFindingIdError,
    InvalidRegionError,
    NoFindingsError,
    NotEnabledError,
    TorinvestError,
)
from torinvest.findings.checks import BATCH_SIZE, _json_type, sanitize
from torinvest.findings.fetch import READ_IN_PART, _epoch_ms, fetch_region
from torinvest.findings.files import _dedupe, read_findings
from torinvest.findings.records import Finding, normalize_findings
from torinvest.findings.shapes import camelize
from torinvest.schema import iso_utc, utc_or_none, utc_timestamp

log = logging.getLogger(__name__)

#: GuardDuty Extended Threat Detection's attack sequence on IAM credentials.
ATTACK_SEQUENCE_IAM = "AttackSequence:IAM/CompromisedCredentials"
#: Why a finding is related, strongest first.
LINKS: tuple[str, ...] = ("access_key", "principal", "ip")

#: The filterable attribute each link is asked on (GuardDuty's documented criterion names).
KEY_CRITERION = "resource.accessKeyDetails.accessKeyId"
PRINCIPAL_CRITERION = "resource.accessKeyDetails.principalId"
IP_CRITERIA: tuple[str, ...] = (
    "service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
    "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
)
#: The same for IPv6 addresses (an IPv6 Tor exit is in ``ipAddressV6``, never in ``…V4``).
IP_V6_CRITERIA: tuple[str, ...] = (
    "service.action.awsApiCallAction.remoteIpDetails.ipAddressV6",
    "service.action.networkConnectionAction.remoteIpDetails.ipAddressV6",
)

#: :attr:`RelatedFindings.status` values.
LOOKED, PARTIAL, COULD_NOT_LOOK, NOT_LOOKED = "looked", "partial", "could not look", "not looked"
#: The source of the related-findings search's data issues (each region's or file's after it:
#: ``related findings: guardduty:eu-west-1``), apart from the findings search's own.
RELATED_SOURCE = "related findings"
STATUSES: tuple[str, ...] = (LOOKED, PARTIAL, COULD_NOT_LOOK, NOT_LOOKED)

#: The records' keys (summary.json's ``related_findings[]``).
RELATED_COLUMNS: tuple[str, ...] = (
    "id",
    "type",
    "severity",
    "region",
    "account_id",
    "first_seen",
    "last_seen",
    "archived",
    "link",
)


@dataclass(frozen=True, slots=True)
class Subject:
    """What makes a finding related: the keys (the investigated key and those it minted), the
    principal, the Tor IPs, the window (UTC, inclusive), and the finding under investigation
    (left out: it is the subject, not a relative)."""

    keys: frozenset[str]
    principal: str | None = None
    ips: frozenset[str] = frozenset()
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    exclude: frozenset[str] = frozenset()


def make_subject(
    keys: str | Iterable[str],
    *,
    principal: str | None = None,
    ips: Iterable[str] = (),
    start: Any = None,
    end: Any = None,
    exclude: Iterable[str] = (),
) -> Subject:
    """A :class:`Subject` from plain values (empty or missing ones left out)."""
    key_set = frozenset({keys} if isinstance(keys, str) else (k for k in keys if k))
    return Subject(
        keys=key_set,
        principal=principal or None,
        ips=canonical_ips(ips),
        start=utc_timestamp(start),
        end=utc_timestamp(end),
        exclude=frozenset(exclude),
    )


# --------------------------------------------------------------------------------------------
# criteria and matching (pure)
# --------------------------------------------------------------------------------------------
def _chunks(values: Iterable[str], size: int = BATCH_SIZE) -> list[list[str]]:
    items = sorted(set(values))
    return [items[i : i + size] for i in range(0, len(items), size)]


def related_criteria(subject: Subject) -> list[dict[str, Any]]:
    """The ListFindings ``FindingCriteria`` that together find every related finding (archived
    ones too: no ``service.archived`` criterion), each narrowed to findings updated at or
    after the window's start (a finding last updated before it saw nothing in it)."""
    since: dict[str, Any] = {}
    if subject.start is not None:
        since = {"updatedAt": {"GreaterThanOrEqual": _epoch_ms(subject.start)}}
    asks: list[tuple[str, list[str]]] = [(KEY_CRITERION, c) for c in _chunks(subject.keys)]
    if subject.principal:
        asks.append((PRINCIPAL_CRITERION, [subject.principal]))
    v4 = [ip for ip in subject.ips if ":" not in ip]
    # GuardDuty's Eq compares text: an IPv6 address asked as compressed and as exploded
    v6 = [s for ip in subject.ips if ":" in ip for s in (ip, ipaddress.ip_address(ip).exploded)]
    for names, ips in ((IP_CRITERIA, v4), (IP_V6_CRITERIA, v6)):
        for name in names:
            asks += [(name, c) for c in _chunks(ips)]
    asks.append(("type", [ATTACK_SEQUENCE_IAM]))
    return [{"Criterion": {name: {"Eq": values}, **since}} for name, values in asks]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list (anything else: none): wrong-typed parts are not read."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _get(node: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(p)
    return node


def _action_ips(node: Any, depth: int = 0) -> set[str]:
    """Every ``ipAddressV4``/``ipAddressV6`` text under ``service.action`` (any action kind)."""
    found: set[str] = set()
    if depth > 8:
        return found
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k in ("ipAddressV4", "ipAddressV6") and _text(v):
                found.add(str(_text(v)))
            else:
                found |= _action_ips(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            found |= _action_ips(v, depth + 1)
    return found


def named(data: Mapping[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """The keys, principals and IPs a finding (camelCase wire shape) names: its resource's
    access key, the IPs of its action, and an attack sequence's actors (``user.credentialUid``
    the key, ``user.uid`` the principal) and endpoints (``ip``)."""
    keys: set[str] = set()
    principals: set[str] = set()
    details = _get(data, "resource", "accessKeyDetails")
    for name, into in (("accessKeyId", keys), ("principalId", principals)):
        value = _text(_get(details, name))
        if value:
            into.add(value)
    ips = _action_ips(_get(data, "service", "action"))
    sequence = _get(data, "service", "detection", "sequence")
    for actor in _dicts(_get(sequence, "actors")):
        user = actor.get("user")
        for name, into in (("credentialUid", keys), ("uid", principals)):
            value = _text(_get(user, name))
            if value:
                into.add(value)
    for endpoint in _dicts(_get(sequence, "endpoints")):
        value = _text(endpoint.get("ip"))
        if value:
            ips.add(value)
    return keys, principals, ips


def links_of(data: Mapping[str, Any], subject: Subject) -> list[str]:
    """Why a finding is related to ``subject`` (:data:`LINKS` order, strongest first)."""
    keys, principals, ips = named(data)
    links = []
    if keys & subject.keys:
        links.append("access_key")
    if subject.principal and subject.principal in principals:
        links.append("principal")
    if canonical_ips(ips) & subject.ips:  # one address however written
        links.append("ip")
    return links


def _overlaps(row: Mapping[str, Any], subject: Subject) -> bool:
    """Whether a finding's activity (first → last seen; else its creation → update) meets the
    window. A finding without any usable time is kept: it cannot be shown to be outside."""
    first = utc_timestamp(row.get("first_seen")) or utc_timestamp(row.get("created_at"))
    last = utc_timestamp(row.get("last_seen")) or utc_timestamp(row.get("updated_at")) or first
    first = first or last
    if first is None or last is None:
        return True
    if subject.end is not None and first > subject.end:
        return False
    return not (subject.start is not None and last < subject.start)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _newest_first(text: str | None) -> tuple[bool, float]:
    """Sort key: newest time first, then no time."""
    ts = utc_or_none(text)
    return (ts is None, 0.0 if ts is None else -ts.timestamp())


def related_from_findings(findings: Iterable[Finding], subject: Subject) -> list[dict[str, Any]]:
    """The records of the findings related to ``subject`` (:data:`RELATED_COLUMNS`; times ISO
    8601 UTC, ``link`` a list strongest first), strongest link first, then newest first."""
    picked: list[tuple[Finding, list[str]]] = []
    for f in findings:
        if f.id in subject.exclude:
            continue
        links = links_of(f.data, subject)
        if links:
            picked.append((f, links))
    if not picked:
        return []
    frame = normalize_findings([f for f, _ in picked])
    by_id = {f.id: links for f, links in picked}
    out = []
    for row in frame.to_dict("records"):
        if not _overlaps(row, subject):
            continue
        archived = _plain(row.get("archived"))
        severity = _plain(row.get("severity"))
        out.append(
            {
                "id": str(row["id"]),
                "type": _plain(row.get("type")),
                "severity": float(severity) if isinstance(severity, int | float) else None,
                "region": _plain(row.get("region")),
                "account_id": _plain(row.get("account_id")),
                "first_seen": iso_utc(row.get("first_seen")),
                "last_seen": iso_utc(row.get("last_seen")),
                "archived": archived if isinstance(archived, bool) else None,
                "link": by_id[str(row["id"])],
            }
        )
    # newest first by time, not text ("…:00Z" sorts after "…:00.5Z"); no time: last
    out.sort(key=lambda r: _newest_first(r["last_seen"]))
    out.sort(key=lambda r: LINKS.index(r["link"][0]))
    return out


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class RelatedFindings:
    """Related findings and whether they were looked for (module docstring: ``status``).

    ``findings``: the records (:data:`RELATED_COLUMNS`); ``sources``: the regions
    (``guardduty:<region>``) or files searched; ``failed``: one issue per region or file that
    could not be searched; ``issues``: findings left out (unreadable) and other caveats;
    ``why``: for ``not looked``, why."""

    status: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    failed: list[DataIssue] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    why: str = ""
    #: the sources among ``failed`` where there was nothing to search (a region where GuardDuty
    #: has no detector for these credentials): not looked at, said so — never "no related
    #: finding" there
    no_detector: list[str] = field(default_factory=list)
    #: the key's calls that kept GuardDuty from raising findings after a time (a detector
    #: disabled or deleted, a trusted IP list, the account taken from its administrator:
    #: :mod:`torinvest.impairment`): the search is ``partial`` — a finding never raised cannot
    #: be found. Said in the investigation's data issues, not again in :attr:`data_issues`.
    blinded: list[DataIssue] = field(default_factory=list)

    def blind(self, issues: Sequence[DataIssue]) -> None:
        """Mark the search blinded by ``issues`` (a search that looked becomes ``partial``)."""
        self.blinded += [i for i in issues if i not in self.blinded]
        if self.blinded and self.status == LOOKED:
            self.status = PARTIAL

    @classmethod
    def not_looked(cls, why: str) -> RelatedFindings:
        return cls(status=NOT_LOOKED, why=why)

    def frame(self) -> pd.DataFrame:
        """The records as a frame (``link`` joined with ``, ``)."""
        rows = [{**r, "link": ", ".join(r["link"])} for r in self.findings]
        return pd.DataFrame(rows, columns=list(RELATED_COLUMNS))

    @property
    def data_issues(self) -> list[DataIssue]:
        """What kept the search from being complete (for the report's data issues)."""
        if self.status == NOT_LOOKED:
            return [DataIssue(RELATED_SOURCE, f"not looked for: {self.why}")]
        # named as this search's: a region that answered the findings search and could not be
        # asked again here is not a region the findings search could not search
        return [
            DataIssue(f"{RELATED_SOURCE}: {i.source}", i.problem, unread=i.unread)
            for i in [*self.failed, *self.issues]
        ]

    def describe(self) -> str:
        """One line: how many related findings, and whether the search was whole."""
        n = len(self.findings)
        if self.status == NOT_LOOKED:
            return f"Related findings not looked for: {self.why}"
        if self.status == COULD_NOT_LOOK:
            where = "; ".join(f"{i.source}: {i.problem}" for i in self.failed[:3])
            return f"Could not look for related findings: {where}"
        found = f"{n} related finding(s)" if n else "No related finding"
        unlooked = [s for s in self.no_detector if s in self.sources]
        whole = [i.source for i in self.failed if _whole(i, self.sources)]
        parts = [i for i in self.failed if not _whole(i, self.sources)]
        searched = f"in {len(self.sources) - len(whole)} of {len(self.sources)} source(s)"
        blinded = (
            f"; GuardDuty was impaired ({len(self.blinded)} call(s), in the data issues): "
            "findings after that may never have been raised, so others may be there"
            if self.blinded
            else ""
        )
        if self.status == PARTIAL and not self.failed:
            return f"{found} {searched}{blinded}"
        if self.status == PARTIAL:
            failed = [s for s in whole if s not in unlooked]
            missed = [f"could not search {', '.join(failed)}"] if failed else []
            missed += (
                [f"no detector in {', '.join(s.removeprefix('guardduty:') for s in unlooked)}: "
                 "not looked at"]
                if unlooked
                else []
            )  # fmt: skip
            halted = [i for i in parts if i.problem.startswith(READ_IN_PART)]
            records = [i for i in parts if i not in halted]
            if halted:
                where = ", ".join(dict.fromkeys(i.source for i in halted))
                missed.append(f"searched {where} only in part (the search stopped)")
            if records:
                missed.append(f"could not read {_records(records)}")
            return f"{found} {searched}; {'; '.join(missed)}, so others may be there{blinded}"
        return f"{found} {searched}{blinded}"

    def search_summary(self) -> dict[str, Any]:
        """``summary.json``'s ``related_findings_search``."""
        return {
            "status": self.status,
            "sources": list(self.sources),
            "not_searched": [i.to_dict() for i in [*self.failed, *self.blinded]],
            "why": self.why or None,
        }


def _whole(issue: DataIssue, sources: Sequence[str]) -> bool:
    """Whether ``issue`` is a whole source (region, file) that could not be searched, rather
    than a record of a source searched that could not be read (``unread``: a finding GuardDuty
    listed that could not be parsed; a file's ``FILE:LINE``)."""
    return issue.source in sources and not issue.unread


def _records(issues: Sequence[DataIssue]) -> str:
    """The records not read, in words: ``guardduty:us-east-1 (2 finding(s))``, ``FILE:3``."""
    counts: dict[str, int] = {}
    for i in issues:
        counts[i.source] = counts.get(i.source, 0) + 1
    return ", ".join(
        f"{source} ({n} finding(s))" if source.startswith("guardduty:") else source
        for source, n in counts.items()
    )


def _searched(found: list[dict[str, Any]], sources: list[str], failed: list[DataIssue]) -> str:
    whole = [i for i in failed if _whole(i, sources)]
    if sources and len(whole) >= len(sources):
        return COULD_NOT_LOOK
    return PARTIAL if failed else LOOKED


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------
def read_related(paths: str | Path | Iterable[str | Path], subject: Subject) -> RelatedFindings:
    """Related findings among findings files (a case folder's ``findings/``): every shape
    :func:`~torinvest.findings.read_findings` reads. A file that could not be read is in
    ``failed``, and so is a record of a file read that could not be (a JSON line cut short, a
    finding skipped, an item that is no finding: it may be a related one): the search is then
    ``partial``. No findings file at all is ``not looked``."""
    try:
        result = read_findings(paths)
    except NoFindingsError as e:
        return RelatedFindings.not_looked(str(e))
    files = result.unsearched
    inside = tuple(f"{i.source}{c}" for i in files for c in ":[")
    records = [
        i
        for i in result.issues
        if i.unread and i.source not in set(result.failed) and not i.source.startswith(inside)
    ]
    status = _searched([], result.sources, files)
    if status == LOOKED and records:
        status = PARTIAL
    return RelatedFindings(
        status=status,
        findings=related_from_findings(result.findings, subject),
        sources=list(result.sources),
        failed=files + records,
        issues=[
            i for i in result.issues if i not in records and i.source not in set(result.failed)
        ],
    )


def _region_findings(
    aws: Aws, region: str, criteria: Sequence[Mapping[str, Any]], problems: list[DataIssue]
) -> list[Any]:
    """Every finding any of ``criteria`` matches in one region (raw), each once. The first
    link's search failing (nothing asked yet answered) fails the region: it could not be
    searched. A later one failing (credentials that expired part-way) keeps the findings the
    links before it listed, and the region says it was read in part: which links were not
    searched, and why (:func:`_links_in_part`) — never the findings read thrown away, nor the
    region searched with nothing found for the links not asked."""
    out: list[Any] = []
    for n, criterion in enumerate(criteria):
        try:
            out += fetch_region(aws, region, criterion, problems)
        except AwsError as e:
            if n == 0 or (isinstance(e, NotEnabledError) and e.code == "NoDetector"):
                raise
            problems.append(_links_in_part(region, n, criteria, len(out), e))
            return out
    return out


#: How each link's search is named (the criterion it asks on).
_LINK_WORDS: Mapping[str, str] = {
    KEY_CRITERION: "the key(s)",
    PRINCIPAL_CRITERION: "the principal",
    **{c: "the Tor IP(s)" for c in (*IP_CRITERIA, *IP_V6_CRITERIA)},
    "type": f"attack sequences ({ATTACK_SEQUENCE_IAM})",
}


def _link_words(criterion: Mapping[str, Any]) -> str:
    names = [k for k in criterion.get("Criterion", {}) if k != "updatedAt"]
    return ", ".join(_LINK_WORDS.get(k, k) for k in names) or "a link"


def _links_in_part(
    region: str, stopped: int, criteria: Sequence[Mapping[str, Any]], found: int, err: AwsError
) -> DataIssue:
    """The issue of a region whose related-findings search stopped at link search number
    ``stopped`` (0-based) of ``criteria`` (``found`` findings listed before it): ``unread``,
    as any finding of the links not searched may be a related one."""
    left = list(dict.fromkeys(_link_words(c) for c in criteria[stopped:]))
    return DataIssue(
        f"guardduty:{region}",
        f"{READ_IN_PART}: {found} finding(s) listed by {stopped} of the {len(criteria)} "
        f"searches (one per link), then the search on {_link_words(criteria[stopped])} "
        f"stopped: {err} — the links from that search on ({', '.join(left)}) were not "
        "searched: their findings are not listed",
        unread=True,
    )


def _to_findings(raws: Iterable[Any], source: str, issues: list[DataIssue]) -> list[Finding]:
    found: list[Finding] = []
    for raw in raws:
        if not isinstance(raw, dict):
            issues.append(
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
            issues.append(DataIssue(source, f"skipped: {e}", unread=True))
            continue
        issues += dropped
        found.append(Finding(data=clean, origin=source, shape="api", original=raw))
    return found


def fetch_related(aws: Aws, regions: Sequence[str] | None, subject: Subject) -> RelatedFindings:
    """Related findings from GuardDuty in every region asked (default: every enabled one):
    ListFindings with each of :func:`related_criteria` (paginated, archived included), then
    GetFindings, then :func:`related_from_findings`. A region that fails (access denied, an
    answer that is not AWS's…) is in ``failed`` and the others are kept; so is a region without
    a detector for these credentials, also in ``no_detector``: it was not looked at (a member
    account's own detector there is not seen), never "no related finding" there."""
    try:
        region_list = aws.regions("guardduty", regions)
    except AwsError as e:
        issue = DataIssue.from_error("guardduty", e)
        return RelatedFindings(status=COULD_NOT_LOOK, sources=["guardduty"], failed=[issue])
    criteria = related_criteria(subject)
    problems: dict[str, list[DataIssue]] = {r: [] for r in region_list}
    result = RelatedFindings(status=LOOKED)
    if region_list.note:
        result.issues.append(DataIssue("guardduty", region_list.note))
    found: list[Finding] = []
    for region, outcome in aws.map_regions(
        lambda r: _region_findings(aws, r, criteria, problems[r]),
        region_list,
        progress="GuardDuty regions (related findings)",
    ):
        source = f"guardduty:{region}"
        result.sources.append(source)
        result.issues += problems[region]
        if isinstance(outcome, BaseException):
            err = (
                outcome
                if isinstance(outcome, TorinvestError)
                else translate_error(outcome, service="guardduty", region=region)
            )
            result.failed.append(DataIssue.from_error(source, err))
            if isinstance(err, NotEnabledError) and err.code == "NoDetector":
                result.no_detector.append(source)
            continue
        found += _to_findings(outcome, source, result.issues)
    # a finding listed by several criteria (its key and its IP) is skipped once per listing
    result.issues = list(dict.fromkeys(result.issues))
    # a finding GuardDuty listed for a link and that could not be read may be a related one:
    # the search is partial, naming it (as a findings file's record that could not be read)
    result.failed += [i for i in result.issues if i.unread]
    result.issues = [i for i in result.issues if not i.unread]
    result.findings = related_from_findings(_dedupe(found), subject)
    result.status = _searched(result.findings, result.sources, result.failed)
    log.info("related findings: %d (%s)", len(result.findings), result.status)
    return result


# --------------------------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------------------------
_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_TIME_OR_NULL: dict[str, Any] = {
    "type": ["string", "null"],
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
}


def _object(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": dict(properties),
    }


#: JSON Schema of ``summary.json``'s ``related_findings`` and ``related_findings_search``.
SUMMARY_PROPERTIES: dict[str, Any] = {
    "related_findings": {
        "type": "array",
        "items": _object(
            {
                "id": {"type": "string"},
                "type": _STR_OR_NULL,
                "severity": {"type": ["number", "null"]},
                "region": _STR_OR_NULL,
                "account_id": _STR_OR_NULL,
                "first_seen": _TIME_OR_NULL,
                "last_seen": _TIME_OR_NULL,
                "archived": {"type": ["boolean", "null"]},
                "link": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": list(LINKS)},
                },
            }
        ),
    },
    "related_findings_search": _object(
        {
            "status": {"enum": list(STATUSES)},
            "sources": {"type": "array", "items": {"type": "string"}},
            "not_searched": {
                "type": "array",
                "items": _object({"source": {"type": "string"}, "problem": {"type": "string"}}),
            },
            "why": _STR_OR_NULL,
        }
    ),
}
