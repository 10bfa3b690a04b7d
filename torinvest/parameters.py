"""Where an investigation reads from (:class:`Sources`) and the notebooks' parameters: each
checked and turned into its type (papermill's ``-p NAME VALUE`` gives text, a number or a
bool), the parameter classes of the two notebooks, and :func:`sources_from_parameters`, which
turns the investigation notebook's source parameters into :class:`Sources`.

Moved out of :mod:`torinvest.investigation` (which re-exports every name) so that the recipe
and its inputs are read apart.
"""

from __future__ import annotations

import ast
import difflib
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from torinvest.aws import Aws, AwsConfig, parse_regions
from torinvest.aws.ids import check_external_id
from torinvest.case import Case
from torinvest.errors import InputError, OptionsError
from torinvest.geo import check_geoip
from torinvest.options import (
    DEFAULT_LOOKAHEAD_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TOLERANCE_HOURS,
    NUMBER_RANGES,
    EngineOptions,
    check_number,
    parse_number,
)


@dataclass(slots=True)
class Sources:
    """Where the investigation reads from: a case folder, or AWS (plus extra log locations).

    ``aws`` is AWS as the source of findings and LookupEvents (None: a case folder);
    ``logs_aws`` the credentials for ``s3://`` log files and Athena when the findings come from
    a case folder (the profile or role the analyst named; with ``aws``, ``aws`` is used)."""

    case: Case | None = None
    aws: Aws | None = None
    regions: list[str] | None = None
    logs: list[str] = field(default_factory=list)
    exit_lists: list[str] = field(default_factory=list)
    engine: EngineOptions = field(default_factory=EngineOptions)
    logs_aws: Aws | None = None
    #: MaxMind-format databases (.mmdb) for country/ASN/AS organization (``--geoip``)
    geoip: list[str] = field(default_factory=list)

    @property
    def offline(self) -> bool:
        return self.aws is None

    def describe(self) -> str:
        if self.case is not None:
            return f"case folder {self.case.root}"
        where = ", ".join(self.regions) if self.regions else "every enabled region"
        return f"AWS ({where})" + (f" and log files {', '.join(self.logs)}" if self.logs else "")


# --------------------------------------------------------------------------------------------
# notebook parameters: papermill's `-p NAME VALUE` gives text (or a number, or True/False)
# --------------------------------------------------------------------------------------------
def param_text(name: str, value: object) -> str:
    """A text parameter (a path, a name, an ID): text as it is, None as ""; anything else is an
    :class:`InputError` naming the parameter (a number would lose leading zeros: pass it raw)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise InputError(
        f"parameter {name}: expected text, got {type(value).__name__} {str(value)[:40]!r}",
        hint=f"pass it as text, e.g. papermill -r {name} VALUE (raw) or {name}='…'",
    )


def param_list(name: str, value: object) -> list[str]:
    """A list parameter (``logs``, ``exit_lists``): a list of text as it is; one text is that
    one item, or a comma-separated list when it holds commas and is not itself an existing
    path; None or "" is the empty list. Anything else names the parameter."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if "," in text and not Path(text).expanduser().exists():
            return [part.strip() for part in text.split(",") if part.strip()]
        return [text]
    if isinstance(value, list | tuple):
        items = list(value)
        bad = [v for v in items if not isinstance(v, str)]
        if bad:
            raise InputError(
                f"parameter {name}: every item must be text (a path or s3:// URL), got "
                f"{type(bad[0]).__name__} {str(bad[0])[:40]!r}",
                hint=f'e.g. {name}=["/data/logs", "s3://bucket/AWSLogs/"] or -p {name} PATH',
            )
        return [v for v in items if v.strip()]
    raise InputError(
        f"parameter {name}: expected a list of paths or one path, got {type(value).__name__} "
        f"{str(value)[:40]!r}",
        hint=f"e.g. -p {name} /data/logs (one) or -p {name} /a,/b (several)",
    )


_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


def param_bool(name: str, value: object) -> bool:
    """A yes/no parameter: a bool; the text true/false, yes/no, on/off, 1/0 (any case); the
    numbers 0 and 1. Anything else names the parameter (``"false"`` is never True)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InputError(
        f"parameter {name}: expected true or false, got {type(value).__name__} {str(value)[:40]!r}",
        hint=f"e.g. -p {name} False (papermill) or {name}=False",
    )


def param_number(name: str, value: object, *, integer: bool = False) -> float:
    """A number parameter (days, hours, rows): a number, or text that is one (``14``, ``1.5``,
    ``1_000_000``). A parameter of :data:`torinvest.options.NUMBER_RANGES` must be finite and
    within its range (``lookback_days`` ≤ 3650, …: the same check as the CLI's); any other is
    finite and ≥ 0. Anything else is an :class:`InputError` naming the parameter."""
    if name in NUMBER_RANGES:
        return check_number(name, value)
    number = parse_number(value)
    if number is None or not math.isfinite(number):
        raise InputError(
            f"parameter {name}: expected a number, got {type(value).__name__} {str(value)[:40]!r}",
            hint=f"e.g. -p {name} 14",
        )
    if number < 0 or (integer and number != int(number)):
        what = "a whole number ≥ 0" if integer else "a number ≥ 0"
        raise InputError(f"parameter {name}: expected {what}, got {value!r}", hint="e.g. 14")
    return number


def param_regions(name: str, value: object) -> str:
    """``regions``: ``all`` or a comma list, as text; a list of region names is joined."""
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return param_text(name, value)


_PARAM_CHECKS: dict[str, Any] = {
    "regions": param_regions,
    "str": param_text,
    "list[str]": param_list,
    "bool": param_bool,
    "float": param_number,
    "int": lambda name, value: int(param_number(name, value, integer=True)),
}


#: How the cell papermill injects after the ``parameters`` cell begins (its comment is
#: "Parameters", or ``torinvest notebook``'s "Parameters of this working copy …").
INJECTED_HEAD = "# Parameters"


def injected_names(values: Mapping[str, Any]) -> list[str]:
    """The names the last papermill-injected cell run in this kernel assigned, from IPython's
    input history (``In`` in the notebook's namespace); none outside a kernel or before one.

    An injected cell is papermill's: its first line is ``# Parameters…`` and every statement
    assigns a literal to one name (:func:`papermill.translators.PythonTranslator.codify`)."""
    history = values.get("In")
    if not isinstance(history, list):
        return []
    for source in reversed(history):
        names = _injected_cell_names(source)
        if names is not None:
            return names
    return []


def _injected_cell_names(source: object) -> list[str] | None:
    """The names an injected cell assigns, or None when ``source`` is not one."""
    if not isinstance(source, str) or not source.lstrip().startswith(INJECTED_HEAD):
        return None
    names = _parsed_injected_names(source)
    return None if names is None else list(names)


@functools.lru_cache(maxsize=256)
def _parsed_injected_names(source: str) -> tuple[str, ...] | None:
    """:func:`_injected_cell_names` of one cell's text (parsed once)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    names = []
    for node in body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            return None
        names.append(node.targets[0].id)
    return tuple(names)


class _NotLiteral:
    """A parameter set by a cell to something that is not a literal (not compared)."""


_NOT_LITERAL = _NotLiteral()


def _assignments(source: object) -> Mapping[str, Any]:
    """The names a cell's top-level statements assign to one name, with the literal value (or
    :data:`_NOT_LITERAL`); none for a cell that does not parse."""
    if not isinstance(source, str):
        return {}
    return _parsed_assignments(source)


@functools.lru_cache(maxsize=1024)
def _parsed_assignments(source: str) -> Mapping[str, Any]:
    """:func:`_assignments` of one cell's text (each cell of a kernel's history parsed once)."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return {}
    found: dict[str, Any] = {}
    for node in body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                found[target.id] = _NOT_LITERAL
    return MappingProxyType(found)


def same_value(a: Any, b: Any, *marks: object) -> bool:
    """Equal as parameter values: 14 and 14.0 are, True and 1 are not; a mark (a sentinel such
    as "not a literal" or "unset") equals only itself; values that cannot be compared are not."""
    if isinstance(a, bool) or isinstance(b, bool) or any(a is m or b is m for m in marks):
        return a is b
    try:
        return bool(a == b)
    except Exception:  # an analyst's value of any type: not the same
        return False


def _first_line(source: str) -> str:
    line = next((x.strip() for x in source.splitlines() if x.strip()), "")
    return line if len(line) <= 60 else line[:59] + "…"


@dataclass(frozen=True, slots=True)
class Override:
    """A parameter whose value in one cell is not the one the notebook runs with, because
    another cell set it after (:func:`parameter_overrides`).

    ``kind``: ``ignored`` (the parameters cell was edited to ``other``, but the injected cell,
    which runs after it, sets ``used``); ``reset`` (a cell run after the injected cell — the
    parameters cell run again alone — set it back to the default ``used``, and the injected
    value ``other`` is lost); ``replaced`` (a cell run after the injected cell set it to
    ``used``, not the default). ``cell``: the first line of the cell whose value is used."""

    name: str
    kind: str
    used: Any
    other: Any
    cell: str


def parameter_overrides(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[Override]:
    """The parameters among ``defaults`` that a papermill-injected cell (papermill's, or a
    working copy's) and another cell set to different values, from IPython's input history
    (``In``): which value is used and which is not. Empty outside a kernel, without an
    injected cell, or when the cells agree (a report's parameters cell at its defaults)."""
    history = values.get("In")
    if not isinstance(history, list):
        return []
    last = next(
        (i for i in range(len(history) - 1, -1, -1) if _injected_cell_names(history[i])), None
    )
    if last is None:
        return []
    injected = _assignments(history[last])
    found: list[Override] = []
    for name, value in injected.items():
        if name not in defaults:
            continue  # check_injected names it
        before = next(
            (
                (a[name], history[i])
                for i in range(last - 1, -1, -1)
                if _injected_cell_names(history[i]) is None
                and name in (a := _assignments(history[i]))
            ),
            None,
        )
        after = next(
            (
                (a[name], history[i])
                for i in range(len(history) - 1, last, -1)
                if name in (a := _assignments(history[i]))
            ),
            None,
        )
        if after is not None:
            current = values.get(name, _NOT_LITERAL)
            if same_value(current, value, _NOT_LITERAL):
                continue
            kind = "reset" if same_value(current, defaults[name], _NOT_LITERAL) else "replaced"
            found.append(Override(name, kind, current, value, _first_line(after[1])))
        elif before is not None:
            edited = before[0]
            if not (
                same_value(edited, value, _NOT_LITERAL)
                or same_value(edited, defaults[name], _NOT_LITERAL)
            ):
                found.append(Override(name, "ignored", value, edited, _first_line(history[last])))
    return found


def check_not_reset(overrides: Sequence[Override]) -> None:
    """Refuse to go on when a cell run after the injected-parameters cell (the parameters cell
    run again alone) set injected parameters back to their defaults: the notebook would run
    another finding or other sources (an empty ``case_dir``: AWS) than the ones it was made
    for, with no word."""
    reset = [o for o in overrides if o.kind == "reset"]
    if not reset:
        return
    shown = ", ".join(f"{o.name} ({o.used!r}, not {o.other!r})" for o in reset[:4])
    more = f" and {len(reset) - 4} more" if len(reset) > 4 else ""
    raise InputError(
        f"`{reset[0].cell}` ran after this notebook's injected-parameters cell and set "
        f"{shown}{more} back to the defaults: the values this notebook was made with are in the "
        "injected cell",
        hint="run the injected-parameters cell (just below the parameters cell), then this one; "
        "to change one of its parameters, edit it there (after deleting that cell, restart the "
        "kernel)",
    )


def check_injected(injected: Sequence[str], declared: Sequence[str]) -> None:
    """Refuse an injected parameter the notebook does not declare (``-p lookback_day 90``
    would otherwise be ignored and the run go on with the default), naming each with the
    closest declared name."""
    unknown = [name for name in injected if name not in declared]
    if not unknown:
        return
    guesses = []
    for name in unknown:
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        guesses.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise InputError(
        f"not a parameter of this notebook: {', '.join(guesses)}; it would be ignored and the "
        "run would use the default",
        hint="spell it as the parameters cell does: " + ", ".join(declared),
    )


def misspelt_names(values: Mapping[str, Any], declared: Sequence[str]) -> list[str]:
    """Names the last cell run before this one that sets parameters (the parameters cell, an
    analyst's cell; not an injected one, :func:`check_injected` checks those) also sets that
    are not parameters but nearly one (``lookback_day = 30``): ignored, the run would go on
    with the parameter's value as it was. From IPython's input history (``In``); none outside
    a kernel."""
    history = values.get("In")
    if not isinstance(history, list):
        return []
    for source in reversed(history):
        if _injected_cell_names(source) is not None:
            continue
        assigned = _assignments(source)
        if any(name in declared for name in assigned):
            return [
                name
                for name in assigned
                if name not in declared
                and difflib.get_close_matches(name, declared, n=1, cutoff=0.85)
            ]
    return []


def check_spelling(values: Mapping[str, Any], declared: Sequence[str]) -> None:
    """Refuse a parameter cell's line that nearly names a parameter (:func:`misspelt_names`)."""
    names = misspelt_names(values, declared)
    if not names:
        return
    guesses = [
        f"{name} (did you mean {difflib.get_close_matches(name, declared, n=1, cutoff=0.85)[0]}?)"
        for name in names
    ]
    raise InputError(
        f"not a parameter of this notebook: {', '.join(guesses)}; it would be ignored and the "
        "run would go on with the parameter as it was",
        hint="spell it as the parameters cell does, run that cell again, then this one",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NotebookParameters:
    """Base of a notebook's checked parameters: :meth:`check` reads each declared field from
    the parameters the notebook was given (its namespace), converts what is unambiguous (a
    comma list or one path for a list, ``"false"`` for a bool, ``"14"`` for a number) and
    raises :class:`InputError` naming the parameter for the rest."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each parameter with its default value."""
        return {
            f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            for f in fields(cls)
        }

    @classmethod
    def check(cls, values: Mapping[str, Any]) -> Any:
        declared = [f.name for f in fields(cls)]
        check_injected(injected_names(values), declared)
        check_spelling(values, declared)
        check_not_reset(parameter_overrides(values, cls.defaults()))
        checked: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in values:
                check = _PARAM_CHECKS.get(f.name) or _PARAM_CHECKS[str(f.type)]
                checked[f.name] = check(f.name, values[f.name])
        made = cls(**checked)
        made.check_together()
        return made

    def check_together(self) -> None:
        """Refuse values that are each of their type but wrong as a whole (none here)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InvestigateParameters(NotebookParameters):
    """The parameters of ``notebooks/investigate.ipynb`` (its parameters cell documents them)."""

    finding_id: str = ""
    case_dir: str = ""
    profile: str = ""
    regions: str = "all"
    role_arn: str = ""
    external_id: str = ""
    logs: list[str] = field(default_factory=list)
    exit_lists: list[str] = field(default_factory=list)
    geoip: list[str] = field(default_factory=list)
    engine: str = "files"
    athena_database: str = ""
    athena_table: str = ""
    athena_workgroup: str = ""
    athena_output: str = ""
    max_rows: int = DEFAULT_MAX_ROWS
    max_file_mb: int = DEFAULT_MAX_FILE_BYTES >> 20
    lookback_days: float = DEFAULT_LOOKBACK_DAYS
    lookahead_days: float = DEFAULT_LOOKAHEAD_DAYS
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
    follow_derived: bool = True
    verdict_status: str = "pending"
    analyst: str = ""
    rationale: str = ""
    suppress: bool = False
    supersede: bool = False
    finding_changed_ok: bool = False
    ledger: str = ""
    summary_path: str = ""
    export_dir: str = ""
    fetched_findings: str = ""

    def check_together(self) -> None:
        """The verdict parameters checked here, before anything is read: a status that is none
        (``"malicous"``), or a decided one without an analyst and a rationale, would otherwise
        stop the notebook only at its verdict cell, after the whole investigation."""
        from torinvest.verdict import DECIDED, STATUSES

        status = self.verdict_status
        if status not in STATUSES:
            close = difflib.get_close_matches(status.strip().lower(), STATUSES, n=1, cutoff=0.6)
            raise InputError(
                f"parameter verdict_status: {status!r} is not a verdict status"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"use one of {', '.join(STATUSES)}",
            )
        missing = [n for n in ("analyst", "rationale") if not getattr(self, n).strip()]
        if status in DECIDED and missing:
            raise InputError(
                f"parameter verdict_status is {status!r}: a {status} verdict needs an analyst "
                f"and a rationale ({' and '.join(missing)} empty)",
                hint="set the analyst and rationale parameters too, or leave verdict_status "
                "pending and record the verdict in the form (JupyterLab)",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TriageParameters(NotebookParameters):
    """The parameters of ``notebooks/triage.ipynb`` (its parameters cell documents them)."""

    case_dir: str = ""
    profile: str = ""
    regions: str = "all"
    role_arn: str = ""
    include_archived: bool = False
    out_dir: str = "out"
    notebooks_dir: str = "investigations"


def _aws_config(profile: str | None, role_arn: str | None, external_id: str | None) -> AwsConfig:
    """The AWS access a run's parameters name; an external ID goes with a role only."""
    if external_id and not role_arn:
        raise InputError(
            "external_id (--external-id) is given without role_arn (--role-arn)",
            hint="an external ID is passed to AssumeRole: give the role to assume too",
        )
    if external_id:
        check_external_id(external_id, name="external_id (--external-id)")
    return AwsConfig(
        profile=profile or None, role_arn=role_arn or None, external_id=external_id or None
    )


def sources_from_parameters(
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | Sequence[str] | None = "all",
    role_arn: str | None = None,
    external_id: str | None = None,
    logs: Sequence[str] | str = (),
    exit_lists: Sequence[str] | str = (),
    engine: str = "files",
    athena_database: str = "",
    athena_table: str = "",
    athena_workgroup: str = "",
    athena_output: str = "",
    max_rows: int | None = DEFAULT_MAX_ROWS,
    max_file_mb: int = DEFAULT_MAX_FILE_BYTES >> 20,
    geoip: Sequence[str] | str = (),
) -> Sources:
    """Sources from notebook/CLI parameters: a case folder wins; else AWS via the CLI chain.

    ``logs`` and ``exit_lists`` may be one path (text, as papermill's ``-p`` gives it) or a
    comma-separated list (:func:`param_list`); a wrong-typed parameter is an InputError naming it.

    ``engine`` reads the log files: ``files`` (default), ``duckdb``, or ``athena`` (the
    CloudTrail table ``athena_table``, default ``cloudtrail_logs``, in ``athena_database``; then
    no log files are needed). ``max_rows``: above
    this many matching rows the duckdb/athena engine counts in the engine (0 or None: never).
    ``max_file_mb``: the most one log file may hold once decompressed (MiB); a larger file is
    a data issue, not read. ``geoip``: MaxMind-format databases (one path or a list; each is
    opened here, so a bad one is an InputError naming it before anything is read). Each of
    ``exit_lists`` must be a file or folder that can be read (:func:`check_exit_lists`).
    """
    case_dir = param_text("case_dir", case_dir)
    # checked with a case folder too: '' names no region (refused, as --regions '' is)
    region_list = None if regions is None else parse_regions(param_regions("regions", regions))
    profile, role_arn = param_text("profile", profile), param_text("role_arn", role_arn)
    external_id = param_text("external_id", external_id)
    logs, exit_lists = param_list("logs", logs), param_list("exit_lists", exit_lists)
    check_exit_lists(exit_lists)
    databases = [str(Path(p).expanduser()) for p in param_list("geoip", geoip)]
    check_geoip(databases)
    rows = None if max_rows is None else int(param_number("max_rows", max_rows, integer=True))
    options = EngineOptions(
        kind=param_text("engine", engine) or "files",
        max_rows=rows or None,
        max_file_bytes=int(param_number("max_file_mb", max_file_mb, integer=True)) << 20,
        athena_database=param_text("athena_database", athena_database) or None,
        athena_table=param_text("athena_table", athena_table) or None,
        athena_workgroup=param_text("athena_workgroup", athena_workgroup) or None,
        athena_output=param_text("athena_output", athena_output) or None,
    )
    case = Case.open(case_dir) if case_dir else None
    check_sources(case, list(logs), options, named=bool(profile or role_arn))
    if case is not None:
        reads_aws = options.kind == "athena" or any(str(s).startswith("s3://") for s in logs)
        logs_aws = Aws(_aws_config(profile, role_arn, external_id)) if reads_aws else None
        return Sources(
            case=case,
            regions=region_list,  # the trail's regions read (and judged) from its log files
            logs=list(logs),
            exit_lists=list(exit_lists),
            engine=options,
            logs_aws=logs_aws,
            geoip=databases,
        )
    aws = Aws(_aws_config(profile, role_arn, external_id))
    return Sources(
        aws=aws,
        regions=region_list,
        logs=logs,
        exit_lists=exit_lists,
        engine=options,
        geoip=databases,
    )


def check_exit_lists(paths: Sequence[str]) -> None:
    """Each extra exit list (``--exit-list``, the notebook's ``exit_lists``) is a file that can
    be opened or a folder that can be listed: an :class:`OptionsError` (the CLI's exit 2) naming
    the path otherwise, before anything is read — a list that was never read would leave the
    calls it was meant to cover of unknown Tor status. What the files hold is checked when they
    are read (a bad line or file is a data issue)."""
    for text in paths:
        path = Path(str(text)).expanduser()
        try:
            if path.is_dir():
                next(path.iterdir(), None)
            else:
                with path.open("rb"):
                    pass
        except FileNotFoundError:
            raise OptionsError(
                f"--exit-list / exit_lists: {text}: no such file or folder",
                hint="name a Tor exit-list file or folder that exists",
            ) from None
        except OSError as e:
            raise OptionsError(
                f"--exit-list / exit_lists: {text}: cannot be read: {e.strerror or e}",
                hint="check the path and its permissions",
            ) from None


def check_sources(
    case: Case | None, logs: Sequence[str], engine: EngineOptions, *, named: bool
) -> None:
    """Refuse parameters that cannot mean what they say together (:class:`OptionsError`; the
    CLI exits 2 before a kernel starts, the notebook shows the error): log files for the Athena
    engine (which reads its table), the DuckDB engine with no log file, credentials named for a
    run that reads nothing from AWS."""
    case_logs = case is not None and case.cloudtrail.is_dir()
    if engine.kind == "athena" and (logs or case_logs):
        given = "--logs (logs)" if logs else f"the case folder's {case.cloudtrail if case else ''}"
        raise OptionsError(
            f"--engine athena reads the CloudTrail table in Athena: {given} would not be read",
            hint="use --engine files or duckdb for log files; for Athena, leave --logs out and "
            "use a case folder without cloudtrail/ (or AWS) for the findings",
        )
    if engine.kind == "duckdb" and not (logs or case_logs):
        raise OptionsError(
            "--engine duckdb reads log files: give --logs (logs) or a case folder with cloudtrail/",
            hint="or use --engine athena for the CloudTrail table",
        )
    reads_aws = engine.kind == "athena" or any(str(s).startswith("s3://") for s in logs)
    if case is not None and named and not reads_aws:
        raise OptionsError(
            "--profile/--role-arn (profile, role_arn) name AWS credentials, but with a case "
            "folder and local log files nothing reads AWS",
            hint="leave them out, or add the s3:// logs (--logs) or --engine athena they are for",
        )
