"""Local Jira and ServiceNow servers that check each request against the documented contract."""

from tests.fake_tickets.jira import FakeJira
from tests.fake_tickets.server import HTML_SIGN_IN, FakeHttpService, Recorded
from tests.fake_tickets.servicenow import FakeServiceNow

__all__ = ["HTML_SIGN_IN", "FakeHttpService", "FakeJira", "FakeServiceNow", "Recorded"]
