"""One exception tree for torinvest, plus the ``DataIssue`` record for partial results.

Each class carries the command's exit status when it stops one (``exit_status``, in brackets;
the ``EXIT_*`` values below, README "Exit codes"), the same in every command::

    TorinvestError [1]                  base; ``str(e)`` is one line, ``e.hint`` says what to do
    ├── InputError [1]                  the analyst's input is wrong (file, field, ID, option)
    │   ├── FindingFileError            a findings file cannot be read (empty, invalid JSON, not a finding)
    │   ├── NoFindingsError             a folder or input holds no finding at all
    │   │   └── FindingsNotReadError ◇ [3]  every findings file failed: no finding could be read
    │   ├── InvalidFindingIdError       a finding ID that is not a GuardDuty finding ID
    │   ├── InvalidRegionError          a region name that is not a region name
    │   ├── NotATorFindingError         a finding of another type where a Tor finding was needed
    │   ├── MissingKeyDetailsError      a finding without ``resource.accessKeyDetails``
    │   ├── FindingNotFoundError [4]    a requested finding ID is not among those searched
    │   │                               (``unsearched``/``not_looked``: the sources that could not
    │   │                               be, if any: then [3], it may be there)
    │   └── OptionsError [2]            options that cannot mean what they say together
    ├── ReportError [6]                 a report could not be produced or checked (a file, its contract)
    ├── RunFailedError [6]              a run that failed: a change failed or of unknown outcome, reports failed
    ├── RefusedError [5]                a change refused by a guard before it was made (no matching verdict, wrong account)
    │   └── CouldNotCheckError [3]      refused because AWS did not answer what the guard must check
    ├── AwsError [3]                    AWS answered with an error (or could not be reached)
    │   ├── AccessDeniedError           the caller lacks an IAM permission (``hint`` names the action)
    │   ├── NotEnabledError             the service is not set up there (no GuardDuty detector, region not enabled)
    │   ├── EndpointError               the endpoint could not be reached, or answered something not AWS
    │   └── RegionsNotSearchedError ◇   every GuardDuty region asked failed: nothing was searched
    └── CouldNotLookError ◇ [3]         nothing could be searched or read (``issues`` says why);
                                        never a "not found" or an empty result

(◇ marks the two subclasses of :class:`CouldNotLookError`.) Elsewhere: a notebook that failed
(:class:`torinvest.report.run.NotebookError`) [6]; a folder another run holds
(``FolderBusyError``, ``StateBusyError``) [7]; a post (:mod:`torinvest.post.base`): refused
[5], unreachable [3], failed or of unknown outcome [6]. A failure that is none of these, or a
bug, is 1.

Problems that do not stop a run (one bad file among good ones, one region that failed) are kept as
:class:`DataIssue` records next to the results, so that "no events" and "not allowed to look" never
read the same. :func:`group_issues` folds identical problems of many sources (8,012 objects denied
alike) into one record with the count and a few examples: what the CLI prints, the report shows
and ``summary.json`` keeps.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: The command's exit status for each class of failure (README "Exit codes"): the one place
#: they are set. Each error class carries its own (:attr:`TorinvestError.exit_status`); the CLI
#: exits with the status of the error that stopped it, the same in every command.
EXIT_ERROR = 1
"""An internal error (a bug), or a failure of no class below: the input torinvest cannot use
(a file, field or ID the error names)."""
EXIT_USAGE = 2
"""A usage error: an option's value, options that do not go together."""
EXIT_COULD_NOT_LOOK = 3
"""Could not look: nothing could be searched, read or reached (credentials, access, network,
no region, a destination that did not answer); nothing was changed. Fix the access or retry
later."""
EXIT_NOT_FOUND = 4
"""Not found: every place it could be was searched and it is not there (archived, deleted,
another account's). A finding not found while some places could not be searched is
:data:`EXIT_COULD_NOT_LOOK`: it may be there."""
EXIT_REFUSED = 5
"""Refused: a guard (no matching verdict, another analyst's verdict, another account, the finding
changed, an incomplete report) or a destination (authentication, permission) said no; nothing
was changed. A human must look."""
EXIT_FAILED = 6
"""A run that failed: a notebook cell, a report that could not be written, a change or post that
failed or whose outcome is unknown (the ledger says which). Look before re-running."""
EXIT_BUSY = 7
"""Busy: another run holds the folder (its lock); nothing was done. Retry when it ends."""


class TorinvestError(Exception):
    """Base of every torinvest error: a one-line message and a hint on what to do.

    ``exit_status``: the command's exit status when this error stops it (a class attribute,
    one of the ``EXIT_*`` values; the classes below set theirs)."""

    exit_status: int = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(TorinvestError):
    """The analyst's input (a file, a field, an ID, an option) is wrong."""


class BeyondRetention(InputError):
    """A window LookupEvents cannot serve: it ends before the 90 days the service keeps. For
    ``events`` it is the analyst's input; for an investigation it is a source that could not
    look (:func:`torinvest.events.load_activity`'s ``beyond_retention``)."""


class FindingFileError(InputError):
    """A findings file that cannot be read as GuardDuty findings."""

    def __init__(self, path: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint=hint)
        self.path = path
        self.problem = problem


class NoFindingsError(InputError):
    """An input that holds no GuardDuty finding at all."""


class InvalidFindingIdError(InputError):
    """A finding ID that cannot be a GuardDuty finding ID."""


class InvalidRegionError(InputError):
    """A region name that is not shaped like an AWS region name."""


class NotATorFindingError(InputError):
    """A finding whose type is not one of the Tor finding types."""


class SampleFindingError(NotATorFindingError):
    """A GuardDuty sample finding (``service.additionalInfo.sample``: made by CreateSampleFindings
    or the console's "Generate sample findings"): its key, user and IP are placeholders."""


class MissingKeyDetailsError(InputError):
    """A finding that names no access key (no ``resource.accessKeyDetails``)."""


class FindingNotFoundError(InputError):
    """A finding ID that is not among the loaded findings.

    ``unsearched`` lists the sources (regions, files) that could not be searched, ``not_looked``
    those not looked at (a region without a GuardDuty detector): when either is not empty the
    finding may be there, and the message says so; its exit status is then "could not look",
    not "not found".
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        unsearched: tuple[DataIssue, ...] = (),
        not_looked: tuple[DataIssue, ...] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.unsearched = tuple(unsearched)
        self.not_looked = tuple(not_looked)

    @property  # type: ignore[override]
    def exit_status(self) -> int:
        return EXIT_COULD_NOT_LOOK if self.unsearched or self.not_looked else EXIT_NOT_FOUND


class ReportError(TorinvestError):
    """A report could not be produced or checked (not a notebook cell failing)."""

    exit_status = EXIT_FAILED


class RefusedError(TorinvestError):
    """A change to AWS refused by a guard before it was made: the message says why, the hint
    what to do (the verdict to record, the credentials to use)."""

    exit_status = EXIT_REFUSED


class CouldNotCheckError(RefusedError):
    """A change refused because a guard could not check what it must (whose credentials these
    are, whether the account may make the change): AWS did not answer. Nothing was changed; the
    same run may pass once AWS answers, so its status is "could not look"."""

    exit_status = EXIT_COULD_NOT_LOOK


class OptionsError(InputError):
    """Options (CLI options, notebook parameters) that cannot mean what they say together, such
    as log files for an engine that reads a table: refused rather than ignored. The CLI exits 2."""

    exit_status = EXIT_USAGE


class NotCurrentError(TorinvestError):
    """A notebook cell read a result an earlier run of the notebook made that is no longer
    current: the cell it comes from stopped, or a cell before it (the parameters) ran again
    (``torinvest.display.rerun``). The message names the result and the first cause."""


class RunFailedError(TorinvestError):
    """A run that failed once it began: a change that failed or whose outcome is unknown, a
    batch's reports that failed. What was done is said (the ledger, the index)."""

    exit_status = EXIT_FAILED


class AwsError(TorinvestError):
    """AWS answered with an error, or could not be reached.

    ``attempts``: for each attempt botocore made of the call (its retries included, in order),
    whether that attempt may have reached AWS and been applied (empty when not recorded).

    One that stops a command is "could not look": AWS did not let torinvest look (a change that
    fails is not raised: it is in the run's report, :data:`EXIT_FAILED`)."""

    attempts: tuple[bool, ...] = ()
    exit_status = EXIT_COULD_NOT_LOOK

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        service: str | None = None,
        region: str | None = None,
        operation: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.service = service
        self.region = region
        self.operation = operation
        self.code = code


class AccessDeniedError(AwsError):
    """The caller lacks a permission; ``hint`` names the IAM action needed."""


class NotEnabledError(AwsError):
    """The service is not set up where it was asked (no detector, region not enabled)."""


class EndpointError(AwsError):
    """The AWS endpoint could not be reached (network, DNS, TLS), or answered something that is
    not an AWS answer (a proxy's page, a garbled body, an answer without the promised fields)."""


class CouldNotLookError(TorinvestError):
    """Nothing could be searched or read: every region or file failed (``issues`` says why).

    Raised instead of an empty result or a "not found", which would read as "nothing there".
    """

    exit_status = EXIT_COULD_NOT_LOOK

    def __init__(
        self, message: str, *, hint: str | None = None, issues: tuple[DataIssue, ...] = (), **kw
    ) -> None:
        super().__init__(message, hint=hint, **kw)
        self.issues = tuple(issues)


class RegionsNotSearchedError(CouldNotLookError, AwsError):
    """Every GuardDuty region asked failed (credentials, access, endpoint): nothing was searched."""


class FindingsNotReadError(CouldNotLookError, NoFindingsError):
    """Every findings file failed (unreadable, invalid JSON, no finding in it)."""


@dataclass(frozen=True, slots=True)
class DataIssue:
    """One problem that left part of a result missing.

    ``source`` names where (a file path, ``guardduty:eu-west-1``, …); ``problem`` says what and,
    where it helps, what to do. ``unread`` marks the issue of a file nothing could be read from
    (not downloaded, not decompressed, not JSON, not CloudTrail, too large): the file is counted
    as failed, not as read with issues (it is not part of equality, nor of :meth:`to_dict`).
    """

    source: str
    problem: str
    unread: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "problem": self.problem}

    @classmethod
    def from_error(cls, source: str, error: BaseException) -> DataIssue:
        return cls(source=source, problem=str(error))


def same_problem(issues: Sequence[DataIssue]) -> bool:
    """Whether every issue says the same problem once its own source (a region's or file's name
    inside the text) is set aside: then the first one says it for all, and an error that
    quotes it says "every one failed the same way" rather than listing N copies."""
    said = {i.problem.replace(i.source.removeprefix("guardduty:"), "…") for i in issues}
    return len(said) <= 1


#: A problem shared by at least this many sources is shown once (count and examples).
GROUP_MIN = 2
#: Sources named as examples in a grouped issue.
GROUP_EXAMPLES = 3


def group_issues(
    issues: Iterable[DataIssue], *, examples: int = GROUP_EXAMPLES, min_group: int = GROUP_MIN
) -> list[DataIssue]:
    """Identical problems (the same ``problem`` text) of several sources as one issue each, in
    the order each problem first appears; a problem of one source stays as it is.

    The grouped issue's ``source`` is what the sources share (``s3://bucket/AWSLogs/…``) and its
    ``problem`` says how many, what, and names ``examples`` of them::

        s3://trail/AWSLogs/…: 8,012 objects could not be downloaded: AccessDenied (needs
        s3:GetObject; …) — e.g. 1111…/a.json.gz, 1111…/b.json.gz, 1111…/c.json.gz, …

    Used wherever issues are printed or shown (CLI, the report's card, ``summary.json``).
    """
    order: dict[str, list[DataIssue]] = {}
    for issue in dict.fromkeys(issues):  # the same issue twice is one
        order.setdefault(issue.problem, []).append(issue)
    out: list[DataIssue] = []
    for problem, group in order.items():
        if len(group) < max(2, min_group):
            out += group
            continue
        sources = [i.source for i in group]
        shared = _shared_source(sources)
        names = [s[len(shared) :] or s for s in sources[:examples]]
        more = ", …" if len(sources) > examples else ""
        count = f"{len(sources):,} {_noun(sources)}"
        verb = problem.startswith(("could not", "cannot"))  # "8 objects could not be …"
        text = f"{count} {problem}" if verb else f"{count}: {problem}"
        out.append(
            DataIssue(
                (shared + "…") if shared else "several sources",
                text + f" — e.g. {', '.join(names)}{more}",
            )
        )
    return out


#: a source that names a line of a file: ``ledger.jsonl:12``
_LINE_SOURCE = re.compile(r"[^:/]:[0-9]+$")


def _shared_source(sources: list[str]) -> str:
    """The sources' common start, cut after its last ``/`` (or ``:``)."""
    first, last = min(sources), max(sources)  # what they all share, these two share
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    common = first[:n]
    cut = max(common.rfind("/"), common.rfind(":"))
    return common[: cut + 1] if cut >= 0 else ""


def _noun(sources: list[str]) -> str:
    """What the sources are: ``lines`` (``FILE:LINE``, a ledger's or a findings file's),
    ``folders`` (``…/``: a trail's region folders), ``objects``, ``regions``, ``files``, else
    ``sources``."""
    if all(_LINE_SOURCE.search(s) for s in sources):
        return "lines"
    if all(s.endswith(("/", os.sep)) for s in sources):
        return "folders"
    if all(s.startswith("s3://") for s in sources):
        return "objects"
    if all(s.startswith("lookup:") for s in sources):
        return "regions"
    if all("/" in s or os.sep in s for s in sources):
        return "files"
    return "sources"
