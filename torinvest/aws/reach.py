"""Endpoints that cannot be reached: where a service's configured endpoint comes from
(:func:`configured_endpoint`: ``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``, a profile's
``endpoint_url``), a connection failure there recorded once for the run (:class:`Unreachable`)
and said in words (:func:`connect_reason`, :func:`unreached`).

A configured endpoint is the same URL in every region: when a call could not connect to it
(refused, a host name that does not resolve, no answer to the connection, TLS refused) after
its retries, every other call to it would fail the
same way, one region after the other. :class:`Unreachable` remembers it, and the clients built
by :class:`torinvest.aws.Aws` refuse further calls to it at once with :class:`EndpointDown`.
Without a configured endpoint each region has its own (``guardduty.eu-west-1.amazonaws.com``),
botocore's for that service and region (:meth:`SharedEndpoint.own`: kind :data:`OWN`): a
connection failure there is recorded for that URL alone, the same way, so that the later calls
of the run to that service in that region (the next page, the next look-up, a confirmation)
fail at once saying so, and every other region and service is still tried (a region can be
unreachable alone).

A proxy (``HTTPS_PROXY``/``https_proxy``, a botocore ``Config(proxies=…)``; ``NO_PROXY`` exempts
hosts, as botocore reads it: :func:`proxy_of`) is shared the same way by every client whose
endpoint it applies to: one that could not be connected to (botocore's
``ProxyConnectionError``) is recorded and refused as an endpoint is, for those clients only,
and named with any ``user:password`` in its URL redacted (:func:`redact_url`).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import botocore.session
from botocore import utils as botocore_utils
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import (
    ConnectTimeoutError,
    ProxyConnectionError,
)

#: Attribute :class:`Unreachable` sets on the exception of the call that found an endpoint
#: unreachable (read it with :func:`unreached`).
UNREACHED_ATTR = "torinvest_unreached"
#: The attribute a client's certificate failure carries: the CA bundle its client checked
#: certificates against, and the setting that chose it (:func:`ca_bundle_in_force`).
CA_BUNDLE_ATTR = "torinvest_ca_bundle"
#: Attribute set (True) on the error of a call refused or failed for a shared endpoint or proxy
#: found down when its service had answered in that region earlier in the run
#: (:func:`answered_earlier`).
ANSWERED_ATTR = "torinvest_answered_earlier"
#: What :func:`torinvest.aws.translate_error` adds to the message of such an error: the region
#: answered, and only what came later could not be asked (the same words for every region, so
#: that their issues fold into one).
ANSWERED_EARLIER = "— it answered earlier in this run, this later call could not be made"


#: :attr:`SharedEndpoint.kind` of a proxy.
PROXY = "proxy"
#: :attr:`SharedEndpoint.kind` of the endpoint botocore resolved for one service in one region
#: (none configured): AWS's own (``cloudtrail.sa-east-1.amazonaws.com``), a FIPS one…
OWN = "own"


@dataclass(frozen=True, slots=True)
class SharedEndpoint:
    """An endpoint URL the configuration chain gives a service's clients in every region, and
    where it was set (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_GUARDDUTY``, a profile's…); or,
    with ``kind`` :data:`PROXY`, the proxy those clients connect through (``HTTPS_PROXY``…):
    its ``url`` may hold a user and password, never said (:attr:`shown`); or, with ``kind``
    :data:`OWN`, the endpoint botocore resolved for one service in one region, shared by no
    other region (:meth:`own`: ``origin`` says which)."""

    url: str
    origin: str
    kind: str = "endpoint"

    @classmethod
    def own(cls, url: str, service: str, region: str) -> SharedEndpoint:
        """The endpoint botocore resolved for ``service`` in ``region`` (no endpoint
        configured): recorded for its URL alone (a global service's, IAM's, is the same URL in
        every region: one record for all of them)."""
        return cls(base_url(url), f"the {service} endpoint for {region}", OWN)

    def at(self, url: str | None) -> SharedEndpoint:
        """This route for a request sent to ``url``: a region's own endpoint is the host the
        request went to (botocore's endpoint rules may send an operation elsewhere than the
        client's ``endpoint_url``: an S3 bucket's host, a rule set's own); the others as
        they are."""
        if not self.is_own or not url:
            return self
        return SharedEndpoint(base_url(url), self.origin, self.kind)

    @property
    def is_proxy(self) -> bool:
        return self.kind == PROXY

    @property
    def is_own(self) -> bool:
        """A region's own endpoint (:meth:`own`), not one every region uses."""
        return self.kind == OWN

    @property
    def shown(self) -> str:
        """The URL as said: a proxy's ``user:password`` redacted."""
        return redact_url(self.url) if self.is_proxy else self.url

    @property
    def key(self) -> str:
        """What :class:`Unreachable` records it under (an endpoint and a proxy at the same URL
        are two things)."""
        return f"{self.kind} {self.url.rstrip('/')}"


def base_url(url: str) -> str:
    """``url``'s scheme and host (``https://cloudtrail.sa-east-1.amazonaws.com``), without
    path or query; ``url`` itself when it is no URL."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return str(url)
    if not parts.scheme or not parts.netloc:
        return str(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def redact_url(url: str) -> str:
    """``url`` without the ``user:password@`` (or ``token@``) it may hold: ``***:***@``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a proxy URL that is not a URL)"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***:***@{host}"))


def proxy_of(client: Any) -> SharedEndpoint | None:
    """The proxy ``client`` connects through, and where it was set, or None (none set, or
    ``NO_PROXY`` exempts its endpoint's host).

    As botocore chooses it when it makes the client's endpoint: the client's
    ``Config(proxies=…)`` when set, else the environment's proxies for its endpoint URL
    (:func:`botocore.utils.get_environ_proxies`: ``https_proxy``/``HTTPS_PROXY``, lower case
    first, unless :func:`botocore.utils.should_bypass_proxies` — ``NO_PROXY`` — exempts it),
    the one for the endpoint's scheme."""
    endpoint = str(getattr(client.meta, "endpoint_url", "") or "")
    scheme = urlsplit(endpoint).scheme
    configured = getattr(client.meta.config, "proxies", None)
    if configured is not None:
        proxies, origin = dict(configured), "the proxies of the client's botocore Config"
    else:
        proxies, origin = botocore_utils.get_environ_proxies(endpoint), ""
    proxy = proxies.get(scheme)
    if not proxy:
        return None
    proxy = str(proxy)
    if not origin:
        origin = next(
            (
                name
                for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
                if os.environ.get(name) == proxy
            ),
            "the system's proxy settings",
        )
    if not proxy.startswith(("http:", "https:")):  # as botocore completes it
        proxy = f"http:{proxy}" if proxy.startswith("//") else f"http://{proxy}"
    return SharedEndpoint(proxy, origin, PROXY)


@dataclass(frozen=True, slots=True)
class Unreached:
    """A shared endpoint that could not be connected to: why (:func:`connect_reason`), and the
    call that found it (``ec2 DescribeRegions``: no region, so that every region's issue says
    the same)."""

    endpoint: SharedEndpoint
    reason: str
    first: str
    #: the endpoint's TLS certificate was not trusted (:func:`is_certificate_failure`)
    certificate: bool = False
    #: the CA bundle it was checked against and its setting (:func:`ca_bundle_of`)
    ca_bundle: tuple[str, str] | None = None

    @property
    def message(self) -> str:
        """The same for every region and call (so that their issues fold into one); a region's
        own endpoint: the same for every call to it."""
        if self.endpoint.is_own:
            return (
                f"could not connect to {self.endpoint.url} ({self.endpoint.origin}): {self.reason}"
            )
        what = "the proxy " if self.endpoint.is_proxy else ""
        return (
            f"could not connect to {what}{self.endpoint.shown} (from {self.endpoint.origin}): "
            f"{self.reason}"
        )

    @property
    def hint(self) -> str:
        origin = self.endpoint.origin
        if self.endpoint.is_own:
            done = (
                f"once {self.first} could not connect to it, no later call was sent to it in "
                "this run (the other regions and services were still asked)"
            )
            if self.certificate:
                return f"{done}; {ca_bundle_hint(self.ca_bundle)}"
            return (
                f"{done}; check that this machine can reach {self.endpoint.url} (a firewall, a "
                "proxy or a VPC without a route or an endpoint for it), or leave this region "
                "out (--regions)"
            )
        if self.endpoint.is_proxy:
            undo = (
                f"unset {origin} (or add the endpoints' hosts to NO_PROXY)"
                if origin.lower().endswith("_proxy")
                else f"change {origin}"
            )
            return (
                f"every region whose endpoint this proxy serves goes through it: once "
                f"{self.first} could not connect, no other call was sent through it; check "
                f"that the proxy {self.endpoint.shown} is the one meant and that it is running, "
                f"or {undo} to connect without it"
            )
        undo = f"unset {origin}" if origin.startswith("AWS_") else f"remove {origin}"
        if self.certificate:
            return (
                f"every region uses this endpoint: once {self.first} could not connect, no "
                f"other call was sent to it; {ca_bundle_hint(self.ca_bundle)}; or {undo} to reach "
                "AWS's own "
                "endpoints"
            )
        return (
            f"every region uses this endpoint: once {self.first} could not connect, no other "
            f"call was sent to it; check that {self.endpoint.url} is the endpoint meant and "
            f"that it is running, or {undo} to reach AWS's own endpoints"
        )


class EndpointDown(BotoConnectionError):
    """A call not sent: its endpoint (shared by every region, or this region's own) or its
    proxy could not be connected to earlier in the run (:class:`Unreachable`)."""

    fmt = "not sent: {endpoint_url} could not be connected to ({reason})"


def is_proxy_failure(error: BaseException) -> bool:
    """A call that could not connect to its proxy (botocore's ``ProxyConnectionError``: urllib3
    wraps only a failure to reach the proxy itself, not an answer of the proxy)."""
    return isinstance(error, ProxyConnectionError)


def is_route_failure(error: BaseException) -> bool:
    """A call that could not connect to its endpoint (:func:`is_connect_failure`) or to its
    proxy (:func:`is_proxy_failure`)."""
    return is_connect_failure(error) or is_proxy_failure(error)


def _service_env_id(service: str) -> str:
    """``guardduty`` → ``GUARDDUTY``, ``cognito-idp`` → ``COGNITO_IDENTITY_PROVIDER``: the
    service part of ``AWS_ENDPOINT_URL_<SERVICE>``, as botocore forms it."""
    name = botocore_utils.SERVICE_NAME_ALIASES.get(service, service)
    name = botocore_utils.CLIENT_NAME_TO_HYPHENIZED_SERVICE_ID_OVERRIDES.get(name, name)
    return name.replace("-", "_")


def configured_endpoint(session: botocore.session.Session, service: str) -> SharedEndpoint | None:
    """The endpoint URL the configuration chain sets for ``service`` (in botocore's order:
    ``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``, the profile's ``services`` section,
    the profile's ``endpoint_url``) and where, or None (none set, or
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``). Read only: botocore resolves the client's."""
    try:
        if session.get_config_variable("ignore_configured_endpoint_urls"):
            return None
        scoped = session.get_scoped_config()
        full = session.full_config
    except Exception:  # a profile botocore cannot read: it says so at the first call
        return None
    sid = _service_env_id(service)
    for name in (f"AWS_ENDPOINT_URL_{sid.upper()}", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return SharedEndpoint(os.environ[name], name)
    profile = session.profile or "default"
    section = scoped.get("services")
    if isinstance(section, str):
        services = full.get("services", {}).get(section) or {}
        url = (services.get(sid.lower()) or {}).get("endpoint_url")
        if url:
            return SharedEndpoint(
                str(url),
                f"the endpoint_url of {sid.lower()} in the services section {section!r} "
                f"of profile {profile!r}",
            )
    if scoped.get("endpoint_url"):
        return SharedEndpoint(
            str(scoped["endpoint_url"]), f"the endpoint_url of profile {profile!r}"
        )
    return None


def same_endpoint(a: str | None, b: str | None) -> bool:
    """Whether two endpoint URLs name the same place (a trailing ``/`` aside)."""
    return a is not None and b is not None and a.rstrip("/") == b.rstrip("/")


def is_connect_failure(error: BaseException) -> bool:
    """A call that could not connect to its endpoint: refused, a host name that does not
    resolve, no answer to the connection (connect timeout), TLS refused. Not a proxy that failed
    (it is not the endpoint's), nor a connection closed or reset after it was made, nor a read
    that timed out: the endpoint took the request, and may answer another (a region's request
    dropped by a load balancer or proxy is that region's failure)."""
    if isinstance(error, ProxyConnectionError):
        return False
    return isinstance(error, BotoConnectionError)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps, nearest first: botocore's ``kwargs['error']``, the
    ``__cause__`` and ``__context__`` chains, and urllib3's exception given as its first
    argument (its ``SSLError(SSLCertVerificationError(…))``)."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo and len(seen) < 50:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        kwargs = getattr(e, "kwargs", None)
        inner = kwargs.get("error") if isinstance(kwargs, dict) else None
        first = e.args[0] if e.args else None
        todo.extend(
            x for x in (inner, e.__cause__, e.__context__, first) if isinstance(x, BaseException)
        )


def certificate_failure(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed a call's connection (a self-signed certificate, one
    a TLS-inspecting proxy or a private CA signed that the CA bundle in use does not hold, a
    host name it is not for), or None. Retrying it gets the same answer."""
    for e in _causes(error):
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
    return None


def is_certificate_failure(error: BaseException) -> bool:
    """A call that could not connect because the endpoint's (or a TLS-inspecting proxy's)
    TLS certificate was not trusted (:func:`certificate_failure`)."""
    return isinstance(error, BotoConnectionError) and certificate_failure(error) is not None


def ca_bundle_in_force(session: botocore.session.Session) -> tuple[str, str] | None:
    """The CA bundle the clients of ``session`` check TLS certificates against and the setting
    that names it, in botocore's order: ``AWS_CA_BUNDLE``, else the profile's ``ca_bundle``,
    else ``REQUESTS_CA_BUNDLE``; None: none is set (botocore's own bundle)."""
    try:
        value = session.get_config_variable("ca_bundle")
    except Exception:  # a profile botocore cannot read: it says so at the first call
        value = None
    if value:
        if "AWS_CA_BUNDLE" in os.environ:
            return str(value), "AWS_CA_BUNDLE"
        return str(value), f"ca_bundle of profile {session.profile or 'default'!r}"
    if os.environ.get("REQUESTS_CA_BUNDLE"):
        return os.environ["REQUESTS_CA_BUNDLE"], "REQUESTS_CA_BUNDLE"
    return None


def name_ca_bundle(client: Any, bundle: tuple[str, str] | None) -> None:
    """Register on ``client`` that a call of it whose certificate was not trusted carries the
    CA bundle it was checked against (``bundle``: :func:`ca_bundle_in_force` of its session),
    for :func:`ca_bundle_hint` to name the setting in force (:func:`ca_bundle_of`). Register it
    before any ``needs-retry`` handler that raises the failure."""
    service = client.meta.service_model.service_id.hyphenize()

    def needs_retry(caught_exception: Any = None, **_: Any) -> None:
        if caught_exception is not None and is_certificate_failure(caught_exception):
            setattr(caught_exception, CA_BUNDLE_ATTR, bundle or ("", ""))

    client.meta.events.register_first(f"needs-retry.{service}", needs_retry)


def ca_bundle_of(error: BaseException) -> tuple[str, str] | None:
    """The CA bundle and its setting a certificate failure was checked against, as its client
    recorded it (:func:`name_ca_bundle`; ``("", "")``: none set, botocore's own); None: not
    recorded (a client not built by torinvest)."""
    for e in _causes(error):
        found = getattr(e, CA_BUNDLE_ATTR, None)
        if isinstance(found, tuple):
            return found
    return None


def ca_bundle_hint(bundle: tuple[str, str] | None = None) -> str:
    """What to do about a certificate not trusted: the CA bundle botocore checks it against
    (``bundle``, :func:`ca_bundle_of` the failure: ``AWS_CA_BUNDLE``, else the profile's
    ``ca_bundle``, else ``REQUESTS_CA_BUNDLE``, else its own; not recorded: ``AWS_CA_BUNDLE``
    when set), and how to add the CA that signed it — never turning verification off."""
    if bundle is None and os.environ.get("AWS_CA_BUNDLE"):
        bundle = (os.environ["AWS_CA_BUNDLE"], "AWS_CA_BUNDLE")
    path, setting = bundle or ("", "")
    now = f" ({setting} is now {path})" if path else ""
    return (
        "the certificate was not trusted by the CA bundle in use: if this endpoint (or a "
        "TLS-inspecting proxy on the way) is the one meant, set AWS_CA_BUNDLE, or ca_bundle in "
        f"the AWS profile, to a PEM file holding the CA certificate that signed it{now}"
    )


def connect_reason(error: BaseException) -> str:
    """Why a connection failed, in words: the first cause botocore's exception wraps that says
    it (``connection refused``, ``the host name does not resolve (…)``, ``its TLS certificate
    was not trusted (self-signed certificate)``…)."""
    if isinstance(error, EndpointDown):
        return str(error.kwargs.get("reason") or error)
    for e in _causes(error):
        if isinstance(e, socket.gaierror):
            return f"the host name does not resolve ({e.strerror or e})"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, ConnectionResetError):
            return "the connection was reset before any answer"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"its TLS certificate was not trusted ({e.verify_message or e.reason or e})"
        if isinstance(e, ssl.SSLError):
            return f"TLS failed ({e.reason or e})"
        if isinstance(e, ConnectTimeoutError | socket.timeout | TimeoutError):
            return "no answer to the connection (connect timeout)"
    if is_proxy_failure(error):  # botocore's text names the proxy: its cause, never the URL
        inner = getattr(error, "kwargs", {}).get("error")
        error = inner if isinstance(inner, BaseException) else error
        if error is not inner:
            return "the connection failed"
    text = _CREDENTIALS.sub("//***:***@", str(error).strip())
    return text.split(": ", 1)[1] if " object at 0x" in text.split(": ", 1)[0] else text


#: A ``user:password@`` in a URL in a text (a library's message quoting a URL).
_CREDENTIALS = re.compile(r"//[^/@\s\"']+@")


def answered_earlier(error: BaseException) -> bool:
    """Whether ``error`` is a call, refused or failed for a shared endpoint or proxy found
    down, to a service and region that had answered earlier in the run (:class:`Unreachable`)."""
    return getattr(error, ANSWERED_ATTR, False) is True


def unreached(error: BaseException) -> Unreached | None:
    """What :class:`Unreachable` recorded on ``error`` (None: not an endpoint or proxy found
    unreachable)."""
    found = getattr(error, UNREACHED_ATTR, None)
    return found if isinstance(found, Unreached) else None


class Unreachable:
    """The endpoints (shared by every region, or one region's own: :attr:`SharedEndpoint.kind`)
    and proxies of a run that could not be connected to (thread-safe): the first failure of
    each is kept, and said by every later call refused for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down: dict[str, Unreached] = {}
        self._answered: set[tuple[str, str]] = set()

    def answered(self, service: str, region: str) -> None:
        """``service`` answered a call in ``region`` (its endpoint took it and answered)."""
        with self._lock:
            self._answered.add((service, region))

    def mark(self, error: BaseException, service: str, region: str) -> None:
        """Mark ``error`` (of a call found down or refused) when ``service`` had answered in
        ``region`` earlier in the run (:func:`answered_earlier`): what it said then stands, only
        this later call could not be made."""
        with self._lock:
            earlier = (service, region) in self._answered
        if earlier:
            setattr(error, ANSWERED_ATTR, True)

    def get(self, endpoint: SharedEndpoint) -> Unreached | None:
        with self._lock:
            return self._down.get(endpoint.key)

    def record(
        self, endpoint: SharedEndpoint, error: BaseException, where: str
    ) -> Unreached | None:
        """Record ``error`` of a call to ``endpoint`` when it is a connection failure on that
        endpoint's own host (an S3 bucket's host name under it is not it), or, for a proxy, a
        failure to connect to the proxy; set it on ``error`` (:func:`unreached`). Returns what
        is recorded, or None."""
        if isinstance(error, EndpointDown):
            return None
        if endpoint.is_proxy:
            if not is_proxy_failure(error):
                return None
        else:
            if not is_connect_failure(error):
                return None
            url = getattr(error, "kwargs", {}).get("endpoint_url")
            if url and urlsplit(str(url)).netloc != urlsplit(endpoint.url).netloc:
                return None
        key = endpoint.key
        with self._lock:
            found = self._down.setdefault(
                key,
                Unreached(
                    endpoint,
                    connect_reason(error),
                    where,
                    is_certificate_failure(error),
                    ca_bundle_of(error),
                ),
            )
        setattr(error, UNREACHED_ATTR, found)  # botocore's exceptions take attributes
        return found

    def refuse(self, found: Unreached) -> EndpointDown:
        """The error of a call not sent because ``found``'s endpoint is down."""
        where = (
            f"the proxy {found.endpoint.shown}" if found.endpoint.is_proxy else found.endpoint.url
        )
        error = EndpointDown(endpoint_url=where, reason=found.reason)
        setattr(error, UNREACHED_ATTR, found)
        return error
