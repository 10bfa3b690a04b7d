"""A working notebook's results kept current when its cells run out of order (JupyterLab).

A kernel keeps every name a cell made. When the analyst changes a parameter and a cell stops (a
typo'd finding ID, a case folder that does not exist, a parameter refused), the cells below it,
run one by one (Shift+Enter), would read what the *previous* run made: a whole investigation of
another finding, folder or window shown under the new parameters, and the answer on top filled
with it. :class:`Results` keeps track, after each cell, of the results the template's cells make
(``params``, ``sources``, ``findings``, ``inv``, ``verdict``…, read from the templates) in the
order they were made, and removes from the kernel those that are no longer current:

- a cell that sets parameters (the parameters cell, the injected one) makes every result
  stale;
- a cell that makes a result again makes stale every result made after that one (they were
  made from the old one);
- a cell that stops removes what it would have made (the old value is not its answer) and
  everything made after it.

A cell that then reads a removed result stops with one sentence (:meth:`Results.not_current`):
which result, why it is not current (the error that stopped the cell it comes from, or the cell
that ran again) and which cell to run from — never the previous run's answer, never a
``NameError`` traceback; so does a cell reading a result the kernel has not made yet (restarted,
the cells above not run). A run in order (papermill, Run All) makes each result once, after what
it is made from: nothing is removed.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from torinvest.errors import NotCurrentError, TorinvestError

log = logging.getLogger(__name__)


def assigned_names(source: str) -> list[str]:
    """The names a cell's top-level statements assign (``a = …``, ``a, b = …``, ``a: T = …``,
    ``a += …``), in order; none for a cell that does not parse."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return []
    names: list[str] = []

    def add(target: ast.expr) -> None:
        if isinstance(target, ast.Name) and target.id not in names:
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                add(element)
        elif isinstance(target, ast.Starred):
            add(target.value)

    for node in body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
    return names


def _cell(source: str) -> str:
    """A cell named by its first line of code (as the analyst sees it), cut short."""
    lines = [line.strip() for line in source.splitlines()]
    first = next((line for line in lines if line and not line.startswith("#")), "")
    return first if len(first) <= 70 else first[:69] + "…"


@dataclass(slots=True)
class _Made:
    cell: str
    names: list[str]


@dataclass(slots=True)
class Results:
    """The results the kernel holds, in the order their cells made them, and why each removed
    one is not current. ``parameters``: names a parameters cell sets; ``results``: names the
    template's later cells make."""

    parameters: frozenset[str]
    results: frozenset[str]
    made: list[_Made] = field(default_factory=list)
    #: a removed result → (why it is not current, what to do)
    gone: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: a result → the cell that made it last
    maker: dict[str, str] = field(default_factory=dict)

    def after_cell(
        self, source: str, namespace: MutableMapping[str, Any], error: BaseException | None
    ) -> list[str]:
        """Record what the cell ``source`` made (or stopped making: ``error``) and remove from
        ``namespace`` what is no longer current; the names removed."""
        assigned = assigned_names(source)
        sets_parameters = any(n in self.parameters for n in assigned)
        made = [n for n in assigned if n in self.results and n not in self.parameters]
        if not sets_parameters and not made:
            return []
        cell = _cell(source)
        # the first record this cell makes again: every record after it was made from it
        if sets_parameters:
            first = 0
        else:
            first = next(
                (i + 1 for i, m in enumerate(self.made) if set(m.names) & set(made)),
                len(self.made),
            )
        stale = [n for m in self.made[first:] for n in m.names if n not in made]
        del self.made[first:]
        if error is None:
            why = f"`{cell}` ran again after it was made, so what it held was an earlier run's"
            what = (
                "run the cells from `{maker}` on, in order (Run ▸ Run Selected Cell and All Below)"
            )
        else:
            why, what = self._stopped(cell, error)
            stale += made  # the old value is not this cell's answer
        for m in self.made:
            m.names = [n for n in m.names if n not in made]
        self.made = [m for m in self.made if m.names]
        removed = []
        for name in stale:
            if name in namespace and name not in removed:
                del namespace[name]
                removed.append(name)
            self.gone[name] = (why, what)
        if error is None and made:
            self.made.append(_Made(cell, made))
            for name in made:
                self.gone.pop(name, None)
                self.maker[name] = cell
        if removed:
            log.info("not current after `%s`: %s", cell, ", ".join(removed))
        return removed

    def _stopped(self, cell: str, error: BaseException) -> tuple[str, str]:
        """Why a result a stopped cell would have made is not current, and what to do: the first
        cause when the cell stopped for want of a result that was itself not current."""
        missing = getattr(error, "name", None)
        if isinstance(error, NameError) and missing in self.gone:
            return self.gone[missing]
        message = getattr(error, "message", None) or str(error)
        first_line = message.splitlines()[0] if message else ""
        if len(first_line) > 200:  # the stopped cell's own card says it whole
            first_line = first_line[:199] + "…"
        return (
            f"`{cell}` stopped ({type(error).__name__}: {first_line}), so what it held was an "
            "earlier run's",
            f"fix what stopped `{cell}` (its card says what to do), then run the cells from it "
            "on, in order (Run ▸ Run Selected Cell and All Below)",
        )

    def not_current(self, error: BaseException) -> NotCurrentError | None:
        """The error to show for ``error`` when it is a cell reading a result that was removed,
        or that this kernel has not made (restarted, or the cells above it not run)."""
        name = getattr(error, "name", None)
        if not isinstance(error, NameError) or not isinstance(name, str):
            return None
        if name in self.gone:
            why, what = self.gone[name]
            maker = self.maker.get(name, f"{name} = …")
            return NotCurrentError(
                f"`{name}` is not current: {why}", hint=what.replace("{maker}", maker)
            )
        if name in self.results:
            return NotCurrentError(
                f"`{name}` has not been made in this kernel: the cells above this one have not "
                "run since it started (or restarted)",
                hint="run the notebook from the top (Run ▸ Run All Cells), or the cells above "
                "this one first (Run ▸ Run All Above Selected Cell)",
            )
        return None


def from_templates() -> Results:
    """The parameters and results of the notebooks torinvest ships: each template's parameters
    (:data:`torinvest.notebooks.DEFAULTS`) and the names its code cells after the parameters
    cell make. A template that cannot be read is logged and adds no result."""
    from torinvest import notebooks

    parameters: set[str] = set()
    results: set[str] = set()
    for name in (notebooks.INVESTIGATE, notebooks.TRIAGE):
        parameters.update(notebooks.DEFAULTS[name])
        try:
            nb = notebooks.read_notebook(notebooks.template_path(name))
        except TorinvestError as e:
            log.warning("results of %s not tracked: %s", name, e)
            continue
        after = False
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if "parameters" in (cell.get("metadata", {}).get("tags") or []):
                after = True
            elif after:
                results.update(assigned_names(cell.source))
    return Results(parameters=frozenset(parameters), results=frozenset(results - parameters))


def install(shell: Any) -> Results:
    """Keep the results of ``shell``'s notebook current after each cell (once per kernel: a
    second call returns the first one's :class:`Results`)."""
    current = getattr(shell, "_torinvest_results", None)
    if isinstance(current, Results):
        return current
    results = from_templates()

    def after(result: Any) -> None:
        if result.error_before_exec is not None:
            return  # nothing ran
        results.after_cell(result.info.raw_cell or "", shell.user_ns, result.error_in_exec)

    shell.events.register("post_run_cell", after)
    shell._torinvest_results = results
    return results
