"""Options → notebook parameters: everything checked before a kernel starts (:func:`validate`)
and the parameters the investigation notebook is run with (:func:`parameters`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torinvest.aws import Aws, AwsConfig, parse_regions
from torinvest.case import Case
from torinvest.errors import DataIssue, FindingNotFoundError, InputError
from torinvest.findings import FindingsResult, check_finding_id
from torinvest.investigation import (
    Sources,
    outputs,
)
from torinvest.options import NUMBER_RANGES, RunOptions, check_number
from torinvest.report.folders import check_folder, check_same_finding, hold
from torinvest.verdict import check_status, default_ledger_path, make_verdict

#: The notebooks torinvest runs (``notebooks/<name>.ipynb``).
INVESTIGATE_NOTEBOOK = "investigate"
TRIAGE_NOTEBOOK = "triage"


# --------------------------------------------------------------------------------------------
# options → notebook parameters
# --------------------------------------------------------------------------------------------
def _absolute(path: str | None) -> str:
    if not path:
        return ""
    if path.startswith("s3://"):
        return path
    return str(Path(path).expanduser().resolve())


def validate(
    finding_id: str, out: str | Path, options: RunOptions, *, finding: bool = False
) -> Path:
    """Check everything that can be checked before a kernel starts; return the output folder
    (created if needed, last). ``finding``: also check that the finding is a Tor finding of the
    sources (:func:`check_finding`: with AWS, a findings fetch), after the options and before
    the folder is made."""
    return check_run(finding_id, out, options, finding=finding)[0]


def check_run(
    finding_id: str, out: str | Path, options: RunOptions, *, finding: bool = False
) -> tuple[Path, FindingsResult | None]:
    """:func:`validate`, also returning what :func:`check_finding` fetched from GuardDuty (None
    with a case folder, or without ``finding``), for :func:`~torinvest.report.run_report` to
    hand to the notebook: the findings are fetched once."""
    finding_id = check_finding_id(finding_id)
    parse_regions(options.regions)  # '' names no region: refused, with a case folder too
    if options.case_dir:
        Case.open(options.case_dir)
    check_numbers(options)
    run_sources(options)  # refuses options that cannot go together, before a kernel starts
    check_status(options.verdict_status)
    if options.verdict_status != "pending":
        make_verdict(
            finding_id,
            status=options.verdict_status,
            analyst=options.analyst,
            rationale=options.rationale,
        )
    from torinvest.notebooks import check_template

    check_template(INVESTIGATE_NOTEBOOK)  # a broken or used template must not change this run
    fetched = check_finding(finding_id, options) if finding else None
    path = Path(out).expanduser().resolve()
    check_same_finding(path, finding_id)
    check_folder(path)
    with hold(path):  # another run holds it: refused now, before "investigating …" is said
        pass
    if options.verdict_status != "pending":
        check_ledger(options.ledger)
    return path, fetched


def check_finding(finding_id: str, options: RunOptions) -> FindingsResult | None:
    """The finding is among the run's findings and is a Tor finding that names its key, checked
    before anything is written or started (``investigate FINDING_ID``, ``notebook FINDING_ID``).

    With a case folder this reads its findings (and returns None); with AWS it is the findings
    fetch (every region asked, archived findings too) the notebook would do first, returned so
    that the notebook reads it (``fetched_findings``) instead of fetching again. Raises what
    :func:`torinvest.investigation.locate` raises: FindingNotFoundError ("not found" only when
    every source was searched, else "… so it may be there"), CouldNotLookError when nothing
    could be searched, NotATorFindingError naming the finding's type, MissingKeyDetailsError."""
    from torinvest.findings.fetch import finding_types
    from torinvest.findings.records import not_a_tor_finding
    from torinvest.investigation import load_findings, locate, require_log_source

    finding_id = check_finding_id(finding_id)
    if options.case_dir:
        sources = Sources(case=Case.open(options.case_dir))
    else:  # the findings only: the log sources and their options are checked elsewhere
        sources = Sources(
            aws=Aws(
                AwsConfig(
                    profile=options.profile or None,
                    role_arn=options.role_arn or None,
                    external_id=options.external_id or None,
                )
            ),
            regions=parse_regions(options.regions),
        )
    found = load_findings(sources)
    try:
        locate(found, finding_id)
        if options.case_dir:  # the finding is one to investigate: is there anything to read?
            # a folder half-copied (findings/, no cloudtrail/ yet): said now, not by a failed cell
            require_log_source(run_sources(options))
        return found if sources.aws is not None else None
    except FindingNotFoundError as e:
        if sources.aws is None:  # a case folder's findings of every type were read
            raise
        # GuardDuty was asked for Tor findings only: is it there as another type?
        answered = [s.removeprefix("guardduty:") for s in found.answered]
        unasked: list[DataIssue] = []
        types = finding_types(sources.aws, answered, finding_id, unasked)
        if types:
            raise not_a_tor_finding(finding_id, next(iter(types.values()))) from None
        if unasked:  # the Tor search stands; only the check of other types is missing
            names = ", ".join(i.source.removeprefix("guardduty:") for i in unasked[:5])
            more = f" and {len(unasked) - 5} more" if len(unasked) > 5 else ""
            raise FindingNotFoundError(
                f"{e.message}; whether it is a finding of another type could not be checked "
                f"in {names}{more}: {unasked[0].problem}",
                hint=e.hint,
                unsearched=e.unsearched,
                not_looked=e.not_looked,
            ) from None
        raise


def check_numbers(options: RunOptions) -> None:
    """Every numeric option of the run is finite and within its range
    (:data:`torinvest.options.NUMBER_RANGES`, the notebook's own check): an InputError naming
    the option otherwise (``--lookback-days 1e12`` would fail in the kernel)."""
    for name in NUMBER_RANGES:
        if not hasattr(options, name):
            continue
        value = getattr(options, name)
        if value is None and name == "max_rows":  # None: always load every row
            continue
        check_number(name, value, label=f"--{name.replace('_', '-')} ({name})")


def check_ledger(ledger: str | Path | None) -> None:
    """The ledger a decided verdict goes to can be appended to (checked before a long run)."""
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    except OSError as e:
        raise InputError(
            f"cannot write the ledger {path}: {e.strerror or e}",
            hint="nothing was run; pass a writable --ledger FILE (or set TORINVEST_LEDGER)",
        ) from None


def run_sources(options: RunOptions) -> Sources:
    """The sources the notebook builds from these options (engine, log files, credentials):
    options that cannot go together raise OptionsError (the CLI's exit 2)."""
    from torinvest.investigation import sources_from_parameters

    return sources_from_parameters(
        case_dir=options.case_dir,
        profile=options.profile,
        regions=options.regions,
        role_arn=options.role_arn,
        external_id=options.external_id or "",
        logs=options.logs,
        exit_lists=options.exit_lists,
        engine=options.engine,
        athena_database=options.athena_database or "",
        athena_table=options.athena_table or "",
        athena_workgroup=options.athena_workgroup or "",
        athena_output=options.athena_output or "",
        max_rows=options.max_rows,
        max_file_mb=options.max_file_mb,
        geoip=options.geoip,
    )


def parameters(
    finding_id: str, out: Path, options: RunOptions, *, fetched: Path | None = None
) -> dict[str, Any]:
    """The investigation notebook's parameters for this run (paths made absolute; ``fetched``:
    the file of the findings fetched before the run, :mod:`torinvest.findings.fetched`)."""
    files = outputs(out)
    return {
        "finding_id": finding_id,
        "case_dir": _absolute(options.case_dir),
        "profile": options.profile or "",
        "regions": "all" if options.regions is None else options.regions,
        "role_arn": options.role_arn or "",
        "external_id": options.external_id or "",
        "logs": [_absolute(p) for p in options.logs],
        "exit_lists": [_absolute(p) for p in options.exit_lists],
        "lookback_days": float(options.lookback_days),
        "lookahead_days": float(options.lookahead_days),
        "tolerance_hours": float(options.tolerance_hours),
        "follow_derived": bool(options.follow_derived),
        "verdict_status": options.verdict_status,
        "analyst": options.analyst,
        "rationale": options.rationale,
        "suppress": bool(options.suppress),
        "supersede": bool(options.supersede),
        "finding_changed_ok": bool(options.finding_changed_ok),
        "ledger": _absolute(options.ledger),
        "summary_path": str(files["summary"]),
        "export_dir": str(out),
        "engine": options.engine,
        "athena_database": options.athena_database or "",
        "athena_table": options.athena_table or "",
        "athena_workgroup": options.athena_workgroup or "",
        "athena_output": options.athena_output or "",
        "max_rows": int(options.max_rows or 0),
        "max_file_mb": int(options.max_file_mb),
        "geoip": [_absolute(p) for p in options.geoip],
        "fetched_findings": _absolute(str(fetched) if fetched is not None else None),
    }
