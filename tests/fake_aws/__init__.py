"""Test doubles for AWS: a local GuardDuty/CloudTrail LookupEvents endpoint, and the real-AWS guard's error."""

from tests.fake_aws.server import DROP, HTTP_500, FakeAws, LoggedRequest, lookup_event


class RealAwsCallError(AssertionError):
    """A test tried to reach a real AWS endpoint (raised by the autouse guard in tests/conftest.py)."""


__all__ = ["DROP", "HTTP_500", "FakeAws", "LoggedRequest", "RealAwsCallError", "lookup_event"]
