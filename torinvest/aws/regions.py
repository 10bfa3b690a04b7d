"""Region names: ``--regions`` parsed and checked, and the list of regions to search."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from torinvest.aws.loader import model_loader
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


#: Where CloudTrail records the events of IAM, STS and CloudFront (global services) in the
#: commercial partition (LookupEvents shows them only there since Nov 2021).
COMMERCIAL_GLOBAL_REGION = "us-east-1"


#: The regions enabled in every account, per partition: those launched before March 20, 2019
#: (AWS Account Management, "Enable or disable AWS Regions"); every region launched since is
#: opt-in, so this list does not grow. China's and GovCloud's regions are all enabled.
DEFAULT_REGIONS: dict[str, frozenset[str]] = {
    "aws": frozenset(
        {
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "eu-central-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-north-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-south-1",
            "sa-east-1",
        }
    ),
    "aws-cn": frozenset({"cn-north-1", "cn-northwest-1"}),
    "aws-us-gov": frozenset({"us-gov-west-1", "us-gov-east-1"}),
}


@dataclass(frozen=True, slots=True)
class _Partition:
    name: str  # aws, aws-cn, aws-us-gov…: the ARN partition
    pattern: re.Pattern[str]  # its region names
    global_region: str | None  # where its global IAM endpoint signs (None: no such endpoint)


@cache
def _partitions() -> tuple[_Partition, ...]:
    """The partitions botocore's endpoint data knows, each with its region pattern and the
    region its global IAM endpoint signs in (us-east-1, cn-north-1, us-gov-west-1…)."""
    loader = model_loader()  # not a session's: a profile that does not exist is no error here
    out: list[_Partition] = []
    for part in loader.load_data("endpoints").get("partitions", []):
        iam = part.get("services", {}).get("iam", {})
        glob = iam.get("endpoints", {}).get(str(iam.get("partitionEndpoint")), {})
        region = glob.get("credentialScope", {}).get("region")
        if part.get("regionRegex") and part.get("partition"):
            out.append(
                _Partition(
                    str(part["partition"]),
                    re.compile(part["regionRegex"]),
                    str(region) if region else None,
                )
            )
    return tuple(out)


def _partition(region: str | None) -> _Partition | None:
    for part in _partitions():
        if region and part.pattern.match(str(region)):
            return part
    return None


def arn_partition(region: str | None) -> str:
    """The ARN partition of ``region``: ``aws-us-gov`` for GovCloud, ``aws-cn`` for China…;
    ``aws`` for a commercial region, an unknown one (botocore resolves it there) or None."""
    part = _partition(region)
    return part.name if part is not None else "aws"


def global_events_region(region: str) -> str | None:
    """The region where CloudTrail records the IAM and STS (global service) events of
    ``region``'s partition: us-east-1 for the commercial regions, us-gov-west-1 for GovCloud,
    cn-north-1 for China… A region no partition's pattern matches is commercial, as botocore
    resolves it; None for a partition without a global IAM endpoint."""
    part = _partition(region)
    return part.global_region if part is not None else COMMERCIAL_GLOBAL_REGION


def global_regions_missing(regions: Iterable[str]) -> list[str]:
    """The global-service-event regions (:func:`global_events_region`) of the partitions of
    ``regions`` that ``regions`` leaves out, in the order their partitions first appear."""
    named = list(regions)
    missing: list[str] = []
    for region in named:
        home = global_events_region(region)
        if home is not None and home not in named and home not in missing:
            missing.append(home)
    return missing


@dataclass(frozen=True, slots=True)
class RegionList:
    """Regions to search, where that list came from, and a note when it is a fallback.
    ``opted_in``: of ``names``, those the account enabled by opting in (EC2 DescribeRegions'
    ``OptInStatus`` ``opted-in``): regions another account need not have enabled."""

    names: list[str]
    source: str
    note: str | None = None
    opted_in: tuple[str, ...] = ()

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)
