"""A working notebook's results kept current when its cells run out of order (JupyterLab).

A kernel keeps every name a cell made. When the analyst changes a parameter and a cell stops (a
typo'd finding ID, a case folder that does not exist, a parameter refused), the cells below it,
run one by one (Shift+Enter), would read what the *previous* run made: a whole investigation of
another finding, folder or window shown under the new parameters, and the answer on top filled
with it. :class:`Results` keeps track, after each cell, of the results the template's cells make
(``params``, ``sources``, ``findings``, ``inv``, ``verdict``…, read from the templates) and of
**what each was made from**: the parameters it read (``params.finding_id`` reads the parameter
``finding_id``; ``check(globals())`` reads them all) with their values then, and the results it
read. After each cell it removes from the kernel the results that are no longer current:

- a result made from a parameter whose value has changed since (the parameters cell, the
  injected one, any cell that sets it): changing only ``verdict_status`` makes the verdict stale,
  not the investigation, which was not made from it; a parameters cell run again with the same
  values makes nothing stale. A cell that only sets parameters removes nothing itself: the next
  cell that does something else removes, before it runs, what the parameters then make stale
  (a working copy's parameters cell run again sets the injected parameters back to its own
  values until the injected cell below it runs again; while they are back at their defaults
  the parameters check refuses to go on, and nothing is removed for them);
- a result made from a result that was made again since, or removed (a cell that makes a
  result again makes stale what was made from the old one, and only that);
- what a cell that stops would have made (the old value is not its answer), and what was made
  from it.

A cell that then reads a removed result stops with one sentence (:meth:`Results.not_current`):
which result, why it is not current (the parameter that changed, the error that stopped the cell
it comes from, or the cell that ran again) and which cells to run again — never the previous
run's answer, never a ``NameError`` traceback; so does a cell reading a result the kernel has not
made yet (restarted, the cells above not run). A run in order (papermill, Run All) makes each
result once, after what it is made from: nothing is removed.
"""

from __future__ import annotations

import ast
import copy
import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from torinvest.errors import NotCurrentError, TorinvestError
from torinvest.parameters import same_value

log = logging.getLogger(__name__)

#: Calls that read every name of the namespace (a cell calling one reads every parameter).
_READ_ALL = frozenset({"globals", "locals", "vars"})
#: At most this many cells are listed in a "run again" hint; more: "from the first on".
_LISTED_CELLS = 3


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


def changed_names(source: str) -> list[str]:
    """The names whose value a cell's top-level statements change in place (``a[k] = …``,
    ``a.x = …``, ``a[k] += …``), in order; none for a cell that does not parse."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            while isinstance(target, (ast.Subscript, ast.Attribute)):
                target = target.value
                if isinstance(target, ast.Name) and target.id not in names:
                    names.append(target.id)
    return names


@dataclass(frozen=True, slots=True)
class Reads:
    """The names a cell reads: ``names`` maps each to the attributes read from it (``x.a``,
    ``x.b``: ``{"a", "b"}``), or None when it is read as a whole; ``everything``: the cell calls
    ``globals()`` (or ``locals()``, ``vars()``), so it reads every name."""

    names: Mapping[str, frozenset[str] | None]
    everything: bool = False


def read_names(source: str) -> Reads:
    """What a cell's code reads (:class:`Reads`); nothing for a cell that does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return Reads({})
    by_attribute: set[int] = set()
    attributes: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            by_attribute.add(id(node.value))
            attributes.setdefault(node.value.id, set()).add(node.attr)
    names: dict[str, frozenset[str] | None] = {}
    everything = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            everything |= node.func.id in _READ_ALL and not node.args
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None  # `a += 1` reads a
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
            continue
        if id(node) in by_attribute and names.get(node.id, frozenset()) is not None:
            names[node.id] = frozenset(attributes[node.id])
        else:
            names[node.id] = None
    return Reads(names, everything)


def _cell(source: str) -> str:
    """A cell named by its first line of code (as the analyst sees it), cut short."""
    lines = [line.strip() for line in source.splitlines()]
    first = next((line for line in lines if line and not line.startswith("#")), "")
    return first if len(first) <= 70 else first[:69] + "…"


class _Unset:
    """A parameter the namespace did not hold when a result was made from it."""

    def __repr__(self) -> str:
        return "unset"


_UNSET = _Unset()


def _same(a: Any, b: Any) -> bool:
    """Equal as parameter values (:func:`torinvest.parameters.same_value`; unset is unset)."""
    return same_value(a, b, _UNSET)


def _kept(value: Any) -> Any:
    """A copy of a parameter's value as it was (a list changed in place later is a change)."""
    try:
        return copy.deepcopy(value)
    except Exception:  # a value that cannot be copied is kept as it is
        return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


@dataclass(slots=True)
class _Made:
    """A result in the kernel and what it was made from."""

    cell: str
    #: order made (a run in order makes them in increasing order)
    order: int
    #: parameter → its value when the result was made from it
    basis: dict[str, Any] = field(default_factory=dict)
    #: result → the ``order`` of the one it was made from
    inputs: dict[str, int] = field(default_factory=dict)
    #: the results the cell read, however (to say which cells to run again)
    reads: frozenset[str] = frozenset()
    #: made from every parameter and nothing else (``check(globals())``): its attributes of
    #: the parameters' names are those parameters
    mirror: bool = False
    #: the cells that made it, with their ``order`` (more than one when a cell made it from
    #: its own earlier value: ``inv = campaign.look_around(inv, findings)``)
    cells: tuple[tuple[int, str], ...] = ()


@dataclass(slots=True)
class Results:
    """The results the kernel holds, what each was made from, and why each removed one is not
    current. ``parameters``: names a parameters cell sets; ``results``: names the template's
    later cells make."""

    parameters: frozenset[str]
    results: frozenset[str]
    #: the current results, by name
    made: dict[str, _Made] = field(default_factory=dict)
    #: a removed result → (why it is not current, what to do; None: say which cells to run)
    gone: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: a removed result → its record when it was removed (the cells to run again)
    dropped: dict[str, _Made] = field(default_factory=dict)
    #: a result → the cell that made it last
    maker: dict[str, str] = field(default_factory=dict)
    #: a parameter → the cell that set it last
    setter: dict[str, str] = field(default_factory=dict)
    #: called with the kernel's namespace after each cell (:func:`install`): what shows a
    #: result elsewhere than its cell (the answer on top) checks that it is still current
    listeners: list[Callable[[Mapping[str, Any]], object]] = field(default_factory=list)
    #: each parameter's default: while a cell run after the injected-parameters cell has set
    #: injected parameters back to these (the parameters cell run again alone), the parameters
    #: check refuses to go on and no result is removed for the parameters it changed
    defaults: Mapping[str, Any] = field(default_factory=dict)
    _count: int = 0

    def after_cell(
        self, source: str, namespace: MutableMapping[str, Any], error: BaseException | None
    ) -> list[str]:
        """Record what the cell ``source`` made (or stopped making: ``error``) and remove from
        ``namespace`` what is no longer current; the names removed."""
        assigned = assigned_names(source)
        made = self._made_by(source, assigned)
        cell = _cell(source)
        for name in assigned:
            if name in self.parameters:
                self.setter[name] = cell
        if error is None and not made and self._sets_parameters_only(assigned):
            return []  # the next cell that is not one says what is stale (:meth:`before_cell`)
        stale: dict[str, tuple[str, str | None]] = {}
        if error is None:
            record = self._record(cell, source, namespace, made)
            for name in made:
                self.made[name] = _Made(
                    cell,
                    record.order,
                    dict(record.basis),
                    dict(record.inputs),
                    record.reads,
                    record.mirror,
                    record.cells,
                )
                self.gone.pop(name, None)
                self.dropped.pop(name, None)
                self.maker[name] = cell
        else:
            why = self._stopped(cell, error)
            stale = {name: why for name in made}  # the old value is not this cell's answer
        removed = self._remove(stale, namespace)
        if removed:
            log.info("not current after `%s`: %s", cell, ", ".join(removed))
        return removed

    def before_cell(self, source: str, namespace: MutableMapping[str, Any]) -> list[str]:
        """Before the cell ``source`` runs: remove from ``namespace`` what is no longer current
        (the parameters changed since it was made); the names removed.

        A cell that only sets parameters (the parameters cell, the injected one) removes nothing:
        a working copy's parameters cell run again sets the injected parameters back to its own
        values until the injected cell below it runs again, and a result made from the values
        both cells give is still current then."""
        assigned = assigned_names(source)
        if not self._made_by(source, assigned) and self._sets_parameters_only(assigned):
            return []
        removed = self._remove({}, namespace)
        if removed:
            log.info("not current before `%s`: %s", _cell(source), ", ".join(removed))
        return removed

    def _made_by(self, source: str, assigned: list[str]) -> list[str]:
        """The results a cell makes (assigns or changes in place)."""
        made = [
            n
            for n in [*assigned, *changed_names(source)]
            if n in self.results and n not in self.parameters
        ]
        return list(dict.fromkeys(made))

    def _sets_parameters_only(self, assigned: list[str]) -> bool:
        return bool(assigned) and all(n in self.parameters for n in assigned)

    def _record(
        self, cell: str, source: str, namespace: Mapping[str, Any], made: list[str]
    ) -> _Made:
        """What the results a cell made were made from: the parameters and results it read."""
        self._count += 1
        record = _Made(cell, self._count, cells=((self._count, cell),))
        if not made:
            return record
        reads = read_names(source)
        parameters = self.parameters if reads.everything else self.parameters & set(reads.names)
        for name in parameters:
            record.basis[name] = _kept(namespace[name]) if name in namespace else _UNSET
        for name, attributes in reads.names.items():
            source_record = self.made.get(name)
            if source_record is None:
                continue
            if name in made:  # made from its own earlier value: made from what that was
                record.basis = source_record.basis | record.basis
                record.inputs |= source_record.inputs
                record.cells = source_record.cells + record.cells
            elif source_record.mirror and attributes is not None and attributes <= self.parameters:
                # only parameters read from it (`params.finding_id`): made from those values
                for attribute in attributes:
                    record.basis.setdefault(attribute, source_record.basis.get(attribute, _UNSET))
            else:
                record.basis = source_record.basis | record.basis
                record.inputs[name] = source_record.order
        record.reads = frozenset(n for n in reads.names if n in self.results)
        record.mirror = reads.everything and not record.inputs
        return record

    def _remove(
        self,
        stale: dict[str, tuple[str, str | None]],
        namespace: MutableMapping[str, Any],
    ) -> list[str]:
        """Remove ``stale`` and every result no longer current (made from a parameter that
        changed, or from a result made again or removed), until none is left."""
        removed: list[str] = []
        settled = not self._reset(namespace)
        while True:
            for name, why in stale.items():
                if name in namespace:
                    del namespace[name]
                    removed.append(name)
                record = self.made.pop(name, None)
                if record is not None:
                    self.dropped[name] = record
                self.gone[name] = why
            stale = {}
            for name, record in self.made.items():
                why = self._why_stale(record, namespace, settled)
                if why is not None:
                    stale[name] = why
            if not stale:
                return removed

    def _reset(self, namespace: Mapping[str, Any]) -> bool:
        """Whether a cell run after the injected-parameters cell set injected parameters back to
        their defaults (the parameters check refuses that and says to run the injected cell)."""
        if not self.defaults:
            return False
        from torinvest.parameters import parameter_overrides

        return any(o.kind == "reset" for o in parameter_overrides(namespace, self.defaults))

    def _why_stale(
        self, record: _Made, namespace: Mapping[str, Any], settled: bool = True
    ) -> tuple[str, str | None] | None:
        """Why a result made as ``record`` says is no longer current, or None when it is
        (``settled``: False while the parameters are reset, see :attr:`defaults`)."""
        changed = [
            name
            for name, value in record.basis.items()
            if settled and not _same(namespace.get(name, _UNSET), value)
        ]
        if changed:
            shown = "; ".join(
                f"{n}: {_short(record.basis[n])} → {_short(namespace.get(n, _UNSET))}"
                for n in changed[:3]
            ) + (f"; +{len(changed) - 3} more" if len(changed) > 3 else "")
            setter = self.setter.get(changed[0])
            by = f"`{setter}` changed" if setter else "a cell changed"
            return f"{by} the parameters it was made from ({shown})", None
        for name, order in record.inputs.items():
            current = self.made.get(name)
            if current is None:
                return self.gone.get(name) or (f"`{name}` it was made from is gone", None)
            if current.order != order:
                return (
                    f"`{current.cell}` ran again after it was made, so it was made from an "
                    f"earlier `{name}`",
                    None,
                )
        return None

    def _stopped(self, cell: str, error: BaseException) -> tuple[str, str | None]:
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

    def _to_run(self, name: str) -> list[str]:
        """The cells that make ``name`` again and the removed results it is made from, in the
        order they ran."""
        records: dict[str, _Made] = {}

        def visit(result: str) -> None:
            record = self.dropped.get(result)
            if result in records or result in self.made or record is None:
                return
            records[result] = record
            for read in record.reads:
                visit(read)

        visit(name)
        cells = [cell for _, cell in sorted({c for r in records.values() for c in r.cells})]
        if not cells:
            cells = [self.maker.get(name, f"{name} = …")]
        return list(dict.fromkeys(cells))

    def _hint(self, name: str) -> str:
        cells = self._to_run(name)
        if len(cells) > _LISTED_CELLS:
            return (
                f"run the cells from `{cells[0]}` on, in order (Run ▸ Run Selected Cell and All "
                "Below)"
            )
        listed = ", then ".join(f"`{c}`" for c in cells)
        return f"run {listed} again, then this cell"

    def not_current(self, error: BaseException) -> NotCurrentError | None:
        """The error to show for ``error`` when it is a cell reading a result that was removed,
        or that this kernel has not made (restarted, or the cells above it not run)."""
        name = getattr(error, "name", None)
        if not isinstance(error, NameError) or not isinstance(name, str):
            return None
        if name in self.gone:
            why, what = self.gone[name]
            return NotCurrentError(f"`{name}` is not current: {why}", hint=what or self._hint(name))
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

    defaults: dict[str, Any] = {}
    results: set[str] = set()
    for name in (notebooks.INVESTIGATE, notebooks.TRIAGE):
        defaults.update(notebooks.DEFAULTS[name])
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
    parameters = frozenset(defaults)
    return Results(
        parameters=parameters, results=frozenset(results - parameters), defaults=defaults
    )


def install(shell: Any) -> Results:
    """Keep the results of ``shell``'s notebook current before and after each cell (once per
    kernel: a second call returns the first one's :class:`Results`)."""
    current = getattr(shell, "_torinvest_results", None)
    if isinstance(current, Results):
        return current
    results = from_templates()

    def tell() -> None:
        for listener in list(results.listeners):
            try:
                listener(shell.user_ns)
            except Exception:  # a bug there must not stop the analyst's cell
                log.exception("a listener of the notebook's results failed")

    def before(info: Any) -> None:
        if results.before_cell(getattr(info, "raw_cell", None) or "", shell.user_ns):
            tell()

    def after(result: Any) -> None:
        if result.error_before_exec is not None:
            return  # nothing ran
        results.after_cell(result.info.raw_cell or "", shell.user_ns, result.error_in_exec)
        tell()

    shell.events.register("pre_run_cell", before)
    shell.events.register("post_run_cell", after)
    shell._torinvest_results = results
    return results
