"""Sessions and clients: :class:`AwsConfig`, :class:`Aws` (boto3's configuration chain, a retry
mode and user agent when unset, an assumed role, regions mapped concurrently).
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import (
    NoRegionError,
    ProfileNotFound,
)
from tqdm import tqdm  # text bars on a terminal only (tqdm.auto would put widgets in reports)

from torinvest import __version__
from torinvest.aws.answers import answer, check_answer, repair_answer
from torinvest.aws.ids import check_role_arn
from torinvest.aws.loader import shared_loader
from torinvest.aws.reach import (
    EndpointDown,
    SharedEndpoint,
    Unreachable,
    ca_bundle_in_force,
    configured_endpoint,
    connect_reason,
    is_certificate_failure,
    is_proxy_failure,
    is_route_failure,
    name_ca_bundle,
    proxy_of,
    redact_url,
    same_endpoint,
    unreached,
)
from torinvest.aws.regions import RegionList, validate_region
from torinvest.aws.translate import (
    AWS_CALL_ERRORS,
    CREDENTIAL_CALL_EVENTS,
    AssumeRoleError,
    _no_credentials,
    _unusable_credentials,
    assume_role_error,
    credential_call,
    credential_call_failed,
    name_profile,
    translate_error,
)
from torinvest.errors import (
    EndpointError,
    InputError,
    InvalidRegionError,
)
from torinvest.progress import EVERY_SECONDS, Ticker, answered, say, waiting_for
from torinvest.stopping import SLICE, check, pause, watching

log = logging.getLogger(__name__)

USER_AGENT_EXTRA = f"torinvest/{__version__}"
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_MAX_WORKERS = 8
#: Seconds a connection to an endpoint is waited for when nothing else is set (botocore's own
#: default is 60 s: an address that drops packets cost minutes a call, with its retries).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: The variable that sets the connect timeout (``--connect-timeout`` sets it for the run, and
#: so for the notebooks' kernels it starts).
CONNECT_TIMEOUT_ENV = "TORINVEST_CONNECT_TIMEOUT"
#: The connect timeouts allowed, in seconds (``--connect-timeout``'s range in
#: ``torinvest.options.NUMBER_RANGES`` is made of it).
CONNECT_TIMEOUT_RANGE = (0.1, 600.0)
#: Attempts of a call that could not connect (refused, a host name that does not resolve, no
#: answer to the connection, TLS failed, a proxy that could not be connected to), when the user
#: configured no retries: one retry (a packet lost once, a listener restarting), not the ten
#: other failures get — a connection refused is nearly always a wrong endpoint or a dead proxy.
CONNECT_FAILURE_ATTEMPTS = 2
#: Attempts of a call whose TLS certificate was not trusted: one, whatever retries are
#: configured (the same certificate is checked against the same CA bundle again).
CERTIFICATE_ATTEMPTS = 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AwsConfig:
    """How to reach AWS. Unset fields fall through to boto3's configuration chain.

    ``role_arn`` assumes a role (e.g. in a member account) on top of the chain's credentials;
    ``endpoint_url`` sends every client to one endpoint (tests; prefer ``AWS_ENDPOINT_URL``).
    ``max_workers`` bounds the regions queried at once (1 = sequential).
    """

    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    role_session_name: str = "torinvest"
    external_id: str | None = None
    endpoint_url: str | None = None
    max_workers: int = DEFAULT_MAX_WORKERS
    #: seconds a connection is waited for; None: ``TORINVEST_CONNECT_TIMEOUT``, else 10 s
    connect_timeout: float | None = None


class Aws:
    """Sessions and clients for one investigation, created lazily and cached per (service, region).

    >>> aws = Aws(AwsConfig(profile="security-audit"))          # doctest: +SKIP
    >>> aws.client("guardduty", "eu-west-1").list_detectors()   # doctest: +SKIP
    """

    def __init__(self, config: AwsConfig | None = None) -> None:
        self.config = config or AwsConfig()
        if self.config.profile or not self.config.region:
            # a mistyped profile, or a configured region that is no region name, fails now,
            # not in every region's call
            base = _botocore_session(self.config.profile)
            if not self.config.region:
                _chain_region(base)
        if self.config.role_arn:  # an 11-digit account or a user ARN fails now, not at AssumeRole
            check_role_arn(self.config.role_arn)
        self._lock = threading.Lock()
        self._session: boto3.Session | None = None
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._account: str | None = None
        self._asking_account = threading.Lock()  # one GetCallerIdentity at a time
        self._account_error: BaseException | None = None  # what account_id_soon's call got
        self._remembered: dict[tuple[str, ...], Any] = {}
        #: endpoints (AWS_ENDPOINT_URL…, a region's own) and proxies found unreachable in
        #: this run
        self.unreachable = Unreachable()

    # -- sessions -----------------------------------------------------------------------------
    @property
    def session(self) -> boto3.Session:
        with self._lock:
            if self._session is None:
                self._session = self._build_session()
            return self._session

    def _build_session(self) -> boto3.Session:
        cfg = self.config
        base = _botocore_session(cfg.profile)
        base.user_agent_extra = USER_AGENT_EXTRA
        configured_attempts(base)  # a retry setting botocore cannot use fails now, named
        if cfg.role_arn:
            try:
                base = self._assume_role(base)
            except Exception as e:  # the source credentials (an SSO session to renew…)
                name_profile(e, base.profile)
                raise
        return boto3.Session(botocore_session=base, region_name=cfg.region or _chain_region(base))

    def _assume_role(self, base: botocore.session.Session) -> botocore.session.Session:
        cfg = self.config
        source = base.get_credentials()
        if source is None:
            raise _no_credentials()
        extra: dict[str, str] = {"RoleSessionName": cfg.role_session_name}
        if cfg.external_id:
            extra["ExternalId"] = cfg.external_id

        def create_client(service_name: str, **kwargs: Any) -> Any:
            timeout = Config(connect_timeout=connect_timeout(cfg.connect_timeout))
            kwargs["config"] = timeout.merge(kwargs["config"]) if kwargs.get("config") else timeout
            # the chain's region (AWS_REGION too), as every other client: sts:AssumeRole in
            # us-east-1 fails in another partition and where only a regional endpoint is reachable
            region = cfg.region or _chain_region(base)
            if not region:  # the call that needs it named: not the one it was made for
                missing = _no_region(
                    base,
                    "the role is asked of that region's STS (the regions searched do not "
                    "choose it)",
                )
                raise AssumeRoleError(
                    f"could not assume {cfg.role_arn} (sts:AssumeRole): {missing.message}",
                    hint=missing.hint,
                    service="sts",
                    operation="AssumeRole",
                    code="NoRegion",
                )
            kwargs.setdefault("region_name", region)
            if cfg.endpoint_url:
                kwargs["endpoint_url"] = cfg.endpoint_url
            client = base.create_client(service_name, **kwargs)
            name_ca_bundle(client, ca_bundle_in_force(base))
            return stoppable(client)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=create_client,
            source_credentials=source,
            role_arn=cfg.role_arn,
            extra_args=extra,
        )
        log.info("assuming role %s", cfg.role_arn)
        assumed = _botocore_session(cfg.profile)
        assumed.user_agent_extra = USER_AGENT_EXTRA
        assumed._credentials = DeferredRefreshableCredentials(
            method="assume-role",
            refresh_using=_RoleCredentials(
                fetcher.fetch_credentials, str(cfg.role_arn), bool(cfg.external_id)
            ),
        )
        return assumed

    def pinned(self) -> Aws:
        """This access with its credentials as they are now, frozen: every client of the copy
        signs with exactly these (no refresh), so that what ``sts:GetCallerIdentity`` says of
        them holds for every later call — refreshable credentials (an assumed role, SSO, a
        credential_process) could otherwise come back as another account's mid-run. Calls
        made after they expire fail (ExpiredToken): a failure, never another account. Raises
        what resolving the credentials raises (no credentials, an SSO token expired…)."""
        try:
            creds = self.session.get_credentials()
        except Exception as e:  # an SSO session to renew…: the profile is named
            name_profile(e, self.session.profile_name)
            raise
        if creds is None:
            raise _no_credentials()
        frozen = creds.get_frozen_credentials()
        copy = Aws(self.config)
        base = _botocore_session(self.config.profile)
        base.user_agent_extra = USER_AGENT_EXTRA
        base.set_credentials(frozen.access_key, frozen.secret_key, frozen.token)
        copy._session = boto3.Session(botocore_session=base, region_name=self.session.region_name)
        copy.unreachable = self.unreachable
        return copy

    @property
    def home_region(self) -> str:
        """The configured region (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's
        ``region``): where calls that name no region go (STS, EC2 DescribeRegions, IAM, S3,
        Athena…). None configured: :class:`InvalidRegionError` saying so, as the AWS CLI does —
        never a region of torinvest's own (a guessed region is another partition's for GovCloud
        or China credentials, and Athena's or a case's region is the analyst's to say)."""
        region = self.session.region_name
        if not region:
            raise _no_region(self.session._session)
        return str(region)

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.home_region)

    # -- clients ------------------------------------------------------------------------------
    def configured_attempts(self) -> int | None:
        """The attempts of a call the configuration chain sets, as botocore reads them
        (:func:`configured_attempts`), or None when it sets no retries (torinvest's own then)."""
        return configured_attempts(self.session._session)

    def client_config(self) -> Config:
        """The botocore Config every client gets: user agent, a connect timeout
        (:func:`connect_timeout`), and retries only if unconfigured."""
        kwargs: dict[str, Any] = {
            "user_agent_extra": USER_AGENT_EXTRA,
            "max_pool_connections": max(10, self.config.max_workers * 2),
            "connect_timeout": connect_timeout(self.config.connect_timeout),
        }
        if configured_attempts(self.session._session) is None:
            kwargs["retries"] = {
                "mode": DEFAULT_RETRY_MODE,
                "total_max_attempts": DEFAULT_MAX_ATTEMPTS,
            }
        return Config(**kwargs)

    def client(self, service: str, region: str | None = None, *, config: Config | None = None):
        """A cached boto3 client for ``service`` in ``region`` (default: the home region)."""
        region = validate_region(region) if region else self.home_region
        key = (service, region) if config is None else None
        if key is not None and key in self._clients:
            return self._clients[key]
        merged = self.client_config() if config is None else self.client_config().merge(config)
        kwargs: dict[str, Any] = {"region_name": region, "config": merged}
        if self.config.endpoint_url:
            kwargs["endpoint_url"] = self.config.endpoint_url
        session = self.session
        with self._lock:  # boto3 sessions are not thread-safe; clients are
            if key is not None and key in self._clients:
                return self._clients[key]
            try:
                client = session.client(service, **kwargs)
            except NoRegionError as e:  # pragma: no cover - region always passed
                raise InputError("no AWS region configured", hint="set AWS_REGION") from e
            # first: the certificate failure _bound_connect_failures raises names its bundle
            name_ca_bundle(client, ca_bundle_in_force(session._session))
            _name_profile_of_errors(client, session._session.profile)
            _bound_connect_failures(client, configured=_retry_configured(session._session))
            routes = self._routes(session._session, service, client)
            client = stoppable(client, self._endpoint_down(routes))
            if routes:
                _watch_endpoint(client, routes, self.unreachable, record=_retries(merged) != 1)
            if key is not None:
                self._clients[key] = client
        return client

    def _shared_endpoint(
        self, session: botocore.session.Session, service: str, client: Any
    ) -> SharedEndpoint | None:
        """The endpoint ``client`` talks to when it is the same in every region (set by
        ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``, a profile's ``endpoint_url`` or
        :attr:`AwsConfig.endpoint_url`), with where it was set; None when botocore resolved the
        region's own endpoint."""
        if self.config.endpoint_url:
            shared = SharedEndpoint(self.config.endpoint_url, "AwsConfig(endpoint_url=…)")
        else:
            shared = configured_endpoint(session, service)
        if shared is None or not same_endpoint(shared.url, client.meta.endpoint_url):
            return None
        return shared

    def _routes(
        self, session: botocore.session.Session, service: str, client: Any
    ) -> list[SharedEndpoint]:
        """What ``client``'s calls go through that later calls may go through too: its endpoint
        — the one every region uses (:meth:`_shared_endpoint`), else its region's own
        (:meth:`SharedEndpoint.own`: the next page, look-up or confirmation there) — and the
        proxy it connects through (:func:`torinvest.aws.reach.proxy_of`)."""
        endpoint = self._shared_endpoint(session, service, client)
        if endpoint is None and client.meta.endpoint_url:
            region = str(client.meta.region_name or self.home_region)
            endpoint = SharedEndpoint.own(str(client.meta.endpoint_url), service, region)
        return [r for r in (endpoint, proxy_of(client)) if r is not None]

    def _endpoint_down(
        self, routes: Sequence[SharedEndpoint]
    ) -> Callable[[BaseException | None], bool] | None:
        """Whether a route of a call that failed with the error given (its own endpoint: the
        host that call was sent to, :func:`_routes_of`) was found down by another call."""
        if not routes:
            return None
        return lambda error: any(
            self.unreachable.get(r) is not None for r in _routes_of(routes, error)
        )

    def shared_endpoint(self, service: str) -> SharedEndpoint | None:
        """The endpoint of ``service``'s clients when every region's is the same (see
        :meth:`client`), else None."""
        client = self.client(service)
        return self._shared_endpoint(self.session._session, service, client)

    def proxy(self, service: str, region: str | None = None) -> SharedEndpoint | None:
        """The proxy ``service``'s client in ``region`` (default: the home region) connects
        through, or None (:func:`torinvest.aws.reach.proxy_of`: ``NO_PROXY`` honoured)."""
        return proxy_of(self.client(service, region))

    def _proxied_everywhere(self, service: str, proxy: SharedEndpoint) -> bool:
        """Whether every region of the partition reaches ``service`` through ``proxy`` (none
        exempted by ``NO_PROXY``): then a proxy that could not be connected to leaves no region
        to search."""
        regions = self.session.get_available_regions(service, partition_name=self.partition)
        return all(self.proxy(service, r) == proxy for r in [self.home_region, *regions])

    def account_id(self) -> str:
        """The account of the credentials in use (STS GetCallerIdentity, cached). Asked already
        by :meth:`account_id_soon`: that call's answer, waited for, or the error it got."""
        with self._asking_account:
            return self._account_id()

    def account_id_soon(self) -> None:
        """Ask :meth:`account_id` now, in a thread of its own, so that the caller goes on with
        what it does not need the account for (LookupEvents: its regions' clients) while STS
        answers; the next :meth:`account_id` waits for that answer. An error that call got is
        raised by the next :meth:`account_id` (once; asked again after it), as if asked then.
        Nothing when the account is known."""
        if self._account is not None:
            return

        def ask() -> None:
            with self._asking_account:
                try:
                    self._account_id()
                except BaseException as e:  # raised by the next account_id, in its thread
                    self._account_error = e

        threading.Thread(target=ask, name="torinvest-account", daemon=True).start()

    def _account_id(self) -> str:
        """:meth:`account_id`, its lock held."""
        if self._account is None:
            if self._account_error is not None:
                error, self._account_error = self._account_error, None
                raise error
            try:
                ident = self.client("sts").get_caller_identity()
            except AWS_CALL_ERRORS as e:
                raise translate_error(e, service="sts", operation="GetCallerIdentity") from e
            self._account = str(
                answer(ident, "Account", str, service="sts", operation="GetCallerIdentity")
            )
        return self._account

    def remembered(self, key: tuple[str, ...], ask: Callable[[], T]) -> T:
        """``ask()``'s answer, asked once per ``key`` for the life of this object (a run): its
        credentials are one account's, so a key naming a region is an (account, region). An
        answer is kept only when ``ask`` returns (an error is raised, and asked again next
        time). Used for reads that do not change during a run (a region's GuardDuty detector
        IDs, :func:`torinvest.findings.fetch.detector_ids`)."""
        with self._lock:
            if key in self._remembered:
                return self._remembered[key]  # type: ignore[no-any-return]
        value = ask()
        with self._lock:
            return self._remembered.setdefault(key, value)  # type: ignore[no-any-return]

    # -- regions ------------------------------------------------------------------------------
    def enabled_regions(self, service: str = "cloudtrail") -> RegionList:
        """:meth:`regions` of ``service`` with none requested — the account's enabled regions
        (EC2 DescribeRegions, read-only; the partition's, with a note, when that call is refused
        or fails) — asked once per :class:`Aws` (the same credentials, the same account): the
        regions a key of that account could have called, that the Athena engine and the log
        files on S3 are checked against when no region is named."""
        return self.remembered(("ec2", "DescribeRegions", service), lambda: self.regions(service))

    def regions(self, service: str, requested: Sequence[str] | None = None) -> RegionList:
        """The regions to search for ``service``.

        ``requested`` (already validated) wins. Otherwise the account's enabled regions from EC2
        DescribeRegions; if that call is not allowed or fails, the partition's region list for the
        service from botocore's endpoint data, with a note saying so. Credentials that cannot
        be used (none found, an SSO session to renew, expired, a role that cannot be assumed)
        raise at once: no region could be searched with them.
        """
        if requested is not None and not list(requested):
            raise InvalidRegionError("no region to search", hint="pass 'all' or region codes")
        if requested:
            return RegionList(list(requested), source="requested")
        op = "DescribeRegions"
        try:
            resp = self.client("ec2").describe_regions(AllRegions=False)
            listed = answer(resp, "Regions", list, service="ec2", operation=op)
            names = sorted(
                str(answer(r, "RegionName", str, service="ec2", operation=op)) for r in listed
            )
            opted = sorted(  # OptInStatus: opt-in-not-required (every account's) or opted-in
                str(r["RegionName"]) for r in listed if r.get("OptInStatus") == "opted-in"
            )
            if names:
                return RegionList(names, source="ec2:DescribeRegions", opted_in=tuple(opted))
            note = "ec2:DescribeRegions returned no region"
        except AWS_CALL_ERRORS as e:
            err = translate_error(e, service="ec2", region=self.home_region, operation=op)
            if _unusable_credentials(e, err):
                raise err from e
            down = unreached(e)
            if down is not None and down.endpoint.is_proxy:
                if self._proxied_everywhere(service, down.endpoint):
                    raise err from e  # every region's call would go through it: none is tried
            elif down is not None:
                shared = self.shared_endpoint(service)
                if shared is not None and same_endpoint(shared.url, down.endpoint.url):
                    raise err from e  # every region's call would go there: none is tried
            note = str(err)
        except EndpointError as e:  # an answer without the fields the API promises
            note = str(e)
        names = sorted(self.session.get_available_regions(service, partition_name=self.partition))
        log.warning("listing enabled regions failed (%s); using the partition's list", note)
        return RegionList(
            names or [self.home_region],
            source="partition",
            note=f"enabled regions unknown ({note}); searched every {self.partition} region "
            f"that has {service}; regions not enabled for the account will show as failed",
        )

    def map_regions(
        self,
        fn: Callable[[str], T],
        regions: Iterable[str],
        *,
        progress: str | None = None,
        on_interrupt: Callable[[], None] | None = None,
    ) -> list[tuple[str, T | BaseException]]:
        """Run ``fn(region)`` for each region, concurrently, keeping each outcome or exception.

        One region failing never stops the others; results come back in the order of
        ``regions``. ``max_workers=1`` runs them in order in this thread (tests, debugging).
        ``progress`` names a progress bar over regions (shown on a terminal only).
        When this thread is interrupted (Ctrl-C) while they run, ``on_interrupt`` is called (it
        tells the running ones to stop), the regions not started are not started, and the
        interruption goes on once the running ones have ended — without it, Ctrl-C waited for
        every region to finish. The running ones end at their next call or retry wait
        (:func:`stoppable`): botocore's own backoff (up to 20 s an attempt) is cut short, in a
        notebook too — Ctrl-C waited for it. A region still waiting for an answer after
        :data:`STOP_GRACE_SECONDS` (an endpoint that does not answer: botocore waits 60 s for a
        read, then retries) is not waited for: its thread (a daemon, which the interpreter's
        exit does not wait for either) makes no call after that answer.
        """
        regions = list(regions)
        bar = (
            tqdm(total=len(regions), desc=progress, unit="region", disable=None, leave=False)
            if (progress)
            else None
        )
        stop = threading.Event()
        tally = _Tally(len(regions), progress or "regions")

        def run(region: str) -> tuple[str, T | BaseException]:
            before = getattr(_fan_out, "active", False)
            _fan_out.active = True  # its retry waits are said by the tally, not one by one
            try:
                with watching(stop):
                    outcome: T | BaseException = fn(region)
            except Exception as e:
                outcome = e
            finally:
                _fan_out.active = before
            tally.add(outcome)
            if bar is not None:
                bar.update(1)
                if tally.unreached:
                    bar.set_postfix_str(f"{tally.unreached} could not connect", refresh=False)
            return region, outcome

        workers = max(1, min(self.config.max_workers, len(regions)))
        # off a terminal (cron, a playbook, a pipe) the bar is not shown: a line every
        # EVERY_SECONDS says where the regions are, so that a slow run is not taken for a hung one
        ticker = Ticker(tally.describe) if bar is None or bar.disable else None
        try:
            if ticker is not None:
                ticker.__enter__()
            if workers == 1:
                return [run(r) for r in regions]
            # Build the session before fanning out: creating it is not thread-safe.
            _ = self.session
            return _in_threads(run, regions, workers, stop, on_interrupt)
        finally:
            if ticker is not None:
                ticker.__exit__(None, None, None)
            if bar is not None:
                bar.close()


#: How long an interrupted :meth:`Aws.map_regions` waits for its running regions to end.
STOP_GRACE_SECONDS = 2.0
#: A retry wait at least this long is said (one line at most every EVERY_SECONDS), outside a
#: fan-out over regions (whose progress line says the regions instead).
RETRY_SAY_SECONDS = 2.0

#: ``active`` in a thread running one region of :meth:`Aws.map_regions`.
_fan_out = threading.local()


def _connect_failed(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from: a region's AwsError) is a connection
    failure, to its endpoint or its proxy (:func:`torinvest.aws.reach.is_route_failure`)."""
    seen = 0
    cause: BaseException | None = error
    while cause is not None and seen < 10:
        if is_route_failure(cause) or unreached(cause) is not None:
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


class _Tally:
    """The outcomes of a fan-out over regions so far, for its progress line."""

    def __init__(self, total: int, what: str) -> None:
        self.total = total
        self.what = what
        self.answered = 0
        self.unreached = 0
        self.failed = 0
        self._lock = threading.Lock()

    def add(self, outcome: object) -> None:
        with self._lock:
            if not isinstance(outcome, BaseException):
                self.answered += 1
            elif _connect_failed(outcome):
                self.unreached += 1
            else:
                self.failed += 1

    def describe(self) -> str:
        with self._lock:
            parts = [f"{self.answered} of {self.total} regions answered"]
            if self.unreached:
                parts.append(f"{self.unreached} could not connect")
            if self.failed:
                parts.append(f"{self.failed} failed")
            waiting = self.total - self.answered - self.unreached - self.failed
        return f"still searching {self.what}: {', '.join(parts)}; waiting for {waiting}"


def _in_threads(
    run: Callable[[str], tuple[str, T | BaseException]],
    regions: list[str],
    workers: int,
    stop: threading.Event,
    on_interrupt: Callable[[], None] | None,
) -> list[tuple[str, T | BaseException]]:
    """``run`` over ``regions`` in ``workers`` daemon threads, in order; interrupted, see
    :meth:`Aws.map_regions` (a ThreadPoolExecutor's threads are waited for by leaving it and by
    the interpreter's exit, however long their call takes)."""
    results: dict[int, tuple[str, T | BaseException]] = {}
    todo = iter(range(len(regions)))
    lock = threading.Lock()
    finished = threading.Event()

    def work() -> None:
        while not stop.is_set():
            with lock:
                i = next(todo, None)
            if i is None:
                break
            try:
                results[i] = run(regions[i])
            except BaseException as e:  # stopped (or interrupted): the waiting thread says it
                results[i] = (regions[i], e)
            with lock:
                if len(results) == len(regions):
                    finished.set()

    threads = [
        threading.Thread(target=work, name=f"torinvest-aws-{n}", daemon=True)
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        finished.wait()  # a signal reaches this thread here
    except BaseException:
        stop.set()
        if on_interrupt is not None:
            on_interrupt()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        raise
    return [results[i] for i in range(len(regions))]


def _routes_of(
    routes: Sequence[SharedEndpoint], error_or_url: BaseException | str | None
) -> list[SharedEndpoint]:
    """``routes`` of one request: a region's own endpoint as the host it was sent to (the URL
    given, or the ``endpoint_url`` of the connection failure given: :meth:`SharedEndpoint.at`)."""
    url = error_or_url
    if isinstance(url, BaseException):
        url = getattr(url, "kwargs", {}).get("endpoint_url")
    return [r.at(str(url) if url else None) for r in routes]


def stoppable(
    client: Any, endpoint_down: Callable[[BaseException | None], bool] | None = None
) -> Any:
    """``client`` with botocore's retry waits and calls that stop when its thread is asked to
    (:mod:`torinvest.stopping`: Ctrl-C, SIGTERM, :meth:`Aws.map_regions` interrupted).

    botocore sleeps between attempts after the ``needs-retry`` handlers answered a delay, where
    no hook can reach: the client's retry handler (standard, adaptive and legacy modes register
    it under the unique ID ``retry-config-<service>``) is wrapped so that it waits the delay
    itself, in slices that watch the stop (:func:`torinvest.stopping.pause`), and answers 0. A
    worker thread asked to stop raises :class:`~torinvest.stopping.Stopped` there and before any
    new call; the main thread's calls and sleeps are left as they are (a signal interrupts
    them, and the calls made after an interruption — stopping an Athena query — must be made).
    A client whose retry handler is not found (retries off, another botocore) is left alone.

    A retry wait of :data:`RETRY_SAY_SECONDS` or more is said (:func:`torinvest.progress.say`:
    which call, why, how long), outside a fan-out over regions. ``endpoint_down`` (the client's
    endpoint, its region's own or every region's, and its proxy) says when one was found
    unreachable by another call: a connection failure is then not retried.
    """
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    unique_id = f"retry-config-{service}"
    handlers = getattr(getattr(events, "_emitter", None), "_unique_id_handlers", {})
    entry = handlers.get(unique_id)
    if entry is not None and not isinstance(entry.get("handler"), _RetryWait):
        events.unregister(f"needs-retry.{service}", unique_id=unique_id)
        events.register(
            f"needs-retry.{service}",
            _RetryWait(entry["handler"], (service, client.meta.region_name), endpoint_down),
            unique_id=unique_id,
        )
    elif entry is None:
        log.debug("no retry handler on the %s client: its retry waits are not stoppable", service)
    events.register_first(f"before-call.{service}", _no_call_once_stopped)
    # an attempt waiting for its answer (outside a fan-out, whose line says the regions): said
    # after EVERY_SECONDS (torinvest.progress), e.g. an endpoint that drops packets
    region = client.meta.region_name

    def sent(event_name: str = "", **_: Any) -> None:
        if not getattr(_fan_out, "active", False):
            waiting_for(f"{service} {event_name.rsplit('.', 1)[-1]} in {region}")

    events.register(f"before-send.{service}", sent, unique_id=f"torinvest-sent-{service}")
    for event in ("needs-retry", "after-call", "after-call-error"):
        events.register(f"{event}.{service}", _answered, unique_id=f"torinvest-{event}-{service}")
    return client


def _answered(**_: Any) -> None:
    """botocore's needs-retry, after-call and after-call-error: the attempt waits no more."""
    answered()


class _RetryWait:
    """A botocore retry handler that waits its delay itself, stopping when asked."""

    def __init__(
        self,
        handler: Callable[..., Any],
        where: tuple[str, str] = ("", ""),
        endpoint_down: Callable[[BaseException | None], bool] | None = None,
    ) -> None:
        self.handler = handler
        self.where = where
        self.endpoint_down = endpoint_down

    def __call__(self, **kwargs: Any) -> Any:
        delay = self.handler(**kwargs)
        if delay is None or delay is False or not isinstance(delay, int | float):
            return delay
        caught = kwargs.get("caught_exception")
        if (
            self.endpoint_down is not None
            and caught is not None
            and is_route_failure(caught)
            and self.endpoint_down(caught)
        ):
            return None  # another call found the endpoint down: this failure is the answer
        if delay <= 0:
            return delay
        operation = getattr(kwargs.get("operation"), "name", "") or "a call"
        # said: an endpoint that could not be connected to (named at once), or a long wait
        # outside a fan-out over regions (whose progress line says the regions waiting)
        unconnected = caught is not None and is_route_failure(caught)
        if unconnected or (delay >= RETRY_SAY_SECONDS and not getattr(_fan_out, "active", False)):
            say(
                f"{self.where[0]} {operation} in {self.where[1]}: attempt "
                f"{kwargs.get('attempts', '?')} failed ({_retry_reason(kwargs)}); "
                "trying again" + (f" in {delay:.1f} s" if delay >= 0.1 else " now"),
                unless_within=EVERY_SECONDS,
            )
        # another call may find the endpoint down meanwhile: then this failure is the answer
        endpoint_down = self.endpoint_down
        down = (lambda: endpoint_down(caught)) if unconnected and endpoint_down else None
        if retry_wait(float(delay), f"{operation}: retry wait", down):
            return None
        return 0  # waited: botocore sleeps 0 and sends the next attempt


def retry_wait(seconds: float, what: str, give_up: Callable[[], bool] | None = None) -> bool:
    """Wait a retry's delay (:class:`_RetryWait`) in slices that watch the stop
    (:func:`torinvest.stopping.pause`); with ``give_up``, ask it after each slice and end the
    wait when it answers True. Whether the wait was given up."""
    if give_up is None:
        pause(seconds, what)
        return False
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        pause(min(left, SLICE), what)
        if give_up():
            return True
    return False


def _retry_reason(kwargs: dict[str, Any]) -> str:
    """Why botocore retries a call (from its ``needs-retry`` arguments), in a few words."""
    caught = kwargs.get("caught_exception")
    if caught is not None:
        if is_proxy_failure(caught):
            url = redact_url(str(getattr(caught, "kwargs", {}).get("proxy_url") or "?"))
            return f"could not connect to the proxy {url}: {connect_reason(caught)}"
        if is_route_failure(caught):
            url = getattr(caught, "kwargs", {}).get("endpoint_url") or "the endpoint"
            return f"could not connect to {url}: {connect_reason(caught)}"
        return f"{type(caught).__name__}: {caught}"[:200]
    response = kwargs.get("response")
    if isinstance(response, tuple) and len(response) == 2:
        http, parsed = response
        code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        status = getattr(http, "status_code", "?")
        return f"HTTP {status}" + (f" {code}" if code else "")
    return "no answer"


def connect_timeout(configured: float | None = None) -> float:
    """The seconds a connection to an endpoint is waited for: ``configured``
    (:attr:`AwsConfig.connect_timeout`), else ``TORINVEST_CONNECT_TIMEOUT`` (set by
    ``--connect-timeout``), else :data:`DEFAULT_CONNECT_TIMEOUT`. A variable that is no number
    in range is an :class:`InputError` naming it."""
    if configured is not None:
        return _seconds(configured, "AwsConfig(connect_timeout=…)")
    text = os.environ.get(CONNECT_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_CONNECT_TIMEOUT
    return _seconds(text, CONNECT_TIMEOUT_ENV)


def _seconds(value: object, origin: str) -> float:
    """``value`` as a connect timeout in :data:`CONNECT_TIMEOUT_RANGE`, else an
    :class:`InputError` naming ``origin``."""
    low, high = CONNECT_TIMEOUT_RANGE
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not low <= seconds <= high:  # nan and inf too
        raise InputError(
            f"{origin}: not a number of seconds from {low:g} to {high:g}: {str(value)[:40]!r}",
            hint=f"give a number of seconds such as {DEFAULT_CONNECT_TIMEOUT:g}, or unset it",
        )
    return seconds


def connect_attempts(error: BaseException, *, configured: bool = False) -> int | None:
    """The attempts a call that failed with ``error`` gets, when it is a connection failure
    (:func:`torinvest.aws.reach.is_route_failure`): :data:`CERTIFICATE_ATTEMPTS` for a TLS
    certificate not trusted, else :data:`CONNECT_FAILURE_ATTEMPTS` — unless the user
    ``configured`` retries (``AWS_MAX_ATTEMPTS``, ``AWS_RETRY_MODE``, the profile's
    ``max_attempts``/``retry_mode``): theirs then. None: not bounded here."""
    if is_certificate_failure(error):
        return CERTIFICATE_ATTEMPTS
    if not configured and is_route_failure(error) and not isinstance(error, EndpointDown):
        return CONNECT_FAILURE_ATTEMPTS
    return None


def _bound_connect_failures(client: Any, *, configured: bool) -> None:
    """A call of ``client`` that could not connect is retried at most once
    (:func:`connect_attempts`), not as many times as other failures (standard mode's 10
    attempts with back-off: 8 to 20 s for a port nothing listens on, ten connect timeouts for
    an address that drops packets). Its error is then raised as botocore's (a connection
    failure, recorded and said as any other: :func:`_watch_endpoint`)."""
    service = client.meta.service_model.service_id.hyphenize()

    def needs_retry(attempts: int = 0, caught_exception: Any = None, **_: Any) -> None:
        if caught_exception is None:
            return
        limit = connect_attempts(caught_exception, configured=configured)
        if limit is not None and attempts >= limit:
            log.info(
                "%s: could not connect (%s), %d attempt(s)",
                service,
                connect_reason(caught_exception),
                attempts,
            )
            raise caught_exception

    client.meta.events.register_first(f"needs-retry.{service}", needs_retry)


def _name_profile_of_errors(client: Any, profile: str | None) -> None:
    """Register on ``client`` that the error of each of its calls names the AWS profile it was
    made with (:func:`torinvest.aws.translate.name_profile`): an SSO session to renew, expired
    credentials, say ``aws sso login --profile <it>``."""
    service = client.meta.service_model.service_id.hyphenize()

    def after_call_error(exception: BaseException | None = None, **_: Any) -> None:
        if exception is not None:
            name_profile(exception, profile)

    client.meta.events.register(f"after-call-error.{service}", after_call_error)


def _retries(config: Config) -> int | None:
    """The attempts a client of ``config`` makes of a call, when its config says."""
    retries = config.retries or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) + 1
    return None


def _watch_endpoint(
    client: Any,
    routes: Sequence[SharedEndpoint],
    unreachable: Unreachable,
    *,
    record: bool = True,
) -> None:
    """Register on ``client`` (whose calls go through ``routes``: an endpoint every region
    uses or its region's own — the host each request is sent to, :func:`_routes_of` — a proxy)
    that no call is sent through one recorded in ``unreachable``: it fails at once, saying so;
    and, with ``record``, that a connection failure there is recorded once botocore's attempts
    are spent (without: the client makes one attempt, its caller retries and records,
    :func:`retries_spent`)."""
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    region = client.meta.region_name

    def before_call(params: Any = None, **_: Any) -> None:
        url = params.get("url") if isinstance(params, dict) else None
        for route in _routes_of(routes, url if isinstance(url, str) else None):
            found = unreachable.get(route)
            if found is not None:
                refused = unreachable.refuse(found)
                unreachable.mark(refused, service, region)
                raise refused

    def after_call(**_: Any) -> None:  # an answer, error or not: the region was reached
        unreachable.answered(service, region)

    def after_call_error(exception: BaseException | None = None, **kw: Any) -> None:
        if exception is None:
            return
        operation = str(kw.get("event_name", "")).rsplit(".", 1)[-1] or "a call"
        # the connection tried: a profile's AssumeRole made inside this call is named, not it
        tried = credential_call(exception) or f"{service} {operation}"
        for route in _routes_of(routes, exception):
            found = unreachable.record(route, exception, tried)
            if found is not None:
                unreachable.mark(exception, service, region)
                log.info("%s (%s %s in %s)", found.message, service, operation, region)
                return

    events.register_first(f"before-call.{service}", before_call)
    events.register(f"after-call.{service}", after_call)
    events.register(f"{_RETRIES_SPENT}.{service}", after_call_error)
    if record:
        events.register(f"after-call-error.{service}", after_call_error)


#: The event :func:`retries_spent` emits on a client.
_RETRIES_SPENT = "torinvest-retries-spent"


def retries_spent(client: Any, error: BaseException, operation: str) -> None:
    """For a caller that retries calls itself (its client makes one attempt: LookupEvents):
    its last retry of ``operation`` failed with ``error``. A connection failure on its endpoint
    (every region's, or its region's own) or proxy is then recorded as for any other client (:func:`_watch_endpoint`):
    no other call is sent to it, and ``error`` says so (:func:`translate_error`)."""
    if not is_route_failure(error):
        return
    meta = getattr(client, "meta", None)
    events = getattr(meta, "events", None)
    if events is None:  # not a botocore client (a stand-in): nothing is watched on it
        return
    service = meta.service_model.service_id.hyphenize()
    events.emit(f"{_RETRIES_SPENT}.{service}.{operation}", exception=error)


def _no_call_once_stopped(model: Any = None, **_: Any) -> None:
    """botocore's before-call: a worker thread asked to stop makes no new call."""
    check(f"{getattr(model, 'name', 'a call')}: not called")


def check_profile(profile: str) -> None:
    """Raise :class:`InputError` now when the AWS profile ``profile`` does not exist."""
    _botocore_session(profile)


def _botocore_session(profile: str | None) -> botocore.session.Session:
    """A botocore session for ``profile`` (checked now) that checks every answer it parses,
    reading botocore's data files with the process's shared loader (:func:`shared_loader`)."""
    try:
        session = botocore.session.Session(profile=profile)
        session.get_scoped_config()  # raises ProfileNotFound now rather than on first call
        session.register_component(
            "data_loader", shared_loader(session.get_config_variable("data_path"))
        )
    except ProfileNotFound as e:
        named = profile or e.kwargs.get("profile")  # from AWS_PROFILE when none was passed
        where = "" if profile else " (named by AWS_PROFILE)"
        raise InputError(
            f"AWS profile {named!r} not found{where}",
            hint="check `aws configure list-profiles` or AWS_CONFIG_FILE",
        ) from e
    session.register("before-parse", check_answer)
    session.register("before-parse", repair_answer)  # after the check: on AWS's answer
    for event in CREDENTIAL_CALL_EVENTS:  # a profile's AssumeRole that could not connect…
        session.register(event, credential_call_failed)
    return session


class _RoleCredentials:
    """The refresh function of an assumed role's credentials: a refusal becomes one
    :class:`AssumeRoleError` naming sts:AssumeRole on the role, remembered so that every later
    call fails the same way at once (no retry storm, one message)."""

    def __init__(self, fetch: Callable[[], Any], role_arn: str, external_id: bool) -> None:
        self._fetch = fetch
        self._role_arn = role_arn
        self._external_id = external_id
        self._error: AssumeRoleError | None = None

    def __call__(self) -> Any:
        if self._error is not None:
            raise self._error
        try:
            return self._fetch()
        except AWS_CALL_ERRORS as e:
            log.debug("AssumeRole %s failed", self._role_arn, exc_info=True)
            self._error = assume_role_error(e, self._role_arn, external_id=self._external_id)
            raise self._error from e


class _CredentialRefreshNoise(logging.Filter):
    """botocore logs a failed mandatory credential refresh (AssumeRole refused, SSO expired)
    with its traceback, then raises: torinvest reports the error itself, in one line. Advisory
    refresh failures (old credentials still valid) keep one line without the traceback. With
    DEBUG logging on, the record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return True
        if "mandatory" in record.getMessage():
            return False
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


# botocore.credentials: an assumed role's refresh; botocore.tokens: an SSO session's token
for _name in ("botocore.credentials", "botocore.tokens"):
    _credential_log = logging.getLogger(_name)
    if not any(isinstance(f, _CredentialRefreshNoise) for f in _credential_log.filters):
        _credential_log.addFilter(_CredentialRefreshNoise())


def _chain_region(session: botocore.session.Session) -> str | None:
    """The region the AWS configuration chain names, as the AWS CLI v2 and the other SDKs read
    it: ``AWS_REGION`` first (botocore itself reads only ``AWS_DEFAULT_REGION``), then
    ``AWS_DEFAULT_REGION`` and the profile's ``region``; None when none is set.

    A value that is not a region name (``'eu-west-1 '``, a carriage return from an env file,
    ``EU-WEST-1``) raises :class:`InvalidRegionError` naming where it was set — botocore's
    ``UnknownRegionError`` reached the analyst as an internal error."""
    if os.environ.get("AWS_REGION"):
        region, origin = os.environ["AWS_REGION"], "AWS_REGION"
    else:
        region = session.get_config_variable("region") or None
        origin = (
            "AWS_DEFAULT_REGION"
            if os.environ.get("AWS_DEFAULT_REGION")
            else f"the region of profile {session.profile or 'default'} in the AWS config file"
        )
    if region is None:
        return None
    try:
        return validate_region(region)
    except InvalidRegionError as e:
        raise InvalidRegionError(
            f"the configured region {str(region)[:60]!r} ({origin}) is not a region name",
            hint=f"set {origin if origin.startswith('AWS_') else 'it'} to a region code such "
            "as us-east-1 or eu-west-3 (no spaces, lower case)",
        ) from e


#: The attempts of a call botocore makes in each retry mode when ``max_attempts`` is not set
#: (``botocore.retries.standard.DEFAULT_MAX_ATTEMPTS``; legacy: ``_retry.json``'s default).
_MODE_ATTEMPTS = {"standard": 3, "adaptive": 3, "legacy": 5}


def configured_attempts(session: botocore.session.Session) -> int | None:
    """The attempts of a call the configuration chain sets (``AWS_MAX_ATTEMPTS``, the profile's
    ``max_attempts``: total attempts, as botocore counts them; a retry mode alone —
    ``AWS_RETRY_MODE``, the profile's ``retry_mode`` — that mode's botocore default), or None
    when no retries are configured. For a caller that retries calls itself (LookupEvents:
    :func:`torinvest.sources.lookup.fetch_pages`), so that it makes as many as any client."""
    if not _retry_configured(session):
        return None
    mode = session.get_config_variable("retry_mode")
    if mode is not None and mode not in _MODE_ATTEMPTS:
        raise _bad_retry_setting(
            session,
            "retry_mode",
            "not a retry mode",
            f"set it to one of {', '.join(_MODE_ATTEMPTS)}, or unset it",
        )
    try:
        attempts = session.get_config_variable("max_attempts")
    except (ValueError, TypeError) as e:
        attempts = e
    if attempts is None:
        return _MODE_ATTEMPTS[str(mode or "standard")]
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise _bad_retry_setting(
            session,
            "max_attempts",
            "not a number of attempts",
            "set it to a whole number of attempts of a call (1 or more), or unset it",
        )
    return attempts


def _bad_retry_setting(
    session: botocore.session.Session, name: str, problem: str, hint: str
) -> InputError:
    """The error of a retry setting (``max_attempts``, ``retry_mode``) botocore cannot use,
    naming where it is set (``AWS_MAX_ATTEMPTS``…, else the profile's) — botocore's own error
    came back from every region's call as that region's failure, or as an internal error."""
    env = f"AWS_{name.upper()}"
    if env in os.environ:
        origin, value = env, os.environ[env]
    else:
        profile = session.profile or "default"
        origin = f"{name} of profile {profile!r} in the AWS config file"
        try:
            value = str(session.get_scoped_config().get(name))
        except ProfileNotFound:
            value = "?"
    return InputError(f"{origin}: {problem}: {value[:40]!r}", hint=hint)


def _no_region(
    session: botocore.session.Session, needs: str = "this command calls AWS in it"
) -> InvalidRegionError:
    """The error of a call that needs the configured region when none is configured: ``needs``
    says which."""
    profile = session.profile or "default"
    return InvalidRegionError(
        "no AWS region is configured (AWS_REGION, AWS_DEFAULT_REGION or the region of profile "
        f"{profile!r}), and {needs}",
        hint="set one as for the AWS CLI: export AWS_REGION=us-east-1 (your region), or "
        f"`aws configure set region us-east-1 --profile {shlex.quote(profile)}`",
    )


def _retry_configured(session: botocore.session.Session) -> bool:
    if os.environ.get("AWS_RETRY_MODE") or os.environ.get("AWS_MAX_ATTEMPTS"):
        return True
    try:
        scoped = session.get_scoped_config()
    except ProfileNotFound:
        return False
    return "retry_mode" in scoped or "max_attempts" in scoped
