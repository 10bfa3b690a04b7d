"""What a CloudTrail call acted on — its *targets* — read from ``requestParameters`` and
``responseElements``.

One extractor for the whole kit: the sensitive-calls table and ``summary.json``'s
``sensitive_events[].target`` (:mod:`torinvest.analysis`), the report's first screen
(:mod:`torinvest.display`) and the plans' manual steps and secret rotations
(:mod:`torinvest.actions`). It imports only :mod:`torinvest.safety` (which imports nothing of
torinvest), so every one of them can import it.

A target is a :class:`Target` — a kind (``user``, ``new key``, ``policy``, ``secret`` …) and a
value (``svc-backup-sync``, ``AKIA…``, ``arn:aws:iam::aws:policy/AdministratorAccess``,
``prod/db/credentials``). Values are attacker-written text (a failed ``CreateUser`` records
whatever name was asked for): whoever shows them escapes them like any other CloudTrail text.
Control and bidi characters in a value are shown escaped (``\u202e``: a name cannot reorder
what is shown around it), each value is cut to :data:`MAX_TARGET_CHARS` characters, and a call
keeps at most :data:`MAX_TARGETS` of them — then a last ``Target("and", "N more (see the
event)")`` says how many were left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import orjson

from torinvest.jsonread import dumps as json_dumps
from torinvest.jsonread import parse as parse_json
from torinvest.safety import term_safe

#: A call keeps at most this many targets (a BatchGetSecretValue can name 20 secrets).
MAX_TARGETS = 20
#: A target value longer than this is cut (with "…"): CloudTrail records what was asked.
MAX_TARGET_CHARS = 256

#: The kind of the last target of a call that named more than MAX_TARGETS (it counts the rest).
MORE_KIND = "and"
#: Request fields that name what a call acted on, in the order they are read, with their kind.
#: ``name`` is read by the service (see :data:`NAME_KINDS`).
REQUEST_FIELDS: tuple[tuple[str, str], ...] = (
    ("userName", "user"),
    ("groupName", "group"),
    ("roleName", "role"),
    ("roleArn", "role"),
    ("instanceProfileName", "instance profile"),
    ("policyArn", "policy"),
    ("policyName", "policy"),
    ("accessKeyId", "key"),
    ("serialNumber", "MFA device"),
    ("virtualMFADeviceName", "MFA device"),
    ("functionName", "function"),
    ("secretId", "secret"),
    ("secretIdList", "secret"),
    ("name", "name"),
    ("names", "parameter"),
    ("trailName", "trail"),
    ("detectorId", "detector"),
    ("ipSetId", "IP set"),
    ("bucketName", "bucket"),
    ("snapshotId", "snapshot"),
    ("imageId", "image"),
    ("dBSnapshotIdentifier", "DB snapshot"),
    ("instanceId", "instance"),
)
#: ``name`` means a different thing per service.
NAME_KINDS: Mapping[str, str] = {
    "ssm.amazonaws.com": "parameter",
    "cloudtrail.amazonaws.com": "trail",
    "guardduty.amazonaws.com": "filter",
    "config.amazonaws.com": "recorder",
}
#: Fields read for one event only: (event name → (request field, kind)).
EVENT_REQUEST_FIELDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "GetParametersByPath": (("path", "parameter path"),),
    "StopConfigurationRecorder": (("configurationRecorderName", "recorder"),),
    "DeleteConfigurationRecorder": (("configurationRecorderName", "recorder"),),
    "DeleteLogGroup": (("logGroupName", "log group"),),
    "PutRetentionPolicy": (("logGroupName", "log group"),),
    "StopEventDataStoreIngestion": (("eventDataStore", "event data store"),),
    "DeleteEventDataStore": (("eventDataStore", "event data store"),),
}
#: What a call's answer names (what it created), by path, with its kind.
RESPONSE_PATHS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("accessKey", "accessKeyId"), "new key"),
    (("credentials", "accessKeyId"), "new temporary key"),
    (("policy", "arn"), "new policy"),
    (("virtualMFADevice", "serialNumber"), "new MFA device"),
    (("instancesSet", "items", "*", "instanceId"), "new instance"),
)
#: Secrets and parameters: event name → the request fields that name what was read.
SECRET_READS: Mapping[str, tuple[str, ...]] = {
    "GetSecretValue": ("secretId",),
    "BatchGetSecretValue": ("secretIdList",),
    "GetParameter": ("name",),
    "GetParameters": ("names",),
    "GetParametersByPath": ("path",),
}


class Target(NamedTuple):
    """One thing a call acted on: its kind (``user``, ``new key``…) and its value."""

    kind: str
    value: str

    def text(self) -> str:
        return f"{self.kind} {self.value}"

    @classmethod
    def more(cls, n: int) -> Target:
        """The last target of a call that named more than :data:`MAX_TARGETS`."""
        return cls(MORE_KIND, f"{n} more (see the event)")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value}


def json_object(value: Any) -> dict[str, Any]:
    """``requestParameters``/``responseElements`` as a dict: JSON text or a mapping; anything
    else (NA, invalid JSON, a list) is an empty dict."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str | bytes) or not value:
        return {}
    try:
        parsed = parse_json(value)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def scalar_text(value: Any) -> str | None:
    """A string or an integer as text; None for anything else or blank text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if text.strip() else None


def _cut(text: str) -> str:
    return term_safe(text, limit=MAX_TARGET_CHARS)


def _values(value: Any) -> Iterator[str]:
    """A field's value(s): a scalar, or each scalar of a list."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        text = scalar_text(item)
        if text is not None:
            yield _cut(text)


def _at(doc: Any, path: Sequence[str]) -> Iterator[Any]:
    """Every value at ``path`` in ``doc`` (``*`` walks each item of a list)."""
    if not path:
        yield doc
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(doc, list):
            for item in doc:
                yield from _at(item, rest)
        return
    if isinstance(doc, Mapping) and head in doc:
        yield from _at(doc[head], rest)


def call_targets(
    event_name: Any,
    event_source: Any,
    request: Any,
    response: Any = None,
) -> tuple[Target, ...]:
    """What one call acted on, in a fixed order: the request's named fields (user, group, role,
    policy, key, secret, parameter, bucket…), then what its answer created (the new access
    key, the minted temporary key, the new policy…). Each value appears once (under its first
    kind); beyond :data:`MAX_TARGETS`, a last :meth:`Target.more` counts the rest.
    ``request``/``response``: JSON text or dicts."""
    req, resp = json_object(request), json_object(response)
    source = str(event_source) if isinstance(event_source, str) else ""
    name = str(event_name) if isinstance(event_name, str) else ""
    fields = (*EVENT_REQUEST_FIELDS.get(name, ()), *REQUEST_FIELDS)
    found: dict[str, Target] = {}
    for field, kind in fields:
        if field == "name":
            kind = NAME_KINDS.get(source, kind)
        for value in _values(req.get(field)):
            found.setdefault(value, Target(kind, value))
    for path, kind in RESPONSE_PATHS:
        for raw in _at(resp, path):
            for value in _values(raw):
                found.setdefault(value, Target(kind, value))
    targets = tuple(found.values())
    if len(targets) > MAX_TARGETS:
        return (*targets[:MAX_TARGETS], Target.more(len(targets) - MAX_TARGETS))
    return targets


def targets_text(targets: Iterable[Target]) -> str | None:
    """The targets as one line (``user svc-backup-sync, new key AKIA…``); None when there is
    none."""
    text = ", ".join(t.text() for t in targets)
    return text or None


def row_targets(row: Mapping[str, Any]) -> tuple[Target, ...]:
    """:func:`call_targets` of one row of the events frame (or any frame with its columns)."""
    return call_targets(
        row.get("event_name"),
        row.get("event_source"),
        row.get("request_parameters"),
        row.get("response_elements"),
    )


def read_names(event_name: str, request: Mapping[str, Any]) -> list[str]:
    """The secrets or parameters a read (:data:`SECRET_READS`) names; a BatchGetSecretValue by
    filters is described by its filters."""
    names: list[str] = []
    for field in SECRET_READS.get(event_name, ()):
        for name in _values(request.get(field)):
            if name not in names:
                names.append(name)
    if event_name == "BatchGetSecretValue" and not names and request.get("filters"):
        names.append(f"(secrets matching {json_dumps(request['filters']).decode()})")
    return names
