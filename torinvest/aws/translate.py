"""botocore's exceptions → torinvest's errors (:func:`translate_error`, :data:`AWS_CALL_ERRORS`),
the IAM action a call needs, and an AssumeRole refusal named as one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    InvalidConfigError,
    NoCredentialsError,
    PaginationError,
    PartialCredentialsError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from torinvest.aws.answers import _BODY_QUOTE_CHARS, NOT_AWS_KEY, NotAnAwsAnswer
from torinvest.aws.reach import (
    ANSWERED_EARLIER,
    answered_earlier,
    ca_bundle_hint,
    ca_bundle_of,
    connect_reason,
    is_certificate_failure,
    is_proxy_failure,
    redact_url,
    unreached,
)
from torinvest.errors import (
    AccessDeniedError,
    AwsError,
    EndpointError,
    NotEnabledError,
)

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
#: Error codes of a call refused for its rate (botocore's standard retry mode retries them).
_THROTTLED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
    }
)

#: IAM actions whose name differs from the API operation name.
_IAM_ACTION_OVERRIDES = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
}
#: IAM service prefixes that differ from the botocore service name.
_IAM_PREFIX = {"athena": "athena", "logs": "logs"}

#: Every exception a boto3 call can raise for an answer it did not like: an AWS error
#: (ClientError), a client-side problem (BotoCoreError: network, credentials, SSO, …) and an
#: answer that is not an AWS response at all (ResponseParserError: a proxy's HTML page, a
#: garbled body), which botocore does not derive from BotoCoreError. Catch this tuple around
#: any call and pass the exception to :func:`translate_error`.
AWS_CALL_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)
#: Operations botocore calls on its own to get credentials (a profile's or torinvest's role).
_CREDENTIAL_OPERATIONS = {
    "AssumeRole": "sts",
    "AssumeRoleWithWebIdentity": "sts",
    "AssumeRoleWithSAML": "sts",
    "GetRoleCredentials": "sso",
}


#: The attribute a call's error carries: the AWS profile of the credentials it was made with
#: (:func:`name_profile`), for the hint of credentials to renew.
PROFILE_ATTR = "torinvest_profile"


def name_profile(error: BaseException, profile: str | None) -> None:
    """Record on ``error`` the AWS profile of the call that raised it (None: the default
    profile), unless it already says one."""
    if getattr(error, PROFILE_ATTR, None) is None:
        # an exception that takes no attribute: AWS_PROFILE's is said
        with contextlib.suppress(AttributeError):
            setattr(error, PROFILE_ATTR, profile or "default")


#: The attribute of an error of a call botocore made on its own to get credentials (a
#: profile's ``role_arn``: AssumeRole; SSO: GetRoleCredentials): that call's operation.
CREDENTIAL_CALL_ATTR = "torinvest_credential_call"


def credential_call_failed(exception: BaseException | None = None, **kwargs: Any) -> None:
    """botocore's ``after-call-error`` of a credential call (:data:`_CREDENTIAL_OPERATIONS`),
    registered on every session torinvest builds: its error (a connection failure, which does
    not say its operation as a ClientError does) records the call, so that the call it failed
    (``guardduty ListDetectors``) is not named as the one that could not connect."""
    if exception is not None:
        operation = str(kwargs.get("event_name", "")).rsplit(".", 1)[-1]
        with contextlib.suppress(AttributeError):
            setattr(exception, CREDENTIAL_CALL_ATTR, operation)


def credential_call(error: BaseException) -> str | None:
    """The credential call (``sts AssumeRole``, ``sso GetRoleCredentials``) botocore made on
    its own that raised ``error`` (:func:`credential_call_failed`), or None: the call itself."""
    own = getattr(error, CREDENTIAL_CALL_ATTR, None)
    return f"{_CREDENTIAL_OPERATIONS[own]} {own}" if own in _CREDENTIAL_OPERATIONS else None


#: The events :func:`credential_call_failed` is registered for.
CREDENTIAL_CALL_EVENTS = tuple(
    f"after-call-error.{service}.{op}" for op, service in _CREDENTIAL_OPERATIONS.items()
)


def _profile_of(error: BaseException) -> str:
    """The profile of ``error``'s call (:func:`name_profile`), else ``AWS_PROFILE``'s, else
    the default profile's."""
    found = getattr(error, PROFILE_ATTR, None)
    return str(found) if found else os.environ.get("AWS_PROFILE") or "default"


def sso_login(error: BaseException) -> str:
    """The command that renews the SSO session of ``error``'s profile, shell-quoted."""
    return f"aws sso login --profile {shlex.quote(_profile_of(error))}"


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API call needs, e.g. ``guardduty:ListFindings``."""
    return _IAM_ACTION_OVERRIDES.get(
        (service, operation), f"{_IAM_PREFIX.get(service, service)}:{operation}"
    )


class AssumeRoleError(AwsError):
    """The role of ``role_arn`` could not be assumed (sts:AssumeRole refused or failed)."""


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
        | CredentialRetrievalError
        | InvalidConfigError
        | PartialCredentialsError,
    ):
        return True
    return isinstance(translated, AssumeRoleError) or translated.code in _EXPIRED_CODES


def _no_credentials() -> AwsError:
    return AwsError(
        "no AWS credentials found",
        hint="run `aws configure`, `aws sso login`, or set AWS_PROFILE as for the AWS CLI",
        code="NoCredentials",
    )


def _endpoint_url(error: BaseException) -> str:
    """The URL a connection failure was for (botocore's ``endpoint_url``), without a path."""
    url = str(getattr(error, "kwargs", {}).get("endpoint_url") or "")
    return url.rstrip("/") or "(its URL unknown)"


def translate_error(
    error: BaseException,
    *,
    service: str,
    region: str | None = None,
    operation: str | None = None,
    credentials: bool = True,
    resource: str | None = None,
) -> AwsError:
    """Turn a botocore exception into a torinvest :class:`AwsError` with a hint for the analyst.

    ``resource`` names what the call was about (``s3://bucket/prefix``): the message says it in
    place of the service name, so that an error names the bucket (NoSuchBucket, access denied).

    A ClientError of a call botocore made on its own to get credentials (AssumeRole of a
    profile's role…) names that call, not ``operation``. An error answer that is not an AWS error
    (see :func:`check_answer`) is an :class:`EndpointError`.
    """
    where = resource or service
    where = f"{where} in {region}" if region else where
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
                hint=f"refresh them (`{sso_login(error)}`, or new session credentials) and re-run",
                **kw,
            )
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _THROTTLED_CODES or (isinstance(status, int) and status >= 500):
            return _transient(error, f"{op or 'call'} on {where}", code, message, kw)
        return AwsError(f"{op or 'call'} on {where} failed: {code}: {message}", **kw)
    if isinstance(error, NoCredentialsError):
        return _no_credentials()
    if isinstance(error, InvalidConfigError | PartialCredentialsError):
        # a profile botocore cannot use (a source_profile that does not exist or has no
        # credentials, a role chain that loops, half a key pair): the same for every call
        profile = _profile_of(error)
        return AwsError(
            f"the AWS configuration of profile {profile!r} is not usable: {error}",
            hint="fix it in the AWS config or credentials file (~/.aws/config, AWS_CONFIG_FILE; "
            f"`aws configure list --profile {shlex.quote(profile)}` shows what is read)",
            service=service,
            region=region,
            code="InvalidConfig",
        )
    if isinstance(error, SSOTokenLoadError | UnauthorizedSSOTokenError | TokenRetrievalError):
        return AwsError(
            f"SSO session of profile {_profile_of(error)!r} not usable: {error}",
            hint=f"run `{sso_login(error)}`, then run this command again",
            service=service,
            region=region,
        )
    own_call = getattr(error, CREDENTIAL_CALL_ATTR, None)
    if credentials and own_call in _CREDENTIAL_OPERATIONS and own_call != operation:
        # a profile's role (or SSO) whose credential call could not be made: that call named
        own = _CREDENTIAL_OPERATIONS[own_call]
        inner = translate_error(error, service=own, operation=own_call, credentials=False)
        what = "assume the role" if own == "sts" else "get the SSO credentials"
        return AssumeRoleError(
            f"could not {what} of profile {_profile_of(error)!r} ({own}:{own_call}): "
            f"{inner.message}",
            hint=inner.hint,
            service=own,
            operation=own_call,
            code=inner.code,
        )
    if isinstance(error, BotoConnectionError | HTTPClientError):
        down = unreached(error)
        if down is not None:  # an endpoint or proxy found down: the same words each call
            return EndpointError(
                down.message + (f" {ANSWERED_EARLIER}" if answered_earlier(error) else ""),
                hint=down.hint,
                service=service,
                region=region,
                operation=operation,
                code="EndpointUnreachable",
            )
        if is_proxy_failure(error):  # its URL said without the user:password it may hold
            proxy = redact_url(str(getattr(error, "kwargs", {}).get("proxy_url") or "?"))
            return EndpointError(
                f"could not connect to the proxy {proxy} for the {service} endpoint"
                + (f" in {region}" if region else "")
                + f": {connect_reason(error)}",
                hint="check that the proxy (HTTPS_PROXY, https_proxy) is running, or unset it "
                "or add the endpoint's host to NO_PROXY to connect without it",
                service=service,
                region=region,
                operation=operation,
                code="ProxyUnreachable",
            )
        if is_certificate_failure(error):  # the same answer for every region: named
            return EndpointError(
                f"could not connect to the {service} endpoint"
                + (f" in {region}" if region else "")
                + f" ({_endpoint_url(error)})"
                + (f" ({operation or 'call'} on {resource})" if resource else "")
                + f": {connect_reason(error)}",
                hint=ca_bundle_hint(ca_bundle_of(error)),
                service=service,
                region=region,
                operation=operation,
                code="CertificateNotTrusted",
            )
        return EndpointError(
            f"could not reach the {service} endpoint{f' in {region}' if region else ''}"
            + (f" ({operation or 'call'} on {resource})" if resource else "")
            + f": {error}",
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
    if isinstance(error, PaginationError):
        op = operation or "call"
        return EndpointError(
            f"{op} on {where}: the endpoint returned the same next token twice (its pages "
            "would never end); stopped there, the results of this call are incomplete",
            hint="an endpoint or proxy that does not end its pages; retry later, or check the "
            "endpoint settings (AWS_ENDPOINT_URL…)",
            service=service,
            region=region,
            operation=operation,
            code="EndlessPagination",
        )
    if isinstance(error, AwsError):
        return error
    return AwsError(
        (f"{operation} on " if operation and not resource else "")
        + f"{service} call failed in {region or 'home region'}"
        + (f" ({operation or 'call'} on {resource})" if resource else "")
        + f": {error}",
        service=service,
        region=region,
        operation=operation,
    )


def _transient(
    error: ClientError, call: str, code: str, message: str, kw: dict[str, Any]
) -> AwsError:
    """A call that was throttled, or met a server error, on every attempt: says so, how many
    attempts were made, and what to do (it is neither an access problem nor a result)."""
    tries = error.response.get("ResponseMetadata", {}).get("RetryAttempts")
    # botocore's own attempts (none retried: a caller that retries itself, as LookupEvents)
    attempts = f" after {tries + 1} attempt(s)" if isinstance(tries, int) and tries > 0 else ""
    if code in _THROTTLED_CODES:
        what = f"{call} was throttled{attempts} ({code}): {message}"
        hint = (
            "AWS limited the rate of these calls (a limit shared with other tools of the "
            "account): re-run later, lower --max-workers, or allow more attempts "
            "(AWS_MAX_ATTEMPTS)"
        )
    else:
        what = f"{call} failed{attempts} with a server error ({code}): {message}"
        hint = "AWS answered with a server error on every attempt: re-run later"
    return AwsError(what, hint=hint, **kw)


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
