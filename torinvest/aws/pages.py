"""Page chains that end: every token followed is remembered, and a chain stops as incomplete at
the first token that comes back or at its operation's page cap (:class:`PageTrail`,
:func:`follow_pages`).

botocore's paginators catch only a token repeated on two consecutive pages (PaginationError):
an endpoint or proxy that cycles tokens (A, B, A, B…) or sends a fresh one on every page
would keep the kit paging for ever. Every page loop of the kit goes through here, so such a
chain is an :class:`~torinvest.errors.EndpointError` (code ``EndlessPagination``) naming the
operation, the service, the region and the pages read, which each caller reports as it reports
a region, prefix or query that failed part-way: never as a complete (or empty) answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from torinvest.errors import EndpointError

#: Pages one chain of an operation may take before it is stopped as endless, and why that
#: many is beyond any real answer (page sizes as the kit asks for them):
MAX_PAGES: dict[str, int] = {
    # one detector per account and region: a second page is already odd
    "ListDetectors": 10,
    # 50 IDs a page: 500,000 Tor findings for one criterion in one region, each then fetched
    # by GetFindings — far beyond any account (findings are kept 90 days, repeats aggregated)
    "ListFindings": 10_000,
    # 1,000 keys a page: 100,000,000 log files under one prefix, more than the kit could hold
    # as a listing in memory (a narrowed listing asks one day folder at a time: ~288 a region)
    "ListObjectsV2": 100_000,
    # 1,000 rows a page: 10,000,000 rows of text, more than a frame of the kit holds in memory
    # (the queries count per address, per hour…; an events query is capped well below)
    "GetQueryResults": 10_000,
    # (LookupEvents: its own cap, sources.lookup.fetch.MAX_PAGES, 20,000 pages, and wording)
    # IAM's own quotas (5,000 users a account, 300 groups, 10 policies a user, 2 keys a user)
    # at IAM's default 100 items a page; GuardDuty's 100 filters a detector at 50 a page
    "ListUsers": 100,
    "ListGroups": 100,
    "GetGroup": 100,
    "ListAccessKeys": 100,
    "ListMFADevices": 100,
    "ListAttachedUserPolicies": 100,
    "ListUserPolicies": 100,
    "ListGroupsForUser": 100,
    "ListAttachedGroupPolicies": 100,
    "ListGroupPolicies": 100,
    "ListFilters": 100,
}
#: The cap of an operation not in :data:`MAX_PAGES`.
DEFAULT_MAX_PAGES = 1_000
#: Why a chain stopped (:meth:`PageTrail.endless`).
REPEATED = "repeated"
CAPPED = "capped"


def max_pages(operation: str) -> int:
    """The page cap of ``operation`` (:data:`MAX_PAGES`, else :data:`DEFAULT_MAX_PAGES`)."""
    return MAX_PAGES.get(operation, DEFAULT_MAX_PAGES)


class PageTrail:
    """The tokens one page chain has followed, and how many pages it has read.

    Call :meth:`follow` with each page's next token before following it: it returns whether
    there is a next page (a token), and raises :class:`EndpointError` when that token was
    already followed in this chain or the chain has read its cap of pages."""

    def __init__(
        self,
        service: str,
        operation: str,
        *,
        region: str | None = None,
        resource: str | None = None,
        limit: int | None = None,
    ) -> None:
        self.service = service
        self.operation = operation
        self.region = region
        self.resource = resource
        self.limit = limit if limit is not None else max_pages(operation)
        self.pages = 0
        self._followed: set[str] = set()

    def endless(self, token: Any) -> str | None:
        """Count one page read; :data:`REPEATED` when its next ``token`` was already followed,
        :data:`CAPPED` when the chain reached its cap and there is still a next page, else None
        (and the token, if any, is remembered as followed)."""
        self.pages += 1
        if not token:
            return None
        key = repr(token)  # a token is a string, or a dict for some services' paginators
        if key in self._followed:
            return REPEATED
        if self.pages >= self.limit:
            return CAPPED
        self._followed.add(key)
        return None

    def follow(self, token: Any) -> bool:
        """Count one page read; True when ``token`` leads to a next page to read, False when
        the chain ended. Raises :class:`EndpointError` (see :meth:`endless`)."""
        why = self.endless(token)
        if why is not None:
            raise self.error(why)
        return bool(token)

    def error(self, why: str) -> EndpointError:
        """The error for a chain stopped because of ``why`` (:data:`REPEATED`, :data:`CAPPED`)."""
        where = f"{self.service} in {self.region or 'the home region'}"
        if self.resource:
            where += f" for {self.resource}"
        if why == REPEATED:
            problem = "the endpoint returned the same next token twice (its pages would never end)"
        else:
            problem = (
                f"the endpoint still returned a next token after {self.pages:,} pages, the most "
                f"one {self.operation} may take"
            )
        return EndpointError(
            f"{self.operation} on {where}: {problem}; stopped after {self.pages:,} page(s), the "
            "results of this call are incomplete",
            hint="an endpoint or proxy that does not end its pages; retry later, or check the "
            "endpoint settings (AWS_ENDPOINT_URL…)",
            service=self.service,
            region=self.region,
            operation=self.operation,
            code="EndlessPagination",
        )


def follow_pages(
    pages: Iterable[Mapping[str, Any]],
    token_key: str,
    service: str,
    operation: str,
    *,
    region: str | None = None,
    resource: str | None = None,
    limit: int | None = None,
    more_key: str | None = None,
) -> Iterator[Mapping[str, Any]]:
    """Each page of ``pages`` (a botocore paginator's iterator), stopped by a :class:`PageTrail`
    on ``token_key`` (the answer's next-token field: ``NextToken``, ``NextContinuationToken``…):
    a page whose next token was already followed, or past the cap, raises EndpointError after
    the pages before it were yielded. ``more_key``: a flag that must be true for the token to
    count (S3's ``IsTruncated``), as the paginator reads it."""
    trail = PageTrail(service, operation, region=region, resource=resource, limit=limit)
    for page in pages:
        more = more_key is None or bool(page.get(more_key))
        why = trail.endless(page.get(token_key) if more else None)
        yield page
        if why is not None:
            raise trail.error(why)
