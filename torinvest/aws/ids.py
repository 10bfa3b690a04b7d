"""AWS identifiers checked as AWS's own models define them (botocore's service models ship with
botocore: nothing is loaded from the network).

An access key ID is IAM's ``accessKeyIdType``: the pattern ``[\\w]+``, 16 to 128 characters.
torinvest reads ``\\w`` as ASCII (letters, digits, ``_``): an ID is never anything else, and a
filter value enters SQL queries as a literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import botocore.session


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
    """True when ``value`` is shaped like an access key ID (:func:`access_key_id_shape`)."""
    return access_key_id_shape().matches(value)


def access_key_id_hint() -> str:
    """What an access key ID looks like, for an error's hint."""
    shape = access_key_id_shape()
    return (
        f"an access key ID is {shape.min}–{shape.max} ASCII letters, digits or _ (IAM's "
        "accessKeyIdType), e.g. AKIA… or ASIA…"
    )
