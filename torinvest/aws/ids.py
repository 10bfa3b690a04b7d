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

import botocore.session

from torinvest.errors import InputError

#: The characters of an access key ID as AWS issues them (IAM's ``[\\w]+``, narrowed).
KEY_CHARS = re.compile(r"[A-Z0-9]+")
#: An AWS account ID.
ACCOUNT_ID = re.compile(r"[0-9]{12}")


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
    model = botocore.session.get_session().get_service_model(service)
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
