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
``KeyError`` inside botocore or a ``UnicodeDecodeError``. It then makes the answer's text valid
(:func:`repair_answer`): an escape of a lone UTF-16 surrogate, which botocore's ``json`` would
read into a ``str`` that no writer (orjson, CSV, HTML, a terminal, an HTTP body) takes, becomes
U+FFFD, and the parsed answer says so (:func:`answer_repairs`; the caller names the finding or
record that holds it: :func:`repair_issue`). Code that reads a field of an answer
uses :func:`answer`, so that an answer without the fields the API promises is an error naming the
operation, never an empty result. A role given with ``role_arn`` is assumed on first use; a
refusal names ``sts:AssumeRole`` on that role (:class:`AssumeRoleError`), without botocore's
credential-refresh traceback.

The package, each module importing only those above it:

    answers    an answer that is not AWS's refused before parsing, its text made valid; a
               promised field read
    pages      page chains that end: a token followed twice or too many pages is an error
    reach      where a configured endpoint comes from, and the proxy a client goes through;
               one every region uses, found unreachable, is not called again in the run
    regions    ``--regions`` parsed and checked; the regions to search; where each partition
               records IAM and STS events
    translate  botocore exceptions → torinvest errors; the IAM action a call needs; AssumeRole
    session    AwsConfig and Aws: sessions, clients, the account, regions mapped concurrently
"""

from torinvest.aws.answers import (
    NOT_AWS_KEY,
    REPAIRED_KEY,
    NotAnAwsAnswer,
    answer,
    answer_repairs,
    check_answer,
    repair_answer,
    repair_issue,
)
from torinvest.aws.pages import PageTrail, follow_pages, max_pages
from torinvest.aws.reach import EndpointDown, SharedEndpoint
from torinvest.aws.regions import (
    DEFAULT_REGIONS,
    REGION_RE,
    RegionList,
    arn_partition,
    global_events_region,
    global_regions_missing,
    parse_regions,
    validate_region,
)
from torinvest.aws.session import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_RETRY_MODE,
    USER_AGENT_EXTRA,
    Aws,
    AwsConfig,
    check_profile,
    retries_spent,
)
from torinvest.aws.translate import (
    AWS_CALL_ERRORS,
    AssumeRoleError,
    assume_role_error,
    iam_action,
    translate_error,
)

__all__ = [
    "AWS_CALL_ERRORS",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_REGIONS",
    "DEFAULT_RETRY_MODE",
    "NOT_AWS_KEY",
    "REGION_RE",
    "REPAIRED_KEY",
    "USER_AGENT_EXTRA",
    "AssumeRoleError",
    "Aws",
    "AwsConfig",
    "EndpointDown",
    "NotAnAwsAnswer",
    "PageTrail",
    "RegionList",
    "SharedEndpoint",
    "answer",
    "answer_repairs",
    "arn_partition",
    "assume_role_error",
    "check_answer",
    "check_profile",
    "follow_pages",
    "global_events_region",
    "global_regions_missing",
    "iam_action",
    "max_pages",
    "parse_regions",
    "repair_answer",
    "repair_issue",
    "retries_spent",
    "translate_error",
    "validate_region",
]
