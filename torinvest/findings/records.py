"""The records: :class:`Finding` (one raw finding and where it came from),
:class:`FindingsResult` (what a search found, and which sources answered), :class:`KeyLocation`;
the findings frame (:func:`normalize_findings`, pure).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import pandas as pd

from torinvest.errors import (
    DataIssue,
    FindingFileError,
    FindingNotFoundError,
    FindingsNotReadError,
    NotATorFindingError,
    RegionsNotSearchedError,
    SampleFindingError,
    same_problem,
)
from torinvest.findings.checks import TOR_FINDING_TYPES, KeyKind, check_finding_id, key_kind
from torinvest.schema import FINDINGS_COLUMNS, conform, iso_utc
from torinvest.shown import cut_text


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

    @property
    def is_sample(self) -> bool:
        """A GuardDuty sample finding (``service.additionalInfo.sample``): placeholders only."""
        service = self.data.get("service")
        return isinstance(service, Mapping) and _is_sample(service.get("additionalInfo"))


@dataclass(slots=True)
class FindingsResult:
    """Findings plus everything that kept the result from being complete.

    ``issues`` lists files or regions that could not be read, and findings left out; ``skipped``
    counts findings of other types that were left out, by type; ``sources`` names the files read
    or regions asked; ``failed`` the sources among them that could not be searched at all (a
    region that refused or did not answer, a file from which no finding could be read): a finding
    there is unknown. ``rejected`` maps the ID of a finding that was read but left out (a field
    of the wrong type…) to its issue. ``filtered`` counts the findings of the right type left
    out by the caller's filters, by filter (``--account``, ``--start/--end``); ``archived`` the
    archived ones left out because only open findings were asked for (files only: GuardDuty
    leaves them out itself, uncounted).
    """

    findings: list[Finding] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)
    note: str | None = None
    failed: list[str] = field(default_factory=list)
    rejected: dict[str, DataIssue] = field(default_factory=dict)
    filtered: Counter[str] = field(default_factory=Counter)
    archived: int = 0
    #: GuardDuty was asked for open findings only (``fetch_findings(include_archived=False)``):
    #: an archived finding is not among them, uncounted
    open_only: bool = False
    #: the sources asked where there was nothing to search (a region where GuardDuty has no
    #: detector for these credentials): not looked at — neither answered nor failed; each has
    #: its issue ("GuardDuty has no detector in eu-west-1: not looked at …")
    not_looked: list[str] = field(default_factory=list)
    #: the sources read in part (a region whose listing stopped at page N: credentials that
    #: expired…): the findings read are kept, those past it are not listed; each has its issue
    #: (``unread``: counted in :attr:`unread_records`, said as a region read in part)
    partial: list[str] = field(default_factory=list)
    #: finding ID → type of each finding :meth:`tor_only` left out (so that :meth:`get` says
    #: "a finding of another type", not "not found")
    other_types: dict[str, str] = field(default_factory=dict)
    #: finding ID → type of each GuardDuty sample finding of a Tor type :meth:`tor_only` left
    #: out (CreateSampleFindings: its key, user and IP are placeholders, nothing to
    #: investigate), so that :meth:`get` and every listing say what it is
    samples: dict[str, str] = field(default_factory=dict)
    #: the kept file the findings were read back from (``findings-<hash>.json``:
    #: :func:`~torinvest.findings.fetched.read_fetched`), None: fetched in this run or read from
    #: export files; and when that fetch was made (None: the file does not say)
    kept_in: str | None = None
    fetched_at: pd.Timestamp | None = None
    #: the findings :meth:`frame` was built from (the objects themselves) and that frame: built
    #: once for the same findings (locating a finding, the investigation and the campaign
    #: steps each ask for it)
    _frame_memo: tuple[tuple[Finding, ...], pd.DataFrame] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def tor_only(self) -> FindingsResult:
        """The Tor findings only; the others are counted in ``skipped`` by type, GuardDuty's
        sample findings of a Tor type kept in ``samples``."""
        skipped = Counter(self.skipped)
        skipped.update(f.type or "(no type)" for f in self.findings if not f.is_tor)
        return FindingsResult(
            findings=[f for f in self.findings if f.is_tor and not f.is_sample],
            samples={
                **self.samples,
                **{f.id: f.type for f in self.findings if f.is_tor and f.is_sample},
            },
            issues=list(self.issues),
            skipped=skipped,
            sources=list(self.sources),
            note=self.note,
            failed=list(self.failed),
            rejected=dict(self.rejected),
            filtered=Counter(self.filtered),
            archived=self.archived,
            open_only=self.open_only,
            not_looked=list(self.not_looked),
            partial=list(self.partial),
            kept_in=self.kept_in,
            fetched_at=self.fetched_at,
            other_types={
                **self.other_types,
                **{f.id: f.type or "(no type)" for f in self.findings if not f.is_tor},
            },
        )

    def frame(self) -> pd.DataFrame:
        """The findings frame (:func:`normalize_findings`), built once while :attr:`findings`
        holds the same findings (a list changed or replaced is built again); each call gets
        its own copy, which the caller may change."""
        held = tuple(self.findings)
        memo = self._frame_memo
        if (
            memo is None
            or len(memo[0]) != len(held)
            or any(a is not b for a, b in zip(memo[0], held, strict=True))
        ):
            memo = self._frame_memo = (held, normalize_findings(held))
        return memo[1].copy()

    # -- what was searched --------------------------------------------------------------------
    @property
    def answered(self) -> list[str]:
        """The sources that were searched (a region that answered, a file read): neither
        failed nor :attr:`not_looked` (a region without a detector holds nothing to search —
        it is not a region that answered "0 findings")."""
        left = set(self.failed) | set(self.not_looked)
        return [s for s in self.sources if s not in left]

    @property
    def complete(self) -> bool:
        """Whether every source asked was searched (then "not found" means not there)."""
        return not self.failed and not self.not_looked

    @property
    def unlooked(self) -> list[DataIssue]:
        """One issue per source not looked at (:attr:`not_looked`), saying why."""
        said = {i.source: i for i in self.issues}
        return [
            said.get(s) or DataIssue(s, f"no detector in {_short_source(s)}: not looked at")
            for s in self.not_looked
        ]

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
    def unread_records(self) -> list[DataIssue]:
        """The records of a source searched that could not be read (a finding skipped for an
        unusable ID, region or key; an item that is no finding; a JSON line cut short): each
        may be an open Tor finding, so a list without them is partial (:meth:`gap`)."""
        failed = set(self.failed)
        inside = tuple(f"{s}{c}" for s in failed for c in ":[")
        return [
            i
            for i in self.issues
            if i.unread and i.source not in failed and not i.source.startswith(inside)
        ]

    @property
    def _noun(self) -> str:
        return "region" if all(s.startswith("guardduty:") for s in self.sources) else "file"

    def gap(self, *, detail: bool = True) -> str:
        """The sources that could not be searched and the records of the others that could not
        be read (:attr:`unread_records`), in words (empty when neither): how many, and with
        ``detail`` which ones and the first one's problem."""
        parts = []
        if self.not_looked:
            names = [_short_source(s) for s in self.not_looked]
            parts.append(
                f"no detector in {', '.join(names[:5])}"
                + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                + ": not looked at"
                if detail
                else f"{len(names)} region(s) not looked at (no detector)"
            )
        unread = self.unread_records
        in_part = [i for i in unread if i.source in self.partial]
        for missing, said in (
            (
                self.unsearched,
                f"{self._noun}(s) could not be {'searched' if self._noun == 'region' else 'read'}",
            ),
            (in_part, f"{self._noun}(s) read in part"),
            ([i for i in unread if i not in in_part], "finding record(s) could not be read"),
        ):
            if not missing:
                continue
            if not detail:
                parts.append(f"{len(missing)} {said}")
                continue
            names = [_short_source(i.source) for i in missing]
            listed = ", ".join(names[:5]) + (
                f" and {len(names) - 5} more" if len(names) > 5 else ""
            )
            parts.append(f"{len(missing)} {said}: {listed} ({missing[0].problem})")
        return "; ".join(parts)

    def require_looked(self) -> FindingsResult:
        """``self``, or :class:`~torinvest.errors.CouldNotLookError` when no source answered.

        Every region failed: :class:`~torinvest.errors.RegionsNotSearchedError` (an AwsError);
        every findings file failed: :class:`~torinvest.errors.FindingsNotReadError`. Never an
        empty result that would read as "no finding there".
        """
        if not self.sources or self.answered:
            return self
        missing = self.unsearched
        if not missing:  # every region asked has no detector: nothing was looked at
            names = ", ".join(_short_source(s) for s in self.not_looked[:5])
            more = ", …" if len(self.not_looked) > 5 else ""
            raise RegionsNotSearchedError(
                f"no region could be looked at: GuardDuty has no detector in any of the "
                f"{len(self.not_looked)} region(s) asked ({names}{more}) for these credentials",
                hint="this says nothing about the findings: ask the regions where GuardDuty is "
                "enabled (--regions), or use the credentials of the account (or GuardDuty "
                "administrator) that has detectors there",
                issues=tuple(self.unlooked),
                service="guardduty",
            )
        said = _first_problem(missing)
        if self.not_looked:
            said += f"; {self.gap().split('; ')[0]}"
        if self._noun == "region":
            raise RegionsNotSearchedError(
                f"no region could be searched ({len(missing)} of {len(self.sources)} failed): "
                f"{said}",
                hint="nothing was searched, so this says nothing about the findings: fix the "
                "credentials, permissions or network named above and re-run",
                issues=tuple(missing),
                service="guardduty",
            )
        # the files' problems say what is wrong with each; what to do is said once, here
        raise FindingsNotReadError(
            f"no finding could be read ({len(missing)} of {len(self.sources)} file(s) failed): "
            f"{said}",
            hint="re-export the findings (`aws guardduty get-findings … > f.json`) into the folder",
            issues=tuple(missing),
        )

    def get(self, finding_id: str) -> Finding:
        """The finding with this ID.

        Raises :class:`~torinvest.errors.CouldNotLookError` when no source could be searched,
        :class:`~torinvest.errors.FindingFileError` when the finding was read but left out (the
        issue says why), :class:`~torinvest.errors.NotATorFindingError` (naming its type) when
        :meth:`tor_only` left it out as a finding of another type, and
        :class:`~torinvest.errors.FindingNotFoundError` otherwise — saying "so it may be there"
        when some sources could not be searched or some records of those searched could not be
        read (:attr:`unread_records`: a cut export, an item that is no finding) — its exit
        status then "could not look".
        """
        finding_id = check_finding_id(finding_id)
        for f in self.findings:
            if f.id == finding_id:
                return f
        if finding_id in self.other_types:
            raise not_a_tor_finding(finding_id, self.other_types[finding_id])
        if finding_id in self.samples:
            raise sample_finding(finding_id, self.samples[finding_id])
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
        unread = self.unread_records  # records read in part (a cut export…): any may be it
        if self.failed or self.not_looked or unread:
            searched = self.answered
            raise FindingNotFoundError(
                f"finding {finding_id} is not in the {len(searched)} {self._noun}(s) that "
                f"{'answered' if self._noun == 'region' else 'were read'} "
                f"({', '.join(_short_source(s) for s in searched[:5])}"
                f"{', …' if len(searched) > 5 else ''}); {self.gap()}, so it may be there",
                hint=(
                    "fix access to what could not be searched (or name the finding's region "
                    "with --regions) and re-run"
                    if self._noun == "region"
                    else "re-export what could not be read (named above) into the folder and re-run"
                )
                + f"; loaded IDs include: {known}",
                unsearched=(*self.unsearched, *unread),
                not_looked=tuple(self.unlooked),
            )
        raise FindingNotFoundError(
            f"finding {finding_id} not found among {len(self.findings)} findings "
            f"(every one of {len(self.sources)} {self._noun}(s) searched)",
            hint=f"check the ID (loaded IDs include: {known}){self._not_found_hint()}",
        )

    def _not_found_hint(self) -> str:
        """What else may keep a finding out of a complete search, said only where it applies:
        a region not asked (GuardDuty), archived findings left out (open findings asked for, or
        left out of files) — never an option the command at hand does not have."""
        parts = []
        if self._noun == "region":
            parts.append(
                f"a finding of another region is not among the {len(self.sources)} searched "
                f"({', '.join(_short_source(s) for s in self.sources[:5])}"
                f"{', …' if len(self.sources) > 5 else ''}): name its region with --regions"
            )
        if self.open_only or self.archived:
            parts.append(
                "archived findings were left out (torinvest findings --include-archived; "
                "Python: include_archived=True)"
            )
        return "".join(f"; {p}" for p in parts)


def not_a_tor_finding(finding_id: str, finding_type: object) -> NotATorFindingError:
    """The error for a finding of another type where a Tor finding is needed, naming its type."""
    said = cut_text(str(finding_type), where="the finding as read")  # its own text: cut
    return NotATorFindingError(
        f"finding {finding_id} is a {said} finding, not a Tor finding",
        hint=f"torinvest investigates {' and '.join(TOR_FINDING_TYPES)} findings only",
    )


#: Why a GuardDuty sample finding is left out, in every message that names one.
SAMPLE_WHY = (
    "service.additionalInfo.sample: made by CreateSampleFindings or the console's \"Generate "
    'sample findings"; its key, user and IP are placeholders such as '
    "GeneratedFindingAccessKeyId: nothing was called, nothing to investigate"
)


def samples_left_out(samples: Mapping[str, str]) -> str:
    """``2 GuardDuty sample finding(s) left out (why): ID, ID``."""
    ids = ", ".join(sorted(samples)[:5]) + (", …" if len(samples) > 5 else "")
    return f"{len(samples):,} GuardDuty sample finding(s) left out ({SAMPLE_WHY}): {ids}"


def sample_finding(finding_id: str, finding_type: object) -> SampleFindingError:
    """The error for a GuardDuty sample finding where a Tor finding is needed."""
    return SampleFindingError(
        f"finding {finding_id} ({finding_type}) is a GuardDuty sample finding ({SAMPLE_WHY})",
        hint="archive it (aws guardduty archive-findings --detector-id … --finding-ids "
        f"{finding_id}); `torinvest findings` lists the real Tor findings",
    )


def _short_source(source: str) -> str:
    return source.removeprefix("guardduty:")


def _first_problem(missing: list[DataIssue]) -> str:
    """The problem of the sources that could not be searched, for a could-not-look error: the
    first one, with its source, and either that the others failed the same way or how many
    more failed (their issues are then printed beside the error, see :func:`same_problem`)."""
    first = missing[0]
    where = "" if first.problem.startswith(first.source) else f"{_short_source(first.source)}: "
    if len(missing) == 1:
        return f"{where}{first.problem}"
    if same_problem(missing):  # a region's problem names its region: no need to say it twice
        if _short_source(first.source) in first.problem:
            return f"every one failed the same way: {first.problem}"
        return f"every one failed the same way: {first.problem} (e.g. {first.source})"
    return f"{where}{first.problem}; {len(missing) - 1} more failed, see the issues"


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
    #: Where first_seen/last_seen come from when the finding lacks service.eventFirstSeen and
    #: eventLastSeen (``"createdAt/updatedAt"``); None: from those two fields.
    seen_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("first_seen", "last_seen"):
            d[k] = iso_utc(d[k])
        return d


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


#: What a verdict judged of its finding (stored with the verdict): GuardDuty updates a finding
#: in place (a new occurrence raises its count and eventLastSeen, and its updatedAt).
FINDING_STATE = ("updated_at", "count", "last_seen")
#: Who and where a finding is: an action built from one copy of a finding must find the same in
#: GuardDuty's copy before it changes anything.
FINDING_IDENTITY = ("type", "account_id", "region", "principal_id", "access_key_id")


def finding_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    """The finding's ID, :data:`FINDING_IDENTITY` and :data:`FINDING_STATE` as plain JSON values
    (text, a whole count, ISO UTC times; None when absent), from a findings-frame row or a raw
    finding's row (:func:`~torinvest.findings.shapes.api_finding_facts` for GuardDuty's GetFindings answer)."""

    def text(value: Any) -> str | None:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return None
        said = str(value).strip()
        return said or None

    facts: dict[str, Any] = {k: text(row.get(k)) for k in ("id", *FINDING_IDENTITY)}
    for k in ("updated_at", "last_seen"):
        try:
            facts[k] = iso_utc(row.get(k))
        except (ValueError, TypeError):
            facts[k] = text(row.get(k))
    count = text(row.get("count"))
    try:
        facts["count"] = int(float(count)) if count is not None else None
    except ValueError:
        facts["count"] = count
    return facts


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


def newest_sighting_first(frame: pd.DataFrame) -> pd.DataFrame:
    """A findings frame, newest last sighting first — the order every list of findings shown
    under a "last seen" column uses (``torinvest findings``, the triage notebook, the index of
    ``--all-open``): by ``last_seen`` (the finding's ``service.eventLastSeen``); a finding
    without a usable one is placed by its last update (then its creation): GuardDuty may have
    kept seeing the key, so it is never put last for want of a time. Ties: by ID."""
    if not len(frame):
        return frame
    when = frame["last_seen"].fillna(frame["updated_at"]).fillna(frame["created_at"])
    order = (
        frame.assign(_when=when)
        .sort_values(["_when", "id"], ascending=[False, True], na_position="last", kind="stable")
        .index
    )
    return frame.loc[order].reset_index(drop=True)
