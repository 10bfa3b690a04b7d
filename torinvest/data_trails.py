"""Which trails record data events: CloudTrail's own answer (DescribeTrails, GetEventSelectors),
beside what an activity read says of them (:mod:`torinvest.data_events`).

A reading through LookupEvents never holds data events, and log files hold them only when a
trail's event selectors record them: whether any trail does says whether the key's S3 object
reads, Lambda invocations and DynamoDB item calls are recorded anywhere at all. With access to
the finding's account, :func:`check_data_trails` asks — read-only — DescribeTrails
(``includeShadowTrails``, in the finding's region: organization and multi-region trails
included) and GetEventSelectors of each trail in its home region; :func:`summarize` (pure)
turns the answers into a :class:`DataTrails`: each data-event resource type a trail records
(:class:`Selector`, from ``EventSelectors[].DataResources`` and from
``AdvancedEventSelectors`` with ``eventCategory`` = ``Data``), and one clause saying it.

``status`` is :data:`CHECKED`, :data:`NOT_ASKED` (a case folder, no AWS access, another
account's credentials) or :data:`COULD_NOT_CHECK` (denied, unreachable…): never a failure of
the report.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torinvest.aws import AWS_CALL_ERRORS, Aws, answer, iam_action, translate_error
from torinvest.errors import TorinvestError

log = logging.getLogger(__name__)

#: ``summary.json``'s ``data_events.trails.status`` values.
CHECKED, NOT_ASKED, COULD_NOT_CHECK = "checked", "not asked", "could not check"
STATUSES = (CHECKED, NOT_ASKED, COULD_NOT_CHECK)
#: :attr:`Selector.scope`: every resource of the type, or some (ARNs, event names filtered).
ALL, SOME = "all", "some"
#: :attr:`Selector.read_write`.
READS_AND_WRITES, READS, WRITES = "reads and writes", "reads only", "writes only"

#: The data-event resource types every statement names, with what their resources are called.
KNOWN_TYPES: dict[str, tuple[str, str]] = {
    "AWS::S3::Object": ("S3", "buckets"),
    "AWS::Lambda::Function": ("Lambda", "functions"),
    "AWS::DynamoDB::Table": ("DynamoDB", "tables"),
}

_DESCRIBE, _SELECTORS = "DescribeTrails", "GetEventSelectors"
#: A DataResources value naming every resource of its type (``arn:aws:s3``, ``arn:aws:s3:::``,
#: ``arn:aws:lambda``, ``arn:aws-cn:dynamodb``…).
_WHOLE_TYPE = re.compile(r"arn:[a-z0-9-]+:[a-z0-9-]+:*")
#: Advanced selector fields that only pick the data events and their direction.
_PLAIN_FIELDS = frozenset({"eventCategory", "resources.type", "readOnly"})

#: What DescribeTrails in one region does not show, said with every "no trail records …".
UNSEEN = (
    "not checked: a trail of another region that is not multi-region, a CloudTrail Lake event "
    "data store"
)


@dataclass(frozen=True, slots=True)
class Selector:
    """One data-event resource type a trail records (its ``trail`` name, ``region``: the
    trail's home region)."""

    trail: str
    region: str | None
    type: str
    scope: str
    read_write: str

    def to_json(self) -> dict[str, Any]:
        return {
            "trail": self.trail,
            "region": self.region,
            "type": self.type,
            "scope": self.scope,
            "read_write": self.read_write,
        }

    def words(self) -> str:
        """``S3 data events for all buckets`` (``(reads only)`` when so)."""
        name, things = KNOWN_TYPES.get(self.type, (self.type, "resources"))
        which = f"all {things}" if self.scope == ALL else f"some {things}"
        rw = "" if self.read_write == READS_AND_WRITES else f" ({self.read_write})"
        return f"{name} data events for {which}{rw}"


@dataclass(frozen=True, slots=True)
class DataTrails:
    """What CloudTrail says of the trails recording data events: ``status``
    (:data:`STATUSES`), ``text`` (a clause, plain text), the ``trails`` asked and their
    data-event ``selectors``."""

    status: str
    text: str
    trails: tuple[str, ...] = ()
    selectors: tuple[Selector, ...] = ()

    @property
    def none_recorded(self) -> bool:
        """Checked, and no trail records any data event."""
        return self.status == CHECKED and not self.selectors

    def to_json(self) -> dict[str, Any]:
        """``summary.json``'s ``data_events.trails``."""
        return {
            "status": self.status,
            "text": self.text,
            "trails": list(self.trails),
            "selectors": [s.to_json() for s in self.selectors],
        }


def not_asked(why: str) -> DataTrails:
    return DataTrails(NOT_ASKED, f"which trails record data events was not asked: {why}")


def could_not_check(why: str) -> DataTrails:
    return DataTrails(COULD_NOT_CHECK, f"which trails record data events: could not check: {why}")


# --------------------------------------------------------------------------------------------
# the answers → a summary (pure)
# --------------------------------------------------------------------------------------------
def selectors_of(trail: str, region: str | None, found: Mapping[str, Any]) -> list[Selector]:
    """The data-event resource types a GetEventSelectors answer records (its basic
    ``EventSelectors[].DataResources``, its ``AdvancedEventSelectors`` whose ``eventCategory``
    equals ``Data``)."""
    out: list[Selector] = []
    for sel in _maps(found.get("EventSelectors")):
        rw = {"ReadOnly": READS, "WriteOnly": WRITES}.get(str(sel.get("ReadWriteType")))
        for res in _maps(sel.get("DataResources")):
            kind, values = res.get("Type"), _texts(res.get("Values"))
            if not isinstance(kind, str) or not values:
                continue
            scope = ALL if any(_WHOLE_TYPE.fullmatch(v) for v in values) else SOME
            out.append(Selector(trail, region, kind, scope, rw or READS_AND_WRITES))
    for sel in _maps(found.get("AdvancedEventSelectors")):
        fields = {
            str(f.get("Field")): f for f in _maps(sel.get("FieldSelectors")) if f.get("Field")
        }
        if "Data" not in _texts(fields.get("eventCategory", {}).get("Equals")):
            continue
        scope = SOME if set(fields) - _PLAIN_FIELDS else ALL
        read_only = _texts(fields.get("readOnly", {}).get("Equals"))
        rw = {("true",): READS, ("false",): WRITES}.get(tuple(read_only), READS_AND_WRITES)
        for kind in _texts(fields.get("resources.type", {}).get("Equals")):
            out.append(Selector(trail, region, kind, scope, rw))
    return out


def summarize(
    region: str, trail_list: Sequence[Mapping[str, Any]], selectors: Mapping[str, Mapping[str, Any]]
) -> DataTrails:
    """DescribeTrails' ``trailList`` (asked in ``region``) and each trail's GetEventSelectors
    answer (by TrailARN) → which data events the trails record, in one clause."""
    names: list[str] = []
    found: list[Selector] = []
    for trail in trail_list:
        arn, name = str(trail.get("TrailARN") or ""), str(trail.get("Name") or "")
        name = name or arn
        if name in names:
            continue
        names.append(name)
        if arn in selectors:
            home = trail.get("HomeRegion")
            found += selectors_of(name, home if isinstance(home, str) else None, selectors[arn])
    asked = f"DescribeTrails in {region}: {len(names)} trail(s)"
    if not found:
        return DataTrails(
            CHECKED,
            f"no trail records data events ({asked}, none with a data event selector): "
            "S3 object reads, Lambda invocations and DynamoDB item calls are in no trail's log "
            f"files, and never in LookupEvents ({UNSEEN})",
            tuple(names),
        )
    said: list[str] = []
    for name in dict.fromkeys(s.trail for s in found):
        words = dict.fromkeys(s.words() for s in found if s.trail == name)
        said.append(f"trail {name} records {', '.join(words)}")
    recorded = {s.type for s in found}
    missing = [f"{n}: none" for t, (n, _) in KNOWN_TYPES.items() if t not in recorded]
    if "AWS::S3::Object" not in recorded:
        missing[0] += f" (S3 object reads are in no trail's log files; {UNSEEN})"
    return DataTrails(CHECKED, "; ".join(said + missing), tuple(names), tuple(found))


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --------------------------------------------------------------------------------------------
# asking CloudTrail
# --------------------------------------------------------------------------------------------
def check_data_trails(
    aws: Aws | None,
    region: str | None,
    account_id: str | None,
    *,
    offline: str | None = None,
) -> DataTrails:
    """Which trails record data events, asked of CloudTrail (read-only) with the
    investigation's own access in the finding's ``region`` of account ``account_id``: None,
    ``offline`` (a case folder) or credentials of another account are :data:`NOT_ASKED`; every
    failure is :data:`COULD_NOT_CHECK`, never raised. Without ``account_id`` (``events``: no
    finding names one) the credentials' own account is asked, and STS is not."""
    if offline is not None or aws is None:
        return not_asked(offline or "no AWS access was given")
    if account_id:
        try:
            account = aws.account_id()
        except TorinvestError as e:
            return could_not_check(f"the credentials' account could not be read ({e})")
        if account != account_id:
            return not_asked(
                f"the credentials are of account {account}, not the finding's {account_id}"
            )
    where = region or aws.home_region
    try:
        described = aws.client("cloudtrail", where).describe_trails(includeShadowTrails=True)
        trails = answer(described, "trailList", list, service="cloudtrail", operation=_DESCRIBE)
    except AWS_CALL_ERRORS as e:
        return _failed(translate_error(e, service="cloudtrail", operation=_DESCRIBE), _DESCRIBE)
    except TorinvestError as e:
        return _failed(e, _DESCRIBE)
    answers: dict[str, Mapping[str, Any]] = {}
    for trail in _maps(trails):
        arn = trail.get("TrailARN")
        if not isinstance(arn, str) or arn in answers:
            continue
        home = trail.get("HomeRegion")
        try:
            client = aws.client("cloudtrail", home if isinstance(home, str) else where)
            answers[arn] = client.get_event_selectors(TrailName=arn)
        except AWS_CALL_ERRORS as e:
            error = translate_error(e, service="cloudtrail", operation=_SELECTORS)
            return _failed(error, _SELECTORS, trail.get("Name"))
        except TorinvestError as e:
            return _failed(e, _SELECTORS, trail.get("Name"))
    found = summarize(where, _maps(trails), answers)
    log.info("CloudTrail data-event trails in %s: %s", where, found.text)
    return found


def _failed(error: TorinvestError, operation: str, trail: Any = None) -> DataTrails:
    code = getattr(error, "code", None) or type(error).__name__
    on = f" on trail {trail}" if isinstance(trail, str) and trail else ""
    log.info("CloudTrail %s failed%s: %s", operation, on, error)
    return could_not_check(f"{code} ({iam_action('cloudtrail', operation)}{on})")


#: ``summary.json``'s ``data_events.trails`` (optional: summaries written before it have none).
SUMMARY_PROPERTIES: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status", "text", "selectors"],
    "properties": {
        "status": {"enum": list(STATUSES)},
        "text": {"type": "string"},
        "trails": {"type": "array", "items": {"type": "string"}},
        "selectors": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["trail", "type", "scope", "read_write"],
                "properties": {
                    "trail": {"type": "string"},
                    "region": {"type": ["string", "null"]},
                    "type": {"type": "string"},
                    "scope": {"enum": [ALL, SOME]},
                    "read_write": {"enum": [READS_AND_WRITES, READS, WRITES]},
                },
            },
        },
    },
}


def from_summary(entry: Any) -> DataTrails | None:
    """``data_events.trails`` read back (None: absent or not torinvest's)."""
    if not isinstance(entry, Mapping):
        return None
    status, text = entry.get("status"), entry.get("text")
    if status not in STATUSES or not isinstance(text, str):
        return None
    selectors = tuple(
        Selector(
            str(s.get("trail")),
            s.get("region") if isinstance(s.get("region"), str) else None,
            str(s.get("type")),
            str(s.get("scope")),
            str(s.get("read_write")),
        )
        for s in _maps(entry.get("selectors"))
    )
    return DataTrails(str(status), text, tuple(_texts(entry.get("trails"))), selectors)
