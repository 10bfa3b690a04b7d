"""The ``torinvest …`` command lines torinvest prints as a next step: one builder, so that each
one names the access the run that printed it was given — ``--case``, ``--profile``,
``--role-arn``, ``--external-id``, ``--regions``, ``--logs``, the engine — and every argument is
quoted for the shell (:func:`shlex.join`): a case path, a log location or a user name holding a
quote, ``$(…)`` or a newline stays one argument.

Never a secret: credentials come from the AWS chain (a profile names them, never holds them in
a command). The external ID is not a secret in AWS's model (it guards against the confused
deputy, not an attacker who reads it) and torinvest already writes it into a notebook's
parameters (``external_id``), so it is carried like the role it goes with.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torinvest.aws.ids import check_finding_id
from torinvest.safety import option

if TYPE_CHECKING:
    from torinvest.options import RunOptions
    from torinvest.parameters import Sources


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
    return shlex.join(parts)


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
