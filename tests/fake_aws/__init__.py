"""Test doubles for AWS: a local GuardDuty/CloudTrail LookupEvents/Athena endpoint, and the real-AWS
guard's error."""

from tests.fake_aws.server import (
    DROP,
    GARBLED,
    HTML_PAGE,
    HTTP_500,
    JSON_NOT_FOUND,
    JSON_SERVER_ERROR,
    AthenaAnswer,
    AthenaRegion,
    FakeAws,
    LoggedRequest,
    lookup_event,
)


class RealAwsCallError(AssertionError):
    """A test tried to reach a real AWS endpoint (raised by the autouse guard in tests/conftest.py)."""


__all__ = [
    "DROP",
    "GARBLED",
    "HTML_PAGE",
    "HTTP_500",
    "JSON_NOT_FOUND",
    "JSON_SERVER_ERROR",
    "AthenaAnswer",
    "AthenaRegion",
    "FakeAws",
    "LoggedRequest",
    "RealAwsCallError",
    "lookup_event",
]
