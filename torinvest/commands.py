"""The ``torinvest …`` command lines torinvest prints as a next step: one builder, so that each
one names the access the run that printed it was given — ``--case``, ``--profile``,
``--role-arn``, ``--external-id``, ``--regions``, ``--logs``, the engine — and every argument is
quoted for the shell (:func:`shlex.join`): a case path, a log location or a user name holding a
quote, ``$(…)`` or a newline stays one argument.

Never a secret: credentials come from the AWS chain (a profile names them, never holds them in
a command). The external ID is not a secret in AWS's model (it guards against the confused
deputy, not an attacker who reads it) and torinvest writes it into a notebook's parameters
(``external_id``), so a command printed to the terminal (a refusal, the triage table, a
working notebook's) is given it like the role it goes with. What torinvest posts to other
services does not carry it: a command written into a report's files (:meth:`Access.of_report`:
``report.html``'s next step and plan cards, ``summary.json``'s IP pivot), which ``torinvest
post`` attaches to tickets, and a command built later from a saved report (``torinvest post``'s
answer, from ``summary.json``'s ``access``: :meth:`Access.summary`, :func:`saved_access`, which
records that an external ID was used, never its value) read it from the shell variable
:data:`EXTERNAL_ID_VARIABLE` (``"--external-id=$TORINVEST_EXTERNAL_ID"``, double-quoted: the
shell expands it), with :data:`EXTERNAL_ID_NOTE` beside them. A summary written before
``access`` existed gives commands without access and a note saying so
(:data:`ACCESS_NOT_RECORDED`): as printed, they would read the analyst's default account and
regions.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torinvest.aws.ids import check_finding_id, check_role_arn
from torinvest.aws.regions import parse_regions
from torinvest.errors import TorinvestError
from torinvest.options import ENGINES
from torinvest.safety import option

if TYPE_CHECKING:
    from torinvest.options import RunOptions
    from torinvest.parameters import Sources

#: The shell variable a command built from a saved report reads the run's external ID from: the
#: report records that one was used, not its value (module docstring).
EXTERNAL_ID_VARIABLE = "TORINVEST_EXTERNAL_ID"
#: ``Access.external_id`` of an access read from a saved report whose run used one: the command
#: names ``--external-id="$TORINVEST_EXTERNAL_ID"``, double-quoted so that the shell expands it.
EXTERNAL_ID_PLACEHOLDER = f"${EXTERNAL_ID_VARIABLE}"
#: What to do with a command built from a saved report whose access is not known.
ACCESS_ADVICE = (
    "the command names none, so as printed it reads your default AWS account and every enabled "
    "region — add the run's --case, --profile, --role-arn, --external-id, --regions, --logs and "
    "--engine options (the report's own next step names them)"
)
#: The note beside a command built from a saved report that records no access.
ACCESS_NOT_RECORDED = (
    "this report does not record the access its run was given (its summary.json was written "
    f"before torinvest recorded it): {ACCESS_ADVICE}"
)
#: The note beside a command that reads the external ID from :data:`EXTERNAL_ID_VARIABLE`.
EXTERNAL_ID_NOTE = (
    "the run assumed its role with an external ID, which torinvest keeps out of its reports "
    f"and posts: set {EXTERNAL_ID_VARIABLE} to it before running the command"
)
#: The keys of ``summary.json``'s ``access`` (:meth:`Access.summary`).
SUMMARY_ACCESS_KEYS = (
    "case",
    "profile",
    "role_arn",
    "external_id",
    "regions",
    "logs",
    "engine",
    "athena_database",
    "athena_table",
    "athena_workgroup",
    "athena_output",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """Where a run read from and how it reached AWS: what a printed command names again."""

    case: str | None = None
    profile: str | None = None
    #: a comma list of regions; None or ``all`` (every enabled region, the default) is not named
    regions: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    logs: tuple[str, ...] = ()
    engine: str = "files"
    athena_database: str | None = None
    athena_table: str | None = None
    athena_workgroup: str | None = None
    athena_output: str | None = None

    @classmethod
    def of_sources(cls, src: Sources) -> Access:
        """The access of an investigation's :class:`~torinvest.parameters.Sources`."""
        aws = src.aws or src.logs_aws
        cfg = aws.config if aws is not None else None
        eng = src.engine
        return cls(
            case=str(src.case.root) if src.case is not None else None,
            profile=cfg.profile if cfg else None,
            regions=",".join(src.regions) if src.case is None and src.regions else None,
            role_arn=cfg.role_arn if cfg else None,
            external_id=cfg.external_id if cfg and cfg.role_arn else None,
            logs=tuple(str(p) for p in src.logs),
            engine=eng.kind,
            athena_database=eng.athena_database,
            athena_table=eng.athena_table,
            athena_workgroup=eng.athena_workgroup,
            athena_output=eng.athena_output,
        )

    @classmethod
    def of_report(cls, src: Sources) -> Access:
        """The access of a command written into a report's files (``report.html``'s next step
        and plan cards, ``summary.json``'s IP pivot), which ``torinvest post`` attaches to
        tickets: :meth:`of_sources`, the external ID read from :data:`EXTERNAL_ID_VARIABLE`
        (its value stays out of what is posted)."""
        access = cls.of_sources(src)
        if not access.external_id:
            return access
        return replace(access, external_id=EXTERNAL_ID_PLACEHOLDER)

    @classmethod
    def of_options(cls, options: RunOptions) -> Access:
        """The access of a run's :class:`~torinvest.options.RunOptions`."""
        return cls(
            case=options.case_dir or None,
            profile=options.profile or None,
            regions=None if options.case_dir else (options.regions or None),
            role_arn=options.role_arn or None,
            external_id=(options.external_id or None) if options.role_arn else None,
            logs=tuple(options.logs),
            engine=options.engine,
            athena_database=options.athena_database,
            athena_table=options.athena_table,
            athena_workgroup=options.athena_workgroup,
            athena_output=options.athena_output,
        )

    def summary(self) -> dict[str, Any]:
        """``summary.json``'s ``access``: what the run read and how it reached AWS, to build
        commands from the saved report (:func:`saved_access`). ``external_id`` says whether
        one was used (true/false), never its value; ``regions`` is null for every enabled
        region (and with a case folder); no credential is ever in it (a profile names them)."""
        regions = parse_regions(self.regions) if not self.case and self.regions else None
        return {
            "case": self.case or None,
            "profile": self.profile or None,
            "role_arn": self.role_arn or None,
            "external_id": bool(self.role_arn and self.external_id),
            "regions": regions,
            "logs": list(self.logs),
            "engine": self.engine or "files",
            "athena_database": self.athena_database or None,
            "athena_table": self.athena_table or None,
            "athena_workgroup": self.athena_workgroup or None,
            "athena_output": self.athena_output or None,
        }

    def args(self) -> list[str]:
        """The options that name this access again (unquoted: :func:`command` quotes them)."""
        out: list[str] = []
        if self.case:
            out.append(option("--case", self.case))
        if self.profile:
            out.append(option("--profile", self.profile))
        if self.role_arn:
            out.append(option("--role-arn", self.role_arn))
            if self.external_id:
                out.append(option("--external-id", self.external_id))
        if not self.case and self.regions and self.regions != "all":
            out.append(option("--regions", self.regions))
        out += [option("--logs", p) for p in self.logs]
        if self.engine and self.engine != "files":
            out.append(option("--engine", self.engine))
        for flag, value in (
            ("--athena-database", self.athena_database),
            ("--athena-table", self.athena_table),
            ("--athena-workgroup", self.athena_workgroup),
            ("--athena-output", self.athena_output),
        ):
            if value:
                out.append(option(flag, value))
        return out


#: No access named: a command that reads nothing (``torinvest verdict`` without evidence).
NO_ACCESS = Access()


@dataclass(frozen=True, slots=True)
class SavedAccess:
    """The access a saved report's run was given (:func:`saved_access`), and the ``notes`` a
    command built from it must carry: the access was not recorded or is unreadable (the
    command then names none), or the external ID is read from :data:`EXTERNAL_ID_VARIABLE`."""

    access: Access
    notes: tuple[str, ...] = ()


def _text(access: Mapping[str, Any], key: str) -> str | None:
    value = access.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise ValueError(f"access.{key}: {str(value)[:60]!r} is not text")


def saved_access(summary: Mapping[str, Any]) -> SavedAccess:
    """The access recorded in ``summary`` (``summary.json``'s content; :meth:`Access.summary`),
    with the external ID as :data:`EXTERNAL_ID_PLACEHOLDER`. A summary without ``access``
    (written before it was recorded) or with one torinvest cannot have written (a role that is
    no role ARN, a region that is no region, an unknown engine: edited by hand) gives
    :data:`NO_ACCESS` and a note saying so — never a command over a guessed access."""
    recorded = summary.get("access")
    if recorded is None:
        return SavedAccess(NO_ACCESS, (ACCESS_NOT_RECORDED,))
    try:
        if not isinstance(recorded, Mapping):
            raise ValueError(f"access: {type(recorded).__name__}, not an object")
        role = _text(recorded, "role_arn")
        if role is not None:
            check_role_arn(role, name="access.role_arn")
        regions = recorded.get("regions")
        if regions is not None and not (
            isinstance(regions, list) and all(isinstance(r, str) for r in regions)
        ):
            raise ValueError(f"access.regions: {str(regions)[:60]!r} is not a list of regions")
        region_list = parse_regions(regions) if regions is not None else None
        logs = recorded.get("logs") or []
        if not isinstance(logs, list) or not all(isinstance(p, str) and p for p in logs):
            raise ValueError(f"access.logs: {str(logs)[:60]!r} is not a list of locations")
        engine = recorded.get("engine") or "files"
        if engine not in ENGINES:
            raise ValueError(f"access.engine: {str(engine)[:40]!r} is not one of {ENGINES}")
        external = recorded.get("external_id")
        if not isinstance(external, bool | None):
            raise ValueError("access.external_id: not true or false (its value is never recorded)")
        case = _text(recorded, "case")
        access = Access(
            case=case,
            profile=_text(recorded, "profile"),
            regions=",".join(region_list) if region_list and not case else None,
            role_arn=role,
            external_id=EXTERNAL_ID_PLACEHOLDER if role and external else None,
            logs=tuple(logs),
            engine=engine,
            athena_database=_text(recorded, "athena_database"),
            athena_table=_text(recorded, "athena_table"),
            athena_workgroup=_text(recorded, "athena_workgroup"),
            athena_output=_text(recorded, "athena_output"),
        )
    except (ValueError, TorinvestError) as e:
        problem = e.message if isinstance(e, TorinvestError) else str(e)
        return SavedAccess(
            NO_ACCESS,
            (
                f"the access recorded in this report's summary.json cannot be read ({problem}): "
                + ACCESS_ADVICE,
            ),
        )
    note = external_id_note(access)
    return SavedAccess(access, (note,) if note else ())


def external_id_note(access: Access) -> str | None:
    """:data:`EXTERNAL_ID_NOTE` when ``access``'s commands read the external ID from
    :data:`EXTERNAL_ID_VARIABLE` (:meth:`Access.of_report`, :func:`saved_access`), else None."""
    return EXTERNAL_ID_NOTE if access.external_id == EXTERNAL_ID_PLACEHOLDER else None


def _quoted(part: str) -> str:
    """One argument for the shell: :func:`shlex.quote`, but the external ID's placeholder
    double-quoted, so that the shell puts the variable's value there."""
    if part == option("--external-id", EXTERNAL_ID_PLACEHOLDER):
        return f'"{part}"'
    return shlex.quote(part)


def command(
    subcommand: str,
    *positional: str,
    access: Access | None = None,
    extra: Sequence[str] = (),
) -> str:
    """``torinvest SUBCOMMAND POSITIONAL… ACCESS… EXTRA…``, each argument shell-quoted."""
    parts = ["torinvest", subcommand, *positional]
    if access is not None:
        parts += access.args()
    parts += list(extra)
    return " ".join(_quoted(p) for p in parts)


def report_dir_name(finding_id: str) -> str:
    """The folder of one finding's report under an ``--out`` folder."""
    return f"finding-{check_finding_id(finding_id)}"


def investigate_command(
    finding_id: str, *, access: Access | None = None, out_dir: str | Path = "out"
) -> str:
    """``torinvest investigate FINDING_ID`` over ``access``, its report in ``out_dir``'s folder
    of the finding (:func:`report_dir_name`)."""
    out = option("--out", Path(out_dir) / report_dir_name(finding_id))
    return command("investigate", finding_id, access=access, extra=[out])


def verdict_command(
    finding_id: str,
    status: str = "malicious|legitimate|inconclusive",
    *,
    access: Access | None = None,
    ledger: str | None = None,
    evidence: bool = False,
) -> str:
    """The ``torinvest verdict`` that records ``status`` on ``finding_id`` (the analyst and the
    rationale left to fill in; ``status`` may be the choices, ``a|b|c``, quoted).

    ``evidence``: the verdict must read its evidence (an archive follows no verdict without
    it): when ``access`` names no source (the chain's credentials, every enabled region), the
    command names ``--regions all``, what such a run read, so that it is not recorded without
    evidence."""
    extra = [
        "--status",
        status,
        "--analyst",
        "NAME",
        "--rationale",
        "WHY (the evidence)",
    ]
    if ledger:
        extra.append(option("--ledger", ledger))
    named = (access or NO_ACCESS).args()
    if evidence and not named:
        named = [option("--regions", "all")]
    return command("verdict", finding_id, extra=[*extra, *named])


def actions_command(
    finding_id: str, plan: str, *, access: Access | None = None, ledger: str | None = None
) -> str:
    """The ``torinvest actions FINDING_ID --plan PLAN --execute`` over ``access`` (named
    after the plan, so the command reads as the plan it runs)."""
    extra = ["--plan", plan, "--execute"]
    if ledger:
        extra.append(option("--ledger", ledger))
    return command("actions", finding_id, extra=[*extra, *(access or NO_ACCESS).args()])
