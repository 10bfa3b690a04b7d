"""AWS identifiers checked as AWS's own models define them (botocore's service models ship with
botocore: nothing is loaded from the network).

An access key ID is IAM's ``accessKeyIdType``: 16 to 128 characters of the pattern ``[\\w]+``.
AWS issues them in upper-case letters and digits only (``AKIA…``, ``ASIA…``), so torinvest
accepts nothing else (:data:`KEY_CHARS`): a lower-case or ``_`` value is a typo or not a key, and
a filter value enters SQL queries as a literal. An account ID is 12 digits (:func:`account_id`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from botocore.model import ServiceModel

from torinvest.aws.loader import model_loader
from torinvest.errors import InputError, InvalidFindingIdError

#: The characters of an access key ID as AWS issues them (IAM's ``[\\w]+``, narrowed).
KEY_CHARS = re.compile(r"[A-Z0-9]+")
#: An AWS account ID.
ACCOUNT_ID = re.compile(r"[0-9]{12}")
#: A GuardDuty finding ID: lower-case letters and digits (32 hex characters in practice).
FINDING_ID_RE = re.compile(r"^[a-z0-9]{8,128}$")


@dataclass(frozen=True, slots=True)
class IdShape:
    """A string shape of a botocore model: its pattern (ASCII) and length bounds."""

    pattern: re.Pattern[str]
    min: int
    max: int

    def matches(self, value: object) -> bool:
        return (
            isinstance(value, str)
            and self.min <= len(value) <= self.max
            and self.pattern.fullmatch(value) is not None
        )


@cache
def id_shape(service: str, shape: str) -> IdShape:
    """The string shape ``shape`` of ``service``'s model (e.g. ``iam``, ``accessKeyIdType``)."""
    model = ServiceModel(
        model_loader().load_service_model(service, "service-2"), service_name=service
    )
    meta = model.shape_for(shape).metadata
    return IdShape(re.compile(meta.get("pattern", ".*"), re.ASCII), meta["min"], meta["max"])


def access_key_id_shape() -> IdShape:
    """IAM's ``accessKeyIdType``."""
    return id_shape("iam", "accessKeyIdType")


def is_access_key_id(value: object) -> bool:
    """True when ``value`` is an access key ID: IAM's length bounds
    (:func:`access_key_id_shape`), upper-case letters and digits (:data:`KEY_CHARS`)."""
    return (
        access_key_id_shape().matches(value)
        and isinstance(value, str)
        and KEY_CHARS.fullmatch(value) is not None
    )


def access_key_id_hint(value: object = None) -> str:
    """What an access key ID looks like, for an error's hint; for a ``value`` that would be one
    in upper case, that spelling."""
    if isinstance(value, str) and value != value.upper() and is_access_key_id(value.upper()):
        return f"access key IDs are upper case: {value.upper()}?"
    shape = access_key_id_shape()
    return (
        f"an access key ID is {shape.min}–{shape.max} upper-case letters and digits, "
        "e.g. AKIA… or ASIA…"
    )


def check_access_key_id(value: str, *, name: str = "access key ID") -> str:
    """``value`` when it is an access key ID (surrounding whitespace removed); else
    :class:`InputError` naming ``name`` and the value (shortened), with a hint."""
    key = value.strip() if isinstance(value, str) else value
    if not is_access_key_id(key):
        raise InputError(
            f"{name}: {str(value)[:40]!r} is not an access key ID", hint=access_key_id_hint(key)
        )
    return key


def account_id(value: str, *, name: str = "account ID") -> str:
    """``value`` when it is an AWS account ID, 12 digits (surrounding whitespace removed);
    else :class:`InputError` naming ``name`` and the value, with a hint."""
    text = value.strip() if isinstance(value, str) else ""
    if ACCOUNT_ID.fullmatch(text) is None:
        raise InputError(
            f"{name}: {str(value)[:40]!r} is not an account ID",
            hint="an AWS account ID is 12 digits, e.g. 123456789012",
        )
    return text


def access_key_set(keys: str | Iterable[str], *, name: str = "access key filter") -> frozenset[str]:
    """``keys`` (one ID or several) as a set, each an access key ID; else :class:`InputError`
    naming ``name`` and the values that are not, with a hint."""
    found = frozenset({keys} if isinstance(keys, str) else keys)
    bad = sorted(repr(k)[:42] for k in found if not is_access_key_id(k))
    if not found or bad:
        first = next((k for k in found if not is_access_key_id(k)), None)
        raise InputError(
            f"{name}: {', '.join(bad) or 'no key'} {'is' if len(bad) == 1 else 'are'} not "
            "an access key ID",
            hint=f"{access_key_id_hint(first)}, or None for every record",
        )
    return found


#: An IAM role ARN: ``arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`` (IAM's role name
#: characters, ``[\w+=,.@-]``, 1–64 of them; a path of the same characters between slashes).
ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account>[^:]*):role/"
    r"(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,64})",
    re.ASCII,
)


def check_role_arn(value: str, *, name: str = "role ARN") -> str:
    """``value`` when it is an IAM role ARN (surrounding whitespace removed): a partition
    (``aws``, ``aws-cn``, ``aws-us-gov``…), the ``iam`` service, no region, a 12-digit account
    and ``role/`` with a role name; else :class:`InputError` naming ``name``, the value and
    what is wrong with it."""
    text = value.strip() if isinstance(value, str) else ""
    if ROLE_ARN.fullmatch(text) is None or not _role_arn_account(text):
        raise InputError(
            f"{name}: {str(value)[:120]!r} is not a role ARN ({_role_arn_problem(text)})",
            hint="e.g. arn:aws:iam::123456789012:role/NAME or role/PATH/NAME (arn:aws-us-gov: in "
            "GovCloud, arn:aws-cn: in China)",
        )
    return text


def _role_arn_account(text: str) -> bool:
    found = ROLE_ARN.fullmatch(text)
    return found is not None and ACCOUNT_ID.fullmatch(found["account"]) is not None


def _role_arn_problem(text: str) -> str:
    """What is wrong with ``text`` as a role ARN, in a few words."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return "not an ARN: arn:PARTITION:iam::ACCOUNT:role/NAME"
    _, partition, service, region, account, resource = parts
    if re.fullmatch(r"aws(?:-[a-z]+)*", partition) is None:
        return f"unknown partition {partition[:20]!r}: aws, aws-cn, aws-us-gov…"
    if service != "iam" or region:
        return "not an IAM ARN: arn:PARTITION:iam::ACCOUNT:…"
    if ACCOUNT_ID.fullmatch(account) is None:
        return f"the account {account[:20]!r} is not 12 digits"
    if not resource.startswith("role/"):
        return f"{resource.partition('/')[0][:20]!r} is not a role: role/NAME"
    return "the role name is not 1–64 letters, digits and +=,.@_-"


def check_external_id(value: str, *, name: str = "external ID") -> str:
    """``value`` when it is an STS external ID (STS's ``externalIdType``: 2–1224 characters of
    ``[\\w+=,.@:/-]``); else :class:`InputError` naming ``name``. Not trimmed: a space is not
    one of its characters, so one is refused rather than silently removed."""
    shape = id_shape("sts", "externalIdType")
    if not shape.matches(value):
        raise InputError(
            f"{name}: {str(value)[:40]!r} is not an external ID",
            hint=f"an external ID is {shape.min}–{shape.max} letters, digits and +=,.@:/-",
        )
    return value


#: A user name filter (LookupEvents' ``Username``): an IAM user name (64) or a session name
#: (64), with room; no control character (a value enters the SQL queries as a literal only).
USER_NAME_RE = re.compile(r"[^\x00-\x1f\x7f]{1,128}")


def check_user_name(value: object, *, name: str = "user name") -> str:
    """``value`` when it is a user name filter (:data:`USER_NAME_RE`, the whole value: a
    trailing newline is refused too, not searched for); else :class:`InputError` naming
    ``name``. Not trimmed: the records are matched as written."""
    if isinstance(value, str) and USER_NAME_RE.fullmatch(value):
        return value
    raise InputError(
        f"invalid {name} {str(value)[:70]!r}",
        hint="an IAM user name or a role session name (1–128 characters, no control characters)",
    )


def check_finding_id(finding_id: str) -> str:
    """``finding_id`` without surrounding whitespace when it is shaped like a GuardDuty finding
    ID — 8–128 lower-case letters and digits (:data:`FINDING_ID_RE`; GuardDuty issues 32
    lower-case hex characters) —, else :class:`InvalidFindingIdError`. An ID in upper case is
    refused, not normalized, with the lower-case spelling as its hint: no finding has it, so a
    verdict recorded under it would never be found (the access key ID's rule, mirrored)."""
    text = finding_id.strip() if isinstance(finding_id, str) else finding_id
    if isinstance(text, str) and FINDING_ID_RE.match(text):
        return text
    if isinstance(text, str) and FINDING_ID_RE.match(text.lower()):
        raise InvalidFindingIdError(
            f"invalid finding id {text[:80]!r}: GuardDuty finding IDs are lower case",
            hint=f"did you mean {text.lower()}?",
        )
    raise InvalidFindingIdError(
        f"invalid finding id {str(finding_id)[:80]!r}",
        hint="a GuardDuty finding ID is 8–128 lower-case letters and digits (32 hex characters "
        "in practice); copy it from the console or `torinvest findings`",
    )


_ROLE_ARN = re.compile(r"arn:[\w-]+:(?:iam|sts)::(\d{12}):(?:role|assumed-role)/")


def role_account(arn: object) -> str | None:
    """The account of a role ARN (``arn:aws:iam::123456789012:role/…``, or a session's
    ``arn:aws:sts::…:assumed-role/…``), or None (no ARN, another kind, not 12 digits)."""
    if not isinstance(arn, str):
        return None
    m = _ROLE_ARN.match(arn)
    return m.group(1) if m else None
