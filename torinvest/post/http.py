"""HTTP for the ticket systems (Jira, ServiceNow) and presigned uploads: httpx, bounded retries,
and every failure as one :class:`~torinvest.post.base.PostError` line.

* **Retries**: a connection that could not be made, HTTP 429, 500, 502, 503 and 504 are tried
  again — ``attempts`` in all, waiting ``backoff`` × 2ⁿ seconds (or the server's
  ``Retry-After``). A ``Retry-After`` longer than :data:`MAX_RETRY_AFTER` is not cut short
  (a retry before it is refused again): the request is not retried, and the error says when
  to post again. The wait ends at once on Ctrl-C.
* **Posts that make something** (a comment, a work note, an attachment, an issue: POST and
  PATCH) are not idempotent: a 5xx, a timeout or a connection dropped after the request was
  sent may come after the server did it. Such a request is sent again only once ``landed`` (a
  look-up the destination gives, by the unique marker or name the request carried) says the
  earlier attempt is not there; when it is, that is the answer. Without a look-up, or when the
  look-up fails, it is not sent again: the error says it may have been posted and where to
  check (:class:`MaybePostedError`). A refused connection and HTTP 429 (the server did nothing)
  are retried as for any request. A later post that resumes such a step looks first too
  (:meth:`Http.looking_first`): what the earlier run made is recorded, never made twice.
* **Errors** say what the status means for the user: 401 (credentials refused: which variables),
  403 (not allowed), 404 (no such ticket, or not visible to this account), 413 (the file is over
  the server's limit), 5xx after the retries, a 2xx answer that is not the JSON the API promises
  (a proxy's sign-in page), a redirect (not followed: where it leads, never its query, and
  whether it is a sign-in page — single sign-on in front of the site), a TLS certificate the
  client does not trust and a proxy that refuses the tunnel (named, not retried: no retry mends
  them). The server's own message is quoted, cut to one line, redacted.
* **Plain HTTP is refused** for anything that carries credentials or a report, except to a
  loopback address (a local test server).
"""

from __future__ import annotations

import email.utils
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from torinvest import __version__
from torinvest.post.base import PostConfigError, PostDeclinedError, PostError, PostUnreachableError
from torinvest.post.env import Redactor
from torinvest.safety import term_safe

log = logging.getLogger(__name__)

#: Attempts per request (the first one included).
DEFAULT_ATTEMPTS = 4
#: Seconds before the first retry; doubled each time.
DEFAULT_BACKOFF = 1.0
#: The longest a server's Retry-After is honoured (seconds).
MAX_RETRY_AFTER = 60.0
#: Seconds to connect, and to wait for an answer (uploads of a large report take a while).
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 120.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"torinvest/{__version__}"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: Characters of a server's error message quoted in an error.
_QUOTE = 200
#: An S3 error document (a presigned upload refused).
_S3_ERROR = re.compile(r"<Error>\s*<Code>([^<]{1,100})</Code>\s*<Message>([^<]{0,300})</Message>")


def check_url(url: str, variable: str, spec: str) -> str:
    """``url`` without a trailing ``/`` when it is an https URL (or http to a loopback
    address), without credentials, query or fragment in it (each could hold a secret that would
    then be recorded as the site); else raise :class:`PostConfigError` naming ``variable``,
    never showing the value."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise PostConfigError(
            f"{spec}: {variable} is not an http(s) URL",
            hint=f"set {variable} to the site's address, e.g. https://example.atlassian.net",
        )
    if parts.username or parts.password:
        raise PostConfigError(
            f"{spec}: {variable} holds credentials",
            hint="put the user and the secret in their own variables, not in the URL",
        )
    if "?" in url or "#" in url:  # a token in a query or fragment would be recorded as the site
        raise PostConfigError(
            f"{spec}: {variable} has a query or a fragment (the value is not shown: it may hold "
            "a token)",
            hint=f"set {variable} to the site's address alone (https://host[/path]); put "
            "secrets in their own variables",
        )
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise PostConfigError(
            f"{spec}: {variable} is a plain-HTTP URL: credentials and the report would cross "
            "the network unencrypted",
            hint=f"use the https:// address of {parts.hostname}",
        )
    return url.strip().rstrip("/")


def where(url: str) -> str:
    """A URL for a message: scheme, host and path — never its query (a presigned URL's query
    holds a signature and a session token)."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


#: Methods that do the same thing when sent twice (a retry cannot duplicate anything).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Statuses after which a request that makes something may still have made it (the server
#: failed or a proxy gave up waiting: the work may be done); 429 is a refusal before any work.
_MAYBE_DONE = frozenset({500, 502, 503, 504})


class MaybePostedError(PostError):
    """A request that makes something (a comment, a work note…) failed in a way that may come
    after the server did it, and whether it did could not be checked: not sent again (an
    outcome unknown: a failed post's exit status, someone must look). ``sent_at``: when the
    attempt that may have been done was sent (epoch seconds; None: not known) — a look-up that
    needs time to show what was made (:attr:`Http.sent_at`) is judged from it."""

    def __init__(
        self,
        destination: str,
        problem: str,
        *,
        hint: str | None = None,
        sent_at: float | None = None,
    ) -> None:
        super().__init__(destination, problem, hint=hint)
        self.sent_at = sent_at


class Landed:
    """What a destination's look-up found of an earlier attempt (its remote IDs): the request
    that made it is not sent again."""

    __slots__ = ("found",)

    def __init__(self, found: dict[str, Any]) -> None:
        self.found = found


class Http:
    """One HTTP client for one destination. ``hints`` maps a status (401, 403, 404, 413) to
    what to do, in the destination's terms."""

    def __init__(
        self,
        destination: str,
        *,
        redactor: Redactor,
        base_url: str = "",
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
        hints: Mapping[int, str] | None = None,
        site_variable: str = "",
    ) -> None:
        self.destination = destination
        #: the variable that holds the service's address (``JIRA_URL``), for what a redirect means
        self.site_variable = site_variable
        self.redactor = redactor
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep
        self.hints = dict(hints or {})
        #: why the next request that makes something may already have been made (an earlier
        #: post stopped on it: :meth:`looking_first`), or None
        self.made_before: str | None = None
        #: when the latest request that makes something was sent (epoch seconds), or, while
        #: :meth:`looking_first` holds, when the earlier post's unsure attempt was (None: not
        #: known): a look-up whose index lags (Jira Cloud's search) judges "not there" by it
        self.sent_at: float | None = None
        self.client = httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            follow_redirects=False,  # a redirect would resend credentials elsewhere
        )

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def looking_first(self, why: str, since: float | None = None) -> Iterator[None]:
        """Within the block, a request that makes something and has a look-up looks for an
        earlier attempt *before* it is sent (``why``: why one may be there — an earlier post
        stopped with it "may have been posted"; ``since``: when that attempt was sent, None if
        not known): found, that is the answer, nothing sent; not there, it is sent; the
        look-up failing is :class:`MaybePostedError` again."""
        self.made_before = why
        self.sent_at = since
        try:
            yield
        finally:
            self.made_before = None

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        ok: Iterable[int] = (200, 201, 204),
        size: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request (retried as the module docstring says) and return a response with
        an ``ok`` status; raise :class:`PostError` (``what`` says what was being done, e.g.
        "attach report.html to SEC-1") otherwise. A POST or PATCH goes through :meth:`make`."""
        if method.upper() not in IDEMPOTENT:
            raise AssertionError(f"{method} {what}: use Http.make (it is not idempotent)")
        got = self._send(method, url, what=what, ok=ok, size=size, **kwargs)
        assert isinstance(got, httpx.Response)
        return got

    def make(
        self,
        method: str,
        url: str,
        *,
        what: str,
        check: str,
        landed: Callable[[], dict[str, Any] | None] | None,
        ok: Iterable[int] = (200, 201, 204),
        size: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response | Landed:
        """A request that makes something (POST, PATCH): sent again after a failure that may
        come after the server did it only when ``landed()`` finds nothing (it returns the remote
        IDs of what the earlier attempt made, or None); a :class:`Landed` when it found it.
        ``check`` names where a person would look (``issue SEC-1``) for the error that says it
        may have been posted."""
        return self._send(
            method, url, what=what, ok=ok, size=size, landed=landed, check=check, **kwargs
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        ok: Iterable[int],
        size: int | None,
        landed: Callable[[], dict[str, Any] | None] | None = None,
        check: str = "",
        **kwargs: Any,
    ) -> httpx.Response | Landed:
        accepted = frozenset(ok)
        makes = method.upper() not in IDEMPOTENT
        # why the attempt before may have been done (an earlier post's: looking_first)
        maybe = self.made_before if makes and landed is not None else None
        if maybe is not None:
            self.made_before = None  # the step's request: the others are its own
        for attempt in range(1, self.attempts + 1):
            if maybe is not None:
                found = self._look(what, check, maybe, landed)
                if found is not None:
                    return found
                maybe = None
            if makes:
                self.sent_at = time.time()
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
                untrusted = _untrusted_certificate(e)
                if untrusted is not None:  # no retry mends it: said, not retried (unreachable,
                    # as an AWS endpoint whose certificate is not trusted is: exit 3)
                    raise self._error(
                        PostUnreachableError,
                        f"{what}: the TLS certificate of {urlsplit(self._full(url)).netloc} is "
                        f"not trusted ({untrusted}); not retried",
                        hint="if a proxy or your organisation inspects TLS, set SSL_CERT_FILE (or "
                        "SSL_CERT_DIR) in the environment to its CA bundle — posting reads those, "
                        "not REQUESTS_CA_BUNDLE or AWS_CA_BUNDLE; else check "
                        f"{self.site_variable or 'the address'} (the certificate's name)",
                    ) from None
                if attempt < self.attempts:
                    self._wait(attempt, None)
                    continue
                raise self._error(
                    PostUnreachableError,
                    f"{what}: could not reach {where(self._full(url))} after {attempt} "
                    f"attempt(s): {type(e).__name__}: {e}",
                    hint="check the address, the network and the proxy settings "
                    "(HTTPS_PROXY, NO_PROXY)",
                ) from None
            except (
                httpx.TimeoutException,
                httpx.ReadError,
                httpx.WriteError,
                httpx.RemoteProtocolError,
            ) as e:  # sent, perhaps done: no answer came back
                said = f"no answer from {where(self._full(url))} ({type(e).__name__})"
                if makes:
                    if landed is None:
                        raise self._maybe(what, check, said, attempt) from None
                    if attempt < self.attempts:
                        maybe = said
                        self._wait(attempt, None)
                        continue
                    found = self._look(what, check, said, landed)
                    if found is not None:
                        return found
                    said += f" after {attempt} attempt(s), and it is not there"
                if isinstance(e, httpx.TimeoutException):
                    raise self._error(
                        PostUnreachableError,
                        f"{what}: {said}; not retried: the server may still be answering"
                        if not makes
                        else f"{what}: {said}",
                        hint="check the network and the server, then post again",
                    ) from None
                raise self._error(
                    PostUnreachableError,
                    f"{what}: the request failed: {type(e).__name__}: {e}"
                    + (f" ({attempt} attempt(s), and it is not there)" if makes else ""),
                    hint="check the address and the network",
                ) from None
            except httpx.ProxyError as e:  # the proxy answered the tunnel (CONNECT): not the site
                raise self._proxy_error(what, url, e) from None
            except httpx.HTTPError as e:
                raise self._error(
                    PostUnreachableError,
                    f"{what}: the request failed: {type(e).__name__}: {e}",
                    hint="check the address and the network",
                ) from None
            status = response.status_code
            if status in accepted and _is_html(response):
                # a proxy's sign-in page (or an error page) answered for the service: no API
                # answers HTML, so it is not a success — whatever the caller reads of it
                raise self._error(
                    PostUnreachableError,
                    f"{what}: HTTP {status} with an HTML page "
                    f"({response.headers.get('content-type', 'no content type').split(';')[0]})"
                    ", not the service's answer",
                    hint="a proxy or a sign-in page may be answering instead of the service; "
                    "check the URL and the network, then post again",
                )
            if status in accepted:
                return response
            if makes and status in _MAYBE_DONE:
                said = f"the server failed (HTTP {status})"
                if landed is None:
                    message = _server_message(response)
                    raise self._maybe(
                        what, check, said + (f": {message}" if message else ""), attempt
                    )
                if attempt == self.attempts:
                    found = self._look(what, check, said, landed)
                    if found is not None:
                        return found
                    raise self._status_error(response, what, attempt, size)
                maybe = f"HTTP {status}"
            asked = _retry_after(response.headers.get("retry-after"))
            if status in RETRY_STATUSES and asked is not None and asked > MAX_RETRY_AFTER:
                # the server asks for longer than a run waits: a retry before then is one it
                # refuses again (and may count against the account) — said, not sent
                if maybe is not None:  # it may have been done: looked for before "not posted"
                    found = self._look(what, check, maybe, landed)
                    if found is not None:
                        return found
                raise self._status_error(response, what, attempt, size, wait=asked)
            if status in RETRY_STATUSES and attempt < self.attempts:
                log.info(
                    "%s: %s answered HTTP %s; retrying (%d/%d)",
                    self.destination,
                    what,
                    status,
                    attempt,
                    self.attempts,
                )
                self._wait(attempt, response.headers.get("retry-after"))
                continue
            raise self._status_error(response, what, attempt, size)
        raise AssertionError("unreachable")  # pragma: no cover

    def _look(
        self,
        what: str,
        check: str,
        said: str,
        landed: Callable[[], dict[str, Any] | None] | None,
    ) -> Landed | None:
        """Before sending again a request whose earlier attempt may have been done: the
        earlier attempt found (:class:`Landed`), None (not there: send), or
        :class:`MaybePostedError` when it cannot be looked for."""
        if landed is None:  # pragma: no cover - not retried without a look-up
            raise self._maybe(what, check, said, 1)
        try:
            found = landed()
        except PostError as e:
            raise self._maybe(
                what, check, f"{said}, and looking for it failed ({e.problem})", 1
            ) from None
        if found is None:
            log.info("%s: %s: not there after %s; sending again", self.destination, what, said)
            return None
        log.info("%s: %s: done after all (%s): not sent again", self.destination, what, said)
        return Landed(found)

    def _maybe(self, what: str, check: str, said: str, attempts: int) -> MaybePostedError:
        tries = f" (attempt {attempts})" if attempts > 1 else ""
        place = check or "the destination"
        return MaybePostedError(
            self.destination,
            term_safe(
                self.redactor(
                    f"{what}: {said}{tries}; not sent again: it may have been posted: check {place}"
                )
            ),
            hint=self.redactor(
                f"look at {place}: if it is there, leave it (posting again would add it a "
                "second time); if it is not, post again"
            ),
            sent_at=self.sent_at,
        )

    def json(self, response: httpx.Response, what: str, *fields: str) -> Any:
        """The JSON body of a 2xx answer, with each of ``fields`` present (for an object);
        else a :class:`PostError`: a 200 answer that is a proxy's HTML page is a failure, not
        an empty result."""
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        try:
            doc = response.json()
        except ValueError:
            raise self._error(
                PostUnreachableError,
                f"{what}: HTTP {response.status_code} with {_describe(response)} "
                f"({kind}), not the JSON the API answers",
                hint="a proxy or a sign-in page may be answering instead of the service; "
                "check the URL and the network",
            ) from None
        missing = [f for f in fields if not isinstance(doc, dict) or f not in doc]
        if missing:
            raise self._error(
                PostError,
                f"{what}: the answer has no {', '.join(missing)}, which the API always returns",
                hint="check that the URL is the service's API address",
            )
        return doc

    def _full(self, url: str) -> str:
        return str(self.client.base_url.join(url)) if self.client.base_url else url

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2 ** (attempt - 1))
        server = _retry_after(retry_after)
        if server is not None:
            delay = min(max(delay, server), MAX_RETRY_AFTER)
        if delay > 0:
            self.sleep(delay)

    def _error(self, cls: type[PostError], problem: str, *, hint: str | None = None) -> PostError:
        """A ``cls`` (its exit status: unreachable, declined, failed) for this destination."""
        return cls(
            self.destination,
            term_safe(self.redactor(problem)),
            hint=self.redactor(hint) if hint else None,
        )

    def _status_error(
        self,
        response: httpx.Response,
        what: str,
        attempts: int,
        size: int | None,
        *,
        wait: float | None = None,
    ) -> PostError:
        """The error of a final status; ``wait``: the server's Retry-After when it was longer
        than :data:`MAX_RETRY_AFTER` (not retried: when to post again is said)."""
        status = response.status_code
        said = _server_message(response)
        quoted = f": {said}" if said else ""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if status == 401:
            problem = f"{what}: authentication refused (HTTP 401){quoted}"
        elif status == 403:
            problem = f"{what}: not allowed (HTTP 403){quoted}"
        elif status == 404:
            problem = f"{what}: not found (HTTP 404){quoted}"
        elif status == 413:
            mb = f" ({size / 1e6:.1f} MB)" if size is not None else ""
            problem = f"{what}: too large for the server{mb} (HTTP 413){quoted}"
        elif status >= 500:
            problem = f"{what}: the server failed (HTTP {status}){tries}{quoted}"
        elif status == 429:
            problem = f"{what}: rate limited (HTTP 429){tries}{quoted}"
        elif 300 <= status < 400:
            problem, hint = self._redirected(response, what)
            return self._error(PostDeclinedError, problem, hint=hint)
        else:
            problem = f"{what}: refused (HTTP {status}){quoted}"
        hint = self.hints.get(status) or (
            "try again later; a post that stopped half-way resumes where it stopped"
            if status >= 500 or status == 429
            else None
        )
        if wait is not None:
            after = datetime.fromtimestamp(time.time() + wait, UTC).strftime("%Y-%m-%d %H:%M UTC")
            problem += (
                f"; the server asks to wait {wait:.0f} s (Retry-After), longer than the "
                f"{MAX_RETRY_AFTER:.0f} s a post waits: not retried"
            )
            hint = (
                f"post again after {after}; a post that stopped half-way resumes where it stopped"
            )
        retry = status >= 500 or status == 429  # the server's trouble: later, not no
        return self._error(PostUnreachableError if retry else PostDeclinedError, problem, hint=hint)

    def _proxy_error(self, what: str, url: str, error: httpx.ProxyError) -> PostError:
        """The proxy of the environment (``HTTPS_PROXY``/``ALL_PROXY``) refused the tunnel to the
        site: named as the proxy's answer, not the site's — 407 (it wants credentials) and 403
        (its policy blocks the site) with what to set. Unreachable (exit 3), as an AWS endpoint
        behind a proxy that fails is."""
        host = urlsplit(self._full(url)).netloc
        said = str(error).strip() or type(error).__name__
        code = said.split(" ", 1)[0]
        problem = f"{what}: the proxy refused to connect to {host} ({said})"
        if code == "407":
            return self._error(
                PostUnreachableError,
                problem + ": it asks for credentials",
                hint="give the proxy's user and password in its URL (HTTPS_PROXY=http://user:"
                f"password@proxy:port, in the environment), or add {host.split(':')[0]} to "
                "NO_PROXY if the site is reached without it",
            )
        if code == "403":
            return self._error(
                PostUnreachableError,
                problem + ": its policy does not allow the site",
                hint=f"ask the proxy's admins to allow {host}, or add it to NO_PROXY if it is "
                "reached without the proxy",
            )
        return self._error(
            PostUnreachableError,
            problem,
            hint="check the proxy (HTTPS_PROXY, ALL_PROXY, NO_PROXY), then post again",
        )

    def _redirected(self, response: httpx.Response, what: str) -> tuple[str, str]:
        """The problem and hint of a redirect (never followed: the credentials would go with
        it): where it leads — scheme, host and path, never its query (a sign-in page's may hold
        a token or a SAML request) — and what that likely means."""
        status = response.status_code
        variable = self.site_variable or "the service's address"
        location = response.headers.get("location", "").strip()
        if not location:
            return (
                f"{what}: redirected (HTTP {status}) without saying where to",
                f"something in front of the service answers for it; check {variable}",
            )
        try:
            target = response.url.join(location)
            shown = f"{target.scheme}://{target.host}{_port(target)}{target.path}"
        except (httpx.InvalidURL, ValueError):
            return (
                f"{what}: redirected (HTTP {status}) to an address that is not a URL",
                f"something in front of the service answers for it; check {variable}",
            )
        shown = shown if len(shown) <= 160 else shown[:159] + "…"
        if _SIGN_IN.search(target.path) or (
            target.host != response.url.host and _SIGN_IN_HOST.search(target.host)
        ):
            return (
                f"{what}: redirected (HTTP {status}) to {shown}, a sign-in page: single sign-on "
                "(or a proxy) in front of the service answers instead of its API — the "
                "credentials are not used by the API",
                "use the API's address that is not behind the sign-in (ask the site's admins: "
                "an API path exempt from SSO, or the instance's own address), with credentials "
                "the API takes (an API token or PAT; a ServiceNow integration user or OAuth "
                f"token); check {variable}. Redirects are not followed: they would take the "
                "credentials elsewhere",
            )
        return (
            f"{what}: redirected (HTTP {status}) to {shown}; not followed (the credentials "
            "would go with it)",
            f"if {shown} is the service, set {variable} to it; else check {variable} and what "
            "answers for the service (a proxy)",
        )


#: A redirect's path that is a sign-in page (an identity provider's or a proxy's).
_SIGN_IN = re.compile(r"log-?in|sign-?in|/sso|saml|/auth|oauth|openid|adfs|/idp|/cas/|okta", re.I)
#: Hosts of identity providers a redirect to elsewhere is a sign-in at.
_SIGN_IN_HOST = re.compile(
    r"(^|\.)(login|sso|auth|idp|adfs|signin|accounts)\.|okta(preview)?\.com$|onelogin\.com$"
    r"|microsoftonline\.com$|auth0\.com$|pingidentity\.com$|duosecurity\.com$",
    re.I,
)


def _untrusted_certificate(error: BaseException) -> str | None:
    """Why the server's TLS certificate was refused (expired, self-signed, another name…) when
    that is what ``error`` (a connect error) comes from, else None."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or "certificate verify failed")
        cause = cause.__cause__ or cause.__context__
    return None


def _port(url: httpx.URL) -> str:
    return f":{url.port}" if url.port is not None else ""


def _is_html(response: httpx.Response) -> bool:
    """An answer that is an HTML page (by its type or its start): what none of the APIs posted
    to answers — a proxy's sign-in or error page."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return True
    if kind.endswith(("/json", "+json")):  # a JSON answer may quote "<html" (report text)
        return False
    return response.content[:64].lstrip().lower().startswith((b"<!doctype html", b"<html"))


def _describe(response: httpx.Response) -> str:
    body = response.content[:2048].lstrip().lower()
    if body.startswith((b"<!doctype html", b"<html")) or b"<html" in body:
        return "an HTML page"
    if not body:
        return "an empty body"
    return "a body that is not JSON"


def _server_message(response: httpx.Response) -> str:
    """The server's error message: Jira's ``errorMessages``/``errors``, ServiceNow's
    ``error.message``/``detail``, else the start of the body (an HTML page is named, not
    quoted)."""
    xml = _S3_ERROR.search(response.text[:4096]) if response.content[:1] == b"<" else None
    if xml:
        return f"{xml.group(1)}: {xml.group(2)}"[:_QUOTE]
    try:
        doc = response.json()
    except ValueError:
        kind = _describe(response)
        if kind != "a body that is not JSON":
            return kind if kind != "an empty body" else ""
        text = " ".join(response.text.split())
        return text[:_QUOTE]
    parts: list[str] = []
    if isinstance(doc, dict):
        parts += [str(m) for m in doc.get("errorMessages") or [] if m]
        errors = doc.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        err = doc.get("error")
        if isinstance(err, dict):
            parts += [str(err.get(k)) for k in ("message", "detail") if err.get(k)]
        elif isinstance(err, str):
            parts.append(err)
        if not parts and doc.get("message"):
            parts.append(str(doc["message"]))
    text = "; ".join(parts) if parts else " ".join(response.text.split())
    return text[: _QUOTE - 1] + "…" if len(text) > _QUOTE else text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
