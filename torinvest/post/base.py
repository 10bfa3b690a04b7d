"""What every destination shares: the files of a post, the destination protocol, its errors,
and the table that maps a destination's kind to its module (imported on demand).

A destination is written ``KIND[:ARGS]`` (``jira:SEC-123``, ``servicenow:incident:SYS_ID``,
``security-ir:CASE_ID``, ``securityhub``); :func:`parse_destination` checks the syntax only
(argparse ``type=``), :func:`make_destination` reads the destination's configuration from the
variables given (the environment, an env file) and raises :class:`PostConfigError` when a
variable is missing — before anything is posted anywhere.

A destination posts in steps the engine (:mod:`torinvest.post.engine`) records one by one:
``prepare`` (find or create what the post goes to), ``upload`` (one file), ``note`` (the comment,
work note, case comment or Security Hub update). Every failure is a :class:`PostError`: one line
naming the destination, what failed and what to do.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from torinvest.errors import (
    EXIT_COULD_NOT_LOOK,
    EXIT_FAILED,
    EXIT_REFUSED,
    AwsError,
    EndpointError,
    InputError,
    OptionsError,
    TorinvestError,
)

if TYPE_CHECKING:
    from torinvest.aws import Aws
    from torinvest.post.answer import Answer
    from torinvest.post.env import Redactor

#: kind → (module under torinvest.post, class): imported only when a destination of that kind
#: is used (no boto3 client or HTTP client for destinations nobody asked for).
DESTINATIONS: dict[str, tuple[str, str]] = {
    "jira": ("torinvest.post.jira", "JiraIssue"),
    "jira-new": ("torinvest.post.jira", "JiraNewIssue"),
    "servicenow": ("torinvest.post.servicenow", "ServiceNowRecord"),
    "security-ir": ("torinvest.post.security_ir", "SecurityIrCase"),
    "securityhub": ("torinvest.post.securityhub", "SecurityHubFinding"),
}
#: How each kind is written, for messages and ``--help``.
SYNTAX: dict[str, str] = {
    "jira": "jira:KEY-123",
    "jira-new": "jira-new:PROJECT (one new issue per finding, remembered)",
    "servicenow": "servicenow:TABLE:SYS_ID",
    "security-ir": "security-ir:CASE_ID",
    "securityhub": "securityhub (or securityhub:FINDING_ARN)",
}

_JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}$")
_JIRA_PROJECT = re.compile(r"^[A-Z][A-Z0-9_]{0,254}$")
_SN_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
_SN_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
_CASE_ID = re.compile(r"^\d{10,32}$")
_FINDING_ARN = re.compile(
    r"^arn:aws[a-z-]*:guardduty:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:detector/[0-9a-zA-Z]{1,64}"
    r"/finding/[0-9a-zA-Z]{8,128}$"
)
#: Characters a posted file name may hold (Security Incident Response allows only these).
_NAME_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class PostError(TorinvestError):
    """One destination could not be posted to (or only in part): the message names the
    destination and what failed; ``hint`` says what to do. Other destinations still run.

    Its exit status says which failure it is: this class, a post that failed (an answer that
    is not what the API answers, a file that cannot be read); :class:`PostUnreachableError`,
    the destination could not be reached or did not answer (retry later);
    :class:`PostDeclinedError`, the destination refused it (authentication, permission, not
    found, too large); ``MaybePostedError`` (:mod:`torinvest.post.http`), a post whose outcome
    is unknown."""

    exit_status = EXIT_FAILED

    def __init__(self, destination: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{destination}: {problem}", hint=hint)
        self.destination = destination
        self.problem = problem


class PostUnreachableError(PostError):
    """The destination could not be reached, did not answer, failed (HTTP 5xx) or rate-limited
    the post (HTTP 429), or something else answered for it (a proxy's page): nothing was
    posted by this step; posting again later does what is left."""

    exit_status = EXIT_COULD_NOT_LOOK


class PostDeclinedError(PostError):
    """The destination refused the post (HTTP 401, 403, 404, 413, another 4xx; AWS's access
    denied or validation): a human must fix the credentials, the permission or the target."""

    exit_status = EXIT_REFUSED


def aws_post_error(
    destination: str, error: AwsError, problem: str, *, hint: str | None = None
) -> PostError:
    """The :class:`PostError` of an AWS destination's call that failed (``error`` translated):
    unreachable when AWS could not be reached or throttled the call, else declined."""
    unreachable = isinstance(error, EndpointError) or (error.code or "") in _AWS_RETRY_CODES
    cls = PostUnreachableError if unreachable else PostDeclinedError
    return cls(destination, problem, hint=hint)


#: AWS error codes that say "try again later", not "no".
_AWS_RETRY_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerException",
        "InternalServerError",
        "InternalFailure",
    }
)


class NothingPostedError(TorinvestError):
    """Every destination of a post failed: nothing was posted. Its exit status is its failures':
    unreachable only when every one was (posting again later may do it), a failure or an unknown
    outcome when any was (someone must look at the destination before posting again), else
    refused."""

    def __init__(
        self, message: str, failures: Sequence[PostError], *, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.failures = tuple(failures)

    @property  # type: ignore[override]
    def exit_status(self) -> int:
        statuses = {f.exit_status for f in self.failures}
        for status in (EXIT_FAILED, EXIT_REFUSED):  # the one that needs a human, first
            if status in statuses:
                return status
        return EXIT_COULD_NOT_LOOK if statuses else EXIT_FAILED


def remote_id(destination: str, value: Any, what: str, name: str, hint: str | None = None) -> str:
    """An ID read from a service's answer (an issue key, a comment, attachment or sys_id, an
    ARN): a non-empty string or an integer, as text; else a :class:`PostError` naming what is
    missing — a step whose answer names nothing it made is not posted."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    said = "no" if value is None or value == "" else f"an unusable ({type(value).__name__})"
    raise PostError(
        destination,
        f"{what}: the answer gives {said} {name}, which the API always returns",
        hint=hint
        or "check on the service whether it arrived; post again to retry (a step "
        "without an ID is not recorded as posted)",
    )


class PostNotRecordedError(TorinvestError):
    """Posts made that could not be recorded in the ledger (they are in posts.json): a run that
    failed in part."""

    exit_status = EXIT_FAILED


class PostConfigError(InputError):
    """A destination's configuration is missing or wrong (an unset variable, a plain-HTTP URL):
    raised before anything is posted anywhere (refused: a human must fix it)."""

    exit_status = EXIT_REFUSED


class PostRefusedError(InputError):
    """The report folder cannot be posted: incomplete, unreadable, or its record cannot be
    written. Nothing was posted."""

    exit_status = EXIT_REFUSED


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """A parsed destination: ``kind`` and its ``args`` (``jira:SEC-1`` → ("jira", ("SEC-1",)))."""

    kind: str
    args: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The canonical way to write it: what the posting record and the ledger name."""
        return ":".join((self.kind, *self.args))

    def __str__(self) -> str:
        return self.text


def parse_destination(text: str) -> DestinationSpec:
    """Parse ``KIND[:ARGS]``; raise :class:`~torinvest.errors.OptionsError` (a usage error)
    naming the accepted forms when it is not one. Jira keys and projects are upper-cased,
    ServiceNow sys_ids lower-cased (both systems ignore case)."""
    raw = str(text).strip()
    kind, _, rest = raw.partition(":")
    kind = kind.lower()
    if kind not in DESTINATIONS:
        raise OptionsError(
            f"unknown destination {raw!r}",
            hint="use one of: " + "; ".join(SYNTAX.values()),
        )
    if kind == "jira":
        key = rest.strip().upper()
        if not _JIRA_KEY.match(key):
            raise _bad(raw, kind, "an issue key such as SEC-123")
        return DestinationSpec(kind, (key,))
    if kind == "jira-new":
        project = rest.strip().upper()
        if not _JIRA_PROJECT.match(project):
            raise _bad(raw, kind, "a project key such as SEC")
        return DestinationSpec(kind, (project,))
    if kind == "servicenow":
        table, _, sys_id = rest.partition(":")
        table, sys_id = table.strip().lower(), sys_id.strip().lower()
        if not (_SN_TABLE.match(table) and _SN_SYS_ID.match(sys_id)):
            raise _bad(raw, kind, "a table name and a record's 32-character sys_id")
        return DestinationSpec(kind, (table, sys_id))
    if kind == "security-ir":
        case = rest.strip()
        if not _CASE_ID.match(case):
            raise _bad(raw, kind, "a case ID (10 to 32 digits)")
        return DestinationSpec(kind, (case,))
    # securityhub
    if not rest:
        return DestinationSpec(kind)
    if not _FINDING_ARN.match(rest.strip()):
        raise _bad(raw, kind, "nothing, or the GuardDuty finding's ARN (its Security Hub Id)")
    return DestinationSpec(kind, (rest.strip(),))


def _bad(raw: str, kind: str, wants: str) -> OptionsError:
    return OptionsError(
        f"bad destination {raw!r}: {kind} takes {wants}", hint=f"write it {SYNTAX[kind]}"
    )


@dataclass(frozen=True, slots=True)
class PostFile:
    """One file of a report folder as it is posted: its ``name`` in the folder, the name it is
    posted under (``posted_as``: the finding, the file's stem and the first 8 hex digits of its
    SHA-256, in ``[A-Za-z0-9._-]`` — two versions never share a name, two findings posted to one
    ticket never collide), size, SHA-256 and media type."""

    name: str
    path: Path
    size: int
    sha256: str
    media_type: str
    posted_as: str

    def read(self) -> bytes:
        return self.path.read_bytes()

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "posted_as": self.posted_as,
            "bytes": self.size,
            "sha256": self.sha256,
        }


_MEDIA_TYPES = {".html": "text/html", ".json": "application/json", ".csv": "text/csv"}


def post_file(folder: Path, name: str, finding_id: str) -> PostFile:
    """A report file ready to post (hashed now: what is posted is what is recorded)."""
    path = folder / name
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    sha = digest.hexdigest()
    stem, suffix = Path(name).stem, Path(name).suffix
    posted_as = _NAME_SAFE.sub("_", f"torinvest-{finding_id}-{stem}-{sha[:8]}{suffix}")
    return PostFile(
        name=name,
        path=path,
        size=size,
        sha256=sha,
        media_type=_MEDIA_TYPES.get(suffix, "application/octet-stream"),
        posted_as=posted_as,
    )


@dataclass(slots=True)
class Bundle:
    """What a post sends: the report folder, its finding, its files and the plain-text
    answer (:class:`~torinvest.post.answer.Answer`)."""

    folder: Path
    finding_id: str
    summary: Mapping[str, Any]
    files: list[PostFile]
    answer: Answer
    #: Other destinations this report is already posted to (complete posts): for "where the
    #: report is" in a Security Hub note.
    posted_elsewhere: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Context:
    """What destinations get from the engine: the variables (environment and env file), the
    redactor that keeps secrets out of every message, the AWS session factory (built on first
    use), retry settings, and the memory of earlier posts to the same destination (remote IDs
    such as the issue a ``jira-new`` post created)."""

    env: Mapping[str, str]
    redactor: Redactor
    aws_factory: Any  # Callable[[], Aws]
    attempts: int
    backoff: float
    sleep: Any  # Callable[[float], None]
    _aws: Aws | None = None

    @property
    def aws(self) -> Aws:
        if self._aws is None:
            self._aws = self.aws_factory()
        return self._aws


class Destination(Protocol):
    """One place a report is posted to. ``spec`` is its canonical text (``jira:SEC-1``);
    ``site`` where it lives (a Jira or ServiceNow base URL, an AWS region) — with ``spec``
    the key of the posting record, never a secret; ``takes_files`` says whether it receives the
    report's files. Each method raises :class:`PostError` (one line) on failure."""

    spec: str
    site: str
    takes_files: bool

    def content(self, bundle: Bundle) -> str:
        """What this destination is sent besides the files (the comment, the note…): part of
        the version a post is recorded under, so a change re-posts."""
        ...

    def prepare(self, bundle: Bundle, memory: Mapping[str, Any]) -> dict[str, Any]:
        """Find (or create) what the post goes to; returns remote IDs to remember (``{}``
        when there is nothing to do). ``memory``: remote IDs of earlier posts."""
        ...

    def upload(self, bundle: Bundle, file: PostFile, token: str) -> dict[str, Any]:
        """Attach one file; returns its remote IDs. ``token``: a stable idempotency token."""
        ...

    def note(self, bundle: Bundle, files: list[dict[str, Any]], token: str) -> dict[str, Any]:
        """Post the comment (or note, or update) naming ``files`` (their posting records);
        returns its remote IDs."""
        ...

    def close(self) -> None: ...

    # Optional: ``recall(history)`` — the destination's earlier posts of this report (posts.json
    # entries, oldest first), handed over before ``prepare``: what it made there, which its
    # "was it already posted?" look-ups must still see to be believed (ServiceNow).


def make_destination(spec: DestinationSpec, ctx: Context) -> Destination:
    """The destination object for ``spec``, its configuration read from ``ctx.env``; raises
    :class:`PostConfigError` naming what is missing."""
    module, cls = DESTINATIONS[spec.kind]
    return getattr(importlib.import_module(module), cls)(spec, ctx)


def require(env: Mapping[str, str], spec: str, *names: str) -> list[str]:
    """The values of ``names`` in ``env``; raise :class:`PostConfigError` naming every one that
    is unset or empty."""
    missing = [n for n in names if not str(env.get(n) or "").strip()]
    if missing:
        raise PostConfigError(
            f"{spec}: {', '.join(missing)} not set",
            hint="set it in the environment or in the file given with --env-file "
            "(never on the command line)",
        )
    return [str(env[n]).strip() for n in names]
