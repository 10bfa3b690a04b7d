"""Fetching LookupEvents pages (talks to AWS): one :class:`Query`, the client with botocore
retries off, throttling and transient errors backed off (paced) and resumed from the same
token, as many times as the configured retries allow (:data:`MAX_RETRIES` when none are).
"""

from __future__ import annotations

import logging
import random
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from torinvest.aws import (
    AWS_CALL_ERRORS,
    REPAIRED_KEY,
    Aws,
    EndpointDown,
    PageTrail,
    answer,
    answer_repairs,
    retries_spent,
    translate_error,
)
from torinvest.aws.pages import REPEATED, RESTARTS, expired_token, token_expired_again
from torinvest.aws.session import connect_attempts
from torinvest.errors import AwsError, EndpointError, InputError
from torinvest.jsonread import REPLACEMENT
from torinvest.sources.lookup.pacer import Pacer

log = logging.getLogger(__name__)


PAGE_SIZE = 50
#: Pages one query may take in one region before the pull is stopped as endless: 20,000 pages
#: are 1,000,000 events, 7.7 events a minute for 90 days (LookupEvents' whole retention)
#: without a pause, in one region, for one key: far beyond a person or a busy automation key
#: (and 2.8 hours at 2 pages a second). A pull that reaches it is an endpoint (or proxy) whose
#: NextToken never ends; it is reported as incomplete, never taken as complete.
MAX_PAGES = 20_000
#: Retries of one page when the configuration chain sets no retries (``AWS_MAX_ATTEMPTS``, a
#: profile's ``max_attempts``/``retry_mode``: :func:`torinvest.aws.session.configured_attempts`
#: then, as every other client makes).
MAX_RETRIES = 8
BACKOFF_BASE = 0.5
BACKOFF_CAP = 20.0
ATTRIBUTES = ("AccessKeyId", "Username", "EventName", "EventSource", "ResourceName", "EventId")
_THROTTLE_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_TRANSIENT_CODES = frozenset({"InternalFailure", "ServiceUnavailable", "InternalServerError"})


# --------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Query:
    """One LookupEvents query: a single attribute and a time window (UTC)."""

    attribute: str
    value: str
    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if self.attribute not in ATTRIBUTES:
            raise InputError(
                f"unknown lookup attribute {self.attribute!r}",
                hint=f"use one of {', '.join(ATTRIBUTES)}",
            )
        if self.start > self.end:
            raise InputError(
                f"the window starts ({self.start}) after it ends ({self.end})",
                hint="swap --start and --end",
            )

    def params(self) -> dict[str, Any]:
        return {
            "LookupAttributes": [{"AttributeKey": self.attribute, "AttributeValue": self.value}],
            "StartTime": self.start.to_pydatetime(),
            "EndTime": self.end.to_pydatetime(),
            "MaxResults": PAGE_SIZE,
        }


class EndlessPaging(AwsError):
    """LookupEvents' NextToken would not end: a token came back that this pull had already
    followed, or the pull reached :data:`MAX_PAGES`."""


class Interrupted(Exception):
    """The run was interrupted (Ctrl-C) while this pull ran: it stops before its next call."""


class IncompleteRegion(AwsError):
    """A region stopped part-way: ``pages`` holds what had been pulled before the failure."""

    def __init__(self, cause: AwsError, pages: list[list[dict[str, Any]]]) -> None:
        super().__init__(
            f"{cause.message}; stopped after {len(pages)} page(s), results for this region are "
            "incomplete",
            hint=cause.hint,
            service="cloudtrail",
            region=cause.region,
            operation="LookupEvents",
            code=cause.code,
        )
        self.pages = pages


_LOOKUP = "cloudtrail.LookupEvents"
#: The call on the wire in this thread: (pacer, slot), for the client hooks to stamp.
_ON_WIRE = threading.local()


def _stamp_sent(**_: Any) -> None:
    """botocore's before-send: the request leaves now (signed; retries are off)."""
    on_wire = getattr(_ON_WIRE, "call", None)
    if on_wire is not None:
        on_wire[0].sent(on_wire[1])


def _stamp_answered(**_: Any) -> None:
    """botocore's before-parse: the answer is here (parsing it is not the round trip)."""
    on_wire = getattr(_ON_WIRE, "call", None)
    if on_wire is not None:
        on_wire[0].answered(on_wire[1])


_CLIENTS: weakref.WeakKeyDictionary[Aws, dict[str, Any]] = weakref.WeakKeyDictionary()
_CLIENTS_LOCK = threading.Lock()


def lookup_client(aws: Aws, region: str) -> Any:
    """A CloudTrail client whose retries are handled here (pacing must stay exact), whose
    requests and answers are timed for the pacer; one per session and region."""
    with _CLIENTS_LOCK:
        clients = _CLIENTS.setdefault(aws, {})
        if region in clients:
            return clients[region]
    client = aws.client("cloudtrail", region, config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register(f"before-send.{_LOOKUP}", _stamp_sent)
    client.meta.events.register(f"before-parse.{_LOOKUP}", _stamp_answered)
    with _CLIENTS_LOCK:
        return _CLIENTS.setdefault(aws, {}).setdefault(region, client)


def fetch_pages(
    client: Any,
    query: Query,
    pacer: Pacer,
    *,
    on_page: Callable[[int], None] | None = None,
    max_retries: int | None = None,
    attempts: int | None = None,
    backoff_base: float | None = None,
    max_pages: int | None = None,
    stop: threading.Event | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page of ``Events`` for ``query``, paced, resuming from the same token on throttles.

    Raises AwsError when the region refuses (access denied, not enabled) or once one page's
    call failed ``attempts`` times in a row (throttles, transient errors, connections; a
    certificate not trusted is not retried) — ``attempts``: the configured retries
    (:meth:`torinvest.aws.Aws.configured_attempts`, ``AWS_MAX_ATTEMPTS``…); None (none
    configured): after ``max_retries`` retries (None: :data:`MAX_RETRIES`), a call that could not
    connect retried once (:func:`torinvest.aws.session.connect_attempts`). Every retry waits
    its turn at ``pacer`` (the rate limit holds for retries too);
    :class:`EndlessPaging` (after the pages it had) when a NextToken comes back that this pull
    already followed (the same page chain again: it would never end) or after ``max_pages``
    pages (None: :data:`MAX_PAGES`);
    :class:`Interrupted` before a call once ``stop`` is set (the run was interrupted).

    A NextToken refused as expired (``InvalidNextTokenException``: a long pause between pages,
    throttles) starts the pull over from its first page, once; the events already yielded are
    not yielded again (by EventId). A second expiry raises AwsError (``ExpiredNextToken``)
    after the pages before it, so the region says what it could not read.
    """
    region = client.meta.region_name
    token: str | None = None
    trail = PageTrail("cloudtrail", OP, region=region, limit=max_pages or MAX_PAGES)
    configured = attempts is not None
    if attempts is not None:
        max_retries = max(0, attempts - 1)
    elif max_retries is None:
        max_retries = MAX_RETRIES
    failures = 0
    unconnected = 0  # calls that could not connect: retried once (connect_attempts)
    restarts = 0
    yielded: set[Any] = set()  # EventIds: a pull started over skips what it gave
    pages = 0
    while True:
        params = query.params()
        if token:
            params["NextToken"] = token
        slot = pacer.wait(stop)  # a backoff before it too: Ctrl-C ends it at once
        if stop is not None and stop.is_set():
            pacer.done(slot)  # a call the pacer waits on always ends
            raise Interrupted(f"{OP} in {region}: interrupted")
        _ON_WIRE.call = (pacer, slot)
        try:
            resp = client.lookup_events(**params)
        except AWS_CALL_ERRORS as e:
            code = e.response.get("Error", {}).get("Code") if isinstance(e, ClientError) else None
            pacer.done(slot, throttled=code in _THROTTLE_CODES)
            status = (
                e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if isinstance(e, ClientError)
                else 0
            )
            retryable = (
                code in _THROTTLE_CODES
                or code in _TRANSIENT_CODES
                or status >= 500
                # not an endpoint (every region's, or this region's own) or proxy that
                # another call found down: the failure is the answer (torinvest.aws.reach)
                or (isinstance(e, BotoConnectionError) and not isinstance(e, EndpointDown))
            )
            # not connected (refused, no DNS, TLS, proxy…)
            limit = connect_attempts(e, configured=configured)
            if limit is not None:
                unconnected += 1
                retryable = retryable and unconnected < limit
            if token and expired_token(e, "cloudtrail"):
                if restarts >= RESTARTS:
                    raise token_expired_again(
                        e, "cloudtrail", OP, region=region, pages=pages
                    ) from e
                restarts += 1
                log.warning(
                    "lookup %s: NextToken expired after %d page(s): starting over", region, pages
                )
                token, failures = None, 0
                trail = PageTrail("cloudtrail", OP, region=region, limit=max_pages or MAX_PAGES)
                continue
            if not retryable or failures >= max_retries:
                # no more tries: a connection failure is the answer for every later call to
                # its endpoint (all regions' when they share it) (torinvest.aws.reach)
                retries_spent(client, e, OP)
                raise translate_error(
                    e, service="cloudtrail", region=region, operation="LookupEvents"
                ) from e
            base = BACKOFF_BASE if backoff_base is None else backoff_base
            delay = min(BACKOFF_CAP, base * 2**failures) * (0.5 + random.random() / 2)  # noqa: S311
            failures += 1
            log.info("lookup %s: %s, retry %d in %.2fs", region, code or e, failures, delay)
            pacer.push_back(delay)
            continue
        except BaseException:
            pacer.done(slot)  # a call the pacer waits on always ends
            raise
        finally:
            _ON_WIRE.call = None
        pacer.done(slot)
        failures = unconnected = 0
        events = _events_of(resp, region)
        if restarts:
            events = [ev for ev in events if not ev.get("EventId") or ev["EventId"] not in yielded]
        yielded.update(ev["EventId"] for ev in events if ev.get("EventId"))
        pages += 1
        if on_page:
            on_page(len(events))
        yield events
        token = resp.get("NextToken")
        why = trail.endless(token)  # the shared check (aws.pages), this pull's own wording
        if why is not None:
            raise _endless(why, trail.pages, region)
        if not token:
            return


OP = "LookupEvents"


def _endless(why: str, pages: int, region: str) -> EndlessPaging:
    """The :class:`EndlessPaging` of a pull stopped by its :class:`~torinvest.aws.PageTrail`
    (``why``: a NextToken it had already followed, or ``pages`` reached the cap)."""
    if why == REPEATED:
        problem = "returned the same NextToken twice (its pages would never end)"
    else:
        problem = (
            f"still returned a NextToken after {pages:,} pages ({pages * PAGE_SIZE:,} events), "
            f"the most one query may take in a region (MAX_PAGES)"
        )
    return EndlessPaging(
        f"{OP} in {region} {problem}",
        hint="an endpoint or proxy that does not end its pages; the events pulled so far are kept",
        service="cloudtrail",
        region=region,
        operation=OP,
        code="EndlessPagination",
    )


def _events_of(resp: Any, region: str) -> list[dict[str, Any]]:
    """The ``Events`` of a LookupEvents answer, checked: an answer without them, or with an entry
    that is not an event object, is an EndpointError, never "no events". An answer whose text
    was made valid (a lone surrogate escape in a top-level field such as ``Username``) marks
    each event holding U+FFFD with what was replaced (``REPAIRED_KEY``)."""
    events = answer(resp, "Events", list, service="cloudtrail", region=region, operation=OP)
    for ev in events:
        if not isinstance(ev, dict):
            raise EndpointError(
                f"{OP} on cloudtrail in {region}: the answer's Events hold "
                f"{type(ev).__name__} ({str(ev)[:60]}), not events",
                hint="a proxy or a wrong AWS_ENDPOINT_URL may be answering instead of AWS",
                service="cloudtrail",
                region=region,
                operation=OP,
                code="IncompleteResponse",
            )
    repairs = answer_repairs(resp)
    if repairs:  # text made valid (torinvest.aws.answers.repair_answer): each event holding
        # it says so (REPAIRED_KEY: what was replaced in the page), for the pull's issue
        events = [{**ev, REPAIRED_KEY: repairs} if _holds(ev, REPLACEMENT) else ev for ev in events]
    return events


def _holds(value: Any, text: str) -> bool:
    """Whether ``text`` is in a string of ``value`` (its keys too), however deep."""
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_holds(k, text) or _holds(v, text) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds(v, text) for v in value)
    return False
