"""Region names: ``--regions`` parsed and checked, and the list of regions to search."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from torinvest.errors import InvalidRegionError

REGION_RE = re.compile(r"\A[a-z]{2}(-[a-z]+)+-[0-9]{1,2}\Z")


def validate_region(name: str) -> str:
    """Return ``name`` if it is shaped like an AWS region name, else raise InvalidRegionError."""
    if not isinstance(name, str) or not REGION_RE.match(name):
        raise InvalidRegionError(
            f"invalid region name {name!r}",
            hint="use a region code such as us-east-1 or eu-west-3, or 'all'",
        )
    return name


def parse_regions(value: str | Sequence[str] | None) -> list[str] | None:
    """Parse ``--regions``: None or ``"all"`` → None (every enabled region), else a checked list.

    An empty value (``''``, only commas or spaces, an empty list) is refused: it names no region,
    and reading it as "all" would search what the analyst did not ask for.
    """
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    items = [i.strip() if isinstance(i, str) else i for i in items]
    items = [i for i in items if i]
    if not items:
        raise InvalidRegionError(
            f"no region named in --regions {value!r}",
            hint="pass 'all' (every enabled region) or region codes such as us-east-1,eu-west-1",
        )
    if items == ["all"]:
        return None
    if "all" in items:
        raise InvalidRegionError(
            "'all' cannot be combined with region names", hint="pass 'all' or a list of regions"
        )
    return list(dict.fromkeys(validate_region(i) for i in items))


@dataclass(frozen=True, slots=True)
class RegionList:
    """Regions to search, where that list came from, and a note when it is a fallback."""

    names: list[str]
    source: str
    note: str | None = None

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)
