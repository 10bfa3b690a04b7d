"""The notebook templates torinvest ships, and the analyst's working copies of them.

::

    notebooks/investigate.ipynb (the template; packaged)
        ├── papermill, parameters injected ──▶  OUT/report.ipynb        (torinvest investigate)
        └── copied, parameters injected ─────▶  DIR/finding-<id>/investigate.ipynb
                                                (torinvest notebook: the analyst's to edit)

A **template stays pristine**: no outputs, no execution counts, no injected-parameters cell, and a
``parameters`` cell of literal assignments at their defaults (:data:`DEFAULTS`).
:func:`template_problems` lists what breaks that; :func:`check_template` refuses a template that is
not pristine before any kernel starts (``torinvest investigate`` calls it: a parameters cell saved
with ``verdict_status = malicious`` unquoted, a template saved with outputs or a case's parameters
would otherwise change every later run); ``make lint`` runs ``tools/check_notebooks.py`` over
``notebooks/`` so that CI enforces it.

A **working copy** (:func:`make_working_copy`) is the template with the parameters injected the
way papermill injects them (:func:`papermill.parameterize.parameterize_notebook`: a cell tagged
``injected-parameters`` after the ``parameters`` cell), not executed. Its metadata pins jupytext to
the ``.ipynb`` alone (``jupytext.formats = "ipynb"``), so saving it never writes a paired ``.py``,
even inside the repository's ``notebooks/``. An existing copy is never overwritten unless
``force`` (then the old one is kept beside it, renamed with the time).
"""

from __future__ import annotations

import ast
import logging
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from torinvest import __version__
from torinvest.commands import Access, command, report_dir_name
from torinvest.errors import InputError, ReportError
from torinvest.parameters import InvestigateParameters, TriageParameters
from torinvest.safety import option

if TYPE_CHECKING:
    import nbformat

    from torinvest.findings import FindingsResult
    from torinvest.options import RunOptions

log = logging.getLogger(__name__)

INVESTIGATE = "investigate"
TRIAGE = "triage"
#: Where ``torinvest notebook`` writes working copies (relative to the current folder).
DEFAULT_DIR = "investigations"
#: The file name of a finding's working copy in ``DIR/finding-<id>/``.
WORKING_NAME = "investigate.ipynb"
#: The file name of the triage working copy in ``DIR/``.
TRIAGE_NAME = "triage.ipynb"
#: What to do when a working copy's folder cannot be written (the notebooks say their own).
OUT_HINT = "choose another folder with --out"
#: The comment on the injected cell: it runs after the parameters cell, so its values win.
INJECTED_COMMENT = (
    "Parameters of this working copy (torinvest notebook): they override the parameters cell "
    "above; change them here"
)


#: Every template's parameters and their defaults: a pristine template has exactly these (the
#: investigation's agree with ``torinvest investigate``'s defaults, see ``RunOptions``).
def _defaults(cls: type) -> dict[str, Any]:
    """Each parameter of a notebook's parameter class with its default value."""
    return {
        f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        for f in fields(cls)
    }


#: Every parameter of each template with its default: the parameter classes of
#: :mod:`torinvest.investigation` (which check a run's values) are the one definition.
DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    INVESTIGATE: _defaults(InvestigateParameters),
    TRIAGE: _defaults(TriageParameters),
}


class TemplateError(InputError):
    """A notebook template that cannot be run as it is (broken or not pristine)."""


# --------------------------------------------------------------------------------------------
# templates
# --------------------------------------------------------------------------------------------
def notebook_path(name: str) -> Path:
    """``<name>.ipynb`` from ``$TORINVEST_NOTEBOOKS``, the checkout's ``notebooks/``, or the
    package's ``data/notebooks/`` (whichever exists first)."""
    places = []
    if os.environ.get("TORINVEST_NOTEBOOKS"):
        places.append(Path(os.environ["TORINVEST_NOTEBOOKS"]).expanduser())
    here = Path(__file__).resolve().parent
    places += [here.parent / "notebooks", here / "data" / "notebooks"]
    for place in places:
        path = place / f"{name}.ipynb"
        if path.is_file():
            return path
    raise ReportError(
        f"notebook {name}.ipynb not found in {', '.join(str(p) for p in places)}",
        hint="run from a checkout of torinvest, or set TORINVEST_NOTEBOOKS to its notebooks/",
    )


def template_path(name: str) -> Path:
    """The template ``<name>.ipynb`` torinvest runs (see :func:`notebook_path`)."""
    return notebook_path(name)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """``path`` as a v4 notebook, or TemplateError naming the file."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except OSError as e:
        raise TemplateError(f"cannot read {path}: {e.strerror or e}") from e
    except (ValueError, KeyError, TypeError, AttributeError) as e:  # JSON, nbformat
        raise TemplateError(
            f"{path} is not a notebook: {str(e).splitlines()[0][:200]}",
            hint="restore it from the repository (git checkout) or reinstall torinvest",
        ) from e


def _tagged(nb: nbformat.NotebookNode, tag: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if tag in (c.get("metadata", {}).get("tags") or [])]


def _literal_problem(line: str, value: ast.expr) -> str:
    if isinstance(value, ast.Name):
        return (
            f"`{line}`: `{value.id}` is not a value (a NameError when it runs): "
            f'text needs quotes, e.g. "{value.id}"'
        )
    return f"`{line}`: not a literal value (numbers, text, True/False, lists only)"


def read_parameters(nb: nbformat.NotebookNode, path: Path | str) -> dict[str, Any]:
    """The parameters cell of ``nb`` as ``{name: value}``, or TemplateError naming the cell, the
    line and what is wrong (a missing or duplicated cell, invalid Python, a value that is not a
    literal such as ``verdict_status = malicious``)."""
    cells = _tagged(nb, "parameters")
    if len(cells) != 1:
        raise TemplateError(
            f"{path}: {len(cells)} cells are tagged `parameters` (there must be one)",
            hint="restore the template from the repository (git checkout) or reinstall torinvest",
        )
    index = cells[0]
    where = f"{path}: the parameters cell (cell {index + 1})"
    source = nb.cells[index].source
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise TemplateError(
            f"{where} is not valid Python: line {e.lineno}: {e.msg}",
            hint="fix that line or restore the template; every run of it would fail",
        ) from e
    values: dict[str, Any] = {}
    for stmt in tree.body:
        target = stmt.target if isinstance(stmt, ast.AnnAssign) else None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
        value = getattr(stmt, "value", None)
        line = ast.get_source_segment(source, stmt) or ""
        if not isinstance(target, ast.Name) or value is None:
            raise TemplateError(
                f"{where}, line {stmt.lineno}: `{line}` is not `name = value`",
                hint="a parameters cell holds one `name: type = value  # help` per line",
            )
        try:
            values[target.id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise TemplateError(
                f"{where}, line {stmt.lineno}: {_literal_problem(line, value)}",
                hint="fix that line or restore the template; every run of it would fail",
            ) from None
    return values


def _same(a: Any, b: Any) -> bool:
    """Equal as parameter values: 14 and 14.0 are, True and 1 are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def template_problems(path: str | Path, name: str | None = None) -> list[str]:
    """Every way the template at ``path`` is not pristine (empty when it is): a broken
    parameters cell, parameters not at their defaults (:data:`DEFAULTS`), outputs or execution
    counts saved, an injected-parameters cell."""
    p = Path(path)
    name = name or p.stem
    nb = read_notebook(p)
    problems: list[str] = []
    try:
        params = read_parameters(nb, p)
    except TemplateError as e:
        problems.append(e.message)
        params = None
    defaults = DEFAULTS.get(name)
    if params is not None and defaults is not None:
        for key, value in params.items():
            if key not in defaults:
                problems.append(
                    f"parameter `{key}` has no known default (add it to "
                    "torinvest.notebooks.DEFAULTS)"
                )
            elif not _same(value, defaults[key]):
                problems.append(f"parameter `{key} = {value!r}` (default: {defaults[key]!r})")
        problems += [f"parameter `{k}` is missing" for k in defaults if k not in params]
    if _tagged(nb, "injected-parameters"):
        problems.append("it has an injected-parameters cell (it is a run or a working copy)")
    with_outputs = [
        i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")
    ]
    if with_outputs:
        problems.append(
            f"{len(with_outputs)} cell(s) saved with outputs (cells {_few(with_outputs)})"
        )
    counted = [
        i + 1
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.get("execution_count") is not None
    ]
    if counted and not with_outputs:
        problems.append(f"{len(counted)} cell(s) saved with execution counts")
    return problems


def _few(items: Sequence[int], n: int = 5) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f", … {len(items) - n} more" if len(items) > n else "")


def check_template(name: str = INVESTIGATE, path: str | Path | None = None) -> Path:
    """The template's path if it is pristine, else TemplateError saying what is wrong and how to
    get back to it (``torinvest investigate`` runs this check before any kernel starts)."""
    p = Path(path) if path else template_path(name)
    problems = template_problems(p, name)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        raise TemplateError(
            f"the notebook template {p} is not the pristine template torinvest runs: {shown}",
            hint=_restore_hint(p, name),
        )
    return p


def _restore_hint(path: Path, name: str) -> str:
    folder = path.resolve().parent
    package = Path(__file__).resolve().parent
    if (folder.parent / ".git").exists():
        restore = (
            f"git -C {shlex.quote(str(folder.parent))} checkout -- notebooks/{name}.ipynb "
            f"notebooks/{name}.py"
        )
    elif folder.is_relative_to(package):
        restore = "pip install --force-reinstall torinvest"
    else:
        restore = f"copy notebooks/{name}.ipynb from torinvest's repository"
    return (
        f"restore it ({restore}) and investigate in a working copy, which never changes a run: "
        "torinvest notebook FINDING_ID --case DIR (or AWS options)"
    )


# --------------------------------------------------------------------------------------------
# working copies
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkingCopy:
    """A working notebook and what making it did.

    ``status``: ``created``; ``kept`` (it existed: left as the analyst saved it); ``replaced``
    (``force``: the old copy was renamed to ``backup``). ``same_parameters``: whether the copy's
    injected parameters are the ones asked for (False for a kept copy made with others, None
    when the kept file cannot be read as a notebook).
    """

    path: Path
    status: str
    parameters: Mapping[str, Any]
    same_parameters: bool | None = True
    backup: Path | None = None


def _absolute(path: str | None) -> str:
    if not path:
        return ""
    if path.startswith("s3://"):
        return path
    return str(Path(path).expanduser().resolve())


def investigation_parameters(finding_id: str, options: RunOptions) -> dict[str, Any]:
    """The parameters a working copy of the investigation gets: the finding and every option
    that differs from the template's default (paths made absolute). The verdict and the report
    files are not among them: the analyst decides in the notebook."""
    from torinvest.findings import check_finding_id

    aws = not options.case_dir  # a case folder wins: AWS options would be ignored
    values: dict[str, Any] = {
        "case_dir": _absolute(options.case_dir),
        "profile": (options.profile or "") if aws else "",
        "regions": (options.regions or "all") if aws else "all",
        "role_arn": (options.role_arn or "") if aws else "",
        "external_id": (options.external_id or "") if aws else "",
        "logs": [_absolute(p) for p in options.logs],
        "exit_lists": [_absolute(p) for p in options.exit_lists],
        "engine": options.engine,
        "athena_database": options.athena_database or "",
        "athena_table": options.athena_table or "",
        "athena_workgroup": options.athena_workgroup or "",
        "athena_output": options.athena_output or "",
        "max_rows": int(options.max_rows or 0),
        "max_file_mb": int(options.max_file_mb),
        "geoip": [_absolute(p) for p in options.geoip],
        "lookback_days": float(options.lookback_days),
        "lookahead_days": float(options.lookahead_days),
        "tolerance_hours": float(options.tolerance_hours),
        "follow_derived": bool(options.follow_derived),
        "ledger": _absolute(options.ledger),
    }
    defaults = DEFAULTS[INVESTIGATE]
    return {"finding_id": check_finding_id(finding_id)} | {
        k: v for k, v in values.items() if not _same(v, defaults[k])
    }


def triage_parameters(options: RunOptions, notebooks_dir: str | Path) -> dict[str, Any]:
    """The parameters a triage working copy gets: its sources, and the folder the finding
    notebooks it creates go to."""
    aws = not options.case_dir
    values = {
        "case_dir": _absolute(options.case_dir),
        "profile": (options.profile or "") if aws else "",
        "regions": (options.regions or "all") if aws else "all",
        "role_arn": (options.role_arn or "") if aws else "",
        "notebooks_dir": str(notebooks_dir),
    }
    defaults = DEFAULTS[TRIAGE]
    return {k: v for k, v in values.items() if not _same(v, defaults[k])}


def working_copy_path(finding_id: str, out: str | Path = DEFAULT_DIR) -> Path:
    """``out/finding-<id>/investigate.ipynb`` (absolute)."""
    return Path(out).expanduser().resolve() / report_dir_name(finding_id) / WORKING_NAME


def working_notebook(template: Path, parameters: Mapping[str, Any]) -> nbformat.NotebookNode:
    """The template with ``parameters`` injected by papermill's own machinery, outputs cleared,
    jupytext pinned to the ``.ipynb`` alone (no paired ``.py``), and a ``torinvest`` metadata
    entry saying what it is a copy of."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(template))
    nb = parameterize_notebook(
        nb, dict(parameters), comment=INJECTED_COMMENT, kernel_name="python3", language="python"
    )
    for cell in nb.cells:
        meta = cell.setdefault("metadata", {})
        if not meta.get("tags"):
            meta.pop("tags", None)
        if not meta.get("papermill"):
            meta.pop("papermill", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata["jupytext"] = {"formats": "ipynb"}  # never paired, whatever jupytext.toml says
    nb.metadata["torinvest"] = {
        "working_copy_of": template.stem,
        "torinvest_version": __version__,
        "created_at": pd.Timestamp.now(tz="UTC")
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
    }
    return nb


def _parameters_of(path: Path) -> dict[str, Any] | None:
    """The parameters papermill recorded in an existing copy (None if it cannot be read)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    found = nb.get("metadata", {}).get("papermill", {}).get("parameters")
    return dict(found) if isinstance(found, Mapping) else {}


def make_working_copy(
    name: str,
    parameters: Mapping[str, Any],
    path: str | Path,
    *,
    force: bool = False,
    template: str | Path | None = None,
) -> WorkingCopy:
    """Write the working copy of template ``name`` at ``path`` with ``parameters`` injected.

    An existing file is kept as it is (``status`` ``kept``) unless ``force``: then it is kept
    beside it as ``<stem>.<UTC time>.ipynb`` (``backup``; ``-2``, ``-3``… after the time when
    that name is taken: a backup is never replaced) and a fresh copy is written. A copy that
    appears while this one is being made (another run, the analyst saving) is kept too: the new
    one is put in place only where there is none (:func:`_put_new`). The template is checked
    first (:func:`check_template`): a copy of a broken or used template would carry its
    problems.
    """
    import nbformat

    src = check_template(name, template)
    dest = Path(path).expanduser().resolve()
    wanted = dict(parameters)
    if dest.exists() and not force:
        return _kept(dest, wanted)
    nb = working_notebook(src, wanted)
    backup = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")  # this run's alone
        try:
            nbformat.write(nb, tmp)
            if force and dest.exists():
                backup = _backup(dest)
                os.replace(tmp, dest)
            elif not _put_new(tmp, dest):
                return _kept(dest, wanted)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as e:
        raise InputError(
            f"cannot write the working notebook {dest}: {e.strerror or e}",
            hint=OUT_HINT,
        ) from e
    log.info("working notebook %s written", dest)
    return WorkingCopy(dest, "replaced" if backup else "created", wanted, backup=backup)


def _kept(dest: Path, wanted: Mapping[str, Any]) -> WorkingCopy:
    """The existing copy at ``dest``, left as it is."""
    found = _parameters_of(dest)
    same = None if found is None else found == wanted
    return WorkingCopy(dest, "kept", dict(wanted), same_parameters=same)


def _put_new(src: Path, dest: Path) -> bool:
    """Make ``src`` the file ``dest`` too, unless ``dest`` exists (then False): a hard link,
    which never replaces a file (a copy written meanwhile is kept, not overwritten); where the
    file system has none (FAT, some network shares), a rename after a last check."""
    try:
        os.link(src, dest)
    except FileExistsError:
        return False
    except OSError:
        if dest.exists() or dest.is_symlink():
            return False
        os.replace(src, dest)
    return True


def _stamp() -> str:
    """The UTC time in a backup's name."""
    return pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")


#: At most this many backups of one copy in the same second.
MAX_BACKUPS = 1000


def _backup(dest: Path) -> Path:
    """``dest`` kept beside itself as ``<stem>.<UTC time>[-n]<suffix>``, a name no file has."""
    stamp = _stamp()
    for n in range(1, MAX_BACKUPS + 1):
        tail = "" if n == 1 else f"-{n}"
        candidate = dest.with_name(f"{dest.stem}.{stamp}{tail}{dest.suffix}")
        if _put_new(dest, candidate):
            return candidate
    raise FileExistsError(17, f"{MAX_BACKUPS} backups of it at {stamp} already")


def investigation_copy(
    finding_id: str,
    options: RunOptions,
    out: str | Path = DEFAULT_DIR,
    *,
    force: bool = False,
    fetched: FindingsResult | None = None,
) -> WorkingCopy:
    """``out/finding-<id>/investigate.ipynb``: the investigation of one finding, to work in.

    ``fetched``: the findings the command fetched from GuardDuty to check the finding
    (:func:`torinvest.report.check_finding`): a copy written now reads them from
    ``findings-<hash>.json`` beside it (parameter ``fetched_findings``), not from a new fetch;
    an existing copy that is kept keeps its own."""
    from torinvest.findings.fetched import fetched_access, fetched_name, write_fetched

    params = investigation_parameters(finding_id, options)
    path = working_copy_path(finding_id, out)
    if fetched is not None and not options.case_dir:
        kept = path.parent / fetched_name(fetched)
        params["fetched_findings"] = str(kept)
        if force or not path.exists():  # the copy is written: its findings first
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_fetched(fetched, kept, fetched_access(options))
            except OSError as e:
                raise InputError(
                    f"cannot write the fetched findings {kept}: {e.strerror or e}",
                    hint=OUT_HINT,
                ) from e
    return make_working_copy(INVESTIGATE, params, path, force=force)


def triage_copy(
    options: RunOptions, out: str | Path = DEFAULT_DIR, *, force: bool = False
) -> WorkingCopy:
    """``out/triage.ipynb``: the open findings, whose buttons create their working notebooks in
    ``out`` too."""
    root = Path(out).expanduser().resolve()
    params = triage_parameters(options, root)
    return make_working_copy(TRIAGE, params, root / TRIAGE_NAME, force=force)


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------
def notebook_command(
    finding_id: str | None,
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    out: str | Path | None = None,
) -> str:
    """The ``torinvest notebook`` command line that makes a finding's working copy (``None``:
    the triage copy, which takes no external ID) from these sources, shell-quoted
    (:func:`torinvest.commands.command`); paths absolute, so it works from any folder."""
    access = Access(
        case=_absolute(case_dir) if case_dir else None,
        profile=profile or None,
        regions=None if case_dir else regions,
        role_arn=role_arn or None,
        external_id=(external_id or None) if finding_id else None,
    )
    positional = [finding_id] if finding_id else ["--triage"]
    extra = [option("--out", _absolute(str(out)))] if out is not None else []
    return command("notebook", *positional, access=access, extra=extra)


def lab_command(path: str | Path) -> list[str]:
    """The command that opens ``path`` in JupyterLab: this environment's ``jupyter`` (so the
    kernel has torinvest), or ``jupyter`` from PATH."""
    here = Path(sys.executable).with_name("jupyter")
    on_path = shutil.which("jupyter")
    if on_path and here.exists() and Path(on_path).resolve() == here.resolve():
        jupyter = "jupyter"
    elif here.exists():
        jupyter = str(here)
    else:
        jupyter = on_path or "jupyter"
    return [jupyter, "lab", str(path)]


def open_in_lab(path: str | Path) -> int:
    """Start JupyterLab on ``path`` (in the foreground, until it is stopped); its exit status."""
    try:
        return subprocess.run(lab_command(path), check=False).returncode
    except OSError as e:
        raise InputError(
            f"cannot start JupyterLab: {e.strerror or e}",
            hint=f"open it yourself: {shlex.join(lab_command(path))}",
        ) from e
