"""The one place that builds boto3 sessions and clients.

Everything about *where* and *as whom* torinvest talks to AWS comes from boto3's standard
configuration chain: ``AWS_PROFILE``/``--profile``, SSO, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``. torinvest adds only what the
chain leaves unset: a retry mode (``standard``, 10 attempts) when none is configured, a
``torinvest/<version>`` user agent suffix, and optionally a role to assume in a member account.
``endpoint_url`` exists for tests and is never given a default.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError
from tqdm import tqdm  # text bars on a terminal only (tqdm.auto would put widgets in reports)

from torinvest import __version__
from torinvest.errors import (
    AccessDeniedError,
    AwsError,
    EndpointError,
    InputError,
    InvalidRegionError,
    NotEnabledError,
)

log = logging.getLogger(__name__)

USER_AGENT_EXTRA = f"torinvest/{__version__}"
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_MAX_WORKERS = 8
#: Region used for global calls only when the configuration chain names none.
FALLBACK_HOME_REGION = "us-east-1"

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "AuthorizationErrorException",
        "Forbidden",
        "403",
    }
)
_NOT_ENABLED_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "OptInRequired",
        "SubscriptionRequiredException",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})

#: IAM actions whose name differs from the API operation name.
_IAM_ACTION_OVERRIDES = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
#: IAM service prefixes that differ from the botocore service name.
_IAM_PREFIX = {"athena": "athena", "logs": "logs"}

#: Every exception a boto3 call can raise for an answer it did not like: an AWS error
#: (ClientError), a client-side problem (BotoCoreError: network, credentials, SSO, …) and an
#: answer that is not an AWS response at all (ResponseParserError: a proxy's HTML page, a
#: garbled body), which botocore does not derive from BotoCoreError. Catch this tuple around
#: any call and pass the exception to :func:`translate_error`.
AWS_CALL_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)
#: How much of an unparsable answer an error message quotes.
_BODY_QUOTE_CHARS = 120

T = TypeVar("T")


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API call needs, e.g. ``guardduty:ListFindings``."""
    return _IAM_ACTION_OVERRIDES.get(
        (service, operation), f"{_IAM_PREFIX.get(service, service)}:{operation}"
    )


def validate_region(name: str) -> str:
    """Return ``name`` if it is shaped like an AWS region name, else raise InvalidRegionError."""
    if not isinstance(name, str) or not REGION_RE.match(name):
        raise InvalidRegionError(
            f"invalid region name {name!r}",
            hint="use a region code such as us-east-1 or eu-west-3, or 'all'",
        )
    return name


def parse_regions(value: str | Sequence[str] | None) -> list[str] | None:
    """Parse ``--regions``: None or ``"all"`` → None (every enabled region), else a checked list."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    items = [i for i in items if i]
    if not items or items == ["all"]:
        return None
    if "all" in items:
        raise InvalidRegionError(
            "'all' cannot be combined with region names", hint="pass 'all' or a list of regions"
        )
    return list(dict.fromkeys(validate_region(i) for i in items))


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


class Aws:
    """Sessions and clients for one investigation, created lazily and cached per (service, region).

    >>> aws = Aws(AwsConfig(profile="security-audit"))          # doctest: +SKIP
    >>> aws.client("guardduty", "eu-west-1").list_detectors()   # doctest: +SKIP
    """

    def __init__(self, config: AwsConfig | None = None) -> None:
        self.config = config or AwsConfig()
        self._lock = threading.Lock()
        self._session: boto3.Session | None = None
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._account: str | None = None

    # -- sessions -----------------------------------------------------------------------------
    @property
    def session(self) -> boto3.Session:
        with self._lock:
            if self._session is None:
                self._session = self._build_session()
            return self._session

    def _build_session(self) -> boto3.Session:
        cfg = self.config
        try:
            base = botocore.session.Session(profile=cfg.profile)
            base.get_scoped_config()  # raises ProfileNotFound now rather than on first call
        except ProfileNotFound as e:
            raise InputError(
                f"AWS profile {cfg.profile!r} not found",
                hint="check `aws configure list-profiles` or AWS_CONFIG_FILE",
            ) from e
        base.user_agent_extra = USER_AGENT_EXTRA
        if cfg.role_arn:
            base = self._assume_role(base)
        # AWS_REGION is what the AWS CLI v2 and the other SDKs read first; botocore reads only
        # AWS_DEFAULT_REGION and the profile, so honour it here as the CLI would.
        region = cfg.region or os.environ.get("AWS_REGION") or None
        return boto3.Session(botocore_session=base, region_name=region)

    def _assume_role(self, base: botocore.session.Session) -> botocore.session.Session:
        cfg = self.config
        source = base.get_credentials()
        if source is None:
            raise _no_credentials()
        extra: dict[str, str] = {"RoleSessionName": cfg.role_session_name}
        if cfg.external_id:
            extra["ExternalId"] = cfg.external_id

        def create_client(service_name: str, **kwargs: Any) -> Any:
            kwargs.setdefault("region_name", cfg.region or _configured_region(base))
            if cfg.endpoint_url:
                kwargs["endpoint_url"] = cfg.endpoint_url
            return base.create_client(service_name, **kwargs)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=create_client,
            source_credentials=source,
            role_arn=cfg.role_arn,
            extra_args=extra,
        )
        log.info("assuming role %s", cfg.role_arn)
        assumed = botocore.session.Session(profile=cfg.profile)
        assumed.user_agent_extra = USER_AGENT_EXTRA
        assumed._credentials = DeferredRefreshableCredentials(
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )
        return assumed

    @property
    def home_region(self) -> str:
        """The configured region (``AWS_REGION``, profile…), or us-east-1 when none is set."""
        return self.session.region_name or FALLBACK_HOME_REGION

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.home_region)

    # -- clients ------------------------------------------------------------------------------
    def client_config(self) -> Config:
        """The botocore Config every client gets: user agent, and retries only if unconfigured."""
        kwargs: dict[str, Any] = {
            "user_agent_extra": USER_AGENT_EXTRA,
            "max_pool_connections": max(10, self.config.max_workers * 2),
        }
        if not _retry_configured(self.session._session):
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
            if key is not None:
                self._clients[key] = client
        return client

    def account_id(self) -> str:
        """The account of the credentials in use (STS GetCallerIdentity, cached)."""
        if self._account is None:
            try:
                ident = self.client("sts").get_caller_identity()
            except AWS_CALL_ERRORS as e:
                raise translate_error(e, service="sts", operation="GetCallerIdentity") from e
            self._account = str(ident["Account"])
        return self._account

    # -- regions ------------------------------------------------------------------------------
    def regions(self, service: str, requested: Sequence[str] | None = None) -> RegionList:
        """The regions to search for ``service``.

        ``requested`` (already validated) wins. Otherwise the account's enabled regions from EC2
        DescribeRegions; if that call is not allowed or fails, the partition's region list for the
        service from botocore's endpoint data, with a note saying so.
        """
        if requested:
            return RegionList(list(requested), source="requested")
        try:
            resp = self.client("ec2").describe_regions(AllRegions=False)
            names = sorted(r["RegionName"] for r in resp["Regions"])
            if names:
                return RegionList(names, source="ec2:DescribeRegions")
            note = "ec2:DescribeRegions returned no region"
        except AWS_CALL_ERRORS as e:
            note = str(translate_error(e, service="ec2", region=self.home_region))
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
    ) -> list[tuple[str, T | BaseException]]:
        """Run ``fn(region)`` for each region, concurrently, keeping each outcome or exception.

        One region failing never stops the others; results come back in the order of
        ``regions``. ``max_workers=1`` runs them in order in this thread (tests, debugging).
        ``progress`` names a progress bar over regions (shown on a terminal only).
        """
        regions = list(regions)
        bar = (
            tqdm(total=len(regions), desc=progress, unit="region", disable=None, leave=False)
            if (progress)
            else None
        )

        def run(region: str) -> tuple[str, T | BaseException]:
            try:
                return region, fn(region)
            except Exception as e:
                return region, e
            finally:
                if bar is not None:
                    bar.update(1)

        workers = max(1, min(self.config.max_workers, len(regions)))
        try:
            if workers == 1:
                return [run(r) for r in regions]
            # Build the session before fanning out: creating it is not thread-safe.
            _ = self.session
            with ThreadPoolExecutor(workers, thread_name_prefix="torinvest-aws") as pool:
                return list(pool.map(run, regions))
        finally:
            if bar is not None:
                bar.close()


@dataclass(frozen=True, slots=True)
class RegionList:
    """Regions to search, where that list came from, and a note when it is a fallback."""

    names: list[str]
    source: str
    note: str | None = None

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _configured_region(session: botocore.session.Session) -> str:
    return session.get_config_variable("region") or FALLBACK_HOME_REGION


def _retry_configured(session: botocore.session.Session) -> bool:
    if os.environ.get("AWS_RETRY_MODE") or os.environ.get("AWS_MAX_ATTEMPTS"):
        return True
    try:
        scoped = session.get_scoped_config()
    except ProfileNotFound:
        return False
    return "retry_mode" in scoped or "max_attempts" in scoped


def _no_credentials() -> AwsError:
    return AwsError(
        "no AWS credentials found",
        hint="run `aws configure`, `aws sso login`, or set AWS_PROFILE as for the AWS CLI",
        code="NoCredentials",
    )


def translate_error(
    error: BaseException,
    *,
    service: str,
    region: str | None = None,
    operation: str | None = None,
) -> AwsError:
    """Turn a botocore exception into a torinvest :class:`AwsError` with a hint for the analyst."""
    where = f"{service} in {region}" if region else service
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        code = str(
            err.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        )
        message = err.get("Message") or str(error)
        op = operation or getattr(error, "operation_name", None)
        kw: dict[str, Any] = dict(service=service, region=region, operation=op, code=code)
        if code in _ACCESS_DENIED_CODES:
            action = iam_action(service, op) if op else f"{service}:*"
            return AccessDeniedError(
                f"access denied: {op or 'call'} on {where}: {message}",
                hint=f"the principal needs {action} (see the read-only policy in the README); "
                "an SCP or quarantine policy may also deny it",
                **kw,
            )
        if code in _NOT_ENABLED_CODES:
            return NotEnabledError(
                f"{op or 'call'} on {where} was refused ({code}): {message}",
                hint="the region may be an opt-in region not enabled for this account, "
                "or the credentials are not valid there",
                **kw,
            )
        if code in _EXPIRED_CODES:
            return AwsError(
                f"credentials expired calling {op or service} ({code})",
                hint="refresh them (`aws sso login`, or new session credentials) and re-run",
                **kw,
            )
        return AwsError(f"{op or 'call'} on {where} failed: {code}: {message}", **kw)
    if isinstance(error, NoCredentialsError):
        return _no_credentials()
    if isinstance(error, SSOTokenLoadError | UnauthorizedSSOTokenError | TokenRetrievalError):
        return AwsError(
            f"SSO session not usable: {error}",
            hint="run `aws sso login` for this profile",
            service=service,
            region=region,
        )
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return EndpointError(
            f"could not reach the {where} endpoint: {error}",
            hint="check the network, proxy, or AWS_ENDPOINT_URL settings",
            service=service,
            region=region,
            operation=operation,
        )
    if isinstance(error, ResponseParserError):
        op = operation or "call"
        return EndpointError(
            f"{op} on {where}: the endpoint answered with something that is not an AWS "
            f"response ({_quote_body(error)})",
            hint="a proxy, a captive portal or a wrong AWS_ENDPOINT_URL may be answering "
            "instead of AWS; check the network and the endpoint settings",
            service=service,
            region=region,
            operation=operation,
            code="UnparsableResponse",
        )
    if isinstance(error, AwsError):
        return error
    return AwsError(
        f"{service} call failed in {region or 'home region'}: {error}",
        service=service,
        region=region,
        operation=operation,
    )


def _quote_body(error: ResponseParserError) -> str:
    """The start of an unparsable answer, on one line, for an error message."""
    text = " ".join(str(error).split())
    if len(text) > _BODY_QUOTE_CHARS:
        text = text[: _BODY_QUOTE_CHARS - 1] + "…"
    return text
