"""The one place that builds boto3 sessions and clients.

Everything about *where* and *as whom* torinvest talks to AWS comes from boto3's standard
configuration chain: ``AWS_PROFILE``/``--profile``, SSO, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``. torinvest adds only what the
chain leaves unset: a retry mode (``standard``, 10 attempts) when none is configured, a
``torinvest/<version>`` user agent suffix, and optionally a role to assume in a member account.
``endpoint_url`` exists for tests and is never given a default.

Every session built here checks each answer before botocore parses it (:func:`check_answer`): a
proxy's HTML page, a garbled body or a JSON document that is not an AWS error becomes a clean
:class:`NotAnAwsAnswer` / :class:`~torinvest.errors.EndpointError` instead of an empty dict, a
``KeyError`` inside botocore or a ``UnicodeDecodeError``. Code that reads a field of an answer
uses :func:`answer`, so that an answer without the fields the API promises is an error naming the
operation, never an empty result. A role given with ``role_arn`` is assumed on first use; a
refusal names ``sts:AssumeRole`` on that role (:class:`AssumeRoleError`), without botocore's
credential-refresh traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from xml.sax.saxutils import escape as xml_escape

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
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
#: Key :func:`check_answer` adds to an error answer that is not an AWS error document.
NOT_AWS_KEY = "TorinvestNotAnAwsAnswer"
#: Operations botocore calls on its own to get credentials (a profile's or torinvest's role).
_CREDENTIAL_OPERATIONS = {
    "AssumeRole": "sts",
    "AssumeRoleWithWebIdentity": "sts",
    "AssumeRoleWithSAML": "sts",
    "GetRoleCredentials": "sso",
}
_XML_PROTOCOLS = frozenset({"query", "ec2", "rest-xml"})
_JSON_PROTOCOLS = frozenset({"json", "rest-json", "smithy-rpc-v2-cbor"})
_FIRST_TAG = re.compile(
    rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<!?([A-Za-z_][\w.:-]*)", re.S
)

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
    """Parse ``--regions``: None or ``"all"`` → None (every enabled region), else a checked list.

    An empty value (``''``, only commas or spaces, an empty list) is refused: it names no region,
    and reading it as "all" would search what the analyst did not ask for.
    """
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    items = [i.strip() if isinstance(i, str) else i for i in items]
    items = [i for i in items if i]
    if not items:
        raise InvalidRegionError(
            f"no region named in --regions {value!r}",
            hint="pass 'all' (every enabled region) or region codes such as us-east-1,eu-west-1",
        )
    if items == ["all"]:
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
        if self.config.profile:
            check_profile(self.config.profile)  # a mistyped profile fails now, not mid-run
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
        base = _botocore_session(cfg.profile)
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
        assumed = _botocore_session(cfg.profile)
        assumed.user_agent_extra = USER_AGENT_EXTRA
        assumed._credentials = DeferredRefreshableCredentials(
            method="assume-role",
            refresh_using=_RoleCredentials(
                fetcher.fetch_credentials, str(cfg.role_arn), bool(cfg.external_id)
            ),
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
            self._account = str(
                answer(ident, "Account", str, service="sts", operation="GetCallerIdentity")
            )
        return self._account

    # -- regions ------------------------------------------------------------------------------
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
            names = sorted(
                str(answer(r, "RegionName", str, service="ec2", operation=op))
                for r in answer(resp, "Regions", list, service="ec2", operation=op)
            )
            if names:
                return RegionList(names, source="ec2:DescribeRegions")
            note = "ec2:DescribeRegions returned no region"
        except AWS_CALL_ERRORS as e:
            err = translate_error(e, service="ec2", region=self.home_region, operation=op)
            if _unusable_credentials(e, err):
                raise err from e
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


def check_profile(profile: str) -> None:
    """Raise :class:`InputError` now when the AWS profile ``profile`` does not exist."""
    _botocore_session(profile)


def _botocore_session(profile: str | None) -> botocore.session.Session:
    """A botocore session for ``profile`` (checked now) that checks every answer it parses."""
    try:
        session = botocore.session.Session(profile=profile)
        session.get_scoped_config()  # raises ProfileNotFound now rather than on first call
    except ProfileNotFound as e:
        raise InputError(
            f"AWS profile {profile!r} not found",
            hint="check `aws configure list-profiles` or AWS_CONFIG_FILE",
        ) from e
    session.register("before-parse", check_answer)
    return session


class NotAnAwsAnswer(ResponseParserError):
    """An answer that is not an AWS answer (HTML, garbled, wrong document): see check_answer."""


def check_answer(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict, **_: Any
) -> None:
    """botocore ``before-parse`` hook: refuse an answer that is not shaped like an AWS answer.

    A success (2xx) whose body is not the protocol's document (HTML from a proxy or captive
    portal, garbled bytes, a JSON array, XML of another operation) raises :class:`NotAnAwsAnswer`
    instead of parsing to an empty dict or crashing inside botocore. An error answer that is not
    an AWS error document is marked (:data:`NOT_AWS_KEY` in the parsed error) and its body emptied,
    so botocore still raises a ClientError (and retries a 5xx as usual) and
    :func:`translate_error` says the endpoint is not AWS. Streaming and payload answers (S3
    GetObject…) are not looked at.
    """
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray) or not body.strip():
        return
    if operation_model.has_streaming_output:
        return
    output = operation_model.output_shape
    status = int(response_dict.get("status_code") or 0)
    if status < 300 and output is not None and output.serialization.get("payload"):
        return
    service_model = operation_model.service_model
    protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
    headers = response_dict.get("headers") or {}
    problem = _answer_problem(
        protocol,
        status,
        bytes(body),
        headers,
        operation_model.name,
        has_output=bool(output is not None and output.members),
    )
    if problem is None:
        return
    content_type = headers.get("content-type") or "no content type"
    what = (
        f"HTTP {status} with {problem} ({content_type}), not an AWS answer: {_quote(bytes(body))}"
    )
    if status < 300:
        raise NotAnAwsAnswer(what)
    # botocore still raises its ClientError (and retries a 5xx as usual), with this code
    customized_response_dict[NOT_AWS_KEY] = what
    response_dict["body"] = _error_document(protocol, what)


def _error_document(protocol: str, message: str) -> bytes:
    """An AWS error document of ``protocol`` with the code ``NotAnAwsAnswer``."""
    text = xml_escape(message)
    if protocol == "ec2":
        return (
            "<Response><Errors><Error><Code>NotAnAwsAnswer</Code>"
            f"<Message>{text}</Message></Error></Errors></Response>"
        ).encode()
    if protocol == "query":
        return (
            "<ErrorResponse><Error><Code>NotAnAwsAnswer</Code>"
            f"<Message>{text}</Message></Error></ErrorResponse>"
        ).encode()
    if protocol == "rest-xml":
        return f"<Error><Code>NotAnAwsAnswer</Code><Message>{text}</Message></Error>".encode()
    return json.dumps({"__type": "NotAnAwsAnswer", "message": message}).encode()


def _answer_problem(
    protocol: str,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    operation: str,
    *,
    has_output: bool = False,
) -> str | None:
    """Why ``body`` is not an AWS answer of ``protocol``, or None when it may be one."""
    head = body.lstrip()[:1]
    tag = _FIRST_TAG.match(body[:2048])
    name = tag.group(1).decode("ascii", "replace").lower() if tag else ""
    if name in ("html", "doctype") or (head == b"<" and b"<html" in body[:2048].lower()):
        return "an HTML page"
    if protocol in _JSON_PROTOCOLS and protocol != "smithy-rpc-v2-cbor":
        if status < 300:  # cheap: botocore parses it next (a broken object has no fields)
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                return "a body that is not JSON"
            if head == b"[":
                return "a JSON list"
            return None if head == b"{" else "a body that is not JSON"
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return "a body that is not JSON"
        if not isinstance(doc, dict):
            return f"a JSON {type(doc).__name__}"
        if not (headers.get("x-amzn-errortype") or doc.get("__type") or doc.get("code")):
            return "a JSON document without an AWS error code"
        return None
    if protocol in _XML_PROTOCOLS:
        if head != b"<" or not tag:
            return "a body that is not XML"
        if status < 300 and protocol in ("query", "ec2") and name != f"{operation}Response".lower():
            return f"XML <{tag.group(1).decode('ascii', 'replace')}> instead of {operation}Response"
        wrapper = f"<{operation}Result".encode()
        if status < 300 and protocol == "query" and has_output and wrapper not in body:
            return f"XML without {operation}Result"
    return None


def _quote(body: bytes) -> str:
    """The start of a body, on one line, printable."""
    text = body[: _BODY_QUOTE_CHARS * 4].decode("utf-8", "replace")
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text[: _BODY_QUOTE_CHARS - 1] + "…" if len(text) > _BODY_QUOTE_CHARS else text


def answer(
    response: Any,
    key: str,
    kind: type | tuple[type, ...] = object,
    *,
    service: str,
    operation: str,
    region: str | None = None,
) -> Any:
    """``response[key]``, checked: a missing field (or one of another type than ``kind``) is an
    :class:`~torinvest.errors.EndpointError` naming the operation, never an empty result.

    >>> answer({"DetectorIds": []}, "DetectorIds", list, service="guardduty", operation="ListDetectors")
    []
    """
    where = f"{service} in {region}" if region else service
    if not isinstance(response, Mapping) or key not in response:
        raise EndpointError(
            f"{operation} on {where}: the answer has no {key}, which the API always returns",
            hint="a proxy or a wrong AWS_ENDPOINT_URL may be answering instead of AWS; check "
            "the network and the endpoint settings",
            service=service,
            region=region,
            operation=operation,
            code="IncompleteResponse",
        )
    value = response[key]
    if not isinstance(value, kind):
        raise EndpointError(
            f"{operation} on {where}: {key} in the answer is a {type(value).__name__}, "
            "not what the API returns",
            hint="a proxy or a wrong AWS_ENDPOINT_URL may be answering instead of AWS",
            service=service,
            region=region,
            operation=operation,
            code="IncompleteResponse",
        )
    return value


class AssumeRoleError(AwsError):
    """The role of ``role_arn`` could not be assumed (sts:AssumeRole refused or failed)."""


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


def assume_role_error(
    error: BaseException, role_arn: str | None, *, external_id: bool = False
) -> AssumeRoleError:
    """An AssumeRole failure, naming the call, the role and what it needs."""
    role = role_arn or "the profile's role"
    inner = translate_error(error, service="sts", operation="AssumeRole", credentials=False)
    needs = (
        f"the caller needs sts:AssumeRole on {role}, and the role's trust policy must allow "
        "the caller" + (" with this external ID" if external_id else "")
    )
    if isinstance(inner, AccessDeniedError):
        message = f"access denied: sts:AssumeRole on {role}: {inner.message.split(': ', 2)[-1]}"
        hint = f"{needs}; an SCP may also deny it"
    else:
        message = f"could not assume {role} (sts:AssumeRole): {inner.message}"
        hint = inner.hint or needs
    return AssumeRoleError(
        message, hint=hint, service="sts", operation="AssumeRole", code=inner.code
    )


def _unusable_credentials(error: BaseException, translated: AwsError) -> bool:
    """Credentials that no region will accept: no credentials, SSO to renew, expired."""
    if isinstance(
        error,
        NoCredentialsError
        | SSOTokenLoadError
        | UnauthorizedSSOTokenError
        | TokenRetrievalError
        | CredentialRetrievalError,
    ):
        return True
    return isinstance(translated, AssumeRoleError) or translated.code in _EXPIRED_CODES


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


_credential_log = logging.getLogger("botocore.credentials")
if not any(isinstance(f, _CredentialRefreshNoise) for f in _credential_log.filters):
    _credential_log.addFilter(_CredentialRefreshNoise())


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
    credentials: bool = True,
) -> AwsError:
    """Turn a botocore exception into a torinvest :class:`AwsError` with a hint for the analyst.

    A ClientError of a call botocore made on its own to get credentials (AssumeRole of a
    profile's role…) names that call, not ``operation``. An error answer that is not an AWS error
    (see :func:`check_answer`) is an :class:`EndpointError`.
    """
    where = f"{service} in {region}" if region else service
    if isinstance(error, ClientError):
        failed_op = getattr(error, "operation_name", None)
        own = _CREDENTIAL_OPERATIONS.get(str(failed_op))
        if credentials and own is not None and failed_op != operation and service != own:
            if own == "sts":  # a profile's role_arn, assumed by botocore on the first call
                return assume_role_error(error, _role_in(error))
            return translate_error(error, service=own, operation=failed_op, credentials=False)
        not_aws = error.response.get(NOT_AWS_KEY)
        if not_aws:
            op = operation or failed_op or "call"
            return EndpointError(
                f"{op} on {where}: the endpoint answered {not_aws}",
                hint="a proxy, a captive portal or a wrong AWS_ENDPOINT_URL may be answering "
                "instead of AWS; check the network and the endpoint settings",
                service=service,
                region=region,
                operation=op,
                code="NotAnAwsAnswer",
            )
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
    if isinstance(error, NotAnAwsAnswer):
        op = operation or "call"
        return EndpointError(
            f"{op} on {where}: the endpoint answered {error}",
            hint="a proxy, a captive portal or a wrong AWS_ENDPOINT_URL may be answering "
            "instead of AWS; check the network and the endpoint settings",
            service=service,
            region=region,
            operation=operation,
            code="NotAnAwsAnswer",
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


def _role_in(error: ClientError) -> str | None:
    """The role ARN named in an AssumeRole refusal's message, if any."""
    message = str(error.response.get("Error", {}).get("Message") or "")
    found = re.search(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+", message)
    return found.group(0) if found else None


def _quote_body(error: ResponseParserError) -> str:
    """The start of an unparsable answer, on one line, for an error message."""
    text = " ".join(str(error).split())
    if len(text) > _BODY_QUOTE_CHARS:
        text = text[: _BODY_QUOTE_CHARS - 1] + "…"
    return text
