"""Page chains that end: every token followed is remembered, and a chain stops as incomplete at
the first token that comes back or at its operation's page cap (:class:`PageTrail`,
:func:`follow_pages`).

botocore's paginators catch only a token repeated on two consecutive pages (PaginationError):
an endpoint or proxy that cycles tokens (A, B, A, B…) or sends a fresh one on every page
would keep the kit paging for ever. Every page loop of the kit goes through here, so such a
chain is an :class:`~torinvest.errors.EndpointError` (code ``EndlessPagination``) naming the
operation, the service, the region and the pages read, which each caller reports as it reports
a region, prefix or query that failed part-way: never as a complete (or empty) answer.

A next token that expired (a long pause between pages: a throttled pull, a slow consumer) is
answered with an error: :func:`expired_token` knows each service's (from botocore's models), and
:func:`restarting_pages` starts the chain again from its first page, once; a second expiry is an
:class:`~torinvest.errors.AwsError` (code ``ExpiredNextToken``) saying the results are
incomplete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from torinvest.errors import AwsError, EndpointError

log = logging.getLogger(__name__)

#: The error codes an expired or invalid next token is answered with (botocore's models):
#: CloudTrail's LookupEvents (and its Lake GetQueryResults) document their own.
TOKEN_ERRORS: dict[str, frozenset[str]] = {
    "cloudtrail": frozenset({"InvalidNextTokenException"}),
}
#: Services whose operations document only a generic "bad input" error for it (GuardDuty's
#: ListFindings/ListDetectors: BadRequestException, HTTP 400; Athena's GetQueryResults:
#: InvalidRequestException): a token error there is that code with a message naming the token.
GENERIC_TOKEN_ERRORS: dict[str, frozenset[str]] = {
    "guardduty": frozenset({"BadRequestException"}),
    "athena": frozenset({"InvalidRequestException"}),
}
#: Times a chain is started again after its next token expired.
RESTARTS = 1

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
    # the same listing of a versioned bucket (sources.logs.versions): 1,000 versions and
    # delete markers a page
    "ListObjectVersions": 100_000,
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


def expired_token(error: BaseException, service: str) -> bool:
    """Whether ``error`` (of a call that sent a next token) refuses the token as expired or not
    valid (:data:`TOKEN_ERRORS`, :data:`GENERIC_TOKEN_ERRORS`)."""
    if not isinstance(error, ClientError):
        return False
    err = error.response.get("Error", {})
    code, message = str(err.get("Code") or ""), str(err.get("Message") or "")
    if code in TOKEN_ERRORS.get(service, ()):
        return True
    return code in GENERIC_TOKEN_ERRORS.get(service, ()) and "token" in message.lower()


def token_expired_again(
    error: BaseException, service: str, operation: str, *, region: str | None, pages: int
) -> AwsError:
    """The error of a chain whose next token expired again after it was started over."""
    err = error.response.get("Error", {}) if isinstance(error, ClientError) else {}
    said = f"{err.get('Code') or type(error).__name__}: {err.get('Message') or error}"
    return AwsError(
        f"{operation} on {service} in {region or 'the home region'}: the next token was refused "
        f"as expired or not valid ({said}) again after the listing started over from its first "
        f"page; stopped after {pages:,} page(s), the results of this call are incomplete",
        hint="the pages came too slowly for the service's token to last (throttling, a slow "
        "network or machine): run it again, narrower (a shorter window, fewer regions)",
        service=service,
        region=region,
        operation=operation,
        code="ExpiredNextToken",
    )


def restarting_pages(
    start: Callable[[], Iterable[Mapping[str, Any]]],
    token_key: str,
    service: str,
    operation: str,
    *,
    region: str | None = None,
    resource: str | None = None,
    limit: int | None = None,
    same_pages: bool = False,
) -> Iterator[Mapping[str, Any]]:
    """:func:`follow_pages` over ``start()`` (a paginator's iterator), started over from the
    first page (:data:`RESTARTS` times) when a next token is refused as expired
    (:func:`expired_token`); then :func:`token_expired_again`.

    ``same_pages``: the chain is a stored result that pages the same way each time (Athena's
    GetQueryResults of one query): the pages already yielded are skipped when it starts over,
    so no row is read twice (rows are not keys: two equal rows are two rows). Otherwise every
    page is yielded again and the caller keeps each item once (by its ID)."""
    yielded = 0
    for attempt in range(RESTARTS + 1):
        seen = 0  # pages of this pass
        try:
            for page in follow_pages(
                start(),
                token_key,
                service,
                operation,
                region=region,
                resource=resource,
                limit=limit,
            ):
                seen += 1
                if same_pages and seen <= yielded:
                    continue
                yielded = max(yielded, seen)
                yield page
            return
        except ClientError as e:
            if seen == 0 or not expired_token(e, service):  # no token was sent: not that
                raise
            if attempt == RESTARTS:
                raise token_expired_again(
                    e, service, operation, region=region, pages=yielded
                ) from e
            log.warning(
                "%s on %s in %s: the next token expired after %d page(s); starting over",
                operation,
                service,
                region or "the home region",
                seen,
            )
    raise AssertionError("unreachable")  # pragma: no cover
